//! The Matrix bridge's direct chats, invitations and unregistration, end
//! to end: a real Synapse, a real Prosody, a real XMPP client; the far
//! side is other Matrix users over plain HTTP. Needs `cargo build --bin
//! switchboard --features test-network` and Synapse from
//! `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;
#[path = "common/matrix_trio.rs"]
mod trio;

use std::time::{Duration, Instant};

use common::Client;
use harness::join_at;
use mx::{jid_of, ALICE_PASSWORD, GW};
use serde_json::{json, Value};
use synapse::{encode, MatrixUser, SERVER_NAME};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

use trio::Trio as Setup;

impl Setup {
    /// Invites `who` to a room.
    async fn invite(&self, by: &MatrixUser, room_id: &str, who: &str) {
        let path = format!("rooms/{}/invite", encode(room_id));
        self.ok(
            by,
            "POST",
            &path,
            json!({"user_id": who, "reason": "come along"}),
        )
        .await;
    }

    /// The rooms `user` is invited to now, from a fresh sync.
    async fn invitations(&self, user: &MatrixUser) -> Vec<String> {
        // Synapse answers a repeated initial sync from its cache for a
        // while: each call's filter differs (in a type no room has).
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let filter = format!(r#"{{"room":{{"timeline":{{"limit":0,"not_types":["t.{n}"]}}}}}}"#);
        let path = format!("sync?timeout=0&filter={}", filter.replace('"', "%22"));
        let (_, sync) = self.call(user.token(), "GET", &path, Value::Null).await;
        sync["rooms"]["invite"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// alice's `m.direct`, read with a login of hers.
    async fn alices_m_direct(&self) -> Value {
        let me = MatrixUser::login(&self.synapse, "alice", ALICE_PASSWORD).await;
        let path = format!("user/{}/account_data/m.direct", encode(&me.user_id));
        self.ok(&me, "GET", &path, Value::Null).await
    }
}

/// The next chat message from this JID: its body.
async fn chat_from(client: &mut Client, from: &str) -> String {
    let from: Jid = from.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ == MessageType::Chat =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
}

/// Sends a chat message to a JID.
async fn chat_to(client: &mut Client, to: &str, body: &str) {
    let m = Message::chat(Some(to.parse::<Jid>().unwrap())).with_body(Lang::new(), body.into());
    client.send(m).await;
}

/// Waits for a XEP-0249 invitation: its sender, its room JID, its reason.
async fn invitation(client: &mut Client) -> (String, String, Option<String>) {
    client
        .wait_for(|s| match s {
            Stanza::Message(m) => m
                .payloads
                .iter()
                .find(|p| p.is("x", "jabber:x:conference"))
                .map(|x| {
                    (
                        m.from.as_ref().map(|f| f.to_string()).unwrap_or_default(),
                        x.attr("jid").unwrap_or_default().to_owned(),
                        x.attr("reason").map(str::to_owned),
                    )
                }),
            _ => None,
        })
        .await
}

/// bob opens a direct chat with alice from Matrix: she gets his message
/// from his contact JID, and her answer to that JID lands in the same
/// room. alice writes to carol, whom she never talked to: a direct room
/// is made that carol is invited to and reads, listed in alice's
/// `m.direct`; her next message and carol's answer use the same room.
/// What a third member says in bob's direct room is not shown as his.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_chats_both_ways_and_with_a_new_contact() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;

    // Matrix → XMPP: bob's direct chat (as Element makes one).
    let body = json!({"is_direct": true, "invite": [alice_id], "preset": "trusted_private_chat"});
    let dm = setup.ok(&bob, "POST", "createRoom", body).await;
    let dm = dm["room_id"].as_str().unwrap().to_owned();
    bob.send(&dm, "hi alice, it is bob").await;
    let bob_jid = jid_of(&bob.user_id);
    assert_eq!(chat_from(&mut alice, &bob_jid).await, "hi alice, it is bob");
    setup.wait_membership(&bob, &dm, &alice_id, "join").await;

    // XMPP → Matrix: the answer to bob's JID reaches the same room.
    chat_to(&mut alice, &bob_jid, "hello bob, from xmpp").await;
    bob.wait_for_message(&dm, &alice_id, "hello bob, from xmpp")
        .await;
    bob.send(&dm, "second from bob").await;
    assert_eq!(chat_from(&mut alice, &bob_jid).await, "second from bob");
    let m_direct = setup.alices_m_direct().await;
    assert_eq!(m_direct[&bob.user_id], json!([dm]), "{m_direct}");

    // A third person bob lets into the room is not shown as bob.
    let mut dave = MatrixUser::login(&setup.synapse, "carol", "carol-pw").await;
    setup.invite(&bob, &dm, &dave.user_id).await;
    dave.join(&dm).await;
    dave.send(&dm, "not bob").await;
    bob.send(&dm, "bob again").await;
    assert_eq!(chat_from(&mut alice, &bob_jid).await, "bob again");
    let path = format!("rooms/{}/leave", encode(&dm));
    setup.ok(&dave, "POST", &path, json!({})).await;

    // A new contact: a direct room is made for the first message.
    let mut carol = MatrixUser::login(&setup.synapse, "carol", "carol-pw").await;
    let carol_jid = jid_of(&carol.user_id);
    chat_to(&mut alice, &carol_jid, "hello carol").await;
    let deadline = Instant::now() + common::ANSWER;
    let room = loop {
        if let Some(room) = setup.invitations(&carol).await.pop() {
            break room;
        }
        assert!(Instant::now() < deadline, "carol was never invited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let m_direct = setup.alices_m_direct().await;
    assert_eq!(m_direct[&carol.user_id], json!([room]), "{m_direct}");
    carol.join(&room).await;
    carol
        .wait_for_message(&room, &alice_id, "hello carol")
        .await;
    chat_to(&mut alice, &carol_jid, "still there?").await;
    carol
        .wait_for_message(&room, &alice_id, "still there?")
        .await;
    carol.send(&room, "yes, from matrix").await;
    assert_eq!(chat_from(&mut alice, &carol_jid).await, "yes, from matrix");
    assert_eq!(
        setup.invitations(&carol).await,
        Vec::<String>::new(),
        "a second room was made"
    );
}

/// bob invites alice to a room: she gets a XEP-0249 invitation from his
/// contact JID naming the room's JID, and joining that JID accepts it
/// (bob sees her join). Two more invitations are declined, one with a
/// XEP-0045 `<decline/>` to the room JID, one with the chat command:
/// alice leaves both rooms (bob sees her membership end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_accepted_by_joining_and_can_be_declined() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("party", "Party").await;
    setup.invite(&bob, &room_id, &alice_id).await;
    let room = jid_of(&room_id);
    let (from, jid, reason) = invitation(&mut alice).await;
    assert_eq!(
        (from.as_str(), jid.as_str(), reason.as_deref()),
        (
            jid_of(&bob.user_id).as_str(),
            room.as_str(),
            Some("come along")
        )
    );
    join_at(&mut alice, &room, "alice").await;
    setup
        .wait_membership(&bob, &room_id, &alice_id, "join")
        .await;
    bob.send(&room_id, "welcome").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let welcome = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob_occupant) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(welcome, "welcome");

    // Declined with XEP-0045's <decline/> to the room JID.
    let other_id = bob.create_room("other", "Other").await;
    setup.invite(&bob, &other_id, &alice_id).await;
    let other = jid_of(&other_id);
    assert_eq!(invitation(&mut alice).await.1, other);
    let decline: Element = format!(
        "<message xmlns='jabber:client' to='{}'>\
         <x xmlns='http://jabber.org/protocol/muc#user'>\
         <decline to='{}'><reason>not now</reason></decline></x></message>",
        other,
        jid_of(&bob.user_id)
    )
    .parse()
    .unwrap();
    alice.send(Message::try_from(decline).unwrap()).await;
    setup
        .wait_membership(&bob, &other_id, &alice_id, "leave")
        .await;

    // Declined with the chat command.
    let third_id = bob.create_room("third", "Third").await;
    setup.invite(&bob, &third_id, &alice_id).await;
    let third = jid_of(&third_id);
    assert_eq!(invitation(&mut alice).await.1, third);
    alice.say(GW, &format!("decline {third}")).await;
    let said = alice.reply_from(GW).await;
    assert!(said.contains("You declined the invitation"), "{said}");
    setup
        .wait_membership(&bob, &third_id, &alice_id, "leave")
        .await;
}

/// Unregistering logs out the device the gateway made with the password:
/// its token answers 401 from then on. A token the user pasted is
/// another client's session and stays logged in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_logs_the_gateways_device_out() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let other = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    // The gateway's device, named Switchboard (its token is sealed in
    // the gateway's database): logging it out deletes the device and
    // every token of it.
    let devices = setup.ok(&other, "GET", "devices", Value::Null).await;
    let ours: Vec<String> = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["display_name"] == "Switchboard")
        .map(|d| d["device_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ours.len(), 1, "{devices}");

    alice.say(GW, "unregister").await;
    let said = alice.reply_from(GW).await;
    assert!(said.contains("You are unregistered"), "{said}");
    let deadline = Instant::now() + common::ANSWER;
    loop {
        let devices = setup.ok(&other, "GET", "devices", Value::Null).await;
        let left = devices["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"].as_str() == Some(ours[0].as_str()));
        if !left {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway's device is still logged in"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = setup
        .call(other.token(), "GET", "account/whoami", Value::Null)
        .await;
    assert_eq!(status, 200, "alice's other session was logged out too");

    // A pasted token: registered with, unregistered, still alive.
    let pasted = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    let command = format!(
        "register homeserver={} token={}",
        setup.synapse.url(),
        pasted.token()
    );
    alice.say(GW, &command).await;
    let done = alice.reply_from(GW).await;
    assert!(done.contains("You are registered"), "{done}");
    alice.say(GW, "unregister").await;
    let said = alice.reply_from(GW).await;
    assert!(said.contains("You are unregistered"), "{said}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, _) = setup
        .call(pasted.token(), "GET", "account/whoami", Value::Null)
        .await;
    assert_eq!(status, 200, "the pasted token was logged out");
}

/// The next message from this JID, as an element.
async fn element_from(client: &mut Client, from: &str) -> Element {
    let from: Jid = from.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&from) => Some(Element::from(m.clone())),
            _ => None,
        })
        .await
}

/// In a direct chat as in rooms: bob's edit arrives as a XEP-0308
/// correction and his typing as a chat state, from his contact JID;
/// alice's XEP-0444 reaction and XEP-0085 composing reach his room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_chats_carry_edits_reactions_and_typing() {
    const CORRECT: &str = "urn:xmpp:message-correct:0";
    const REACTIONS: &str = "urn:xmpp:reactions:0";
    const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let body = json!({"is_direct": true, "invite": [alice_id], "preset": "trusted_private_chat"});
    let dm = setup.ok(&bob, "POST", "createRoom", body).await;
    let dm = dm["room_id"].as_str().unwrap().to_owned();
    let original = bob.send(&dm, "tpyo").await;
    let bob_jid = jid_of(&bob.user_id);
    assert_eq!(chat_from(&mut alice, &bob_jid).await, "tpyo");

