//! The Matrix bridge's formatting, mentions and power levels end to end,
//! and a homeserver outage:
//! a real Synapse, a real Prosody and a real XMPP client (alice); bob and
//! carol are Matrix users over plain HTTP. Build the gateway first with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;

use common::room::muc_info;
use common::support::prosody::Prosody;
use common::Client;
use harness::{join_at, Gateway};
use mx::{room_jid, ALICE_PASSWORD, GW, SECRET};
use serde_json::{json, Value};
use synapse::{MatrixUser, Synapse, SERVER_NAME};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::presence::Type;

use std::time::{Duration, Instant};

/// Prosody, Synapse with alice, bob and carol, the gateway; alice's XMPP
/// client registered and in a room bob made (joined by its id).
struct Setup {
    gateway: Gateway,
    synapse: Synapse,
    _prosody: Prosody,
    alice: Client,
    bob: MatrixUser,
    room_id: String,
    room: String,
}

impl Setup {
    async fn start(alias: &str) -> Self {
        let prosody = Prosody::start(&[(GW, SECRET)]);
        let synapse = Synapse::start();
        synapse.register("alice", ALICE_PASSWORD);
        synapse.register("bob", "bob-pw");
        synapse.register("carol", "carol-pw");
        let config = mx::config(prosody.component_port, "");
        let gateway = Gateway::start(&config);
        let mut alice = mx::registered_alice(&prosody, &synapse).await;
        let bob = MatrixUser::login(&synapse, "bob", "bob-pw").await;
        let room_id = bob.create_room(alias, alias).await;
        let room = room_jid(&room_id);
        join_at(&mut alice, &room, "alice").await;
        Self {
            gateway,
            synapse,
            _prosody: prosody,
            alice,
            bob,
            room_id,
            room,
        }
    }

    fn occupant(&self, nick: &str) -> Jid {
        format!("{}/{nick}", self.room).parse().unwrap()
    }

    /// alice says this in the room.
    async fn say(&mut self, text: &str) {
        let m = Message::groupchat(Some(self.room.parse::<Jid>().unwrap()))
            .with_body(Lang::new(), text.into());
        self.alice.send(m).await;
    }

    /// The content of alice's message with this body, as Matrix has it.
    async fn on_matrix(&self, body: &str) -> Value {
        let alice_id = format!("@alice:{SERVER_NAME}");
        self.bob
            .wait_for_event(&self.room_id, |e| {
                (e["sender"] == alice_id.as_str() && e["content"]["body"] == body)
                    .then(|| e["content"].clone())
            })
            .await
    }
}

/// The next groupchat body from this occupant.
async fn groupchat_from(client: &mut Client, from: &Jid) -> String {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from) && m.type_ == MessageType::Groupchat =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
}

/// bob's HTML (bold, code, a link, a pill naming alice's Matrix account)
/// reaches alice as XEP-0393 text with her nick; alice's `*bold*` and
/// `@bob` reach Matrix as `formatted_body` with a pill and
/// `m.mentions.user_ids` (and come back to her as she wrote them); a plain text goes without HTML, and `@room`
/// mentions nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formatting_and_mentions_both_ways() {
    let mut s = Setup::start("fmt").await;
    let alice_id = format!("@alice:{SERVER_NAME}");
    let bob_id = format!("@bob:{SERVER_NAME}");
    let html = format!(
        "<strong>bold</strong> <code>x &lt; y</code> \
         <a href=\"https://example.org/docs\">the docs</a> \
         <a href=\"https://matrix.to/#/{alice_id}\">{alice_id}</a>: hi"
    );
    let room_id = s.room_id.clone();
    s.bob
        .send_event(
            &room_id,
            "m.room.message",
            json!({
                "msgtype": "m.text",
                "body": format!("**bold** `x < y` [the docs](https://example.org/docs) {alice_id}: hi"),
                "format": "org.matrix.custom.html",
                "formatted_body": html,
                "m.mentions": {"user_ids": [alice_id]},
            }),
        )
        .await;
    let bob = s.occupant("bob");
    let body = groupchat_from(&mut s.alice, &bob).await;
    assert_eq!(
        body,
        "*bold* `x < y` the docs (https://example.org/docs) alice: hi"
    );

    let sent = "@bob this is *bold* & <b>not</b>";
    s.say(sent).await;
    let content = s.on_matrix(sent).await;
    assert_eq!(content["format"], "org.matrix.custom.html", "{content}");
    assert_eq!(
        content["formatted_body"],
        format!(
            "<a href=\"https://matrix.to/#/{bob_id}\">bob</a> this is \
             <strong>bold</strong> &amp; &lt;b&gt;not&lt;/b&gt;"
        )
    );
    assert_eq!(content["m.mentions"], json!({"user_ids": [bob_id]}));
    // Her own message comes back to her as she wrote it.
    let me = s.occupant("alice");
    assert_eq!(groupchat_from(&mut s.alice, &me).await, sent);

    s.say("plain words for @room").await;
    let content = s.on_matrix("plain words for @room").await;
    assert!(content.get("formatted_body").is_none(), "{content}");
    assert_eq!(content["m.mentions"], json!({}), "{content}");
}

