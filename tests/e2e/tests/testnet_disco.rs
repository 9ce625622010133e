//! What the gateway advertises follows the network's capabilities, end to
//! end: a real Prosody and a real XMPP client on one side, the test network
//! on the other, given capabilities per test (`without`,
//! `max_reactions_per_user`, `reaction_allowlist` in its settings). The
//! disco#info of the component, a room and a contact lists a feature only
//! where the network has it, and the gateway then does it; where the
//! network limits reactions, the XEP-0444 restrictions form says how, and
//! the gateway keeps a client to it. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/upload.rs"]
mod upload;

use common::{result_payload, Client};
use harness::{contact_jid, from_network, join, lobby, occupant_jid, room_jid, Testnet, TESTNET};
use switchboard_bridge_api::{Command, Event, MessageId, Target, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Type as PresenceType;

const CORRECT: &str = "urn:xmpp:message-correct:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const MODERATE: &str = "urn:xmpp:message-moderate:1";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const REPLY: &str = "urn:xmpp:reply:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const MARKERS: &str = "urn:xmpp:chat-markers:0";
const GATEWAY: &str = "jabber:iq:gateway";
const RESTRICTIONS: &str = "urn:xmpp:reactions:0:restrictions";

/// What a room and a contact list for a network with every capability.
const CONVERSATION: [&str; 8] = [
    CORRECT, RETRACT, MODERATE, REACTIONS, REPLY, FALLBACK, CHATSTATES, MARKERS,
];
/// What the component lists for it, besides its handlers.
const COMPONENT: [&str; 4] = [CORRECT, RETRACT, REACTIONS, GATEWAY];

/// The disco#info of `jid`: its features and its XEP-0444 restrictions
/// form's fields (var → values), if it has one.
async fn disco(
    client: &mut Client,
    jid: &str,
) -> (Vec<String>, Option<Vec<(String, Vec<String>)>>) {
    let query = Element::builder("query", "http://jabber.org/protocol/disco#info").build();
    let info = result_payload(client.iq(jid, false, query).await).expect("disco#info");
    let features = info
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect();
    let form_type = |x: &Element| {
        x.children()
            .find(|f| f.attr("var") == Some("FORM_TYPE"))
            .and_then(|f| f.children().next())
            .map(Element::text)
    };
    let form = info
        .children()
        .find(|x| x.is("x", "jabber:x:data") && form_type(x).as_deref() == Some(RESTRICTIONS))
        .map(|x| {
            x.children()
                .filter(|f| f.attr("var").is_some_and(|v| v != "FORM_TYPE"))
                .map(|f| {
                    let var = f.attr("var").unwrap().to_owned();
                    (var, f.children().map(Element::text).collect())
                })
                .collect()
        });
    (features, form)
}

/// The three JIDs whose disco#info a client reads: a room, a contact, the component.
fn discovered() -> [String; 3] {
    [
        room_jid("lobby"),
        contact_jid("bob").to_string(),
        TESTNET.to_owned(),
    ]
}

/// The next groupchat message from bob in the lobby.
async fn from_bob(alice: &mut Client) -> Message {
    let bob = occupant_jid("lobby", "bob");
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat && m.from.as_ref() == Some(&bob) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

fn markable(m: &Message) -> bool {
    m.payloads.iter().any(|p| p.is("markable", MARKERS))
}

/// A message to `to` with this id and XML payloads.
fn message(
    to: &Jid,
    type_: MessageType,
    id: &str,
    body: Option<&str>,
    payloads: &[String],
) -> Message {
    let mut m = Message::new(Some(to.clone()));
    m.type_ = type_;
    m.id = Some(Id(id.to_owned()));
    if let Some(body) = body {
        m.bodies.insert(Lang::new(), body.to_owned());
    }
    m.payloads
        .extend(payloads.iter().map(|p| p.parse::<Element>().unwrap()));
    m
}

/// `<reactions/>` to the message with this id.
fn react(id: &str, emoji: &[&str]) -> String {
    let list: String = emoji
        .iter()
        .map(|e| format!("<reaction>{e}</reaction>"))
        .collect();
    format!("<reactions xmlns='{REACTIONS}' id='{id}'>{list}</reactions>")
}

/// The stanza-id of a room message.
fn stanza_id(m: &Message) -> String {
    m.payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .and_then(|p| p.attr("id"))
        .expect("a stanza-id")
        .to_owned()
}

/// With every capability, the room, a contact and the component list every
/// feature (the component the message ones and XEP-0100's), no reaction
/// restrictions (the network has none), and a network message is markable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_capability_is_listed_and_nothing_restricted() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    for jid in discovered() {
        let (features, form) = disco(&mut alice, &jid).await;
        let want: &[&str] = if jid == TESTNET {
            &COMPONENT
        } else {
            &CONVERSATION
        };
        for f in want {
            assert!(
                features.iter().any(|h| h == f),
                "{jid} lacks {f}: {features:?}"
            );
        }
        assert_eq!(form, None, "{jid}: no limits, no restrictions form");
    }
    net.control
        .inject("alice", from_network("n-1", lobby(), "bob", "hi"))
        .await;
    assert!(markable(&from_bob(&mut alice).await), "XEP-0333 markable");
}

