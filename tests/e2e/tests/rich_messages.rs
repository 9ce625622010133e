//! Corrections (XEP-0308), retractions (XEP-0424) and reactions (XEP-0444)
//! end to end: a real Prosody and a real XMPP client on one side, the test
//! network (every capability) or a real IRC server (none of them) on the
//! other; each both ways, in a room and in a direct chat, asserting the
//! ids each stanza names, and what MAM replays afterwards. The gateway
//! must be built with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::room::{groupchat, groupchat_from, irc_config, join as irc_join, room, GW};
use common::support::ircd::{IrcClient, Ircd};
use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client, Switchboard};
use harness::{contact_jid, from_network, join, lobby, occupant_jid, room_jid, Testnet, TESTNET};
use std::time::Duration;
use switchboard_bridge_api::{Command, Event, MessageId, Target, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

const SID: &str = "urn:xmpp:sid:0";
const OID: &str = "urn:xmpp:occupant-id:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";
const MODERATE: &str = "urn:xmpp:message-moderate:1";
const RICH: [&str; 3] = [CORRECT, RETRACT, REACTIONS];

/// Parses one element.
fn xml(text: &str) -> Element {
    text.parse().unwrap()
}

/// A message to `to` with this id, body and payloads.
fn stanza(to: &Jid, groupchat: bool, id: &str, body: Option<&str>, payloads: &[&str]) -> Message {
    let mut m = if groupchat {
        Message::groupchat(Some(to.clone()))
    } else {
        Message::chat(Some(to.clone()))
    };
    if let Some(body) = body {
        m.bodies.insert(Lang::new(), body.to_owned());
    }
    m.id = Some(Id(id.to_owned()));
    m.payloads.extend(payloads.iter().map(|p| xml(p)));
    m
}

/// The next live message (no `<delay/>`, no error) from `from`, as an element.
async fn next_from(client: &mut Client, from: &Jid) -> Element {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from)
                    && m.type_ != MessageType::Error
                    && !m.payloads.iter().any(|p| p.name() == "delay") =>
            {
                Some(Element::from(m.clone()))
            }
            _ => None,
        })
        .await
}

/// The next live message from the room that retracts a message.
async fn next_retraction_from(client: &mut Client, room: &Jid) -> Element {
    loop {
        let m = next_from(client, room).await;
        if m.has_child("retract", RETRACT) {
            return m;
        }
    }
}

/// A child's attribute.
fn attr(m: &Element, name: &str, ns: &str, attr: &str) -> Option<String> {
    m.get_child(name, ns)
        .and_then(|c| c.attr(attr))
        .map(str::to_owned)
}

fn body(m: &Element) -> Option<String> {
    m.get_child("body", "jabber:client").map(Element::text)
}

fn stanza_id(m: &Element) -> String {
    attr(m, "stanza-id", SID, "id").expect("a stanza-id")
}

fn id(m: &Element) -> String {
    m.attr("id").unwrap_or_default().to_owned()
}

/// The `<reactions/>`: the id it names and the reactions.
fn reactions(m: &Element) -> Option<(String, Vec<String>)> {
    m.get_child("reactions", REACTIONS).map(|r| {
        (
            r.attr("id").unwrap_or_default().to_owned(),
            r.children().map(Element::text).collect(),
        )
    })
}

/// Asserts a retraction naming `named`, with its fallback for old clients.
fn assert_retraction(m: &Element, named: &str) {
    assert_eq!(attr(m, "retract", RETRACT, "id").as_deref(), Some(named));
    assert_eq!(
        attr(m, "fallback", FALLBACK, "for").as_deref(),
        Some(RETRACT)
    );
    assert!(
        body(m).is_some_and(|b| b.contains("retract")),
        "a fallback body: {m:?}"
    );
}

/// The features of an entity's disco#info.
async fn features(client: &mut Client, jid: &str) -> Vec<String> {
    let info = result_payload(
        client
            .iq(
                jid,
                false,
                xml("<query xmlns='http://jabber.org/protocol/disco#info'/>"),
            )
            .await,
    )
    .expect("a disco#info result");
    info.children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect()
}

