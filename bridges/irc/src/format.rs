//! IRC formatting codes ↔ XEP-0393 message styling.
//!
//! Bold (`\x02`), italic (`\x1d`) and monospace (`\x11`) become `*…*`, `_…_`
//! and `` `…` ``; colours (`\x03`, `\x04`), reverse, underline, strike and
//! reset are dropped and their text kept.

use std::borrow::Cow;

const BOLD: char = '\x02';
const COLOR: char = '\x03';
const HEX_COLOR: char = '\x04';
const RESET: char = '\x0f';
const MONO: char = '\x11';
const REVERSE: char = '\x16';
const ITALIC: char = '\x1d';
const STRIKE: char = '\x1e';
const UNDERLINE: char = '\x1f';

/// One styling span, open or not, and where its text starts in the output.
#[derive(Clone, Copy)]
struct Span {
    marker: char,
    open_at: Option<usize>,
}

impl Span {
    fn new(marker: char) -> Self {
        Span {
            marker,
            open_at: None,
        }
    }

    /// Opens or closes the span. A span with no text in it is taken back, as
    /// it says nothing.
    fn toggle(&mut self, out: &mut String) {
        match self.open_at.take() {
            None => {
                out.push(self.marker);
                self.open_at = Some(out.len());
            }
            Some(at) if at == out.len() => {
                out.pop();
            }
            Some(_) => out.push(self.marker),
        }
    }

    fn close(&mut self, out: &mut String) {
        if self.open_at.is_some() {
            self.toggle(out);
        }
    }
}

/// Converts an IRC line to styled plain text.
pub fn irc_to_styled(line: &str) -> String {
    // Most lines carry no codes at all.
    if !line.bytes().any(|b| b < 0x20 && b != b'\t') {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let (mut bold, mut italic, mut mono) = (Span::new('*'), Span::new('_'), Span::new('`'));
    let mut chars = line.chars().peekable();
    let close_all = |out: &mut String, bold: &mut Span, italic: &mut Span, mono: &mut Span| {
        mono.close(out);
        italic.close(out);
        bold.close(out);
    };
    while let Some(c) = chars.next() {
        match c {
            BOLD => bold.toggle(&mut out),
            ITALIC => italic.toggle(&mut out),
            MONO => mono.toggle(&mut out),
            COLOR => {
                // Up to two digits, then optionally a comma and up to two more.
                let mut fg = 0;
                for _ in 0..2 {
                    if chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                        chars.next();
                        fg += 1;
                    }
                }
                if fg > 0 && chars.peek() == Some(&',') {
                    let mut look = chars.clone();
                    look.next();
                    if look.peek().is_some_and(|c| c.is_ascii_digit()) {
                        chars.next();
                        for _ in 0..2 {
                            if chars.peek().is_some_and(|c| c.is_ascii_digit()) {
                                chars.next();
                            }
                        }
                    }
                }
            }
            HEX_COLOR => {
                for _ in 0..6 {
                    if chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                        chars.next();
                    }
                }
                if chars.peek() == Some(&',') {
                    chars.next();
                    for _ in 0..6 {
                        if chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                            chars.next();
                        }
                    }
                }
            }
            RESET => close_all(&mut out, &mut bold, &mut italic, &mut mono),
            REVERSE | UNDERLINE | STRIKE => {}
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => out.push(c),
        }
    }
    close_all(&mut out, &mut bold, &mut italic, &mut mono);
    out
}

/// Converts styled text to IRC codes: `*bold*`, `_italic_`, `` `code` ``
/// spans within a line, when they open after a boundary and close before one.
/// Text with no marker at all (most of it) comes back as it is, uncopied.
pub fn styled_to_irc(text: &str) -> Cow<'_, str> {
    if !text.contains(['*', '_', '`']) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let code = match c {
            '*' => Some(BOLD),
            '_' => Some(ITALIC),
            '`' => Some(MONO),
            _ => None,
        };
        let at_boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if let (Some(code), true) = (code, at_boundary) {
            // A closing marker on the same line, right after a non-space.
            let close = (i + 2..chars.len())
                .take_while(|&j| chars[j] != '\n')
                .find(|&j| {
                    chars[j] == c
                        && !chars[j - 1].is_whitespace()
                        && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
                });
            if let Some(j) = close {
                if !chars[i + 1].is_whitespace() {
                    out.push(code);
                    out.extend(&chars[i + 1..j]);
                    out.push(code);
                    i = j + 1;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irc_codes_become_styling() {
        assert_eq!(
            irc_to_styled("\x02bold\x02 and \x1ditalic\x1d"),
            "*bold* and _italic_"
        );
        assert_eq!(irc_to_styled("\x11code\x11"), "`code`");
        assert_eq!(
            irc_to_styled("\x0304,12red on blue\x03 plain"),
            "red on blue plain"
        );
        assert_eq!(irc_to_styled("\x0399,1x\x0f"), "x");
        assert_eq!(irc_to_styled("\x04FF00FFhex\x04"), "hex");
        assert_eq!(irc_to_styled("\x16rev\x16 \x1funder\x1f"), "rev under");
        assert_eq!(irc_to_styled("\x02unclosed"), "*unclosed*");
        assert_eq!(irc_to_styled("\x02\x1dboth\x0f after"), "*_both_* after");
        assert_eq!(irc_to_styled("3,5 is not a colour"), "3,5 is not a colour");
        assert_eq!(irc_to_styled("\x03,5comma"), ",5comma");
        // An empty span is dropped; asterisks typed as text are kept.
        assert_eq!(irc_to_styled("\x02\x02a ** b __ c"), "a ** b __ c");
        assert_eq!(irc_to_styled("x\x1d\x0f y"), "x y");
        assert_eq!(irc_to_styled("2 ** 3"), "2 ** 3");
    }

    #[test]
    fn styling_becomes_irc_codes() {
        assert_eq!(
            styled_to_irc("*bold* and _it_"),
            "\x02bold\x02 and \x1dit\x1d"
        );
        assert_eq!(styled_to_irc("`x = 1`"), "\x11x = 1\x11");
        // Not styling: inside words, unmatched, or across lines.
        assert_eq!(styled_to_irc("snake_case_name"), "snake_case_name");
        // Nothing to convert: not copied.
        assert!(matches!(styled_to_irc("plain words"), Cow::Borrowed(_)));
        assert_eq!(styled_to_irc("2 * 3 * 4"), "2 * 3 * 4");
        assert_eq!(styled_to_irc("*a\nb*"), "*a\nb*");
        assert_eq!(styled_to_irc("héllo *wörld*"), "héllo \x02wörld\x02");
    }
}
