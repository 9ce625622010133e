//! The core's contract paths through the test network (bridges/testnet):
//! a real XMPP client and a real Prosody on one side, the network's control
//! channel on the other, asserting what each side gets. The gateway must be
//! built with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::room::{body, muc_info, ItemInfo};
use common::support::prosody::DOMAIN;
use harness::{contact_jid, from_network, join, lobby, log_lines, occupant_jid, room_jid, Testnet};
use std::time::Duration;
use switchboard_bridge_api::{
    Command, Event, LeaveReason, Member, MessageKind, Role, RoomId, Target, UserId,
};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const SID: &str = "urn:xmpp:sid:0";

/// A payload's attribute, as `(id, by)` for a stanza-id or `id` alone.
fn sid_payload(m: &Message, name: &str) -> Option<(String, Option<String>)> {
    m.payloads.iter().find(|p| p.is(name, SID)).map(|p| {
        (
            p.attr("id").unwrap_or_default().to_owned(),
            p.attr("by").map(str::to_owned),
        )
    })
}

/// A MUC presence's status codes and item, an absent affiliation or role
/// read as `none` (xmpp-parsers leaves `none` out; XEP-0045's schema allows it).
fn muc(p: &Presence) -> (Vec<String>, Option<ItemInfo>) {
    let none = |v: String| if v.is_empty() { "none".to_owned() } else { v };
    let (codes, item) = muc_info(p);
    (codes, item.map(|(a, r, n)| (none(a), none(r), n)))
}

/// Waits for a groupchat message with a body from this occupant.
async fn groupchat_from(client: &mut common::Client, from: &Jid) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(from)
                    && !m.bodies.is_empty() =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// Waits for a presence of this type from this JID.
async fn presence_from(client: &mut common::Client, from: &Jid, type_: Type) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(from) && p.type_ == type_ => {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// A room on the test network: the join goes to the network and is
/// answered by it, members come and go, the network's messages arrive as
/// groupchat with its id and the gateway's stanza-id, and the client's own
/// message reaches the network with the client's id as its token and comes
/// back with that id and origin-id (XEP-0045, XEP-0359).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_on_the_test_network() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let room: Jid = room_jid("lobby").parse().unwrap();

    let own = join(&mut alice, "lobby", "Alice").await;
    assert_eq!(
        muc(&own),
        (
            vec!["110".to_owned()],
            Some(("none".into(), "participant".into(), None))
        )
    );
    let Command::Join {
        room: joined,
        nick,
        password,
    } = net.control.next_command("alice").await
    else {
        panic!(
            "the first command is not the join: {:?}",
            net.control.seen("alice")
        )
    };
    assert_eq!(
        (joined.as_str(), nick.as_str(), password),
        ("lobby", "Alice", None)
    );

    // A member joins: an occupant presence, an operator as moderator.
    let bob = Member {
        user: UserId::from("bob"),
        nick: "bob".into(),
        role: Role::Operator,
        away: None,
    };
    net.control
        .inject(
            "alice",
            Event::MemberJoined {
                room: RoomId::from("lobby"),
                member: bob,
            },
        )
        .await;
    let bob_jid = occupant_jid("lobby", "bob");
    let p = presence_from(&mut alice, &bob_jid, Type::None).await;
    assert_eq!(
        muc(&p),
        (vec![], Some(("admin".into(), "moderator".into(), None)))
    );

    // The network posts: groupchat from the occupant, the network's id,
    // the gateway's stanza-id by the room.
    net.control
        .inject(
            "alice",
            from_network("net-1", lobby(), "bob", "hello from the network"),
        )
        .await;
    let m = groupchat_from(&mut alice, &bob_jid).await;
    assert_eq!(body(&m), "hello from the network");
    assert_eq!(m.id.as_ref().map(|i| i.0.as_str()), Some("net-1"));
    let (stanza_id, by) = sid_payload(&m, "stanza-id").expect("a stanza-id");
    assert!(!stanza_id.is_empty());
    assert_eq!(by.as_deref(), Some(room_jid("lobby").as_str()));

    // The client sends: the network gets the text with the client's id as
    // token, and its echo comes back to the client as the reflection, with
    // the client's id and origin-id.
    let mut out =
        Message::groupchat(Some(room.clone())).with_body(Lang::new(), "hello from XMPP".to_owned());
    out.id = Some(xmpp_parsers::message::Id("c1".into()));
    out.payloads.push(
        Element::builder("origin-id", SID)
            .attr(xmpp_parsers::minidom::rxml::xml_ncname!("id").into(), "o1")
            .build(),
    );
    alice.send(out).await;
    let sent = net
        .control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await;
    let Command::SendText {
        target,
        text,
        kind,
        reply_to,
        token,
        ..
    } = sent
    else {
        unreachable!()
    };
    assert_eq!(target, lobby());
    assert_eq!(
        (text.as_str(), kind, reply_to, token.as_str()),
        ("hello from XMPP", MessageKind::Normal, None, "c1")
    );
    let reflection = groupchat_from(&mut alice, &occupant_jid("lobby", "Alice")).await;
    assert_eq!(body(&reflection), "hello from XMPP");
    assert_eq!(reflection.id.as_ref().map(|i| i.0.as_str()), Some("c1"));
    assert_eq!(
        sid_payload(&reflection, "origin-id"),
        Some(("o1".into(), None))
    );
    let (reflected_sid, by) = sid_payload(&reflection, "stanza-id").expect("a stanza-id");
    assert_ne!(reflected_sid, stanza_id);
    assert_eq!(by.as_deref(), Some(room_jid("lobby").as_str()));

    // The member leaves: unavailable from the occupant, with their words.
    net.control
        .inject(
            "alice",
            Event::MemberLeft {
                room: RoomId::from("lobby"),
                user: UserId::from("bob"),
                reason: LeaveReason::Part(Some("bye".into())),
            },
        )
        .await;
    let gone = presence_from(&mut alice, &bob_jid, Type::Unavailable).await;
    assert_eq!(
        muc(&gone),
        (vec![], Some(("none".into(), "none".into(), None)))
    );
    assert_eq!(gone.statuses.values().collect::<Vec<_>>(), ["bye"]);
}

