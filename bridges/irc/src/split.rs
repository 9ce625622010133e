//! Outgoing text as IRC lines: CR, LF and NUL can never reach the wire inside
//! a line, long lines are split at the protocol limit on character (and
//! preferably word) boundaries, and a body cannot smuggle in a CTCP.

use switchboard_bridge_api::MessageKind;

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
    // Most messages: one short line with nothing to clean.
    if text.len() <= room && !text.contains(['\n', '\r', '\0', '\x01']) {
        if text.trim().is_empty() {
            return Vec::new();
        }
        return vec![format!("{command} {target} :{open}{text}{close}")];
    }
    let mut lines = Vec::new();
    for line in text.split('\n') {
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
}
