//! The Matrix bridge end to end: a real Synapse (SQLite, loopback), a
//! real Prosody and a real XMPP client; the far side is a second Matrix
//! user over plain HTTP. The gateway must be built with `cargo build --bin
//! switchboard --features test-network` (the `matrix` feature is on by
//! default); Synapse comes from `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;

use common::history::{join_history, join_with_history};
use common::support::prosody::{Prosody, DOMAIN};
use common::Client;
use harness::{join_at, Gateway};
use mx::{room_jid, ALICE_PASSWORD, GW, SECRET};
use serde_json::json;
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

/// Prosody, Synapse with alice and bob, and the gateway.
struct Setup {
    gateway: Gateway,
    synapse: Synapse,
    prosody: Prosody,
}

impl Setup {
    fn start() -> Self {
        let prosody = Prosody::start(&[(GW, SECRET)]);
        let synapse = Synapse::start();
        synapse.register("alice", ALICE_PASSWORD);
        synapse.register("bob", "bob-pw");
        let config = mx::config(prosody.component_port, "");
        let gateway = Gateway::start(&config);
        Self {
            gateway,
            synapse,
            prosody,
        }
    }

    /// alice's XMPP account, logged in.
    async fn xmpp_alice(&self) -> Client {
        self.prosody.register("alice", DOMAIN, "pass");
        Client::login(&format!("alice@{DOMAIN}"), "pass", self.prosody.c2s_port).await
    }

    /// alice registered, in a room bob made with this alias localpart
    /// (joined by its id): her client, bob, the room id and its JID.
    async fn bob_and_alice_in(&self, alias: &str) -> (Client, MatrixUser, String, String) {
        let mut alice = self.xmpp_alice().await;
        let done = register(&mut alice, &self.register_command(ALICE_PASSWORD)).await;
        assert!(done.contains("You are registered"), "{done}");
        let bob = MatrixUser::login(&self.synapse, "bob", "bob-pw").await;
        let room_id = bob.create_room(alias, alias).await;
        let room = room_jid(&room_id);
        join_at(&mut alice, &room, "alice").await;
        (alice, bob, room_id, room)
    }

    /// The chat command that registers alice with this password.
    fn register_command(&self, password: &str) -> String {
        mx::register_command(&self.synapse, password)
    }
}

/// Registers alice by chat command and returns the gateway's answer.
async fn register(client: &mut Client, command: &str) -> String {
    client.say(GW, command).await;
    client.reply_from(GW).await
}

/// The next groupchat message from this occupant: (body, id).
async fn groupchat_from(client: &mut Client, from: &Jid) -> (String, Option<String>) {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from) && m.type_ == MessageType::Groupchat =>
            {
                let body = m.get_best_body(vec![]).map(|(_, b)| b.clone())?;
                Some((body, m.id.as_ref().map(|i| i.0.clone())))
            }
            _ => None,
        })
        .await
}

