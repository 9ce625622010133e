//! The character-level encoding of network ids into JID localparts and back:
//! XEP-0106 for its ten characters, extended so that an id keeps its case
//! and any character through the XMPP server's nodeprep (RFC 3920 App. A),
//! which case-folds, normalises and refuses characters in localparts.
//!
//! The escape sequences, all in lower case so that nodeprep leaves them be:
//! - `\20 \22 \26 \27 \2f \3a \3c \3e \40 \5c`: XEP-0106's ten (space
//!   `" & ' / : < > @ \`);
//! - `\41` … `\5a`: the upper-case ASCII letters `A` … `Z`, by their code in
//!   lower-case hex, as XEP-0106 writes its own (`@Bob` → `\40\42ob`);
//! - `\u{h…}`: any other character by its code point in lower-case hex (one
//!   to six digits): ASCII controls, and non-ASCII characters nodeprep would
//!   change or refuse (upper case, spaces, controls; see
//!   [`localpart`](super::localpart) for the rest).
//!
//! A backslash is escaped (`\5c`) exactly where the text after it, as it
//! will be written, would read as one of these sequences; anywhere else it
//! stays as it is, as XEP-0106 §4.2 has it. A client that knows only
//! XEP-0106 shows `\42` and `\u{…}` as they are written.
//!
//! Both directions are linear in their input: each character is looked at
//! once, and a backslash's look-ahead is at most ten bytes (tests count the
//! steps).

#[cfg(test)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` steps of work in tests; nothing outside them.
#[inline(always)]
fn tick(n: usize) {
    #[cfg(test)]
    STEPS.with(|s| s.set(s.get() + n as u64));
    #[cfg(not(test))]
    let _ = n;
}

/// How a network compares its ids, and so how much of their case a JID
/// must keep (from [`Capabilities::case_insensitive_ids`]).
///
/// [`Capabilities::case_insensitive_ids`]: switchboard_bridge_api::Capabilities
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `Bob` and `bob` are two ids (Matrix, Discord): capitals are escaped.
    Sensitive,
    /// Ids that differ only in ASCII letter case are one id (IRC): ASCII
    /// capitals are written in lower case, as the XMPP server would fold
    /// them anyway, so JIDs stay readable. Other capitals are escaped.
    Insensitive,
}

/// Whether non-ASCII characters may stand for themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonAscii {
    /// Kept, except upper case, spaces and controls: the readable form.
    Keep,
    /// Every one escaped: plain ASCII, which nodeprep always leaves be.
    Escape,
}

/// The characters XEP-0106 escapes, with their escapes.
const XEP0106: &[(char, &str)] = &[
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
    ('\\', "\\5c"),
];

/// Escapes a network id into a localpart, keeping non-ASCII characters
/// where they can stand for themselves. The result may still be one that
/// nodeprep changes (a combining mark, mixed scripts): use
/// [`localpart`](super::localpart::localpart), which checks.
pub fn escape(id: &str, case: Case) -> String {
    escape_with(id, case, NonAscii::Keep)
}

/// Escapes a network id into a localpart of plain ASCII (every non-ASCII
/// character as `\u{…}`).
pub fn escape_ascii(id: &str, case: Case) -> String {
    escape_with(id, case, NonAscii::Escape)
}

pub(crate) fn escape_with(id: &str, case: Case, non_ascii: NonAscii) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    let fold = case == Case::Insensitive;
    for (i, c) in id.char_indices() {
        tick(1);
        match c {
            '\\' => {
                if sequence_at(&id.as_bytes()[i..], fold).is_some() {
                    out.push_str("\\5c");
                } else {
                    out.push('\\');
                }
            }
            'A'..='Z' if fold => out.push(c.to_ascii_lowercase()),
            'A'..='Z' => push_hex2(&mut out, c as u8),
            c if c.is_ascii_control() => push_code_point(&mut out, c),
            c if c.is_ascii() => match XEP0106.iter().find(|(ch, _)| *ch == c) {
                Some((_, esc)) => out.push_str(esc),
                None => out.push(c),
            },
            c if non_ascii == NonAscii::Keep
                && !(c.is_uppercase() || c.is_whitespace() || c.is_control()) =>
            {
                out.push(c)
            }
            c => push_code_point(&mut out, c),
        }
    }
    out
}

