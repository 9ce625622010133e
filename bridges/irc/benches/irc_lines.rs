//! Micro-benchmarks for the IRC bridge's per-line work: parsing an incoming
//! line with irc-proto (as `conn.rs` does), splitting outgoing text into
//! `PRIVMSG` lines, and converting IRC formatting codes ↔ XEP-0393 styling.
//!
//! Run: `cargo bench -p switchboard-irc --bench irc_lines`
//! (criterion arguments after `--`, e.g. `-- --measurement-time 2 parse`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use irc_proto::{Command, Message};
use switchboard_bridge_api::MessageKind;
use switchboard_irc::{irc_to_styled, message_lines, styled_to_irc};

const PLAIN_LINE: &str = ":ferris!~ferris@rust.example PRIVMSG #rust :hello world with some text";
const TAGGED_LINE: &str = "@time=2025-01-02T03:04:05.678Z;msgid=Yb8oV2dLqk3 \
                           :ferris!~ferris@rust.example PRIVMSG #rust :hello world with some text";

fn parse(c: &mut Criterion) {
    // The same call as the connection's read loop: `line.parse::<Message>()`.
    let m: Message = PLAIN_LINE.parse().unwrap();
    assert!(
        matches!(&m.command, Command::PRIVMSG(t, text) if t == "#rust" && text == "hello world with some text")
    );
    assert_eq!(m.source_nickname(), Some("ferris"));
    let m: Message = TAGGED_LINE.parse().unwrap();
    assert_eq!(m.tags.as_ref().map(Vec::len), Some(2));
    assert!(matches!(&m.command, Command::PRIVMSG(t, _) if t == "#rust"));

    let mut g = c.benchmark_group("irc_parse");
    g.bench_function("privmsg", |b| {
        b.iter(|| black_box(PLAIN_LINE).parse::<Message>())
    });
    g.bench_function("privmsg_with_tags", |b| {
        b.iter(|| black_box(TAGGED_LINE).parse::<Message>())
    });
    g.finish();
}

fn format_lines(c: &mut Criterion) {
    let short = "hello world with some text";
    // Over 2,000 characters, two to three bytes each outside ASCII.
    let long = "héllo wörld ✓ 日本語 ".repeat(120);
    assert!(long.chars().count() > 2000);

    let lines = message_lines("PRIVMSG", "#rust", short, MessageKind::Normal);
    assert_eq!(lines, ["PRIVMSG #rust :hello world with some text"]);
    let lines = message_lines("PRIVMSG", "#rust", &long, MessageKind::Normal);
    assert!(lines.len() > 1);
    assert!(lines.iter().all(|l| l.len() <= 512));

    let mut g = c.benchmark_group("irc_message_lines");
    g.bench_function("short", |b| {
        b.iter(|| {
            message_lines(
                black_box("PRIVMSG"),
                black_box("#rust"),
                black_box(short),
                MessageKind::Normal,
            )
        })
    });
    g.bench_function("2000_chars_multibyte_split", |b| {
        b.iter(|| {
            message_lines(
                black_box("PRIVMSG"),
                black_box("#rust"),
                black_box(&long),
                MessageKind::Normal,
            )
        })
    });
    g.finish();
}

fn formatting(c: &mut Criterion) {
    let coded =
        "\x02ferris\x02 says \x1dhi\x1d: \x0304,12red on blue\x03 and \x11cargo bench\x11 \x0fdone";
    let styled = "*bold* _italic_ `code` ~strike~ and some plain words";
    let plain = "hello world with some text, no formatting at all";

    assert_eq!(
        irc_to_styled(coded),
        "*ferris* says _hi_: red on blue and `cargo bench` done"
    );
    // `~strike~` has no IRC code here: it is left as written.
    assert_eq!(
        styled_to_irc(styled),
        "\x02bold\x02 \x1ditalic\x1d \x11code\x11 ~strike~ and some plain words"
    );
    assert_eq!(irc_to_styled(plain), plain);
    assert_eq!(styled_to_irc(plain), plain);

    let mut g = c.benchmark_group("irc_formatting");
    g.bench_function("irc_to_styled/codes", |b| {
        b.iter(|| irc_to_styled(black_box(coded)))
    });
    g.bench_function("irc_to_styled/plain", |b| {
        b.iter(|| irc_to_styled(black_box(plain)))
    });
    g.bench_function("styled_to_irc/styled", |b| {
        b.iter(|| styled_to_irc(black_box(styled)))
    });
    g.bench_function("styled_to_irc/plain", |b| {
        b.iter(|| styled_to_irc(black_box(plain)))
    });
    g.finish();
}

criterion_group!(benches, parse, format_lines, formatting);
criterion_main!(benches);
