//! A bridged room's members as one user's session sees them.
//!
//! Every user who joins a room keeps its member list, so a member is kept
//! small: the nick and the network's user id in one string, the role, and
//! whether they are away (the away text is not shown in a MUC presence, so
//! it is not kept). The strings are shared by every session: where many
//! users of a gateway are in one big channel, each member's text is held
//! once.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};
use switchboard_bridge_api::{Member, Role, UserId};

/// The member texts in use, each once. A text is only cloned and dropped
/// under this lock, so its count tells when the last occupant let it go.
static TEXTS: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Default::default);

fn intern(text: &str) -> Arc<str> {
    let mut texts = TEXTS.lock().unwrap();
    if let Some(t) = texts.get(text) {
        return Arc::clone(t);
    }
    let t: Arc<str> = Arc::from(text);
    texts.insert(Arc::clone(&t));
    t
}

fn release(texts: &mut HashSet<Arc<str>>, text: Arc<str>) {
    // Ours and the table's: the last occupant with this text.
    if Arc::strong_count(&text) == 2 {
        texts.remove(&*text);
    }
}

/// One member: `text` is the nick followed by the user id.
#[derive(Debug)]
pub(super) struct Occupant {
    text: Arc<str>,
    nick_len: u32,
    role: Role,
    away: bool,
}

impl Occupant {
    fn new(nick: &str, user: &str, role: Role, away: bool) -> Self {
        let mut text = String::with_capacity(nick.len() + user.len());
        text.push_str(nick);
        text.push_str(user);
        Self {
            text: intern(&text),
            // Nicks come from bounded lines and stanzas.
            nick_len: u32::try_from(nick.len()).expect("a nick under 4 GiB"),
            role,
            away,
        }
    }

    /// The name shown in the room.
    pub(super) fn nick(&self) -> &str {
        &self.text[..self.nick_len as usize]
    }

    /// The network's id for the person.
    pub(super) fn user(&self) -> UserId {
        UserId(self.text[self.nick_len as usize..].to_owned())
    }

    /// Their standing in the room.
    pub(super) fn role(&self) -> Role {
        self.role
    }

    /// Whether they are away.
    pub(super) fn away(&self) -> bool {
        self.away
    }
}

// Occupants are found by nick: hash and equality look at the nick only.
impl Hash for Occupant {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nick().hash(state)
    }
}

impl PartialEq for Occupant {
    fn eq(&self, other: &Self) -> bool {
        self.nick() == other.nick()
    }
}

impl Eq for Occupant {}

impl Borrow<str> for Occupant {
    fn borrow(&self) -> &str {
        self.nick()
    }
}

/// A room's members, by nick.
#[derive(Debug, Default)]
pub(super) struct Occupants(HashSet<Occupant>);

impl Occupants {
    /// Adds a member, or replaces the one with the same nick.
    pub(super) fn insert(&mut self, member: &Member) {
        let new = Occupant::new(
            &member.nick,
            member.user.as_str(),
            member.role,
            member.away.is_some(),
        );
        if let Some(old) = self.0.replace(new) {
            release(&mut TEXTS.lock().unwrap(), old.text);
        }
    }

    /// The member with this nick.
    pub(super) fn get(&self, nick: &str) -> Option<&Occupant> {
        self.0.get(nick)
    }

    /// Removes the member with this nick; returns their role.
    pub(super) fn remove(&mut self, nick: &str) -> Option<Role> {
        let gone = self.0.take(nick)?;
        let role = gone.role;
        release(&mut TEXTS.lock().unwrap(), gone.text);
        // A room that emptied (a netsplit, a mass part) gives its table back.
        if self.0.capacity() > 64 && self.0.len() < self.0.capacity() / 4 {
            self.0.shrink_to_fit();
        }
        Some(role)
    }

    /// Renames a member, keeping their id and standing; returns their role.
    pub(super) fn rename(&mut self, old: &str, new: &str) -> Option<Role> {
        let o = self.0.take(old)?;
        let role = o.role;
        let renamed = Occupant::new(new, &o.text[o.nick_len as usize..], role, o.away);
        release(&mut TEXTS.lock().unwrap(), o.text);
        if let Some(clash) = self.0.replace(renamed) {
            release(&mut TEXTS.lock().unwrap(), clash.text);
        }
        Some(role)
    }

