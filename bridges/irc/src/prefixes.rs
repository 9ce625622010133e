//! Channel member prefixes (`~&@%+`) and the roles they give.
//!
//! A member's prefixes are a set of five bits: a channel member costs its
//! nick and one byte, since every user who joins a big channel keeps its
//! member list.

use switchboard_bridge_api::Role;

/// The prefix characters, highest standing first.
const PREFIXES: [char; 5] = ['~', '&', '@', '%', '+'];

/// The prefixes one member holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefixes(u8);

impl Prefixes {
    fn bit(prefix: char) -> u8 {
        PREFIXES
            .iter()
            .position(|p| *p == prefix)
            .map_or(0, |i| 1 << i)
    }

    /// Adds a prefix (a mode given).
    pub fn insert(&mut self, prefix: char) {
        self.0 |= Self::bit(prefix);
    }

    /// Removes a prefix (a mode taken).
    pub fn remove(&mut self, prefix: char) {
        self.0 &= !Self::bit(prefix);
    }

    /// The standing these prefixes give: the highest of them.
    pub fn role(self) -> Role {
        PREFIXES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, p)| match p {
                '~' | '&' => Role::Owner,
                '@' => Role::Operator,
                _ => Role::Voiced,
            })
            .max()
            .unwrap_or(Role::Member)
    }
}

/// Splits a NAMES entry (`@+nick`) into its prefixes and nick.
pub fn parse_name(entry: &str) -> (Prefixes, &str) {
    let nick = entry.trim_start_matches(PREFIXES);
    let mut prefixes = Prefixes::default();
    for p in entry[..entry.len() - nick.len()].chars() {
        prefixes.insert(p);
    }
    (prefixes, nick)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_become_roles() {
        let (p, nick) = parse_name("@+ferris");
        assert_eq!(nick, "ferris");
        assert_eq!(p.role(), Role::Operator);
        assert_eq!(parse_name("~boss").0.role(), Role::Owner);
        assert_eq!(parse_name("&admin").0.role(), Role::Owner);
        assert_eq!(parse_name("+v").0.role(), Role::Voiced);
        assert_eq!(parse_name("%h").0.role(), Role::Voiced);
        assert_eq!(parse_name("plain").0.role(), Role::Member);
    }

    #[test]
    fn taking_a_mode_leaves_the_others() {
        let (mut p, _) = parse_name("@+ferris");
        p.remove('@');
        assert_eq!(p.role(), Role::Voiced);
        p.remove('+');
        assert_eq!(p.role(), Role::Member);
        p.insert('~');
        assert_eq!(p.role(), Role::Owner);
    }
}
