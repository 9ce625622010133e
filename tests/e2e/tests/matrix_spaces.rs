//! The Matrix bridge's spaces, avatars, contact removal and rooms under
//! two names, end to end: a real Synapse, a real Prosody, a real XMPP
//! client; the far side is other Matrix users over plain HTTP. Needs
//! `cargo build --bin switchboard --features test-network` and Synapse
//! from `scripts/install-test-deps`.

#[path = "common/avatars.rs"]
mod avatars;
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

use avatars::{presence_with_photo, sha1_hex, vcard};
use common::{result_payload, Client};
use harness::join_at;
use mx::{jid_of, room_jid, ALICE_PASSWORD, GW};
use serde_json::json;
use synapse::{encode, MatrixUser, SERVER_NAME};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const ROSTER: &str = "jabber:iq:roster";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

use trio::{disco_items, top_items_with, Trio as Setup};

/// A PNG signature and bytes that are not all alike.
fn png(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    bytes
}

/// The next groupchat body from this occupant JID.
async fn groupchat_from(client: &mut Client, from: &str) -> String {
    let from: Jid = from.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ == MessageType::Groupchat =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
}

/// A space bob made, with a room in it, that alice joined on Matrix (as
/// from another client): the gateway lists the space in its disco#items
/// as a node, the node's items are the space's rooms by JID, and the
/// room's JID is joined like any room's. The space itself is no group chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_is_a_disco_node_whose_items_are_its_rooms() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;

    let body = json!({
        "name": "Book club", "preset": "public_chat",
        "creation_content": {"type": "m.space"},
    });
    let space = setup.ok(&bob, "POST", "createRoom", body).await;
    let space = space["room_id"].as_str().unwrap().to_owned();
    let child = bob.create_room("chapter1", "Chapter one").await;
    let path = format!(
        "rooms/{}/state/m.space.child/{}",
        encode(&space),
        encode(&child)
    );
    setup
        .ok(&bob, "PUT", &path, json!({"via": [SERVER_NAME]}))
        .await;
    let me = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    me.join(&space).await;

    // The space appears once the session's sync has seen it.
    let node = format!("rooms/{space}");
    let top = top_items_with(&mut alice, &node).await;
    assert_eq!(
        top,
        [(GW.to_owned(), Some(node.clone()), "Book club".to_owned())],
        "the space, and no room of its own"
    );
    let info: Element = format!("<query xmlns='{DISCO_INFO}' node='{node}'/>")
        .parse()
        .unwrap();
    let info = result_payload(alice.iq(GW, false, info).await).unwrap();
    let identity = info.get_child("identity", DISCO_INFO).unwrap();
    assert_eq!(
        (identity.attr("category"), identity.attr("type")),
        (Some("hierarchy"), Some("branch"))
    );

    let rooms = disco_items(&mut alice, Some(&node)).await;
    let child_jid = room_jid(&child);
    assert_eq!(
        rooms,
        [(child_jid.clone(), None, "Chapter one (1)".to_owned())],
        "the space's room, by JID"
    );

    join_at(&mut alice, &child_jid, "alice").await;
    bob.send(&child, "welcome to chapter one").await;
    let body = groupchat_from(&mut alice, &format!("{child_jid}/bob")).await;
    assert_eq!(body, "welcome to chapter one");

    // The space's own JID is no group chat: its join is refused, saying so.
    let space_jid: Jid = room_jid(&space).parse().unwrap();
    let mut join =
        Presence::available().with_to(format!("{space_jid}/alice").parse::<Jid>().unwrap());
    join.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(join).await;
    let refused = alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref().map(Jid::to_bare) == Some(space_jid.to_bare()) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(refused.type_, Type::Error, "{refused:?}");
    let text = refused
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .and_then(|e| e.get_child("text", STANZAS))
        .map(Element::text)
        .unwrap_or_default();
    assert!(text.contains("is a Matrix space"), "{text}");
}

