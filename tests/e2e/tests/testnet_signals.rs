//! Replies (XEP-0461 with XEP-0428 fallbacks), chat states (XEP-0085) and
//! displayed markers (XEP-0333) through the test network, which has every
//! capability: a real client and a real Prosody on one side, the network's
//! control channel on the other, each feature both ways in a room and in a
//! direct chat, asserting the exact ids and fallback ranges. The gateway
//! must be built with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::room::body;
use common::support::prosody::DOMAIN;
use harness::{contact_jid, from_network, join, lobby, occupant_jid, room_jid, Testnet};
use switchboard_bridge_api::{
    Command, Event, Member, MessageId, MessageKind, RoomId, Target, TypingState, UserId,
};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

const SID: &str = "urn:xmpp:sid:0";
const REPLY: &str = "urn:xmpp:reply:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";
const MARKERS: &str = "urn:xmpp:chat-markers:0";

/// A message's stanza-id.
fn stanza_id(m: &Message) -> Option<String> {
    m.payloads
        .iter()
        .find(|p| p.is("stanza-id", SID))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned)
}

/// A message's `<reply/>` as `(to, id)`.
fn reply_of(m: &Message) -> Option<(Option<String>, String)> {
    m.payloads.iter().find(|p| p.is("reply", REPLY)).map(|r| {
        (
            r.attr("to").map(str::to_owned),
            r.attr("id").unwrap_or_default().to_owned(),
        )
    })
}

/// A message's reply fallback range as `(start, end)`.
fn fallback_of(m: &Message) -> Option<(String, String)> {
    let f = m
        .payloads
        .iter()
        .find(|p| p.is("fallback", FALLBACK) && p.attr("for") == Some(REPLY))?;
    let b = f.get_child("body", FALLBACK)?;
    Some((b.attr("start")?.to_owned(), b.attr("end")?.to_owned()))
}

/// `<reply to=… id=…/>` and a `<fallback/>` over the first `quote` code points.
fn reply_payloads(to: &str, id: &str, quote: usize) -> Vec<Element> {
    vec![
        Element::builder("reply", REPLY)
            .attr(xml_ncname!("to").into(), to)
            .attr(xml_ncname!("id").into(), id)
            .build(),
        Element::builder("fallback", FALLBACK)
            .attr(xml_ncname!("for").into(), REPLY)
            .append(
                Element::builder("body", FALLBACK)
                    .attr(xml_ncname!("start").into(), "0")
                    .attr(xml_ncname!("end").into(), quote.to_string())
                    .build(),
            )
            .build(),
    ]
}

/// A bodiless message carrying one payload.
fn signal(to: Jid, type_: MessageType, payload: Element) -> Message {
    let mut m = Message::new(Some(to));
    m.type_ = type_;
    m.payloads.push(payload);
    m
}

fn chat_state(name: &str) -> Element {
    Element::builder(name, CHATSTATES).build()
}

fn displayed(id: &str) -> Element {
    Element::builder("displayed", MARKERS)
        .attr(xml_ncname!("id").into(), id)
        .build()
}

/// Whether a message asks for displayed markers (XEP-0333 `<markable/>`).
fn markable(m: &Message) -> bool {
    m.payloads.iter().any(|p| p.is("markable", MARKERS))
}

/// Waits for a message with a body from `from`.
async fn message_from(client: &mut common::Client, from: &Jid) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(from) && !m.bodies.is_empty() => {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// Waits for a bodiless message from `from` with a payload in `ns`.
async fn signal_from(client: &mut common::Client, from: &Jid, ns: &str) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(from)
                    && m.bodies.is_empty()
                    && m.payloads.iter().any(|p| p.ns() == ns) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// A network message that replies to `reply_to`.
fn reply_from_network(id: &str, target: Target, author: &str, text: &str, to: &str) -> Event {
    let Event::Message(mut m) = from_network(id, target, author, text) else {
        unreachable!()
    };
    m.reply_to = Some(MessageId::from(to));
    Event::Message(m)
}

/// The `SendText` the network got next, as `(target, text, reply_to, token)`.
async fn next_text(net: &mut Testnet) -> (Target, String, Option<MessageId>, String) {
    match net
        .control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await
    {
        Command::SendText {
            target,
            text,
            reply_to,
            token,
            kind,
            ..
        } => {
            assert_eq!(kind, MessageKind::Normal);
            (target, text, reply_to, token)
        }
        _ => unreachable!(),
    }
}

/// Alice in the room `lobby` with bob, the network's join answered.
async fn in_lobby(net: &mut Testnet) -> common::Client {
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "Alice").await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::Join { .. }))
        .await;
    let bob = Member {
        user: UserId::from("bob"),
        nick: "bob".into(),
        role: switchboard_bridge_api::Role::Member,
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
    alice
}

