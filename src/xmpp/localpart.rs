//! Network ids ↔ JID localparts: the one place that turns a room, user or
//! server id into the localpart of a JID at the gateway's domain, and back.
//!
//! [`localpart`] writes the id with [`escape`](super::escape) (readable
//! form: non-ASCII letters kept) and hands it to nodeprep, as the XMPP
//! server will. When nodeprep would change it (a character it maps, a
//! composition, mixed scripts) or refuse it (a code point unassigned in
//! Unicode 3.2, a private-use one), every non-ASCII character is escaped
//! instead: that form is plain lower-case ASCII, which nodeprep leaves as
//! it is. So every id has a localpart that survives the server, except
//! the empty id and one whose localpart would exceed 1023 bytes: those are
//! refused ([`LocalpartError`]). [`id_of`] reads any localpart back.

use xmpp_parsers::jid::{Jid, NodePart};

use super::escape::{self, Case, NonAscii};

/// Why an id has no localpart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalpartError {
    /// The empty id: a JID with an empty localpart is the domain.
    #[error("an empty id has no localpart")]
    Empty,
    /// Escaped, the id is over the 1023 bytes a localpart may hold.
    #[error("the id escapes to {0} bytes, over the 1023 of a localpart")]
    TooLong(usize),
}

/// The localpart of a network id, one that nodeprep leaves unchanged, so
/// that [`id_of`] gives back the id (in its lower case for
/// [`Case::Insensitive`] networks).
pub fn localpart(id: &str, case: Case) -> Result<NodePart, LocalpartError> {
    if id.is_empty() {
        return Err(LocalpartError::Empty);
    }
    let readable = escape::escape_with(id, case, NonAscii::Keep);
    if readable.len() <= 1023 {
        if let Ok(node) = NodePart::new(&readable) {
            if node.as_str() == readable {
                return Ok(node.into_owned());
            }
        }
    }
    if readable.is_ascii() {
        // Plain ASCII is never changed by nodeprep: only too long.
        return Err(LocalpartError::TooLong(readable.len()));
    }
    let ascii = escape::escape_with(id, case, NonAscii::Escape);
    match NodePart::new(&ascii) {
        Ok(node) => Ok(node.into_owned()),
        Err(_) => Err(LocalpartError::TooLong(ascii.len())),
    }
}

/// The network id a localpart stands for.
pub fn id_of(node: &str) -> String {
    escape::unescape(node)
}

/// The network id of a JID's localpart, if it has one.
pub fn id_of_jid(jid: &Jid) -> Option<String> {
    jid.node().map(|n| id_of(n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xmpp::escape::tests::{next, XEP_EXAMPLES};
    use xmpp_parsers::jid::BareJid;

    /// Through a JID as the server would hand it back: built from the
    /// localpart's text and parsed again (nodeprep applied), then read.
    fn through_jid(id: &str, case: Case) -> String {
        let node = localpart(id, case).unwrap_or_else(|e| panic!("{id:?}: {e}"));
        let text = format!("{node}@matrix.example.org");
        let jid: BareJid = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(jid.to_string(), text, "{id:?}: nodeprep changed {node}");
        // What a client that upper-cases the localpart would send, folded back.
        let shouted: BareJid = text.to_uppercase().parse().unwrap();
        assert_eq!(shouted, jid, "{id:?}: the server folds case");
        id_of(jid.node().unwrap().as_str())
    }

    #[test]
    fn matrix_discord_and_irc_ids_round_trip_through_nodeprep() {
        for (id, local) in [
            ("!AbC:hs", "!\\41b\\43\\3ahs"),
            ("!AbCd:example.org", "!\\41b\\43d\\3aexample.org"),
            ("@Bob:hs", "\\40\\42ob\\3ahs"),
            ("#Room:hs", "#\\52oom\\3ahs"),
            (
                "@Bob Smith/phone%x:hs",
                "\\40\\42ob\\20\\53mith\\2fphone%x\\3ahs",
            ),
            ("1180582338405470339", "1180582338405470339"),
            ("#rust%irc.libera.chat", "#rust%irc.libera.chat"),
            ("#Straße:hs", "#\\53tra\\u{df}e\\3ahs"),
            ("#Ünïcødé:hs", "#\\u{dc}nïcødé\\3ahs"),
            ("#😀:hs", "#\\u{1f600}\\3ahs"),
            ("e\u{301}", "e\\u{301}"),
            ("#שלום:hs", "#\\u{5e9}\\u{5dc}\\u{5d5}\\u{5dd}\\3ahs"),
            ("a\u{ad}b", "a\\u{ad}b"),
            ("\u{e000}x", "\\u{e000}x"),
        ] {
            let node = localpart(id, Case::Sensitive).unwrap();
            assert_eq!(node.as_str(), local, "{id:?}");
            assert_eq!(through_jid(id, Case::Sensitive), id);
        }
    }

    #[test]
    fn case_insensitive_ids_keep_readable_jids() {
        for (id, local) in [
            ("ferris%irc.libera.chat", "ferris%irc.libera.chat"),
            ("Ferris%irc.libera.chat", "ferris%irc.libera.chat"),
            ("[Ferris]\\away%irc.x", "[ferris]\\away%irc.x"),
            ("#rust%irc.libera.chat", "#rust%irc.libera.chat"),
            ("Élan%irc.x", "\\u{c9}lan%irc.x"),
        ] {
            assert_eq!(localpart(id, Case::Insensitive).unwrap().as_str(), local);
            assert_eq!(through_jid(id, Case::Insensitive), id.to_ascii_lowercase());
        }
    }

    #[test]
    fn xep_0106_examples_through_nodeprep() {
        for (plain, escaped) in XEP_EXAMPLES {
            for case in [Case::Sensitive, Case::Insensitive] {
                assert_eq!(localpart(plain, case).unwrap().as_str(), *escaped);
                assert_eq!(through_jid(plain, case), *plain);
            }
        }
    }

    #[test]
    fn ids_without_a_localpart_are_refused() {
        assert_eq!(localpart("", Case::Sensitive), Err(LocalpartError::Empty));
        assert_eq!(
            localpart(&"a".repeat(1024), Case::Sensitive),
            Err(LocalpartError::TooLong(1024))
        );
        assert_eq!(
            localpart(&"B".repeat(400), Case::Sensitive),
            Err(LocalpartError::TooLong(1200))
        );
        assert_eq!(
            localpart(&"e\u{301}".repeat(200), Case::Sensitive),
            Err(LocalpartError::TooLong(1600))
        );
        assert!(localpart(&"a".repeat(1023), Case::Sensitive).is_ok());
    }

    #[test]
    fn any_string_has_a_localpart_that_survives_nodeprep() {
        let alphabet: Vec<char> = "aBzZ09 @:!/%\\#.-_\"&'<>éÉßİ日😀\u{301}\u{5d0}\u{ad}\u{a0}\u{0}\t\u{e000}\u{fdd0}ﬁＡ{}u"
            .chars()
            .collect();
        let mut state = 0x1d_ca5e_u64;
        for _ in 0..20_000 {
            let len = 1 + (next(&mut state) % 12) as usize;
            let id: String = (0..len)
                .map(|_| alphabet[(next(&mut state) % alphabet.len() as u64) as usize])
                .collect();
            assert_eq!(through_jid(&id, Case::Sensitive), id);
            assert_eq!(through_jid(&id, Case::Insensitive), id.to_ascii_lowercase());
        }
    }
}