/// A network without edits, retractions, reactions, replies, typing, read
/// markers and direct messages: none of their features is listed on the
/// room, a contact or the component (nor XEP-0425 moderation, XEP-0428
/// fallbacks, XEP-0100's translation), a network message is not markable,
/// and what a client asks anyway is refused with
/// `feature-not-implemented` and never reaches the network: a reaction, a
/// correction and a retraction in the room, a message or reactions to a
/// person, a private message to an occupant; its typing is not sent either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capability_turned_off_is_not_listed_nor_done() {
    let mut net = Testnet::start_with_settings(
        "without = [\"edits\", \"retractions\", \"reactions\", \"replies\", \"typing\", \
         \"read_markers\", \"direct_messages\"]",
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::Join { .. }))
        .await;
    for jid in discovered() {
        let (features, form) = disco(&mut alice, &jid).await;
        for f in CONVERSATION.iter().chain(&COMPONENT) {
            assert!(
                !features.iter().any(|h| h == f),
                "{jid} lists {f}: {features:?}"
            );
        }
        assert_eq!(form, None, "{jid}: no reactions, no restrictions form");
    }
    net.control
        .inject("alice", from_network("n-1", lobby(), "bob", "hi"))
        .await;
    let hi = from_bob(&mut alice).await;
    assert!(!markable(&hi), "no read markers, not markable: {hi:?}");

    let room: Jid = room_jid("lobby").parse().unwrap();
    let sid = stanza_id(&hi);
    let refused = [
        message(
            &room,
            MessageType::Groupchat,
            "x1",
            None,
            &[react(&sid, &["👍"])],
        ),
        message(
            &room,
            MessageType::Groupchat,
            "e1",
            Some("hi!"),
            &[format!("<replace xmlns='{CORRECT}' id='n-1'/>")],
        ),
        message(
            &room,
            MessageType::Groupchat,
            "r1",
            None,
            &[format!("<retract xmlns='{RETRACT}' id='{sid}'/>")],
        ),
        message(
            &contact_jid("bob"),
            MessageType::Chat,
            "d1",
            Some("psst"),
            &[],
        ),
        message(
            &contact_jid("bob"),
            MessageType::Chat,
            "d2",
            None,
            &[react("dm-1", &["👍"])],
        ),
        message(
            &occupant_jid("lobby", "bob"),
            MessageType::Chat,
            "p1",
            Some("psst"),
            &[],
        ),
    ];
    for m in refused {
        let id = m.id.clone().unwrap().0;
        alice.send(m).await;
        let (_, condition, text) = upload::message_error(&mut alice, &id).await;
        assert_eq!(condition, "feature-not-implemented", "{id}: {text}");
    }
    // Typing stays on the XMPP side.
    alice
        .send(message(
            &room,
            MessageType::Groupchat,
            "t1",
            None,
            &[format!("<composing xmlns='{CHATSTATES}'/>")],
        ))
        .await;
    // Only the room message after them reaches the network.
    alice
        .send(message(
            &room,
            MessageType::Groupchat,
            "g1",
            Some("hello"),
            &[],
        ))
        .await;
    let next = net.control.next_command("alice").await;
    assert!(
        matches!(&next, Command::SendText { target: Target::Room(_), token, .. } if token == "g1"),
        "{next:?}"
    );
}

/// A network that takes one reaction per person, from a fixed set: the
/// room, a contact and the component carry XEP-0444's restrictions form
/// with both limits; a client's set beyond them (two reactions, or one
/// not in the list) is refused with `not-acceptable` and not sent; one
/// within them reaches the network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_reactions_are_listed_and_kept() {
    let mut net = Testnet::start_with_settings(
        "max_reactions_per_user = 1\nreaction_allowlist = [\"👍\", \"❤️\"]",
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::Join { .. }))
        .await;
    // Dave is a contact the network told alice of: his JID answers as a
    // person (`contact_disco.rs`), with the same form.
    let dave = contact_jid("dave");
    net.control
        .inject(
            "alice",
            Event::ContactAdded {
                user: UserId::from("dave"),
                name: "Dave".into(),
            },
        )
        .await;
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == PresenceType::Subscribe && p.from.as_ref() == Some(&dave) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    for jid in discovered().into_iter().chain([dave.to_string()]) {
        let (features, form) = disco(&mut alice, &jid).await;
        assert!(
            features.iter().any(|f| f == REACTIONS),
            "{jid}: {features:?}"
        );
        assert_eq!(
            form,
            Some(vec![
                ("max_reactions_per_user".to_owned(), vec!["1".to_owned()]),
                (
                    "allowlist".to_owned(),
                    vec!["👍".to_owned(), "❤️".to_owned()]
                ),
            ]),
            "{jid}"
        );
    }
    net.control
        .inject("alice", from_network("n-1", lobby(), "bob", "hi"))
        .await;
    let sid = stanza_id(&from_bob(&mut alice).await);
    let room: Jid = room_jid("lobby").parse().unwrap();
    for (id, set, says) in [
        ("x1", &["👍", "❤️"][..], "at most 1 reaction"),
        ("x2", &["🎉"][..], "🎉 is not a reaction here"),
    ] {
        let m = message(&room, MessageType::Groupchat, id, None, &[react(&sid, set)]);
        alice.send(m).await;
        let (_, condition, text) = upload::message_error(&mut alice, id).await;
        assert_eq!(condition, "not-acceptable", "{id}: {text}");
        assert!(text.contains(says), "{id}: {text}");
    }
    let m = message(
        &room,
        MessageType::Groupchat,
        "x3",
        None,
        &[react(&sid, &["❤️"])],
    );
    alice.send(m).await;
    let next = net.control.next_command("alice").await;
    let Command::React {
        message,
        reactions,
        token,
        ..
    } = next
    else {
        panic!("the reaction within the limits, first: {next:?}");
    };
    assert_eq!(
        (message, reactions, token.as_str()),
        (MessageId::from("n-1"), vec!["❤️".to_owned()], "x3")
    );
}
