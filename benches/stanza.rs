//! Micro-benchmarks for the core's per-stanza work: parsing a groupchat
//! message from bytes, serializing the groupchat message the MUC service
//! sends to an occupant, and XEP-0106 escaping of network ids.
//!
//! The component reads stanzas with xso (through tokio-xmpp), so `parse/xso`
//! is the path the wire takes; `parse/minidom` is the bytes → `Element` →
//! `Message` route. It writes them with its own writer (`serialize/wire`,
//! `switchboard::component::wire`); `serialize/xso` is xmpp-rs's serializer,
//! which it replaced, kept for comparison.
//!
//! Run: `cargo bench -p switchboard --bench stanza`
//! (criterion arguments after `--`, e.g. `-- --measurement-time 2 escape`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use switchboard::component::wire;
use switchboard::xmpp::escape::{escape, unescape, Case};
use xmpp_parsers::delay::Delay;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_id::StanzaId;

/// A user's groupchat message to a bridged room. The root crate enables
/// xmpp-parsers' `component` feature: the stanza namespace is the component's.
const GROUPCHAT: &[u8] = b"<message xmlns='jabber:component:accept' type='groupchat' \
id='c2VuZC0x' from='alice@xmpp.example/phone' to='#rust%irc.example.net@irc.example.org'>\
<body>hello world, this is a message of ordinary length</body>\
<origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2-eb6b9e546014'/>\
<stanza-id xmlns='urn:xmpp:sid:0' id='1337' by='alice@xmpp.example'/>\
<delay xmlns='urn:xmpp:delay' from='xmpp.example' stamp='2025-01-02T03:04:05Z'/>\
</message>";

const BODY: &str = "hello world, this is a message of ordinary length";

fn check_parsed(m: &Message) {
    assert_eq!(m.type_, MessageType::Groupchat);
    assert_eq!(m.bodies.get("").map(String::as_str), Some(BODY));
    assert_eq!(m.payloads.len(), 3);
    let delay = m
        .payloads
        .iter()
        .find(|p| p.is("delay", "urn:xmpp:delay"))
        .cloned()
        .map(Delay::try_from)
        .unwrap()
        .unwrap();
    assert_eq!(delay.stamp.0.timestamp(), 1_735_787_045);
}

fn parse_minidom(bytes: &[u8]) -> Message {
    let element = Element::from_reader(bytes).unwrap();
    Message::try_from(element).unwrap()
}

fn parse(c: &mut Criterion) {
    check_parsed(&xso::from_bytes::<Message>(GROUPCHAT).unwrap());
    check_parsed(&parse_minidom(GROUPCHAT));

    let mut g = c.benchmark_group("stanza_parse");
    g.bench_function("xso", |b| {
        b.iter(|| xso::from_bytes::<Message>(black_box(GROUPCHAT)).unwrap())
    });
    g.bench_function("minidom", |b| {
        b.iter(|| parse_minidom(black_box(GROUPCHAT)))
    });
    g.finish();
}

/// The message the MUC service sends an occupant, built as
/// `gateway::muc` builds it: body, occupant `from`, id, and a stanza-id when
/// the room is archived.
fn occupant_message() -> Message {
    let to = Jid::new("alice@xmpp.example/phone").unwrap();
    let from = Jid::new("#rust%irc.example.net@irc.example.org/ferris").unwrap();
    let by = Jid::new("#rust%irc.example.net@irc.example.org").unwrap();
    let mut msg = Message::groupchat(Some(to)).with_body(Lang::new(), BODY.to_owned());
    msg.from = Some(from);
    msg.id = Some(Id("irc-1735787045-42".to_owned()));
    msg.payloads.push(
        StanzaId {
            id: "1337".to_owned(),
            by,
        }
        .into(),
    );
    msg
}

fn serialize(c: &mut Criterion) {
    let msg = occupant_message();
    let bytes = xso::to_vec(&msg).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.contains(BODY), "{text}");
    assert!(text.contains("stanza-id"), "{text}");
    assert_eq!(xso::from_bytes::<Message>(&bytes).unwrap(), msg);

    let stanza = Stanza::Message(msg.clone());
    let wire = wire::stanza_to_string(&stanza);
    let wrapped = wire.replacen("<message", "<message xmlns='jabber:component:accept'", 1);
    assert_eq!(xso::from_bytes::<Message>(wrapped.as_bytes()).unwrap(), msg);

    let mut g = c.benchmark_group("stanza_serialize");
    g.bench_function("xso", |b| b.iter(|| xso::to_vec(black_box(&msg)).unwrap()));
    g.bench_function("wire", |b| {
        let mut out = String::with_capacity(1024);
        b.iter(|| {
            out.clear();
            wire::write_stanza(&mut out, black_box(&stanza));
            out.len()
        })
    });
    g.finish();
}

fn xep0106(c: &mut Criterion) {
    let cases = [
        ("plain", "ferris", "ferris"),
        (
            "irc_nick",
            "[ferris]\\away|afk now",
            "[ferris]\\away|afk\\20now",
        ),
        ("discord_name", "crab@rust/lang", "crab\\40rust\\2flang"),
    ];
    for (_, id, local) in cases {
        assert_eq!(escape(id, Case::Sensitive), local);
        assert_eq!(unescape(local), id);
    }

    let mut g = c.benchmark_group("xep0106");
    for (name, id, local) in cases {
        g.bench_function(format!("escape/{name}"), |b| {
            b.iter(|| escape(black_box(id), Case::Sensitive))
        });
        g.bench_function(format!("unescape/{name}"), |b| {
            b.iter(|| unescape(black_box(local)))
        });
    }
    g.finish();
}

criterion_group!(benches, parse, serialize, xep0106);
criterion_main!(benches);