/// Replies in a room: the client's reply reaches the network naming the
/// network's id, its quote taken out (the range counted in code points);
/// the network's replies come with `<reply/>` naming the stanza-id the
/// client saw and the author's occupant JID, and a quote fallback whose
/// range covers the quote exactly. A reply to a message the gateway does
/// not know keeps its quote (to the network) or comes as plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_a_room_both_ways() {
    let mut net = Testnet::start().await;
    let mut alice = in_lobby(&mut net).await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    let bob = occupant_jid("lobby", "bob");
    let me = occupant_jid("lobby", "Alice");

    net.control
        .inject(
            "alice",
            from_network("net-1", lobby(), "bob", "héllo 🎂 cake"),
        )
        .await;
    let first = message_from(&mut alice, &bob).await;
    let first_sid = stanza_id(&first).expect("a stanza-id");

    // Client → network: the quote (15 code points, 19 bytes) goes.
    let quote = "> héllo 🎂 cake\n";
    assert_eq!((quote.chars().count(), quote.len()), (15, 19));
    let mut out =
        Message::groupchat(Some(room.clone())).with_body(Lang::new(), format!("{quote}yes please"));
    out.id = Some(Id("c1".into()));
    out.payloads = reply_payloads(&bob.to_string(), &first_sid, 15);
    alice.send(out).await;
    let (target, text, reply_to, token) = next_text(&mut net).await;
    assert_eq!(target, lobby());
    assert_eq!(
        (text.as_str(), reply_to, token.as_str()),
        ("yes please", Some(MessageId::from("net-1")), "c1")
    );

    // The echo (the test network keeps `reply_to`) comes back as the
    // reflection: the reply to bob's message, quoted again by the gateway.
    let reflection = message_from(&mut alice, &me).await;
    assert_eq!(reflection.id, Some(Id("c1".into())));
    assert_eq!(body(&reflection), format!("{quote}yes please"));
    assert_eq!(
        reply_of(&reflection),
        Some((Some(bob.to_string()), first_sid.clone()))
    );
    assert_eq!(fallback_of(&reflection), Some(("0".into(), "15".into())));
    let own_sid = stanza_id(&reflection).expect("a stanza-id");

    // Network → client: bob replies to alice's message (the network's
    // `tn-1`): the id is her message's stanza-id, `to` her occupant JID.
    net.control
        .inject(
            "alice",
            reply_from_network("net-2", lobby(), "bob", "👍 sure", "tn-1"),
        )
        .await;
    let answer = message_from(&mut alice, &bob).await;
    assert_eq!(answer.id, Some(Id("net-2".into())));
    assert_eq!(body(&answer), "> yes please\n👍 sure");
    assert_eq!(reply_of(&answer), Some((Some(me.to_string()), own_sid)));
    assert_eq!(fallback_of(&answer), Some(("0".into(), "13".into())));

    // A reply to what the gateway never saw: plain text, no <reply/>.
    net.control
        .inject(
            "alice",
            reply_from_network("net-3", lobby(), "bob", "what?", "net-unknown"),
        )
        .await;
    let plain = message_from(&mut alice, &bob).await;
    assert_eq!(body(&plain), "what?");
    assert_eq!((reply_of(&plain), fallback_of(&plain)), (None, None));

    // A client's reply to an id the gateway does not know: sent with its quote.
    let mut out =
        Message::groupchat(Some(room.clone())).with_body(Lang::new(), "> old\nhm".to_owned());
    out.id = Some(Id("c2".into()));
    out.payloads = reply_payloads(&bob.to_string(), "no-such-id", 6);
    alice.send(out).await;
    let (_, text, reply_to, token) = next_text(&mut net).await;
    assert_eq!(
        (text.as_str(), reply_to, token.as_str()),
        ("> old\nhm", None, "c2")
    );

    // The room says it does replies (and the rest the network has).
    let info = alice
        .iq(
            &room_jid("lobby"),
            false,
            Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
        )
        .await;
    let info = common::result_payload(info).expect("disco#info");
    let features: Vec<&str> = info.children().filter_map(|c| c.attr("var")).collect();
    for f in [REPLY, FALLBACK, CHATSTATES, MARKERS] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }
}