/// bob sets a picture: in a room alice is in, his occupant's presence
/// carries its SHA-1 (XEP-0153) and his occupant's vCard has its bytes;
/// as a contact (a direct chat), his contact JID's vCard too. The picture
/// comes from Synapse's authenticated media, with alice's token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matrix_users_avatar_reaches_the_occupant_and_the_contact() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;
    let room = bob.create_room("gallery", "Gallery").await;
    let jid = room_jid(&room);
    join_at(&mut alice, &jid, "alice").await;

    let picture = png(3000);
    let mxc = bob.upload("bob.png", "image/png", &picture).await;
    let path = format!("profile/{}/avatar_url", encode(&bob.user_id));
    setup
        .ok(&bob, "PUT", &path, json!({"avatar_url": mxc}))
        .await;
    let hash = sha1_hex(&picture);
    let occupant: Jid = format!("{jid}/bob").parse().unwrap();
    presence_with_photo(&mut alice, &occupant, &hash).await;
    assert_eq!(vcard(&mut alice, &occupant).await.2, picture);

    // As a contact: bob's direct chat.
    let alice_id = format!("@alice:{SERVER_NAME}");
    let dm = bob.create_direct(&alice_id).await;
    bob.send(&dm, "see my picture").await;
    let bob_jid = jid_of(&bob.user_id);
    let from: Jid = bob_jid.parse().unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref().map(Jid::to_bare) == Some(from.to_bare()) => {
                Some(())
            }
            _ => None,
        })
        .await;
    assert_eq!(vcard(&mut alice, &from).await.2, picture);
    let fetched = harness::log_lines(&setup.gateway.log(), &["avatar fetched"]).len();
    assert_eq!(fetched, 1, "the picture was fetched once");
}

/// alice's `m.direct` account data, as her other Matrix clients read it.
async fn m_direct(setup: &Setup, me: &MatrixUser) -> serde_json::Value {
    let path = format!("user/{}/account_data/m.direct", encode(&me.user_id));
    let (_, content) = setup.call(me.token(), "GET", &path, json!(null)).await;
    content
}