    /// Forgets everyone (a rejoin starts the list afresh).
    pub(super) fn clear(&mut self) {
        let gone = std::mem::take(&mut self.0);
        let mut texts = TEXTS.lock().unwrap();
        for o in gone {
            release(&mut texts, o.text);
        }
    }

    /// Every member, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Occupant> {
        self.0.iter()
    }

    /// How many members.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Drop for Occupants {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(nick: &str, user: &str, role: Role) -> Member {
        Member {
            user: UserId(user.into()),
            nick: nick.into(),
            role,
            away: None,
        }
    }

    #[test]
    fn members_are_found_by_nick_with_their_id_and_role() {
        let mut o = Occupants::default();
        o.insert(&member("ferris", "ferris%irc.example.net", Role::Operator));
        o.insert(&member("corro", "u-42", Role::Member));
        let f = o.get("ferris").unwrap();
        assert_eq!(f.nick(), "ferris");
        assert_eq!(f.user().as_str(), "ferris%irc.example.net");
        assert_eq!(f.role(), Role::Operator);
        assert!(!f.away());
        assert!(o.get("ferri").is_none());
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn a_member_seen_again_replaces_the_old_entry() {
        let mut o = Occupants::default();
        o.insert(&member("ferris", "a", Role::Member));
        let mut away = member("ferris", "a", Role::Voiced);
        away.away = Some("lunch".into());
        o.insert(&away);
        assert_eq!(o.len(), 1);
        assert_eq!(o.get("ferris").unwrap().role(), Role::Voiced);
        assert!(o.get("ferris").unwrap().away());
    }

    #[test]
    fn rename_keeps_id_and_role_and_remove_forgets() {
        let mut o = Occupants::default();
        o.insert(&member("ferris", "u-1", Role::Operator));
        assert_eq!(o.rename("ferris", "crab"), Some(Role::Operator));
        assert!(o.get("ferris").is_none());
        assert_eq!(o.get("crab").unwrap().user().as_str(), "u-1");
        assert_eq!(o.rename("nobody", "x"), None);
        assert_eq!(o.remove("crab"), Some(Role::Operator));
        assert_eq!(o.remove("crab"), None);
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn sessions_in_one_room_share_member_texts_until_the_last_lets_go() {
        let text = "sharedsharedone%irc.example.net";
        let held = || TEXTS.lock().unwrap().get(text).map(Arc::strong_count);
        let mut a = Occupants::default();
        let mut b = Occupants::default();
        a.insert(&member("sharedshared", "one%irc.example.net", Role::Member));
        b.insert(&member("sharedshared", "one%irc.example.net", Role::Voiced));
        assert_eq!(held(), Some(3), "one text for both rooms and the table");
        assert_eq!(b.get("sharedshared").unwrap().role(), Role::Voiced);
        // Seen again in the same room: the old entry's hold is let go.
        b.insert(&member(
            "sharedshared",
            "one%irc.example.net",
            Role::Operator,
        ));
        assert_eq!(held(), Some(3));
        a.remove("sharedshared");
        assert_eq!(held(), Some(2));
        drop(b);
        assert_eq!(held(), None, "the last room let go: the text is gone");
    }

    #[test]
    fn a_renamed_member_lets_go_of_the_old_text() {
        let mut a = Occupants::default();
        a.insert(&member("renamedold", "u-renamed", Role::Member));
        a.rename("renamedold", "renamednew");
        let texts = TEXTS.lock().unwrap();
        assert!(texts.get("renamedoldu-renamed").is_none());
        assert!(texts.get("renamednewu-renamed").is_some());
    }

    #[test]
    fn an_emptied_room_gives_its_table_back() {
        let mut o = Occupants::default();
        for n in 0..1000 {
            o.insert(&member(&format!("n{n}"), "u", Role::Member));
        }
        let full = o.0.capacity();
        for n in 0..990 {
            o.remove(&format!("n{n}"));
        }
        assert!(o.0.capacity() < full / 4, "capacity {}", o.0.capacity());
        assert_eq!(o.len(), 10);
    }
}
