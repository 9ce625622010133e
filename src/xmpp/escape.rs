//! XEP-0106 JID escaping: network ids become JID localparts and back.

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
}