    // Matrix → XMPP: an edit, typing.
    let edit = json!({
        "msgtype": "m.text", "body": "* typo",
        "m.new_content": {"msgtype": "m.text", "body": "typo"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    });
    bob.send_event(&dm, "m.room.message", edit).await;
    let corrected = element_from(&mut alice, &bob_jid).await;
    let replaces = corrected
        .get_child("replace", CORRECT)
        .and_then(|r| r.attr("id"))
        .map(str::to_owned);
    assert_eq!(
        replaces.as_deref(),
        Some(original.as_str()),
        "{corrected:?}"
    );
    bob.typing(&dm, true).await;
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref().map(|f| f.to_string()) == Some(bob_jid.clone())
                    && m.payloads.iter().any(|p| p.is("composing", CHAT_STATES)) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;

    // XMPP → Matrix: a reaction to bob's message, composing.
    let mut react = Message::chat(Some(bob_jid.parse::<Jid>().unwrap()));
    react.payloads.push(
        format!(
            "<reactions xmlns='{REACTIONS}' id='{original}'><reaction>👍</reaction></reactions>"
        )
        .parse()
        .unwrap(),
    );
    alice.send(react).await;
    let key = bob
        .wait_for_event(&dm, |e| {
            let relation = &e["content"]["m.relates_to"];
            (e["type"] == "m.reaction" && relation["event_id"] == original.as_str())
                .then(|| relation["key"].clone())
        })
        .await;
    assert_eq!(key, "👍");
    let mut composing = Message::chat(Some(bob_jid.parse::<Jid>().unwrap()));
    composing.payloads.push(
        format!("<composing xmlns='{CHAT_STATES}'/>")
            .parse()
            .unwrap(),
    );
    alice.send(composing).await;
    bob.wait_for_ephemeral(&dm, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == alice_id.as_str()))
    })
    .await;
}