/// The next presence of this occupant: (affiliation, role).
async fn standing_of(client: &mut Client, from: &Jid) -> (String, String) {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(from) && p.type_ == Type::None => {
                muc_info(p)
                    .1
                    .map(|(affiliation, role, _)| (affiliation, role))
            }
            _ => None,
        })
        .await
}

/// bob, the room's creator, is its owner; carol joins as a participant;
/// bob raises her to
/// power 50: she is a moderator (admin affiliation) in alice's room; to
/// 100: an owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_levels_are_muc_roles() {
    let mut s = Setup::start("power").await;
    // The join's occupant presences: bob made the room (version 12), so
    // he is its owner.
    let bob = s.occupant("bob");
    let creator = standing_of(&mut s.alice, &bob).await;
    assert_eq!(
        (creator.0.as_str(), creator.1.as_str()),
        ("owner", "moderator")
    );
    let carol = MatrixUser::login(&s.synapse, "carol", "carol-pw").await;
    carol.join(&s.room_id).await;
    let occupant = s.occupant("carol");
    let (affiliation, role) = standing_of(&mut s.alice, &occupant).await;
    assert!(
        matches!(affiliation.as_str(), "" | "none") && role == "participant",
        "{affiliation} {role}"
    );

    let carol_id = format!("@carol:{SERVER_NAME}");
    for (level, expected) in [(50, ("admin", "moderator")), (100, ("owner", "moderator"))] {
        let mut levels = s.bob.state(&s.room_id, "m.room.power_levels").await;
        levels["users"][&carol_id] = json!(level);
        s.bob
            .set_state(&s.room_id, "m.room.power_levels", levels)
            .await;
        let standing = standing_of(&mut s.alice, &occupant).await;
        assert_eq!(
            (standing.0.as_str(), standing.1.as_str()),
            expected,
            "at power {level}"
        );
    }
}

/// The next message from the room itself (the gateway's notices).
async fn room_notice(s: &mut Setup, within: Duration) -> String {
    let room: Jid = s.room.parse().unwrap();
    s.alice
        .maybe(within, |st| match st {
            Stanza::Message(m) if m.from.as_ref() == Some(&room) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
        .expect("no notice from the room")
}

/// Synapse stops (the test's own process, by PID) for 30 s while alice's
/// session runs: she is told the connection is lost, the session retries
/// with back-off and says when it is back, and what bob posts as soon as
/// the server is up again reaches her once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_homeserver_outage_is_told_and_loses_nothing() {
    let mut s = Setup::start("outage").await;
    let room_id = s.room_id.clone();
    s.bob.send(&room_id, "before").await;
    let bob = s.occupant("bob");
    assert_eq!(groupchat_from(&mut s.alice, &bob).await, "before");

    let down = Instant::now();
    s.synapse.stop();
    let lost = room_notice(&mut s, Duration::from_secs(30)).await;
    assert!(
        lost.contains("Connection lost") && lost.contains("cannot reach the homeserver"),
        "{lost}"
    );
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(down.elapsed())).await;
    s.synapse.start_again();
    let sent: Vec<String> = (1..=5).map(|n| format!("after {n}")).collect();
    for text in &sent {
        s.bob.send(&room_id, text).await;
    }

    // Back-off doubles to 32 s: the session is back within about that.
    let up = Instant::now();
    let back = room_notice(&mut s, Duration::from_secs(60)).await;
    assert_eq!(back, "Connection restored.");
    println!("told: {lost:?}; back {:?} after the restart", up.elapsed());
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let next = s
            .alice
            .maybe(Duration::from_secs(30), |st| match st {
                Stanza::Message(m)
                    if m.from.as_ref() == Some(&bob) && m.type_ == MessageType::Groupchat =>
                {
                    m.get_best_body(vec![]).map(|(_, b)| b.clone())
                }
                _ => None,
            })
            .await;
        got.push(next.unwrap_or_else(|| panic!("missing after {got:?}")));
    }
    assert_eq!(got, sent);
    let again = s
        .alice
        .maybe(Duration::from_secs(8), |st| match st {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(again, None, "a message came twice");
    // Retried with back-off: a few failures in 30 s, not a loop.
    let failures = s.gateway.log().matches("Matrix sync failed").count();
    println!("{failures} failed syncs while Synapse was down");
    assert!((2..=8).contains(&failures), "{failures} failed syncs");
}