/// alice takes bob out of her roster: the gateway leaves their direct room
/// on Matrix and takes it out of her `m.direct` (the rest of it kept, so
/// her other clients no longer list the chat), and after a restart the
/// chat does not come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_contact_leaves_the_direct_room() {
    let mut setup = Setup::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let dm = bob.create_direct(&alice_id).await;
    bob.send(&dm, "hello alice").await;
    let bob_jid: Jid = jid_of(&bob.user_id).parse().unwrap();

    let from_bob = |s: &Stanza| match s {
        Stanza::Message(m) if m.from.as_ref().map(Jid::to_bare) == Some(bob_jid.to_bare()) => {
            m.get_best_body(vec![]).map(|(_, b)| b.clone())
        }
        _ => None,
    };
    assert_eq!(alice.wait_for(from_bob).await, "hello alice");
    // bob asks for a subscription (no roster privilege here); alice's
    // client approves and asks back, so the roster holds him.
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&bob_jid) && p.type_ == Type::Subscribe =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    alice
        .send(Presence::new(Type::Subscribed).with_to(bob_jid.clone()))
        .await;
    alice
        .send(Presence::subscribe().with_to(bob_jid.clone()))
        .await;
    setup.wait_membership(&bob, &dm, &alice_id, "join").await;
    // Accepting the chat listed it in alice's m.direct; another client of
    // hers lists a chat with carol there too.
    let me = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    let deadline = Instant::now() + common::ANSWER;
    let mut listed = m_direct(&setup, &me).await;
    while listed[&bob.user_id] != json!([dm]) {
        assert!(Instant::now() < deadline, "m.direct is {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        listed = m_direct(&setup, &me).await;
    }
    let carol_id = format!("@carol:{SERVER_NAME}");
    listed[&carol_id] = json!(["!elsewhere"]);
    let path = format!("user/{}/account_data/m.direct", encode(&me.user_id));
    setup.ok(&me, "PUT", &path, listed).await;
    let deadline = Instant::now() + common::ANSWER;
    while roster_subscription(&mut alice, &bob_jid).await.as_deref() != Some("both") {
        assert!(Instant::now() < deadline, "bob never made it to the roster");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The roster removal (RFC 6121 §2.5): the server unsubscribes.
    let remove: Element =
        format!("<query xmlns='{ROSTER}'><item jid='{bob_jid}' subscription='remove'/></query>")
            .parse()
            .unwrap();
    let own = alice.jid.to_string();
    result_payload(alice.iq(&own, true, remove).await);
    setup.wait_membership(&bob, &dm, &alice_id, "leave").await;
    let deadline = Instant::now() + common::ANSWER;
    loop {
        let listed = m_direct(&setup, &me).await;
        if listed == json!({ carol_id.as_str(): ["!elsewhere"] }) {
            break;
        }
        assert!(Instant::now() < deadline, "m.direct is still {listed}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // After a restart, and bob writing again, nothing of him comes back.
    tokio::task::block_in_place(|| setup.gateway.restart());
    bob.send(&dm, "are you there?").await;
    let back = alice
        .maybe(Duration::from_secs(8), |s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&bob_jid) && p.type_ == Type::Subscribe =>
            {
                Some("a subscription request".to_owned())
            }
            other => from_bob(other),
        })
        .await;
    assert_eq!(back, None, "the direct chat came back");
    assert_eq!(setup.membership(&bob, &dm, &alice_id).await, "leave");
}

/// The subscription of a JID in the client's roster, if it is there.
async fn roster_subscription(client: &mut Client, jid: &Jid) -> Option<String> {
    let get = Element::builder("query", ROSTER).build();
    let own = client.jid.to_string();
    let roster = result_payload(client.iq(&own, false, get).await).unwrap();
    let jid = jid.to_string();
    roster
        .children()
        .find(|i| i.is("item", ROSTER) && i.attr("jid") == Some(jid.as_str()))
        .map(|i| i.attr("subscription").unwrap_or_default().to_owned())
}

/// alice joins a room by its alias, then by its id: the second join is
/// refused with a redirect to the alias's JID (the room's address since
/// the first join), and a message from Matrix arrives once, in that room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_joined_by_alias_and_by_id_is_one_room() {
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;
    let room = bob.create_room("twin", "Twin").await;
    let by_alias = room_jid(&format!("#twin:{SERVER_NAME}"));
    let by_id = room_jid(&room);
    join_at(&mut alice, &by_alias, "alice").await;

    assert_eq!(
        redirect_of_join(&mut alice, &by_id).await,
        Some(format!("xmpp:{by_alias}?join"))
    );

    bob.send(&room, "said once").await;
    let body = groupchat_from(&mut alice, &format!("{by_alias}/bob")).await;
    assert_eq!(body, "said once");
    let twice = alice
        .maybe(Duration::from_secs(3), |s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.get_best_body(vec![])
                        .is_some_and(|(_, b)| b == "said once") =>
            {
                Some(m.from.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(twice, None, "the message arrived twice");

    // The other way round: by id first, then by alias.
    let other = bob.create_room("twin2", "Twin two").await;
    let other_by_id = room_jid(&other);
    join_at(&mut alice, &other_by_id, "alice").await;
    let other_by_alias = room_jid(&format!("#twin2:{SERVER_NAME}"));
    assert_eq!(
        redirect_of_join(&mut alice, &other_by_alias).await,
        Some(format!("xmpp:{other_by_id}?join"))
    );
}

/// Joins a room JID and waits for the answer: the address of its
/// `<redirect/>` error, if it is one (`None` for any other answer).
async fn redirect_of_join(client: &mut Client, room: &str) -> Option<String> {
    let to: Jid = format!("{room}/alice").parse().unwrap();
    let mut join = Presence::available().with_to(to);
    join.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    client.send(join).await;
    let room: Jid = room.parse().unwrap();
    let answer = client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref().map(Jid::to_bare) == Some(room.to_bare()) => {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    answer
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .and_then(|e| e.get_child("redirect", STANZAS))
        .map(Element::text)
}

/// carol, whom bob let into his direct chat with alice, types there: her
/// typing is not shown as bob's (as her messages are not); bob's is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_members_typing_in_a_direct_chat_is_not_the_contacts() {
    const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
    let setup = Setup::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;
    let carol = MatrixUser::login(&setup.synapse, "carol", "carol-pw").await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let dm = bob.create_direct(&alice_id).await;
    bob.send(&dm, "hello alice").await;
    let bob_jid: Jid = jid_of(&bob.user_id).parse().unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref().map(Jid::to_bare) == Some(bob_jid.to_bare()) => {
                Some(())
            }
            _ => None,
        })
        .await;
    setup.wait_membership(&bob, &dm, &alice_id, "join").await;
    let path = format!("rooms/{}/invite", encode(&dm));
    setup
        .ok(&bob, "POST", &path, json!({"user_id": carol.user_id}))
        .await;
    carol.join(&dm).await;

    let composing = |s: &Stanza| match s {
        Stanza::Message(m)
            if m.from.as_ref().map(Jid::to_bare) == Some(bob_jid.to_bare())
                && m.payloads.iter().any(|p| p.is("composing", CHAT_STATES)) =>
        {
            Some(())
        }
        _ => None,
    };
    carol.typing(&dm, true).await;
    let shown = alice.maybe(Duration::from_secs(6), composing).await;
    assert_eq!(shown, None, "carol's typing came as bob's");
    bob.typing(&dm, true).await;
    alice.wait_for(composing).await;
}
