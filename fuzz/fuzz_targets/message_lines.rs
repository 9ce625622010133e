//! Outgoing text → IRC lines. The first byte picks the kind and the target;
//! the rest is the body. Every line is within the limit, carries no CR, LF or
//! NUL (and no \x01 from the body), and the lines together keep the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_bridge_api::MessageKind;
use switchboard_irc::message_lines;

const LINE_LIMIT: usize = 512;
const PREFIX_RESERVE: usize = 100;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let (command, kind) = match pick % 3 {
        0 => ("PRIVMSG", MessageKind::Normal),
        1 => ("PRIVMSG", MessageKind::Action),
        _ => ("NOTICE", MessageKind::Notice),
    };
    let target = match (pick / 3) % 3 {
        0 => "#rust",
        1 => "ferris",
        _ => "#a-rather-long-channel-name-for-a-busy-network",
    };
    let (open, close) = match kind {
        MessageKind::Action => ("\x01ACTION ", "\x01"),
        _ => ("", ""),
    };
    let head = format!("{command} {target} :{open}");
    let mut joined = String::new();
    for line in message_lines(command, target, text, kind) {
        assert!(
            line.len() + 2 + PREFIX_RESERVE <= LINE_LIMIT,
            "{} bytes",
            line.len()
        );
        assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
        let payload = line
            .strip_prefix(head.as_str())
            .and_then(|p| p.strip_suffix(close))
            .expect("a line to the target");
        assert!(!payload.contains('\x01'), "CTCP in {line:?}");
        joined.push_str(payload);
    }
    let expected: String = text
        .split('\n')
        .map(|l| l.replace(['\r', '\0', '\x01'], ""))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(joined, expected);
});