/// The room's whole archive through MAM, oldest first, as messages.
async fn mam(client: &mut Client, room: &str) -> Vec<Element> {
    common::history::mam_messages(client, room, 100).await
}

/// In a room of the test network, both ways: the network's edit,
/// reactions and retraction of a member's message arrive from that member
/// naming it (the correction by its `id`, the others by its stanza-id);
/// the client's correction (by its own id), reactions and retraction (by
/// stanza-id) reach the network naming the network's message, and come
/// back as reflections with the client's ids. MAM then replays all of it
/// in order, retracted messages as tombstones. disco#info lists the three
/// features on the room and the component.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_messages_in_a_room() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    join(&mut alice, "lobby", "Alice").await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::Join { .. }))
        .await;
    for jid in [room_jid("lobby"), TESTNET.to_owned()] {
        let have = features(&mut alice, &jid).await;
        for f in RICH {
            assert!(have.iter().any(|h| h == f), "{jid} lacks {f}: {have:?}");
        }
    }

    // network → XMPP.
    let bob = occupant_jid("lobby", "bob");
    net.control
        .inject("alice", from_network("net-1", lobby(), "bob", "helo"))
        .await;
    let original = next_from(&mut alice, &bob).await;
    let s1 = stanza_id(&original);
    let bob_oid = attr(&original, "occupant-id", OID, "id").expect("an occupant-id");
    let edited = |author: &str, text: &str, message: &str| Event::Edited {
        target: lobby(),
        message: MessageId::from(message),
        author: UserId::from(author),
        author_nick: author.to_owned(),
        text: text.to_owned(),
    };
    net.control
        .inject("alice", edited("bob", "hello", "net-1"))
        .await;
    let correction = next_from(&mut alice, &bob).await;
    assert_eq!(body(&correction).as_deref(), Some("hello"));
    assert_eq!(
        attr(&correction, "replace", CORRECT, "id").as_deref(),
        Some("net-1"),
        "XEP-0308 names the message by its id"
    );
    assert_eq!(attr(&correction, "occupant-id", OID, "id"), Some(bob_oid));
    assert_ne!(stanza_id(&correction), s1, "a stanza of its own");
    net.control
        .inject(
            "alice",
            Event::Reacted {
                target: lobby(),
                message: MessageId::from("net-1"),
                author: UserId::from("bob"),
                author_nick: "bob".into(),
                reactions: vec!["👍".into(), "🎉".into()],
            },
        )
        .await;
    let reacted = next_from(&mut alice, &bob).await;
    assert_eq!(
        reactions(&reacted),
        Some((s1.clone(), vec!["👍".into(), "🎉".into()])),
        "XEP-0444 names a groupchat message by its stanza-id"
    );
    // A client without XEP-0444 reads a line; one with it, told by
    // XEP-0428 that the whole body is the fallback, shows none.
    assert_eq!(body(&reacted).as_deref(), Some("/me reacted 👍 🎉"));
    assert_eq!(
        attr(&reacted, "fallback", FALLBACK, "for").as_deref(),
        Some(REACTIONS)
    );

    // XMPP → network: the client's message, its correction by the
    // client's id, its reactions to bob's by stanza-id.
    let me = occupant_jid("lobby", "Alice");
    alice
        .send(stanza(&room, true, "c1", Some("wrold"), &[]))
        .await;
    let sent = next_from(&mut alice, &me).await;
    let sc1 = stanza_id(&sent);
    alice
        .send(stanza(
            &room,
            true,
            "c2",
            Some("world"),
            &["<replace xmlns='urn:xmpp:message-correct:0' id='c1'/>"],
        ))
        .await;
    let Command::Edit {
        target,
        message: edited_id,
        text,
        token,
    } = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Edit { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(target, lobby());
    assert!(edited_id.as_str().starts_with("tn-"), "{edited_id:?}");
    assert_eq!((text.as_str(), token.as_str()), ("world", "c2"));
    let reflection = next_from(&mut alice, &me).await;
    assert_eq!(
        id(&reflection),
        "c2",
        "the reflection keeps the client's id"
    );
    assert_eq!(body(&reflection).as_deref(), Some("world"));
    assert_eq!(
        attr(&reflection, "replace", CORRECT, "id").as_deref(),
        Some("c1")
    );

    let react =
        format!("<reactions xmlns='{REACTIONS}' id='{s1}'><reaction>❤️</reaction></reactions>");
    alice
        .send(stanza(&room, true, "x1", None, &[react.as_str()]))
        .await;
    let command = net
        .control
        .expect_command("alice", |c| matches!(c, Command::React { .. }))
        .await;
    let Command::React {
        message,
        reactions: set,
        ..
    } = command
    else {
        unreachable!()
    };
    assert_eq!(
        (message.as_str(), set),
        ("net-1", vec!["❤️".to_owned()]),
        "bob's message by the network's id"
    );
    let reflection = next_from(&mut alice, &me).await;
    assert_eq!(id(&reflection), "x1");
    assert_eq!(
        reactions(&reflection),
        Some((s1.clone(), vec!["❤️".into()]))
    );

    // The client retracts its message by stanza-id: the network id the
    // correction named; the reflection names it by stanza-id too.
    let retract = format!("<retract xmlns='{RETRACT}' id='{sc1}'/>");
    let fallback = format!("<fallback xmlns='{FALLBACK}' for='{RETRACT}'/>");
    alice
        .send(stanza(
            &room,
            true,
            "r1",
            Some("retracted"),
            &[retract.as_str(), fallback.as_str()],
        ))
        .await;
    let command = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Retract { .. }))
        .await;
    let Command::Retract { message, token, .. } = command else {
        unreachable!()
    };
    assert_eq!((message, token.as_str()), (edited_id, "r1"));
    let reflection = next_from(&mut alice, &me).await;
    assert_eq!(id(&reflection), "r1");
    assert_retraction(&reflection, &sc1);

    // The network retracts bob's message.
    net.control
        .inject(
            "alice",
            Event::Retracted {
                target: lobby(),
                message: MessageId::from("net-1"),
                by: UserId::from("bob"),
            },
        )
        .await;
    let retraction = next_from(&mut alice, &bob).await;
    assert_retraction(&retraction, &s1);

    // MAM: every stanza in order, the retracted ones as tombstones.
    let archive = mam(&mut alice, &room_jid("lobby")).await;
    let summary: Vec<(String, Option<String>, bool)> = archive
        .iter()
        .map(|m| (id(m), body(m), m.get_child("retracted", RETRACT).is_some()))
        .collect();
    assert_eq!(archive.len(), 8, "{summary:#?}");
    assert_eq!(
        (id(&archive[0]), stanza_id(&archive[0]), body(&archive[0])),
        ("net-1".into(), s1.clone(), None),
        "bob's message, retracted"
    );
    assert!(archive[0].get_child("retracted", RETRACT).is_some());
    assert_eq!(body(&archive[1]).as_deref(), Some("hello"));
    assert_eq!(
        attr(&archive[1], "replace", CORRECT, "id").as_deref(),
        Some("net-1")
    );
    assert_eq!(reactions(&archive[2]).map(|r| r.0), Some(s1.clone()));
    assert_eq!(
        (id(&archive[3]), stanza_id(&archive[3]), body(&archive[3])),
        ("c1".into(), sc1.clone(), None),
        "alice's message, retracted"
    );
    assert!(archive[3].get_child("retracted", RETRACT).is_some());
    assert_eq!(
        (id(&archive[4]), body(&archive[4])),
        ("c2".into(), Some("world".into()))
    );
    assert_eq!(
        attr(&archive[4], "replace", CORRECT, "id").as_deref(),
        Some("c1")
    );
    assert_eq!(id(&archive[5]), "x1");
    assert_eq!(
        reactions(&archive[5]),
        Some((s1.clone(), vec!["❤️".into()]))
    );
    assert_eq!(id(&archive[6]), "r1");
    assert_retraction(&archive[6], &sc1);
    assert_retraction(&archive[7], &s1);
}