/// Direct messages both ways: the network's arrive as chat from the
/// person's JID with the network's id; the client's reach the network as
/// text to that person with the client's id as token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_both_ways() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    let me: Jid = format!("alice@{DOMAIN}").parse().unwrap();

    net.control
        .inject(
            "alice",
            from_network("dm-1", Target::User(UserId::from("bob")), "bob", "psst"),
        )
        .await;
    let m = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(m.type_, MessageType::Chat);
    assert_eq!(m.to.as_ref().map(Jid::to_bare), Some(me.to_bare()));
    assert_eq!(m.id.as_ref().map(|i| i.0.as_str()), Some("dm-1"));
    assert_eq!(body(&m), "psst");

    let mut out = Message::chat(Some(bob.clone())).with_body(Lang::new(), "hi bob".to_owned());
    out.id = Some(xmpp_parsers::message::Id("dm-c1".into()));
    alice.send(out).await;
    let sent = net.control.next_command("alice").await;
    let Command::SendText {
        target,
        text,
        kind,
        token,
        ..
    } = sent
    else {
        panic!("not a text: {sent:?}")
    };
    assert_eq!(target, Target::User(UserId::from("bob")));
    assert_eq!(
        (text.as_str(), kind, token.as_str()),
        ("hi bob", MessageKind::Normal, "dm-c1")
    );
}

/// Events the core has no XMPP mapping for yet (contact presence, fetched history) are not
/// silently dropped: the gateway logs each kind at info, once per process,
/// and the client gets nothing for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbridged_events_are_logged_once_per_kind() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = Target::User(UserId::from("bob"));
    for _ in 0..2 {
        net.control
            .inject(
                "alice",
                Event::ContactPresence {
                    user: UserId::from("bob"),
                    availability: switchboard_bridge_api::Availability::Online,
                },
            )
            .await;
        net.control
            .inject(
                "alice",
                Event::History {
                    token: "h1".into(),
                    room: RoomId::from("lobby"),
                    messages: vec![],
                },
            )
            .await;
    }
    // The session's events are delivered in order: once this one arrives,
    // the four before it have been handled.
    net.control
        .inject("alice", from_network("dm-1", bob.clone(), "bob", "after"))
        .await;
    let from_bob = contact_jid("bob");
    let first = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&from_bob) => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(body(&first), "after", "nothing came before it");

    let log = net.gateway.log();
    let dropped = "a network event with no XMPP mapping yet was dropped";
    for kind in ["kind=ContactPresence", "kind=History"] {
        let lines = log_lines(&log, &[" INFO ", dropped, kind]);
        assert_eq!(lines.len(), 1, "{kind}: {lines:#?}");
        assert!(lines[0].contains("network=testnet"), "{}", lines[0]);
    }
    assert!(
        alice
            .maybe(Duration::ZERO, |s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(&from_bob) => Some(()),
                _ => None,
            })
            .await
            .is_none(),
        "nothing else came from bob"
    );
}
