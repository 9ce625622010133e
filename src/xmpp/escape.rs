//! XEP-0106 JID escaping: network ids become JID localparts and back.
//!
//! Both directions are linear in their input: each character is looked at
//! once, against at most the ten escape sequences (tests count the steps).

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

/// The characters XEP-0106 escapes, with their escapes.
const ESCAPES: &[(char, &str)] = &[
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

/// Escapes a network id into a JID localpart (XEP-0106 §4.2). A backslash is
/// escaped only where it would otherwise read as an escape sequence.
pub fn escape(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 8);
    for (i, c) in id.char_indices() {
        tick(1);
        match c {
            '\\' => {
                if starts_with_escape(&id[i..]) {
                    out.push_str("\\5c");
                } else {
                    out.push('\\');
                }
            }
            _ => match ESCAPES.iter().find(|(ch, _)| *ch == c) {
                Some((_, esc)) => out.push_str(esc),
                None => out.push(c),
            },
        }
    }
    out
}

/// Reverses [`escape`] (XEP-0106 §4.3): only the ten escape sequences are
/// turned back, anything else is kept as written.
pub fn unescape(local: &str) -> String {
    let mut out = String::with_capacity(local.len());
    let mut rest = local;
    while let Some(pos) = rest.find('\\') {
        tick(pos + 1);
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match ESCAPES.iter().find(|(_, esc)| tail.starts_with(esc)) {
            Some((c, esc)) => {
                out.push(*c);
                rest = &tail[esc.len()..];
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

fn starts_with_escape(s: &str) -> bool {
    ESCAPES.iter().any(|(_, esc)| s.starts_with(esc))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Examples from XEP-0106 §5 (Business Rules / examples table).
    #[test]
    fn xep_examples() {
        let cases = [
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
        for (plain, escaped) in cases {
            assert_eq!(escape(plain), escaped, "escape {plain}");
            assert_eq!(unescape(escaped), plain, "unescape {escaped}");
        }
    }

    #[test]
    fn network_ids_round_trip() {
        for id in [
            "#rust%irc.libera.chat",
            "ferris%irc.example.net",
            "!abc:matrix.org",
            "123/456",
        ] {
            assert_eq!(unescape(&escape(id)), id);
        }
        assert_eq!(escape("#rust%irc.libera.chat"), "#rust%irc.libera.chat");
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
            "\\", "\\5c", "\\\\20", "\\5", " ", "@", "\\2", "a\\3a", "é", "\\\\\\5c",
        ] {
            let id = p.repeat(N / p.len());
            let n = id.len() as u64;
            let (escaped, steps) = count(|| escape(&id));
            assert!(
                steps <= 2 * n,
                "escape: {steps} steps for {n} bytes of {p:?}"
            );
            let m = escaped.len() as u64;
            let (back, steps) = count(|| unescape(&escaped));
            assert!(steps <= 2 * m, "unescape: {steps} steps for {m} bytes");
            assert!(back == id, "{p:?} did not round trip");
            let (_, steps) = count(|| unescape(&id));
            assert!(
                steps <= 2 * n,
                "unescape: {steps} steps for {n} bytes of {p:?}"
            );
        }
    }

    /// A seeded xorshift: the same cases every run.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn any_string_round_trips_and_escapes_to_a_localpart() {
        // The escaped characters, the hex digits of their escapes and others.
        let alphabet: Vec<char> = " \"&'/:<>@\\\\\\2035acfF7x%#é日".chars().collect();
        let mut state = 0x5eed_0005_u64;
        for _ in 0..100_000 {
            let len = (next(&mut state) % 16) as usize;
            let id: String = (0..len)
                .map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            let escaped = escape(&id);
            assert!(
                !escaped.contains([' ', '"', '&', '\'', '/', ':', '<', '>', '@']),
                "{id:?} escaped to {escaped:?}"
            );
            assert_eq!(unescape(&escaped), id, "through {escaped:?}");
        }
    }
}