/// XEP-0425 in a room of the test network: the user's `<moderate/>` of
/// someone else's message (by stanza-id) reaches the network as a
/// retraction of that message, and the network's answer, like a moderation
/// by another member, is said by the room with the moderator's occupant JID
/// and occupant-id; MAM replays it from the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderation_in_a_room() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    join(&mut alice, "lobby", "Alice").await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::Join { .. }))
        .await;
    let have = features(&mut alice, &room_jid("lobby")).await;
    assert!(have.iter().any(|h| h == MODERATE), "{have:?}");
    let carol = occupant_jid("lobby", "carol");
    let mut posted = Vec::new();
    for n in ["net-5", "net-6"] {
        net.control
            .inject("alice", from_network(n, lobby(), "carol", "spam"))
            .await;
        posted.push(stanza_id(&next_from(&mut alice, &carol).await));
    }

    let request = xml(&format!(
        "<moderate xmlns='{MODERATE}' id='{}'><retract xmlns='{RETRACT}'/>\
         <reason>spam</reason></moderate>",
        posted[0]
    ));
    let answer = alice.iq(&room_jid("lobby"), true, request).await;
    result_payload(answer);
    let command = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Retract { .. }))
        .await;
    let Command::Retract {
        target, message, ..
    } = command
    else {
        unreachable!()
    };
    assert_eq!((target, message.as_str()), (lobby(), "net-5"));
    let check = |m: &Element, named: &str, by: &str| {
        let retract = m.get_child("retract", RETRACT).expect("a <retract/>");
        assert_eq!(retract.attr("id"), Some(named));
        let moderated = retract
            .get_child("moderated", MODERATE)
            .expect("a <moderated/>");
        assert_eq!(moderated.attr("by"), Some(by));
        assert!(moderated.has_child("occupant-id", OID), "{m:?}");
        assert_eq!(
            attr(m, "fallback", FALLBACK, "for").as_deref(),
            Some(MODERATE)
        );
        assert!(body(m).is_some_and(|b| b.contains("moderator")), "{m:?}");
        assert!(m.get_child("occupant-id", OID).is_none(), "the room's word");
    };
    let by_alice = occupant_jid("lobby", "Alice").to_string();
    let said = next_retraction_from(&mut alice, &room).await;
    check(&said, &posted[0], &by_alice);

    net.control
        .inject(
            "alice",
            Event::Retracted {
                target: lobby(),
                message: MessageId::from("net-6"),
                by: UserId::from("bob"),
            },
        )
        .await;
    let said = next_retraction_from(&mut alice, &room).await;
    let by_bob = occupant_jid("lobby", "bob").to_string();
    check(&said, &posted[1], &by_bob);

    let archive = mam(&mut alice, &room_jid("lobby")).await;
    assert_eq!(archive.len(), 4, "{archive:#?}");
    for (m, named) in archive[..2].iter().zip(&posted) {
        assert_eq!(&stanza_id(m), named);
        assert!(m.get_child("retracted", RETRACT).is_some(), "a tombstone");
        assert_eq!(body(m), None);
    }
    for (m, (named, by)) in archive[2..]
        .iter()
        .zip(posted.iter().zip([&by_alice, &by_bob]))
    {
        assert_eq!(m.attr("from"), Some(room_jid("lobby").as_str()));
        let moderated = m
            .get_child("retract", RETRACT)
            .filter(|r| r.attr("id") == Some(named.as_str()))
            .and_then(|r| r.get_child("moderated", MODERATE))
            .expect("the moderation");
        assert_eq!(moderated.attr("by"), Some(by.as_str()));
    }
}

