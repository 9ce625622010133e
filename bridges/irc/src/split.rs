//! Outgoing text as IRC lines: CR, LF and NUL can never reach the wire inside
//! a line, long lines are split at the protocol limit on character (and
//! preferably word) boundaries, and a body cannot smuggle in a CTCP.

use switchboard_bridge_api::MessageKind;

use crate::work::tick;

/// The IRC line limit, CR LF included (RFC 1459 §2.3).
pub const LINE_LIMIT: usize = 512;
/// Room left for the `:nick!user@host ` prefix the server adds when relaying.
pub const PREFIX_RESERVE: usize = 100;

/// The `PRIVMSG`/`NOTICE` lines that carry `text` to `target`.
pub fn message_lines(command: &str, target: &str, text: &str, kind: MessageKind) -> Vec<String> {
    let (open, close) = match kind {
        MessageKind::Action => ("\x01ACTION ", "\x01"),
        _ => ("", ""),
    };
    let overhead = command.len() + 1 + target.len() + 2 + open.len() + close.len() + 2;
    let room = LINE_LIMIT
        .saturating_sub(PREFIX_RESERVE)
        .saturating_sub(overhead)
        .max(16);
    tick(text.len());
    // Most messages: one short line with nothing to clean.
    if text.len() <= room && !text.contains(['\n', '\r', '\0', '\x01']) {
        if text.trim().is_empty() {
            return Vec::new();
        }
        return vec![format!("{command} {target} :{open}{text}{close}")];
    }
    let mut lines = Vec::new();
    for line in text.split('\n') {
        tick(line.len() + 1);
        let clean: String = line
            .chars()
            .filter(|c| !matches!(c, '\r' | '\0'))
            // A normal message must not start a CTCP: \x01 is dropped.
            .filter(|c| *c != '\x01')
            .collect();
        if clean.trim().is_empty() {
            continue;
        }
        for chunk in chunks(&clean, room) {
            lines.push(format!("{command} {target} :{open}{chunk}{close}"));
        }
    }
    lines
}