/// Registration with a password (a wrong one first, and an unknown
/// server), a join by alias, messages both ways (the echo keeps the XMPP
/// id), a revoked token that stops the session with a word to the user,
/// a registration with a pasted token and a join by room id, and the
/// password nowhere in the gateway's database or log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_join_by_alias_and_talk_both_ways() {
    let mut setup = Setup::start();
    let mut alice = setup.xmpp_alice().await;

    let refused = register(&mut alice, &setup.register_command("not-her-password")).await;
    assert!(
        refused.contains("Registration refused: password: wrong user name or password"),
        "{refused}"
    );
    let unknown = register(
        &mut alice,
        "register homeserver=http://127.0.0.1:1 user=alice password=x",
    )
    .await;
    assert!(
        unknown.contains("Registration refused: homeserver:"),
        "{unknown}"
    );
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");

    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let alias = format!("#chat:{SERVER_NAME}");
    let room_id = bob.create_room("chat", "Chat room").await;
    let room = room_jid(&alias);
    join_at(&mut alice, &room, "alice").await;

    // Matrix → XMPP.
    bob.send(&room_id, "hello from matrix").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let (body, id) = groupchat_from(&mut alice, &bob_occupant).await;
    assert_eq!(body, "hello from matrix");
    assert!(
        id.is_some_and(|id| id.starts_with('$')),
        "the event id is the message id"
    );

    // XMPP → Matrix, and the echo comes back with the XMPP id.
    let mut m = Message::groupchat(Some(room.parse::<Jid>().unwrap()))
        .with_body(Lang::new(), "hello from xmpp".into());
    m.id = Some(Id("x-1".into()));
    alice.send(m).await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    bob.wait_for_message(&room_id, &alice_id, "hello from xmpp")
        .await;
    let me: Jid = format!("{room}/alice").parse().unwrap();
    let (body, id) = groupchat_from(&mut alice, &me).await;
    assert_eq!(
        (body.as_str(), id.as_deref()),
        ("hello from xmpp", Some("x-1"))
    );

    // Alice logs out every session from another client: the gateway's
    // token is revoked, she is told once, and the session stops syncing.
    MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD)
        .await
        .log_out_everywhere()
        .await;
    let told = alice.reply_from(GW).await;
    assert!(told.contains("access token was revoked"), "{told}");
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let log = setup.gateway.log();
    assert_eq!(
        log.matches("Matrix access token revoked").count(),
        1,
        "{log}"
    );
    assert!(!log.contains("Matrix sync failed"), "a retry loop: {log}");

    // A pasted access token registers too; a room joined by its id.
    let again = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    let command = format!(
        "register homeserver={} token={}",
        setup.synapse.url(),
        again.token()
    );
    let done = register(&mut alice, &command).await;
    assert!(done.contains("You are registered"), "{done}");
    let second_id = bob.create_room("second", "Second room").await;
    let second = room_jid(&second_id);
    join_at(&mut alice, &second, "alice").await;
    bob.send(&second_id, "in the second room").await;
    let bob_there: Jid = format!("{second}/bob").parse().unwrap();
    let (body, _) = groupchat_from(&mut alice, &bob_there).await;
    assert_eq!(body, "in the second room");

    // The password never reached the gateway's database or log.
    setup.gateway.restart();
    let log = setup.gateway.log();
    assert!(
        log.contains("Matrix initial sync done"),
        "the log is the gateway's"
    );
    assert!(!log.contains(ALICE_PASSWORD), "the password is in the log");
    let dir = setup.gateway.database().parent().unwrap().to_owned();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("switchboard.db") {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes
                .windows(ALICE_PASSWORD.len())
                .any(|w| w == ALICE_PASSWORD.as_bytes());
            assert!(!found, "the password is in {}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "no database file was checked");
}

/// Switchboard stops while bob posts and starts again while he goes on:
/// every message reaches the room's history once, in order, after the
/// restart, those of the downtime beyond the sync's timeline through the
/// gap fill. The room's `leave` command then leaves the Matrix room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_matrix_talks_loses_and_repeats_nothing() {
    let mut setup = Setup::start();
    let mut alice = setup.xmpp_alice().await;
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let alias = format!("#lounge:{SERVER_NAME}");
    let room_id = bob.create_room("lounge", "Lounge").await;
    let room = room_jid(&alias);
    join_at(&mut alice, &room, "alice").await;

    const N: usize = 100;
    let text = |i: usize| format!("restart {i}");
    // Five seen live, thirty while the gateway is down (more than the
    // sync's timeline of 20), the rest while it starts again.
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    for i in 1..=5 {
        bob.send(&room_id, &text(i)).await;
    }
    for i in 1..=5 {
        assert_eq!(groupchat_from(&mut alice, &bob_occupant).await.0, text(i));
    }
    tokio::task::block_in_place(|| setup.gateway.stop());
    for i in 6..=35 {
        bob.send(&room_id, &text(i)).await;
    }
    let poster = {
        let room_id = room_id.clone();
        tokio::spawn(async move {
            for i in 36..=N {
                bob.send(&room_id, &text(i)).await;
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
            }
            bob
        })
    };
    tokio::task::block_in_place(|| setup.gateway.launch());
    let bob = poster.await.unwrap();
    bob.wait_for_message(&room_id, &bob.user_id, &text(N)).await;

    // Rejoin until the resumed session has taken the last one.
    let me: Jid = format!("{room}/alice").parse().unwrap();
    let mut history = Vec::new();
    for _ in 0..20 {
        join_with_history(&mut alice, me.clone(), 200).await;
        history = join_history(&mut alice, &room.parse().unwrap()).await;
        if history.iter().any(|h| h.0 == text(N)) {
            break;
        }
        common::history::leave_cleanly(&mut alice, me.clone()).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let got: Vec<String> = history
        .into_iter()
        .map(|h| h.0)
        .filter(|b| b.starts_with("restart "))
        .collect();
    let expected: Vec<String> = (1..=N).map(text).collect();
    assert_eq!(got, expected);
    assert!(
        setup.gateway.log().contains("Matrix sync gap filled"),
        "the downtime should have left a gap"
    );

    // Leaving is explicit: the room's `leave` command leaves the Matrix room.
    let alice_id = format!("@alice:{SERVER_NAME}");
    assert!(bob.joined_members(&room_id).await.contains(&alice_id));
    let leave: Element = "<command xmlns='http://jabber.org/protocol/commands' \
                          node='leave' action='execute'/>"
        .parse()
        .unwrap();
    let done = common::result_payload(alice.iq(&room, true, leave).await).unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    let deadline = std::time::Instant::now() + common::ANSWER;
    while bob.joined_members(&room_id).await.contains(&alice_id) {
        assert!(
            std::time::Instant::now() < deadline,
            "alice is still in the Matrix room"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// An encrypted room says so when joined, and a message that cannot be
/// read shows as a placeholder, never as silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_room_says_it_cannot_be_read() {
    let setup = Setup::start();
    let mut alice = setup.xmpp_alice().await;
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let alias = format!("#secret:{SERVER_NAME}");
    let room_id = bob.create_encrypted_room("secret").await;
    let room = room_jid(&alias);
    join_at(&mut alice, &room, "alice").await;
    let told = alice.reply_from(GW).await;
    assert!(told.contains("is end-to-end encrypted"), "{told}");
    bob.send_encrypted(&room_id).await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let (body, _) = groupchat_from(&mut alice, &bob_occupant).await;
    assert_eq!(body, "[an encrypted message Switchboard cannot read]");
}

/// Figures, not a check: the gateway's RSS before and after one Matrix
/// user registers and joins a room with 50 messages of history, and the
/// bytes of the gateway's initial sync next to a naive client's unfiltered
/// one. `cargo nextest run -p switchboard-e2e --test matrix measure
/// --run-ignored only --no-capture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it by name"]
async fn measure_one_user() {
    let setup = Setup::start();
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let alias = format!("#measure:{SERVER_NAME}");
    let room_id = bob.create_room("measure", "Measure").await;
    let matrix_alice = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    matrix_alice.join(&alias).await;
    for i in 1..=50 {
        bob.send(&room_id, &format!("history {i} {}", "x".repeat(80)))
            .await;
    }
    let naive = matrix_alice.naive_initial_sync_bytes().await;

    let mut alice = setup.xmpp_alice().await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let idle = setup.gateway.memory_kb().0;
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");
    let room = room_jid(&alias);
    join_at(&mut alice, &room, "alice").await;
    bob.send(&room_id, "live").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    assert_eq!(groupchat_from(&mut alice, &bob_occupant).await.0, "live");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let joined = setup.gateway.memory_kb().0;
    let log = setup.gateway.log();
    let line = log
        .lines()
        .find(|l| l.contains("Matrix initial sync done"))
        .unwrap_or_default();
    println!("gateway RSS: {idle} kB with no user, {joined} kB with one Matrix user in one room");
    println!("initial sync: {line}");
    println!("naive unfiltered initial /sync of the same account: {naive} bytes");
}

const SID: &str = "urn:xmpp:sid:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const REPLY: &str = "urn:xmpp:reply:0";

/// The next live groupchat message from `from`, as an element.
async fn element_from(client: &mut Client, from: &Jid) -> Element {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from)
                    && m.type_ == MessageType::Groupchat
                    && !m.payloads.iter().any(|p| p.name() == "delay") =>
            {
                Some(Element::from(m.clone()))
            }
            _ => None,
        })
        .await
}