/// In a direct chat with a person of the test network, both ways: their
/// edit, reactions and retraction arrive from their JID naming the message
/// by the `id` the client got; the client's correction and retraction of
/// its own message (by the client's id) and reactions to theirs reach the
/// network naming the network's messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_messages_in_a_direct_chat() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    let peer = || Target::User(UserId::from("bob"));
    let have = features(&mut alice, &bob.to_string()).await;
    for f in RICH {
        assert!(
            have.iter().any(|h| h == f),
            "the contact lacks {f}: {have:?}"
        );
    }

    net.control
        .inject("alice", from_network("dm-1", peer(), "bob", "helo"))
        .await;
    let original = next_from(&mut alice, &bob).await;
    assert_eq!(id(&original), "dm-1");
    net.control
        .inject(
            "alice",
            Event::Edited {
                target: peer(),
                message: MessageId::from("dm-1"),
                author: UserId::from("bob"),
                author_nick: "bob".into(),
                text: "hello".into(),
            },
        )
        .await;
    let correction = next_from(&mut alice, &bob).await;
    assert_eq!(correction.attr("type"), Some("chat"));
    assert_eq!(body(&correction).as_deref(), Some("hello"));
    assert_eq!(
        attr(&correction, "replace", CORRECT, "id").as_deref(),
        Some("dm-1")
    );
    net.control
        .inject(
            "alice",
            Event::Reacted {
                target: peer(),
                message: MessageId::from("dm-1"),
                author: UserId::from("bob"),
                author_nick: "bob".into(),
                reactions: vec!["👍".into()],
            },
        )
        .await;
    let reacted = next_from(&mut alice, &bob).await;
    assert_eq!(
        reactions(&reacted),
        Some(("dm-1".into(), vec!["👍".into()]))
    );
    net.control
        .inject(
            "alice",
            Event::Retracted {
                target: peer(),
                message: MessageId::from("dm-1"),
                by: UserId::from("bob"),
            },
        )
        .await;
    let retraction = next_from(&mut alice, &bob).await;
    assert_retraction(&retraction, "dm-1");

    // XMPP → network.
    alice
        .send(stanza(&bob, false, "dm-c1", Some("wrold"), &[]))
        .await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await;
    // The session's events come in order: once this one is here, the
    // echo of dm-c1 (and its id mapping) has been handled.
    net.control
        .inject("alice", from_network("dm-2", peer(), "bob", "marker"))
        .await;
    next_from(&mut alice, &bob).await;
    alice
        .send(stanza(
            &bob,
            false,
            "dm-c2",
            Some("world"),
            &["<replace xmlns='urn:xmpp:message-correct:0' id='dm-c1'/>"],
        ))
        .await;
    let Command::Edit {
        target,
        message: sent_id,
        text,
        token,
    } = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Edit { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(target, peer());
    assert!(sent_id.as_str().starts_with("tn-"), "{sent_id:?}");
    assert_eq!((text.as_str(), token.as_str()), ("world", "dm-c2"));

    let react =
        format!("<reactions xmlns='{REACTIONS}' id='dm-2'><reaction>🎉</reaction></reactions>");
    alice
        .send(stanza(&bob, false, "dm-x1", None, &[react.as_str()]))
        .await;
    let command = net
        .control
        .expect_command("alice", |c| matches!(c, Command::React { .. }))
        .await;
    let Command::React {
        message,
        reactions: set,
        token,
        ..
    } = command
    else {
        unreachable!()
    };
    assert_eq!(
        (message.as_str(), set, token.as_str()),
        ("dm-2", vec!["🎉".to_owned()], "dm-x1")
    );

    let retract = format!("<retract xmlns='{RETRACT}' id='dm-c1'/>");
    alice
        .send(stanza(
            &bob,
            false,
            "dm-r1",
            Some("retracted"),
            &[retract.as_str()],
        ))
        .await;
    let command = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Retract { .. }))
        .await;
    let Command::Retract { message, .. } = command else {
        unreachable!()
    };
    assert_eq!(message, sent_id, "the network's id of dm-c1");
    // The echoes of the user's own are not shown as the contact's.
    assert!(
        alice
            .maybe(Duration::from_millis(500), |s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(&bob) => Some(m.clone()),
                _ => None,
            })
            .await
            .is_none(),
        "nothing more from bob"
    );
}

