//! IRC formatting codes ↔ XEP-0393 message styling.
//!
//! Bold (`\x02`), italic (`\x1d`) and monospace (`\x11`) become `*…*`, `_…_`
//! and `` `…` ``; colours (`\x03`, `\x04`), reverse, underline, strike and
//! reset are dropped and their text kept.

use std::borrow::Cow;

use crate::work::tick;

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
        tick(1);
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
///
/// Linear in the text: the closing marker of each kind and the next line end
/// are found by cursors that only move forward, so no character is looked at
/// more than a few times however many markers stay unmatched.
pub fn styled_to_irc(text: &str) -> Cow<'_, str> {
    tick(text.len());
    if !text.contains(['*', '_', '`']) {
        return Cow::Borrowed(text);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut closers = [Closer::new('*'), Closer::new('_'), Closer::new('`')];
    let mut line_end = Cursor::default();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        tick(1);
        let c = chars[i];
        let kind = match c {
            '*' => Some((0, BOLD)),
            '_' => Some((1, ITALIC)),
            '`' => Some((2, MONO)),
            _ => None,
        };
        let at_boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if let (Some((k, code)), true) = (kind, at_boundary) {
            // A closing marker on the same line, right after a non-space.
            let close = closers[k].next(&chars, i + 2);
            let end = line_end.next(&chars, i + 1, |_, c| c == '\n');
            if let Some(j) = close.filter(|&j| end.is_none_or(|e| j < e)) {
                if !chars[i + 1].is_whitespace() {
                    out.push(code);
                    tick(j - i);
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

/// The next position at or after a point where a condition holds, for points
/// that never move backwards: each character is tested at most once.
#[derive(Default)]
struct Cursor {
    /// Everything before this has been tested.
    scanned: usize,
    /// The first match found at or after the last point asked for.
    found: Option<usize>,
}

impl Cursor {
    fn next(
        &mut self,
        chars: &[char],
        from: usize,
        hit: impl Fn(usize, char) -> bool,
    ) -> Option<usize> {
        if let Some(at) = self.found {
            if at >= from {
                return Some(at);
            }
        }
        self.found = None;
        let mut j = self.scanned.max(from);
        while j < chars.len() {
            tick(1);
            if hit(j, chars[j]) {
                self.found = Some(j);
                break;
            }
            j += 1;
        }
        self.scanned = j + 1;
        self.found
    }
}

/// Finds where a span of one marker can close: the marker right after a
/// non-space and before the end of the text or a non-alphanumeric character.
struct Closer {
    marker: char,
    cursor: Cursor,
}

impl Closer {
    fn new(marker: char) -> Self {
        Closer {
            marker,
            cursor: Cursor::default(),
        }
    }

    /// The first closing position at or after `from` (which is at least 1).
    fn next(&mut self, chars: &[char], from: usize) -> Option<usize> {
        let marker = self.marker;
        self.cursor.next(chars, from, |j, c| {
            c == marker
                && !chars[j - 1].is_whitespace()
                && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::Rng;

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

    /// Inputs that made the old conversion scan to the end of the line for
    /// every marker: `n` bytes of each.
    fn pathological_styled(n: usize) -> Vec<String> {
        let patterns = [
            "* ",
            "_ ",
            "` ",
            " *a",
            "* _ ` ",
            "*_`a ",
            "*_`",
            "a *b _c `d ",
            "*",
            "**  ",
            "*\u{e9} ",
        ];
        patterns
            .iter()
            .map(|p| p.repeat(n / p.len()))
            .chain([format!("{}x*", "* ".repeat(n / 2 - 1))])
            .collect()
    }

    #[test]
    fn styled_to_irc_is_linear() {
        const N: usize = 1 << 20;
        for input in pathological_styled(N) {
            let (_, steps) = crate::work::count(|| styled_to_irc(&input));
            let n = input.len() as u64;
            assert!(
                steps <= 8 * n,
                "{steps} steps for {n} bytes of {:?}…",
                &input[..12]
            );
        }
    }

    #[test]
    fn irc_to_styled_is_linear() {
        const N: usize = 1 << 20;
        let patterns = [
            "\x02",
            "\x03",
            "\x04",
            "\x0f",
            "\x031,",
            "\x0399,99",
            "\x04,",
            "\x04ffffff,a",
            "\x02\x1d\x11\x0f",
            "\x02\x1d\x11x",
            "\x01",
            ",5",
        ];
        let mut inputs: Vec<String> = patterns.iter().map(|p| p.repeat(N / p.len())).collect();
        inputs.push(format!("\x03{}", "9".repeat(N)));
        for input in inputs {
            let (out, steps) = crate::work::count(|| irc_to_styled(&input));
            let n = input.len() as u64;
            assert!(
                steps <= 2 * n,
                "{steps} steps for {n} bytes of {:?}…",
                &input[..8]
            );
            assert!(out.len() <= 2 * input.len());
        }
    }

    /// The rules `styled_to_irc` had before it was made linear (it scanned to
    /// the end of the line for every unmatched marker): the reference the
    /// linear version must agree with.
    fn quadratic_reference(text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::new();
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
        out
    }

    fn random_text(rng: &mut Rng, alphabet: &[char], max_len: usize) -> String {
        let len = rng.below(max_len + 1);
        (0..len).map(|_| *rng.pick(alphabet)).collect()
    }

    #[test]
    fn styled_to_irc_agrees_with_the_old_rules() {
        let alphabet = [
            '*', '_', '`', ' ', '\n', '\t', 'a', 'b', '1', '.', 'é', '日',
        ];
        let mut rng = Rng::new(0x5eed_0001);
        for _ in 0..50_000 {
            let text = random_text(&mut rng, &alphabet, 24);
            assert_eq!(
                styled_to_irc(&text),
                quadratic_reference(&text),
                "input {text:?}"
            );
        }
    }

    /// A line of words, some wrapped in one styling marker: what a client
    /// sends when its user styles words.
    fn well_formed_line(rng: &mut Rng) -> String {
        let words = [
            "ferris", "crab", "42", "héllo", "日本", "a", "x.y", "don't", "ok!",
        ];
        let mut line = String::new();
        for w in 0..1 + rng.below(8) {
            if w > 0 {
                line.push(' ');
            }
            let span: Vec<&str> = (0..1 + rng.below(3)).map(|_| *rng.pick(&words)).collect();
            match rng.below(5) {
                0 => line.push_str(&format!("*{}*", span.join(" "))),
                1 => line.push_str(&format!("_{}_", span.join(" "))),
                2 => line.push_str(&format!("`{}`", span.join(" "))),
                _ => line.push_str(&span.join(" ")),
            }
        }
        line
    }

    #[test]
    fn well_formed_styling_round_trips() {
        let mut rng = Rng::new(0x5eed_0002);
        for _ in 0..20_000 {
            let line = well_formed_line(&mut rng);
            let irc = styled_to_irc(&line);
            assert_eq!(irc_to_styled(&irc), line, "through IRC as {irc:?}");
            if line.contains(['*', '_', '`']) {
                assert!(irc.contains([BOLD, ITALIC, MONO]), "{line:?} kept no style");
            }
        }
    }

    #[test]
    fn irc_to_styled_never_loses_printable_text() {
        let codes = [
            "\x02",
            "\x1d",
            "\x11",
            "\x0f",
            "\x16",
            "\x1f",
            "\x1e",
            "\x01",
            "\x07",
            "\x03",
            "\x034",
            "\x0304",
            "\x0304,12",
            "\x04",
            "\x04ff00aa",
            "\x04ff00aa,00ff00",
        ];
        let printable = ['a', 'Z', ' ', '\t', '1', ',', '.', 'é', '日', '#', '\u{7f}'];
        let mut rng = Rng::new(0x5eed_0003);
        for _ in 0..20_000 {
            let (mut line, mut text) = (String::new(), String::new());
            for _ in 0..rng.below(12) {
                if rng.below(2) == 0 {
                    line.push_str(codes[rng.below(codes.len())]);
                    // What follows a colour must not read as part of it.
                    line.push('g');
                    text.push('g');
                } else {
                    let t = random_text(&mut rng, &printable, 6);
                    line.push_str(&t);
                    text.push_str(&t);
                }
            }
            let out = irc_to_styled(&line);
            assert_eq!(out.replace(['*', '_', '`'], ""), text, "from {line:?}");
            assert!(!out.contains(|c: char| c < ' ' && c != '\t'));
        }
    }
}