/// A child's attribute.
fn child_attr(m: &Element, name: &str, ns: &str, attr: &str) -> Option<String> {
    m.get_child(name, ns)
        .and_then(|c| c.attr(attr))
        .map(str::to_owned)
}

/// A message's body, if any.
fn body_of(m: &Element) -> Option<String> {
    m.get_child("body", "jabber:client").map(Element::text)
}

/// The `<reactions/>` of a message: the id it names and the keys.
fn reactions_of(m: &Element) -> Option<(String, Vec<String>)> {
    m.get_child("reactions", REACTIONS).map(|r| {
        (
            r.attr("id").unwrap_or_default().to_owned(),
            r.children().map(Element::text).collect(),
        )
    })
}

/// A groupchat message to `room` with this id, body and payloads (XML).
fn groupchat_to(room: &str, id: &str, body: Option<&str>, payloads: &[String]) -> Message {
    let mut m = Message::groupchat(Some(room.parse::<Jid>().unwrap()));
    if let Some(body) = body {
        m.bodies.insert(Lang::new(), body.to_owned());
    }
    m.id = Some(Id(id.to_owned()));
    m.payloads
        .extend(payloads.iter().map(|p| p.parse::<Element>().unwrap()));
    m
}

/// Waits until the server has redacted this event (its content emptied).
async fn wait_redacted(user: &MatrixUser, room_id: &str, event_id: &str) {
    let deadline = std::time::Instant::now() + common::ANSWER;
    loop {
        let event = user.event(room_id, event_id).await;
        if event["unsigned"]["redacted_because"].is_object() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{event_id} was never redacted: {event}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Edits, reactions and redactions both ways between a Matrix user and
/// an XMPP client: bob's edit is an XEP-0308 correction of his message,
/// his reactions one by one are alice's full sets (XEP-0444: with those
/// from before the gateway saw the room) and the redaction of one shrinks
/// the set, his redaction retracts (XEP-0424);
/// alice's correction is an `m.replace` with `m.new_content`, her
/// reaction an `m.annotation`, taking it back redacts it, and her
/// retraction redacts her message; each reflected with her own id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_reactions_and_redactions_both_ways() {
    let setup = Setup::start();
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("rich", "Rich").await;
    // A reaction from before alice's registration (she is in the room
    // already, from another client), which the gateway never saw.
    MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD)
        .await
        .join(&room_id)
        .await;
    let early = bob.send(&room_id, "early").await;
    let annotate = |event: &str, key: &str| json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": event, "key": key}});
    bob.send_event(&room_id, "m.reaction", annotate(&early, "🚀"))
        .await;
    let mut alice = setup.xmpp_alice().await;
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");
    let room = room_jid(&room_id);
    join_at(&mut alice, &room, "alice").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();

    // Matrix → XMPP.
    let original = bob.send(&room_id, "helo").await;
    let first = element_from(&mut alice, &bob_occupant).await;
    assert_eq!(first.attr("id"), Some(original.as_str()));
    let sid = child_attr(&first, "stanza-id", SID, "id").expect("a stanza-id");
    let edit = json!({
        "msgtype": "m.text", "body": "* hello",
        "m.new_content": {"msgtype": "m.text", "body": "hello"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    });
    bob.send_event(&room_id, "m.room.message", edit).await;
    let corrected = element_from(&mut alice, &bob_occupant).await;
    assert_eq!(
        child_attr(&corrected, "replace", CORRECT, "id").as_deref(),
        Some(original.as_str())
    );
    assert_eq!(body_of(&corrected).as_deref(), Some("hello"));

    let annotation = |key: &str| annotate(&original, key);
    let thumbs = bob
        .send_event(&room_id, "m.reaction", annotation("👍"))
        .await;
    let set = reactions_of(&element_from(&mut alice, &bob_occupant).await);
    assert_eq!(set, Some((sid.clone(), vec!["👍".to_owned()])));
    bob.send_event(&room_id, "m.reaction", annotation("🎉"))
        .await;
    let set = reactions_of(&element_from(&mut alice, &bob_occupant).await);
    assert_eq!(set, Some((sid.clone(), vec!["👍".into(), "🎉".into()])));
    bob.redact(&room_id, &thumbs).await;
    let set = reactions_of(&element_from(&mut alice, &bob_occupant).await);
    assert_eq!(set, Some((sid.clone(), vec!["🎉".to_owned()])));

    // bob's set on a message from before is whole: the earlier key too.
    bob.send_event(&room_id, "m.reaction", annotate(&early, "👀"))
        .await;
    let set = reactions_of(&element_from(&mut alice, &bob_occupant).await);
    assert_eq!(
        set.map(|(_, keys)| keys),
        Some(vec!["🚀".to_owned(), "👀".to_owned()])
    );

    bob.redact(&room_id, &original).await;
    let retracted = element_from(&mut alice, &bob_occupant).await;
    assert_eq!(
        child_attr(&retracted, "retract", RETRACT, "id").as_deref(),
        Some(sid.as_str())
    );

    // XMPP → Matrix.
    let alice_id = format!("@alice:{SERVER_NAME}");
    let me: Jid = format!("{room}/alice").parse().unwrap();
    alice
        .send(groupchat_to(&room, "x-1", Some("tpyo"), &[]))
        .await;
    let mine = bob.wait_for_message(&room_id, &alice_id, "tpyo").await;
    let echo = element_from(&mut alice, &me).await;
    let my_sid = child_attr(&echo, "stanza-id", SID, "id").expect("a stanza-id");

    let replace = format!("<replace xmlns='{CORRECT}' id='x-1'/>");
    alice
        .send(groupchat_to(&room, "x-2", Some("typo"), &[replace]))
        .await;
    let new_text = bob
        .wait_for_event(&room_id, |e| {
            let relation = &e["content"]["m.relates_to"];
            (relation["rel_type"] == "m.replace" && relation["event_id"] == mine.as_str())
                .then(|| e["content"]["m.new_content"]["body"].clone())
        })
        .await;
    assert_eq!(new_text, "typo");
    let reflected = element_from(&mut alice, &me).await;
    assert_eq!(reflected.attr("id"), Some("x-2"));
    assert_eq!(
        child_attr(&reflected, "replace", CORRECT, "id").as_deref(),
        Some("x-1")
    );

    let react = |keys: &str| {
        vec![format!(
            "<reactions xmlns='{REACTIONS}' id='{my_sid}'>{keys}</reactions>"
        )]
    };
    alice
        .send(groupchat_to(
            &room,
            "x-3",
            None,
            &react("<reaction>👍</reaction>"),
        ))
        .await;
    let reaction = bob
        .wait_for_event(&room_id, |e| {
            let relation = &e["content"]["m.relates_to"];
            (e["type"] == "m.reaction"
                && e["sender"] == alice_id.as_str()
                && relation["rel_type"] == "m.annotation"
                && relation["event_id"] == mine.as_str()
                && relation["key"] == "👍")
                .then(|| e["event_id"].as_str().unwrap().to_owned())
        })
        .await;
    let reflected = element_from(&mut alice, &me).await;
    assert_eq!(reflected.attr("id"), Some("x-3"));
    assert_eq!(
        reactions_of(&reflected),
        Some((my_sid.clone(), vec!["👍".to_owned()]))
    );
    alice
        .send(groupchat_to(&room, "x-4", None, &react("")))
        .await;
    let reflected = element_from(&mut alice, &me).await;
    assert_eq!(reactions_of(&reflected), Some((my_sid.clone(), vec![])));
    wait_redacted(&bob, &room_id, &reaction).await;

    let retract = format!("<retract xmlns='{RETRACT}' id='{my_sid}'/>");
    alice
        .send(groupchat_to(&room, "x-5", None, &[retract]))
        .await;
    wait_redacted(&bob, &room_id, &mine).await;
    let reflected = element_from(&mut alice, &me).await;
    assert_eq!(reflected.attr("id"), Some("x-5"));
    assert_eq!(
        child_attr(&reflected, "retract", RETRACT, "id").as_deref(),
        Some(my_sid.as_str())
    );
}

/// Replies both ways: bob's Matrix reply (with the quoted fallback of
/// older clients) reaches alice as an XEP-0461 reply to his message,
/// without the Matrix quote; alice's reply is an `m.in_reply_to` to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_both_ways() {
    let setup = Setup::start();
    let (mut alice, mut bob, room_id, room) = setup.bob_and_alice_in("replies").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();

    let question = bob.send(&room_id, "the question").await;
    let first = element_from(&mut alice, &bob_occupant).await;
    let sid = child_attr(&first, "stanza-id", SID, "id").expect("a stanza-id");
    let reply = json!({
        "msgtype": "m.text",
        "body": format!("> <{}> the question\n\nthe answer", bob.user_id),
        "m.relates_to": {"m.in_reply_to": {"event_id": question}},
    });
    bob.send_event(&room_id, "m.room.message", reply).await;
    let answer = element_from(&mut alice, &bob_occupant).await;
    assert_eq!(
        child_attr(&answer, "reply", REPLY, "id").as_deref(),
        Some(sid.as_str())
    );
    let body = body_of(&answer).unwrap_or_default();
    assert!(body.ends_with("the answer"), "{body}");
    assert!(
        !body.contains(&bob.user_id),
        "the Matrix quote stayed: {body}"
    );

    let to = format!("{room}/bob");
    let payload = format!("<reply xmlns='{REPLY}' to='{to}' id='{sid}'/>");
    alice
        .send(groupchat_to(&room, "r-1", Some("agreed"), &[payload]))
        .await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let replied_to = bob
        .wait_for_event(&room_id, |e| {
            (e["sender"] == alice_id.as_str() && e["content"]["body"] == "agreed")
                .then(|| e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].clone())
        })
        .await;
    assert_eq!(replied_to, question.as_str());
}