/// On an IRC server without `message-tags` (ngircd), corrections go as
/// lines the way IRC users write them (`* hello`), retractions and
/// reactions do not: only corrections are advertised, and a client that
/// sends a retraction or reactions anyway (or a moderation) gets
/// `feature-not-implemented` naming the network, while the channel gets
/// no line for them. (With `message-tags`: `irc_rich.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_corrects_by_line_and_refuses_the_rest() {
    const SECRET: &str = "irc-secret";
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&irc_config(prosody.component_port, ircd.port, SECRET));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    irc_join(&mut alice, "alice").await;
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":alice!"))
        .await;
    for jid in [room(), GW.to_owned()] {
        let have = features(&mut alice, &jid).await;
        assert!(have.iter().any(|h| h == CORRECT), "{jid}: {have:?}");
        for f in [RETRACT, REACTIONS, MODERATE] {
            assert!(!have.iter().any(|h| h == f), "{jid} offers {f}: {have:?}");
        }
    }

    groupchat(&mut alice, "m1", "helo").await;
    let sent = groupchat_from(&mut alice, "alice").await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :helo")).await;
    let sid = sent
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", SID))
        .and_then(|p| p.attr("id"))
        .unwrap()
        .to_owned();
    let room_jid: Jid = room().parse().unwrap();
    // The correction: the whole text marked (a one-word message).
    alice
        .send(stanza(
            &room_jid,
            true,
            "e1",
            Some("hello"),
            &["<replace xmlns='urn:xmpp:message-correct:0' id='m1'/>"],
        ))
        .await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :* hello")).await;
    let corrected = next_from(&mut alice, &common::room::occupant("alice")).await;
    assert_eq!(
        attr(&corrected, "replace", CORRECT, "id").as_deref(),
        Some("m1")
    );
    assert_eq!(body(&corrected).as_deref(), Some("hello"));
    let requests = [
        (
            "r1",
            Some("retracted"),
            format!("<retract xmlns='{RETRACT}' id='{sid}'/>"),
            "retract",
        ),
        (
            "x1",
            None,
            format!(
                "<reactions xmlns='{REACTIONS}' id='{sid}'><reaction>👍</reaction></reactions>"
            ),
            "react to",
        ),
    ];
    for (mid, text, payload, verb) in &requests {
        alice
            .send(stanza(&room_jid, true, mid, *text, &[payload.as_str()]))
            .await;
        let error = alice
            .wait_for(|s| match s {
                Stanza::Message(m)
                    if m.type_ == MessageType::Error
                        && m.id.as_ref().map(|i| i.0.as_str()) == Some(*mid) =>
                {
                    Some(Element::from(m.clone()))
                }
                _ => None,
            })
            .await;
        let error = error
            .get_child("error", "jabber:client")
            .expect("an <error/>");
        assert!(
            error
                .get_child(
                    "feature-not-implemented",
                    "urn:ietf:params:xml:ns:xmpp-stanzas"
                )
                .is_some(),
            "{error:?}"
        );
        let text = error
            .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
            .map(Element::text)
            .unwrap_or_default();
        assert_eq!(text, format!("IRC cannot {verb} messages"));
    }
    // A moderator's request (XEP-0425) likewise.
    let moderate = xml(&format!(
        "<moderate xmlns='{MODERATE}' id='{sid}'><retract xmlns='{RETRACT}'/></moderate>"
    ));
    let refused = alice.iq(&room(), true, moderate).await;
    assert_eq!(common::error_condition(&refused), "feature-not-implemented");
    // The channel got nothing for them: the next line is the next message.
    groupchat(&mut alice, "m2", "after").await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :after")).await;
    let lines: Vec<&String> = bob
        .seen
        .iter()
        .filter(|l| l.contains(" PRIVMSG #test :"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[1].ends_with(":* hello"), "{lines:#?}");
}