/// Replies in a direct chat: by the message's `id` both ways, `to` the
/// contact (or the user, for a reply to their own message).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_a_direct_chat_both_ways() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    let to_bob = Target::User(UserId::from("bob"));

    net.control
        .inject("alice", from_network("dm-1", to_bob.clone(), "bob", "psst"))
        .await;
    let first = message_from(&mut alice, &bob).await;
    assert_eq!(first.id, Some(Id("dm-1".into())));
    // The contact's JID says it does replies, chat states and markers.
    let info = alice
        .iq(
            &bob.to_string(),
            false,
            Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
        )
        .await;
    let info = common::result_payload(info).expect("disco#info");
    let features: Vec<&str> = info.children().filter_map(|c| c.attr("var")).collect();
    for f in [REPLY, FALLBACK, CHATSTATES, MARKERS] {
        assert!(features.contains(&f), "{f} in {features:?}");
    }

    let mut out = Message::chat(Some(bob.clone())).with_body(Lang::new(), "> psst\nwhat?".into());
    out.id = Some(Id("dm-c1".into()));
    out.payloads = reply_payloads(&bob.to_string(), "dm-1", 7);
    alice.send(out).await;
    let (target, text, reply_to, token) = next_text(&mut net).await;
    assert_eq!(target, to_bob);
    assert_eq!(
        (text.as_str(), reply_to, token.as_str()),
        ("what?", Some(MessageId::from("dm-1")), "dm-c1")
    );

    // bob replies to alice's message (`tn-1` on the network): named by the
    // id her client sent it with.
    net.control
        .inject(
            "alice",
            reply_from_network("dm-2", to_bob.clone(), "bob", "this", "tn-1"),
        )
        .await;
    let answer = message_from(&mut alice, &bob).await;
    assert_eq!(answer.type_, MessageType::Chat);
    assert_eq!(body(&answer), "> what?\nthis");
    assert_eq!(
        reply_of(&answer),
        Some((Some(format!("alice@{DOMAIN}")), "dm-c1".into()))
    );
    assert_eq!(fallback_of(&answer), Some(("0".into(), "8".into())));

    // And to his own message: `to` is bob.
    net.control
        .inject(
            "alice",
            reply_from_network("dm-3", to_bob, "bob", "again", "dm-1"),
        )
        .await;
    let again = message_from(&mut alice, &bob).await;
    assert_eq!(body(&again), "> psst\nagain");
    assert_eq!(
        reply_of(&again),
        Some((Some(bob.to_string()), "dm-1".into()))
    );
    assert_eq!(fallback_of(&again), Some(("0".into(), "7".into())));
}

/// Chat states both ways: the network gets `Typing` only when the state
/// changes (a repeated `composing`, or `active` after a message, sends
/// nothing); the network's typing arrives from the author's occupant JID
/// (room) or contact JID (direct), bodiless, with no stanza-id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_states_both_ways() {
    let mut net = Testnet::start().await;
    let mut alice = in_lobby(&mut net).await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    let bob = contact_jid("bob");
    let to_bob = Target::User(UserId::from("bob"));

    for state in ["composing", "composing", "paused"] {
        alice
            .send(signal(
                room.clone(),
                MessageType::Groupchat,
                chat_state(state),
            ))
            .await;
    }
    let mut text = Message::groupchat(Some(room.clone())).with_body(Lang::new(), "hi".into());
    text.id = Some(Id("c1".into()));
    text.payloads.push(chat_state("active"));
    alice.send(text).await;
    alice
        .send(signal(
            room.clone(),
            MessageType::Groupchat,
            chat_state("active"),
        ))
        .await;
    alice
        .send(signal(
            room.clone(),
            MessageType::Groupchat,
            chat_state("composing"),
        ))
        .await;
    // Direct: composing, then gone.
    alice
        .send(signal(
            bob.clone(),
            MessageType::Chat,
            chat_state("composing"),
        ))
        .await;
    alice
        .send(signal(bob.clone(), MessageType::Chat, chat_state("gone")))
        .await;

    let typing = |target: &Target, state| Command::Typing {
        target: target.clone(),
        state,
    };
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(format!("{:?}", net.control.next_command("alice").await));
    }
    let want = [
        typing(&lobby(), TypingState::Active),
        typing(&lobby(), TypingState::Paused),
        Command::SendText {
            target: lobby(),
            text: "hi".into(),
            kind: MessageKind::Normal,
            reply_to: None,
            attachments: vec![],
            token: "c1".into(),
        },
        typing(&lobby(), TypingState::Active),
        typing(&to_bob, TypingState::Active),
        typing(&to_bob, TypingState::Inactive),
    ]
    .map(|c| format!("{c:?}"));
    assert_eq!(got, want);

    // Network → client, in the room and directly.
    let bob_occupant = occupant_jid("lobby", "bob");
    for (state, name) in [
        (TypingState::Active, "composing"),
        (TypingState::Paused, "paused"),
    ] {
        net.control
            .inject(
                "alice",
                Event::Typing {
                    target: lobby(),
                    author: UserId::from("bob"),
                    state,
                },
            )
            .await;
        let m = signal_from(&mut alice, &bob_occupant, CHATSTATES).await;
        assert_eq!(m.type_, MessageType::Groupchat);
        assert!(m.payloads.iter().any(|p| p.is(name, CHATSTATES)), "{m:?}");
        assert_eq!(stanza_id(&m), None);
    }
    net.control
        .inject(
            "alice",
            Event::Typing {
                target: to_bob.clone(),
                author: UserId::from("bob"),
                state: TypingState::Inactive,
            },
        )
        .await;
    let m = signal_from(&mut alice, &bob, CHATSTATES).await;
    assert_eq!(m.type_, MessageType::Chat);
    assert!(
        m.payloads.iter().any(|p| p.is("active", CHATSTATES)),
        "{m:?}"
    );
}