/// Splits `text` into pieces of at most `max` bytes, never inside a UTF-8
/// character, at the last space when there is one in the second half.
fn chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut cut = max;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // At most `cut` bytes looked at for at least `cut / 2` taken.
        tick(cut);
        if let Some(space) = rest[..cut].rfind(' ') {
            if space > max / 2 {
                cut = space + 1;
            }
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::{count, Rng};

    #[test]
    fn long_multibyte_body_fits_and_loses_nothing() {
        let body: String = "héllo wörld ✓ 日本語 ".repeat(120); // over 2,000 chars
        assert!(body.chars().count() > 2000);
        let lines = message_lines("PRIVMSG", "#rust", &body, MessageKind::Normal);
        assert!(lines.len() > 1);
        let mut joined = String::new();
        for l in &lines {
            assert!(
                l.len() + 2 + PREFIX_RESERVE <= LINE_LIMIT,
                "line of {} bytes",
                l.len()
            );
            joined.push_str(l.strip_prefix("PRIVMSG #rust :").unwrap());
        }
        assert_eq!(joined, body.trim_end_matches('\n'));
    }

    #[test]
    fn cr_lf_nul_never_inject_a_command() {
        let lines = message_lines(
            "PRIVMSG",
            "#rust",
            "hi\r\nQUIT :bye\rJOIN #evil\0x",
            MessageKind::Normal,
        );
        assert_eq!(
            lines,
            ["PRIVMSG #rust :hi", "PRIVMSG #rust :QUIT :byeJOIN #evilx"]
        );
        for l in lines {
            assert!(!l.contains(['\r', '\n', '\0']));
            assert!(l.starts_with("PRIVMSG #rust :"));
        }
    }

    #[test]
    fn multi_line_body_is_several_messages() {
        let lines = message_lines("PRIVMSG", "bob", "one\ntwo\n\nthree", MessageKind::Normal);
        assert_eq!(
            lines,
            ["PRIVMSG bob :one", "PRIVMSG bob :two", "PRIVMSG bob :three"]
        );
    }

    #[test]
    fn short_plain_line_is_one_message_and_blank_is_none() {
        let lines = message_lines("PRIVMSG", "#r", "hello there", MessageKind::Normal);
        assert_eq!(lines, ["PRIVMSG #r :hello there"]);
        assert!(message_lines("PRIVMSG", "#r", "  \t ", MessageKind::Normal).is_empty());
        assert!(message_lines("PRIVMSG", "#r", "", MessageKind::Action).is_empty());
    }

    #[test]
    fn ctcp_is_escaped_unless_action() {
        let lines = message_lines("PRIVMSG", "#r", "\x01VERSION\x01", MessageKind::Normal);
        assert_eq!(lines, ["PRIVMSG #r :VERSION"]);
        let lines = message_lines("PRIVMSG", "#r", "waves", MessageKind::Action);
        assert_eq!(lines, ["PRIVMSG #r :\x01ACTION waves\x01"]);
    }

    #[test]
    fn splitting_is_linear() {
        const N: usize = 1 << 20;
        let patterns = [
            "a", " ", "a ", "\r", "\n", "\0", "\x01", "\r\n", "é", "🦀", "日 ", "\n ",
        ];
        let mut inputs: Vec<String> = patterns.iter().map(|p| p.repeat(N / p.len())).collect();
        // A space just too early to be a cut, in every chunk.
        inputs.push(format!("{} ", "x".repeat(150)).repeat(N / 151));
        for input in inputs {
            for kind in [MessageKind::Normal, MessageKind::Action] {
                let (lines, steps) = count(|| message_lines("PRIVMSG", "#rust", &input, kind));
                let n = input.len() as u64;
                assert!(
                    steps <= 6 * n,
                    "{steps} steps for {n} bytes of {:?}…",
                    &input[..4]
                );
                let out: usize = lines.iter().map(String::len).sum();
                assert!(out <= 3 * input.len() + 64);
            }
        }
    }

    /// What one body must become: each of its lines without CR, NUL and
    /// \x01, blank lines left out.
    fn expected_payload(text: &str) -> String {
        text.split('\n')
            .map(|l| l.replace(['\r', '\0', '\x01'], ""))
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    #[test]
    fn lines_are_clean_within_the_limit_and_keep_the_text() {
        let alphabet = [
            'a', 'b', ' ', ' ', '\t', '\r', '\n', '\0', '\x01', 'é', '日', '🦀', ':', '\x02',
        ];
        let targets = [
            "#rust",
            "bob",
            "#a-rather-long-channel-name-for-a-busy-network",
        ];
        let mut rng = Rng::new(0x5eed_0004);
        for case in 0..4_000 {
            // Mostly short bodies, some over several lines' worth.
            let len = if case % 4 == 0 {
                rng.below(3000)
            } else {
                rng.below(80)
            };
            let text: String = (0..len).map(|_| *rng.pick(&alphabet)).collect();
            let target = *rng.pick(&targets);
            let kind = *rng.pick(&[
                MessageKind::Normal,
                MessageKind::Action,
                MessageKind::Notice,
            ]);
            let command = if kind == MessageKind::Notice {
                "NOTICE"
            } else {
                "PRIVMSG"
            };
            let lines = message_lines(command, target, &text, kind);
            let (open, close) = match kind {
                MessageKind::Action => ("\x01ACTION ", "\x01"),
                _ => ("", ""),
            };
            let head = format!("{command} {target} :{open}");
            let mut joined = String::new();
            for l in &lines {
                assert!(
                    l.len() + 2 + PREFIX_RESERVE <= LINE_LIMIT,
                    "{} bytes",
                    l.len()
                );
                assert!(!l.contains(['\r', '\n', '\0']), "{l:?}");
                let payload = l
                    .strip_prefix(head.as_str())
                    .and_then(|p| p.strip_suffix(close))
                    .unwrap_or_else(|| panic!("{l:?} is not a {command} to {target}"));
                assert!(!payload.contains('\x01'), "CTCP in {l:?}");
                assert!(!payload.is_empty());
                // A payload is a `str`: no character was cut in two.
                joined.push_str(payload);
            }
            assert_eq!(joined, expected_payload(&text), "from {text:?}");
        }
    }
}