/// Reverses [`escape`] and [`escape_ascii`]: the sequences above are turned
/// back, anything else is kept as written.
pub fn unescape(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut rest = local;
    while let Some(pos) = rest.find('\\') {
        tick(pos + 1);
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match sequence_at(tail.as_bytes(), false) {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    tick(rest.len());
    out.push_str(rest);
    out
}

/// The character and length of the escape sequence `s` starts with, if it
/// starts with one. With `fold`, ASCII capitals read as their lower case
/// (as [`Case::Insensitive`] will write them).
fn sequence_at(s: &[u8], fold: bool) -> Option<(char, usize)> {
    let at = |i: usize| {
        s.get(i)
            .map(|b| if fold { b.to_ascii_lowercase() } else { *b })
    };
    if at(0)? != b'\\' {
        return None;
    }
    if at(1)? == b'u' {
        if at(2)? != b'{' {
            return None;
        }
        let mut code = 0u32;
        for i in 3..=9 {
            match at(i)? {
                b'}' if i > 3 => return char::from_u32(code).map(|c| (c, i + 1)),
                b if i < 9 => code = code * 16 + hex_digit(b)?,
                _ => return None,
            }
        }
        return None;
    }
    let code = hex_digit(at(1)?)? * 16 + hex_digit(at(2)?)?;
    let c = char::from_u32(code)?;
    (c.is_ascii_uppercase() || XEP0106.iter().any(|(ch, _)| *ch == c)).then_some((c, 3))
}

/// A lower-case hex digit's value.
fn hex_digit(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'f' => Some(u32::from(b - b'a') + 10),
        _ => None,
    }
}

/// `\hh`, lower-case hex.
fn push_hex2(out: &mut String, b: u8) {
    use std::fmt::Write as _;
    let _ = write!(out, "\\{b:02x}");
}

/// `\u{h…}`, lower-case hex without leading zeros.
fn push_code_point(out: &mut String, c: char) {
    use std::fmt::Write as _;
    let _ = write!(out, "\\u{{{:x}}}", c as u32);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // Examples from XEP-0106 §5 (Business Rules / examples table).
    pub(crate) const XEP_EXAMPLES: &[(&str, &str)] = &[
        ("space cadet", "space\\20cadet"),
        ("call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"),
        ("at&t guy", "at\\26t\\20guy"),
        ("d'artagnan", "d\\27artagnan"),
        ("/.fanboy", "\\2f.fanboy"),
        ("::foo::", "\\3a\\3afoo\\3a\\3a"),
        ("<foo>", "\\3cfoo\\3e"),
        ("user@host", "user\\40host"),
        ("c:\\net", "c\\3a\\net"),
        ("c:\\\\net", "c\\3a\\\\net"),
        ("c:\\cool stuff", "c\\3a\\cool\\20stuff"),
        ("c:\\5commas", "c\\3a\\5c5commas"),
    ];

    #[test]
    fn xep_examples() {
        for (plain, escaped) in XEP_EXAMPLES {
            for case in [Case::Sensitive, Case::Insensitive] {
                assert_eq!(escape(plain, case), *escaped, "escape {plain}");
            }
            assert_eq!(unescape(escaped), *plain, "unescape {escaped}");
        }
    }

    #[test]
    fn capitals_are_escaped_only_where_case_matters() {
        assert_eq!(escape("@Bob:hs", Case::Sensitive), "\\40\\42ob\\3ahs");
        assert_eq!(escape("!AbC:hs", Case::Sensitive), "!\\41b\\43\\3ahs");
        assert_eq!(escape("#Room:hs", Case::Sensitive), "#\\52oom\\3ahs");
        assert_eq!(
            escape("Ferris%irc.libera.chat", Case::Insensitive),
            "ferris%irc.libera.chat"
        );
        // Only ASCII letters are one with their lower case on IRC.
        assert_eq!(escape("Élan%irc", Case::Insensitive), "\\u{c9}lan%irc");
        assert_eq!(escape("café\u{a0}bar", Case::Sensitive), "café\\u{a0}bar");
        assert_eq!(escape_ascii("café", Case::Sensitive), "caf\\u{e9}");
        assert_eq!(escape("a\u{0}\u{7f}", Case::Sensitive), "a\\u{0}\\u{7f}");
        // A backslash before what reads (or, folded, will read) as a sequence.
        assert_eq!(escape("\\4a", Case::Sensitive), "\\5c4a");
        assert_eq!(escape("\\4A", Case::Sensitive), "\\4\\41");
        assert_eq!(escape("\\4A", Case::Insensitive), "\\5c4a");
        assert_eq!(escape("\\u{1f600}", Case::Sensitive), "\\5cu{1f600}");
        assert_eq!(escape("\\U{E9}", Case::Insensitive), "\\5cu{e9}");
        assert_eq!(escape("\\u{}", Case::Sensitive), "\\u{}");
        assert_eq!(escape("\\u{1234567}", Case::Sensitive), "\\u{1234567}");
        assert_eq!(escape("\\u{d800}", Case::Sensitive), "\\u{d800}");
        assert_eq!(unescape("\\u{1f600}\\5a\\5b"), "😀Z\\5b");
    }

    #[test]
    fn network_ids_round_trip() {
        for id in [
            "#rust%irc.libera.chat",
            "ferris%irc.example.net",
            "!abc:matrix.org",
            "!AbCd:example.org",
            "123/456",
        ] {
            assert_eq!(unescape(&escape(id, Case::Sensitive)), id);
        }
        assert_eq!(
            escape("#rust%irc.libera.chat", Case::Sensitive),
            "#rust%irc.libera.chat"
        );
    }

    /// Runs `f` and returns its result with the steps it counted.
    fn count<T>(f: impl FnOnce() -> T) -> (T, u64) {
        let before = STEPS.with(|s| s.get());
        let out = f();
        (out, STEPS.with(|s| s.get()) - before)
    }

    #[test]
    fn escaping_is_linear() {
        const N: usize = 1 << 20;
        for p in [
            "\\", "\\5c", "\\\\20", "\\5", " ", "@", "\\2", "a\\3a", "é", "\\\\\\5c", "\\u{",
            "\\u{4", "\\u{41}", "A", "\\4A", "É",
        ] {
            let id = p.repeat(N / p.len());
            let n = id.len() as u64;
            for case in [Case::Sensitive, Case::Insensitive] {
                let (escaped, steps) = count(|| escape(&id, case));
                assert!(
                    steps <= 2 * n,
                    "escape: {steps} steps for {n} bytes of {p:?}"
                );
                let m = escaped.len() as u64;
                let (back, steps) = count(|| unescape(&escaped));
                assert!(steps <= 2 * m, "unescape: {steps} steps for {m} bytes");
                let want = match case {
                    Case::Sensitive => id.clone(),
                    Case::Insensitive => id.to_ascii_lowercase(),
                };
                assert!(back == want, "{p:?} did not round trip");
            }
            let (_, steps) = count(|| unescape(&id));
            assert!(
                steps <= 2 * n,
                "unescape: {steps} steps for {n} bytes of {p:?}"
            );
        }
    }

    /// A seeded xorshift: the same cases every run.
    pub(crate) fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn any_string_round_trips_and_escapes_to_a_localpart() {
        // The escaped characters, the hex digits of their escapes and others.
        let alphabet: Vec<char> = " \"&'/:<>@\\\\\\2035acfF7x%#é日AZuU{}4!É\u{0}"
            .chars()
            .collect();
        let mut state = 0x5eed_0005_u64;
        for _ in 0..100_000 {
            let len = (next(&mut state) % 16) as usize;
            let id: String = (0..len)
                .map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            for case in [Case::Sensitive, Case::Insensitive] {
                let escaped = escape(&id, case);
                assert!(
                    !escaped.contains([' ', '"', '&', '\'', '/', ':', '<', '>', '@', '\u{0}', 'É'])
                        && !escaped.contains(|c: char| c.is_ascii_uppercase()),
                    "{id:?} escaped to {escaped:?}"
                );
                let want = match case {
                    Case::Sensitive => id.clone(),
                    Case::Insensitive => id.to_ascii_lowercase(),
                };
                assert_eq!(unescape(&escaped), want, "through {escaped:?}");
            }
        }
    }
}