/// Displayed markers both ways: others' messages are markable; the
/// client's marker names the stanza-id
/// (room) or id (direct) it saw and reaches the network as `MarkRead` of
/// the network's id; the network's "read up to" arrives as `<displayed/>`
/// naming the id the client saw for the message read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn displayed_markers_both_ways() {
    let mut net = Testnet::start().await;
    let mut alice = in_lobby(&mut net).await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    let bob_occupant = occupant_jid("lobby", "bob");
    let bob = contact_jid("bob");
    let to_bob = Target::User(UserId::from("bob"));

    // Room, client → network.
    net.control
        .inject("alice", from_network("net-1", lobby(), "bob", "read me"))
        .await;
    let first = message_from(&mut alice, &bob_occupant).await;
    let first_sid = stanza_id(&first).expect("a stanza-id");
    assert!(markable(&first), "others' messages are markable: {first:?}");
    alice
        .send(signal(
            room.clone(),
            MessageType::Groupchat,
            displayed(&first_sid),
        ))
        .await;
    let read = net
        .control
        .expect_command("alice", |c| matches!(c, Command::MarkRead { .. }))
        .await;
    assert_eq!(
        format!("{read:?}"),
        format!(
            "{:?}",
            Command::MarkRead {
                target: lobby(),
                message: MessageId::from("net-1")
            }
        )
    );

    // Room, network → client: bob read alice's message (`tn-1`).
    let mut out = Message::groupchat(Some(room.clone())).with_body(Lang::new(), "mine".into());
    out.id = Some(Id("c1".into()));
    alice.send(out).await;
    let reflection = message_from(&mut alice, &occupant_jid("lobby", "Alice")).await;
    let own_sid = stanza_id(&reflection).expect("a stanza-id");
    assert!(!markable(&reflection), "the user's own is not");
    net.control
        .inject(
            "alice",
            Event::ReadUpTo {
                target: lobby(),
                author: UserId::from("bob"),
                message: MessageId::from("tn-1"),
            },
        )
        .await;
    let m = signal_from(&mut alice, &bob_occupant, MARKERS).await;
    assert_eq!(m.type_, MessageType::Groupchat);
    let marker = m
        .payloads
        .iter()
        .find(|p| p.is("displayed", MARKERS))
        .unwrap();
    assert_eq!(marker.attr("id"), Some(own_sid.as_str()));

    // Direct, client → network.
    net.control
        .inject("alice", from_network("dm-1", to_bob.clone(), "bob", "psst"))
        .await;
    assert!(markable(&message_from(&mut alice, &bob).await));
    alice
        .send(signal(bob.clone(), MessageType::Chat, displayed("dm-1")))
        .await;
    let read = net
        .control
        .expect_command("alice", |c| matches!(c, Command::MarkRead { .. }))
        .await;
    assert_eq!(
        format!("{read:?}"),
        format!(
            "{:?}",
            Command::MarkRead {
                target: to_bob.clone(),
                message: MessageId::from("dm-1")
            }
        )
    );

    // Direct, network → client: bob read alice's message (`tn-2`).
    let mut out = Message::chat(Some(bob.clone())).with_body(Lang::new(), "hi bob".into());
    out.id = Some(Id("dm-c1".into()));
    alice.send(out).await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await;
    // The echo is handled before what is injected after it.
    net.control
        .inject(
            "alice",
            Event::ReadUpTo {
                target: to_bob,
                author: UserId::from("bob"),
                message: MessageId::from("tn-2"),
            },
        )
        .await;
    let m = signal_from(&mut alice, &bob, MARKERS).await;
    assert_eq!(m.type_, MessageType::Chat);
    let marker = m
        .payloads
        .iter()
        .find(|p| p.is("displayed", MARKERS))
        .unwrap();
    assert_eq!(marker.attr("id"), Some("dm-c1"));
}