const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
const MARKERS: &str = "urn:xmpp:chat-markers:0";

/// The next live groupchat message from `from` with a child `name` in `ns`.
async fn signal_from(client: &mut Client, from: &Jid, name: &str, ns: &str) -> Element {
    loop {
        let m = element_from(client, from).await;
        if m.has_child(name, ns) {
            return m;
        }
    }
}

/// Typing and read receipts both ways: bob's typing is `composing` then
/// `active` (XEP-0085) from his occupant, his read receipt on alice's
/// message a displayed marker (XEP-0333) naming its stanza-id; alice's
/// `composing` is an `m.typing` with her in it, her displayed marker on
/// bob's message an `m.read` receipt on its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_and_read_receipts_both_ways() {
    let setup = Setup::start();
    let (mut alice, mut bob, room_id, room) = setup.bob_and_alice_in("signals").await;
    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let me: Jid = format!("{room}/alice").parse().unwrap();

    let look = bob.send(&room_id, "look").await;
    let first = element_from(&mut alice, &bob_occupant).await;
    assert!(first.has_child("markable", MARKERS), "{first:?}");
    let sid = child_attr(&first, "stanza-id", SID, "id").expect("a stanza-id");

    // Matrix → XMPP.
    bob.typing(&room_id, true).await;
    signal_from(&mut alice, &bob_occupant, "composing", CHAT_STATES).await;
    bob.typing(&room_id, false).await;
    signal_from(&mut alice, &bob_occupant, "active", CHAT_STATES).await;

    alice
        .send(groupchat_to(&room, "x-1", Some("mine"), &[]))
        .await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let mine = bob.wait_for_message(&room_id, &alice_id, "mine").await;
    let echo = element_from(&mut alice, &me).await;
    let my_sid = child_attr(&echo, "stanza-id", SID, "id").expect("a stanza-id");
    bob.read_up_to(&room_id, &mine).await;
    let marker = signal_from(&mut alice, &bob_occupant, "displayed", MARKERS).await;
    assert_eq!(
        child_attr(&marker, "displayed", MARKERS, "id").as_deref(),
        Some(my_sid.as_str())
    );

    // XMPP → Matrix.
    let composing = format!("<composing xmlns='{CHAT_STATES}'/>");
    alice
        .send(groupchat_to(&room, "s-1", None, &[composing]))
        .await;
    bob.wait_for_ephemeral(&room_id, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == alice_id.as_str()))
    })
    .await;
    let displayed = format!("<displayed xmlns='{MARKERS}' id='{sid}'/>");
    alice
        .send(groupchat_to(&room, "s-2", None, &[displayed]))
        .await;
    bob.wait_for_ephemeral(&room_id, |e| {
        e["type"] == "m.receipt"
            && e["content"][look.as_str()]["m.read"][alice_id.as_str()].is_object()
    })
    .await;
}

/// A room alice joins from XMPP does not replay what was said in it
/// before: bob's message from before her join never reaches her, bob
/// is an occupant, and his message after the join reaches her, live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_room_does_not_replay_its_past_as_new() {
    let setup = Setup::start();
    let mut alice = setup.xmpp_alice().await;
    let done = register(&mut alice, &setup.register_command(ALICE_PASSWORD)).await;
    assert!(done.contains("You are registered"), "{done}");
    let mut bob = MatrixUser::login(&setup.synapse, "bob", "bob-pw").await;
    let room_id = bob.create_room("busy", "Busy room").await;
    bob.send(&room_id, "early").await;
    let room = room_jid(&room_id);
    join_at(&mut alice, &room, "alice").await;

    let bob_occupant: Jid = format!("{room}/bob").parse().unwrap();
    let available = alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bob_occupant) => {
                Some(p.type_ == xmpp_parsers::presence::Type::None)
            }
            _ => None,
        })
        .await;
    assert!(available, "bob's occupant presence is not available");
    bob.send(&room_id, "later").await;
    let (body, _) = groupchat_from(&mut alice, &bob_occupant).await;
    assert_eq!(body, "later", "a message from before the join came as new");
}
