//! Mentions both ways. In: a pill (a `https://matrix.to/#/@user:hs` or
//! `matrix:u/user:hs` link) names a user ([`pill_target`]), whom the HTML
//! reader writes as the member's nick. Out: `@nick`, or `nick:` at the
//! start of a word, of a member of the room (not the user) is found in the
//! text ([`find_mentions`]) and becomes a pill and an entry of
//! `m.mentions.user_ids`. A room mention (`@room`) is never sent.

/// The Matrix id (`@user:hs`, `#alias:hs`, `!room`) a pill's address names.
pub(crate) fn pill_target(href: &str) -> Option<String> {
    if let Some(rest) = href
        .strip_prefix("https://matrix.to/#/")
        .or_else(|| href.strip_prefix("http://matrix.to/#/"))
    {
        let id = rest.split(['?', '/']).next()?;
        let id = percent_decode(id);
        return matches!(id.chars().next(), Some('@' | '#' | '!')).then_some(id);
    }
    let rest = href.strip_prefix("matrix:")?;
    let rest = rest.split(['?', '#']).next()?;
    let mut parts = rest.splitn(3, '/');
    let sigil = match parts.next()? {
        "u" => '@',
        "r" => '#',
        "roomid" => '!',
        _ => return None,
    };
    let id = percent_decode(parts.next()?);
    (!id.is_empty()).then(|| format!("{sigil}{id}"))
}

/// `%xx` escapes decoded (an invalid one is kept as it is).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A member named in an outgoing text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mention {
    /// Where the mention starts in the text (at the `@`, if any), in bytes.
    pub start: usize,
    /// Where it ends (before a `:` that follows a nick).
    pub end: usize,
    /// The member's Matrix id.
    pub user: String,
    /// The member's nick.
    pub nick: String,
}

/// The members `text` mentions, in order, without overlaps: `@nick`
/// anywhere a word starts, or `nick:` (then a space or the end) where a
/// word starts. `members` are (Matrix id, nick) pairs without the user;
/// a longer nick wins over a shorter one it starts with; nicks match
/// without regard to ASCII case.
pub(crate) fn find_mentions(text: &str, members: &[(String, String)]) -> Vec<Mention> {
    let mut by_length: Vec<&(String, String)> = members
        .iter()
        .filter(|(_, nick)| !nick.is_empty())
        .collect();
    by_length.sort_by_key(|(_, nick)| std::cmp::Reverse(nick.len()));
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "([{\"'".contains(c));
        if word_start {
            if let Some(mention) = mention_at(text, at, &by_length) {
                at = mention.end;
                found.push(mention);
                continue;
            }
        }
        at += text[at..].chars().next().map_or(1, char::len_utf8);
    }
    found
}

/// The mention starting at `at`, if one does.
fn mention_at(text: &str, at: usize, members: &[&(String, String)]) -> Option<Mention> {
    let rest = &text[at..];
    let (sigil, rest) = match rest.strip_prefix('@') {
        Some(after) => (1, after),
        None => (0, rest),
    };
    members.iter().find_map(|(user, nick)| {
        let candidate = rest.get(..nick.len())?;
        if !candidate.eq_ignore_ascii_case(nick) {
            return None;
        }
        let after = &rest[nick.len()..];
        let ends = if sigil == 1 {
            after
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
        } else {
            after
                .strip_prefix(':')
                .is_some_and(|a| a.chars().next().is_none_or(char::is_whitespace))
        };
        ends.then(|| Mention {
            start: at,
            end: at + sigil + nick.len(),
            user: user.clone(),
            nick: nick.clone(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pills_name_users_rooms_and_events() {
        let target = |href: &str| pill_target(href);
        assert_eq!(
            target("https://matrix.to/#/@bob:hs").as_deref(),
            Some("@bob:hs")
        );
        assert_eq!(
            target("https://matrix.to/#/%40bob%3Ahs?via=hs").as_deref(),
            Some("@bob:hs")
        );
        assert_eq!(
            target("https://matrix.to/#/!room:hs/$event?via=hs").as_deref(),
            Some("!room:hs")
        );
        assert_eq!(
            target("matrix:u/bob:hs?action=chat").as_deref(),
            Some("@bob:hs")
        );
        assert_eq!(target("matrix:r/rust:hs").as_deref(), Some("#rust:hs"));
        assert_eq!(target("https://example.org/#/@bob:hs"), None);
        assert_eq!(target("https://matrix.to/#/bob"), None);
    }

    fn members() -> Vec<(String, String)> {
        vec![
            ("@bob:hs".into(), "bob".into()),
            ("@bb:hs".into(), "Bob B".into()),
            ("@room:hs".into(), "x".into()),
        ]
    }

    #[test]
    fn nick_colon_and_at_nick_are_mentions() {
        let found = find_mentions("bob: look, @Bob B and (@bob) too", &members());
        let got: Vec<(&str, &str)> = found
            .iter()
            .map(|m| {
                (
                    m.user.as_str(),
                    &"bob: look, @Bob B and (@bob) too"[m.start..m.end],
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("@bob:hs", "bob"),
                ("@bb:hs", "@Bob B"),
                ("@bob:hs", "@bob")
            ]
        );
    }

    #[test]
    fn nicks_inside_words_or_without_a_colon_are_not() {
        for text in [
            "bobby: hi",
            "ask bob later",
            "mail@bob",
            "@bobby",
            "bob:hs is an id",
            "@room hello",
        ] {
            assert_eq!(find_mentions(text, &members()), [], "{text}");
        }
    }
}