/// After a restart (nothing kept in memory), replies still find what the
/// client saw: a room message by its stanza-id in the archive (with its
/// text for the quote, and the user's own by the id it was sent with), a
/// direct message of the user's by its id in the id map (no text kept:
/// no quote).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_after_a_restart_come_from_the_archive_and_id_map() {
    let mut net = Testnet::start().await;
    let mut alice = in_lobby(&mut net).await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    let bob_occupant = occupant_jid("lobby", "bob");
    let me = occupant_jid("lobby", "Alice");
    let bob = contact_jid("bob");
    let to_bob = Target::User(UserId::from("bob"));

    net.control
        .inject("alice", from_network("net-1", lobby(), "bob", "before"))
        .await;
    let first_sid = stanza_id(&message_from(&mut alice, &bob_occupant).await).unwrap();
    let mut out = Message::groupchat(Some(room.clone())).with_body(Lang::new(), "mine".into());
    out.id = Some(Id("c1".into()));
    alice.send(out).await;
    let own_sid = stanza_id(&message_from(&mut alice, &me).await).unwrap();
    let mut dm = Message::chat(Some(bob.clone())).with_body(Lang::new(), "hi bob".into());
    dm.id = Some(Id("dm-c1".into()));
    alice.send(dm).await;
    net.control
        .expect_command(
            "alice",
            |c| matches!(c, Command::SendText { token, .. } if token == "dm-c1"),
        )
        .await;

    net.restart_gateway();
    net.control.started("alice").await;
    join(&mut alice, "lobby", "Alice").await;
    net.control
        .inject(
            "alice",
            Event::MemberJoined {
                room: RoomId::from("lobby"),
                member: Member {
                    user: UserId::from("bob"),
                    nick: "bob".into(),
                    role: switchboard_bridge_api::Role::Member,
                    away: None,
                },
            },
        )
        .await;
    let live = |m: &Message| !m.payloads.iter().any(|p| p.is("delay", "urn:xmpp:delay"));

    // bob replies to his message and to alice's (`tn-1`, her `c1`).
    net.control
        .inject(
            "alice",
            reply_from_network("net-2", lobby(), "bob", "again", "net-1"),
        )
        .await;
    net.control
        .inject(
            "alice",
            reply_from_network("net-3", lobby(), "bob", "yours", "tn-1"),
        )
        .await;
    let mut replies = Vec::new();
    while replies.len() < 2 {
        let m = message_from(&mut alice, &bob_occupant).await;
        if live(&m) {
            replies.push((body(&m), reply_of(&m), fallback_of(&m)));
        }
    }
    assert_eq!(
        replies,
        [
            (
                "> before\nagain".to_owned(),
                Some((Some(bob_occupant.to_string()), first_sid.clone())),
                Some(("0".into(), "9".into()))
            ),
            (
                "> mine\nyours".to_owned(),
                Some((Some(me.to_string()), own_sid)),
                Some(("0".into(), "7".into()))
            ),
        ]
    );

    // The client replies to bob's first message by its stanza-id.
    let mut out =
        Message::groupchat(Some(room.clone())).with_body(Lang::new(), "> before\nok".into());
    out.id = Some(Id("c2".into()));
    out.payloads = reply_payloads(&bob_occupant.to_string(), &first_sid, 9);
    alice.send(out).await;
    let (_, text, reply_to, _) = next_text(&mut net).await;
    assert_eq!(
        (text.as_str(), reply_to),
        ("ok", Some(MessageId::from("net-1")))
    );

    // Direct: bob replies to alice's message from before (`tn-2`).
    net.control
        .inject(
            "alice",
            reply_from_network("dm-2", to_bob, "bob", "got it", "tn-2"),
        )
        .await;
    let answer = message_from(&mut alice, &bob).await;
    assert_eq!(body(&answer), "got it");
    assert_eq!(
        reply_of(&answer),
        Some((Some(format!("alice@{DOMAIN}")), "dm-c1".into()))
    );
    assert_eq!(fallback_of(&answer), None);
}
