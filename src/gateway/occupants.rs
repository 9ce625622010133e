//! A bridged room's members as one user's session sees them: each person
//! once, by the network's user id, under a display nick unique in the room.
//!
//! Every user who joins a room keeps its member list, so a member is kept
//! small (16 bytes, plus 6 for two indexes: [`slots`]): the nick and the network's
//! user id in one string, and one word holding the XEP-0421 occupant key
//! (48 bits), the role, whether they are away (the away text is not shown
//! in a MUC presence, so it is not kept) and the nick's length. The strings
//! are shared by every session: where many users of a gateway are in one
//! big channel, each member's text is held once.
//!
//! Display nicks are unique per room. Discord and Matrix names are not: when
//! a member's name is taken by another member (or is the user's own nick),
//! they are shown as `Name (1a2b)`, the first 4 hex digits of their occupant
//! key (more digits in the unlikely case those clash too). The suffix is a
//! function of (room, user id), so the same person gets the same suffixed
//! nick after a restart, whichever of the two arrives first then; who gets
//! the suffix does depend on who was there first. The user's own nick is
//! always the one the network gave: a member holding it is moved aside.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex};
use switchboard_bridge_api::{Member, Role, UserId};

use super::occupant_id::OccupantKey;
use slots::Slots;

mod slots;

/// The member texts in use, each once. A text is only cloned and dropped
/// under this lock, so its count tells when the last occupant let it go.
static TEXTS: LazyLock<Mutex<HashSet<Text>>> = LazyLock::new(Default::default);

/// A member's text, shared: a thin pointer (8 bytes, where an `Arc<str>`
/// is 16), as every user in a room keeps one per member. The extra
/// allocation is made once per distinct text in the whole gateway.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Text(Arc<Box<str>>);

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Hashes nicks and user ids for the indexes (seeded once per process).
static HASHER: LazyLock<std::hash::RandomState> = LazyLock::new(Default::default);

fn hash(text: &str) -> u64 {
    HASHER.hash_one(text)
}

fn intern(text: &str) -> Text {
    let mut texts = TEXTS.lock().unwrap();
    if let Some(t) = texts.get(text) {
        return t.clone();
    }
    let t = Text(Arc::new(Box::from(text)));
    texts.insert(t.clone());
    t
}

fn release(texts: &mut HashSet<Text>, text: Text) {
    // Ours and the table's: the last occupant with this text.
    if Arc::strong_count(&text.0) == 2 {
        texts.remove(&*text);
    }
}

/// The longest display nick kept, in bytes (an XMPP resource holds 1023).
const MAX_NICK: usize = (1 << NICK_BITS) - 1;
const NICK_BITS: u32 = 12;
const ROLE_SHIFT: u32 = NICK_BITS;
const AWAY_BIT: u64 = 1 << (NICK_BITS + 3);
const KEY_SHIFT: u32 = 64 - OccupantKey::BITS;

fn role_bits(role: Role) -> u64 {
    match role {
        Role::Visitor => 0,
        Role::Member => 1,
        Role::Voiced => 2,
        Role::Operator => 3,
        Role::Owner => 4,
    }
}

fn role_of(bits: u64) -> Role {
    match bits & 7 {
        0 => Role::Visitor,
        2 => Role::Voiced,
        3 => Role::Operator,
        4 => Role::Owner,
        _ => Role::Member,
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether `nick` is how `name` is shown for the occupant with `key`: the
/// name itself, or the name with one of the key's suffixes. A suffixed nick
/// stays when the name it clashed with leaves: nicks change only by renames.
fn shows(nick: &str, name: &str, key: OccupantKey) -> bool {
    if nick == cut(name, MAX_NICK) {
        return true;
    }
    let suffix = nick
        .strip_prefix(cut(name, MAX_NICK - 32))
        .and_then(|rest| rest.strip_prefix(" ("))
        .and_then(|rest| rest.strip_suffix(')'));
    suffix.is_some_and(|s| s.starts_with(&key.hex(4)))
}

/// One member: `text` is the display nick followed by the user id; `meta`
/// holds the occupant key (upper 48 bits), whether away (bit 15), the role
/// (bits 12–14) and the nick's length (bits 0–11).
#[derive(Debug)]
pub(super) struct Occupant {
    text: Text,
    meta: u64,
}

impl Occupant {
    fn new(nick: &str, user: &str, role: Role, away: bool, key: OccupantKey) -> Self {
        debug_assert!(nick.len() <= MAX_NICK);
        let mut text = String::with_capacity(nick.len() + user.len());
        text.push_str(nick);
        text.push_str(user);
        let meta = key.bits() << KEY_SHIFT
            | if away { AWAY_BIT } else { 0 }
            | role_bits(role) << ROLE_SHIFT
            | nick.len() as u64;
        Self {
            text: intern(&text),
            meta,
        }
    }

    fn nick_len(&self) -> usize {
        (self.meta & MAX_NICK as u64) as usize
    }

    /// The name shown in the room (unique in it).
    pub(super) fn nick(&self) -> &str {
        &self.text[..self.nick_len()]
    }

    fn user_str(&self) -> &str {
        &self.text[self.nick_len()..]
    }

    /// The network's id for the person.
    pub(super) fn user(&self) -> UserId {
        UserId(self.user_str().to_owned())
    }

    /// Their standing in the room.
    pub(super) fn role(&self) -> Role {
        role_of(self.meta >> ROLE_SHIFT)
    }

    /// Whether they are away.
    pub(super) fn away(&self) -> bool {
        self.meta & AWAY_BIT != 0
    }

    /// Their XEP-0421 occupant key: kept through renames.
    pub(super) fn key(&self) -> OccupantKey {
        OccupantKey::from_bits(self.meta >> KEY_SHIFT)
    }
}

/// An occupant's nick changed: what the room is told (XEP-0045 303).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NickChange {
    /// The nick until now.
    pub old: String,
    /// The nick from now on.
    pub new: String,
    /// Their standing.
    pub role: Role,
    /// Their occupant key (unchanged).
    pub key: OccupantKey,
}

/// What [`Occupants::insert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Inserted {
    /// A new member, or one seen again under the same name.
    Here,
    /// A known member under another name: their nick changes (others'
    /// nicks may have changed first to make room: they come first).
    Renamed(Vec<NickChange>),
}

/// Whose nick the user's own is: the user's id (when known) and nick.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Own<'a> {
    /// The user's id in the room.
    pub user: Option<&'a UserId>,
    /// The user's nick in the room.
    pub nick: Option<&'a str>,
}

impl Own<'_> {
    /// Whether `user` named `name` is the user.
    fn is(&self, user: &str, name: &str) -> bool {
        match self.user {
            Some(own) => own.as_str() == user,
            // Without an id, the member with the user's nick is the user.
            None => self.nick == Some(name),
        }
    }
}

/// A room's members: found by user id and by display nick.
#[derive(Default)]
pub(super) struct Occupants {
    all: Vec<Occupant>,
    /// Positions in `all`, by user id.
    by_user: Slots,
    /// Positions in `all`, by display nick.
    by_nick: Slots,
}

impl std::fmt::Debug for Occupants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Occupants({})", self.all.len())
    }
}

impl Occupants {
    fn find_user(&self, user: &str) -> Option<usize> {
        let all = &self.all;
        self.by_user.find(hash(user), |i| all[i].user_str() == user)
    }

    fn find_nick(&self, nick: &str) -> Option<usize> {
        let all = &self.all;
        self.by_nick.find(hash(nick), |i| all[i].nick() == nick)
    }

    fn push(&mut self, o: Occupant) {
        let at = self.all.len();
        // Grown by a quarter, not doubled: every user in a room keeps its
        // member list, and a big room's lists are most of the heap.
        if self.all.len() == self.all.capacity() {
            self.all.reserve_exact(self.all.len() / 4 + 4);
        }
        self.all.push(o);
        let all = &self.all;
        let o = &all[at];
        self.by_user
            .insert(hash(o.user_str()), at, |i| hash(all[i].user_str()));
        self.by_nick
            .insert(hash(o.nick()), at, |i| hash(all[i].nick()));
    }

    /// Takes the member at `at` out; the last one moves into its place.
    fn take(&mut self, at: usize) -> Occupant {
        let o = &self.all[at];
        self.by_user.remove(hash(o.user_str()), at);
        self.by_nick.remove(hash(o.nick()), at);
        let last = self.all.len() - 1;
        if at != last {
            let m = &self.all[last];
            self.by_user.moved(hash(m.user_str()), last, at);
            self.by_nick.moved(hash(m.nick()), last, at);
        }
        self.all.swap_remove(at)
    }

    /// A free display nick for `user` named `name` with key `key`: the name,
    /// else the name with the key's hex digits (see the module's doc).
    fn display(&self, name: &str, user: &str, key: OccupantKey, own: Own<'_>) -> String {
        if own.is(user, name) {
            return cut(name, MAX_NICK).to_owned();
        }
        let free = |nick: &str| {
            own.nick != Some(nick)
                && self
                    .find_nick(nick)
                    .is_none_or(|i| self.all[i].user_str() == user)
        };
        let name = cut(name, MAX_NICK - 32);
        if free(name) {
            return name.to_owned();
        }
        [4, 6, 8, 12]
            .into_iter()
            .map(|digits| format!("{name} ({})", key.hex(digits)))
            .chain((2u32..).map(|n| format!("{name} ({}-{n})", key.hex(12))))
            .find(|nick| free(nick))
            .expect("an endless list of candidates")
    }

    /// Moves a member holding `nick` (not `user`) to a nick of their own.
    fn make_room(&mut self, nick: &str, user: &str, own: Own<'_>) -> Option<NickChange> {
        let at = self.find_nick(nick)?;
        if self.all[at].user_str() == user {
            return None;
        }
        let o = self.take(at);
        // Their name is the nick they held, unsuffixed.
        let other_user = o.user_str().to_owned();
        let moved = self.display(nick, &other_user, o.key(), own);
        let change = NickChange {
            old: o.nick().to_owned(),
            new: moved.clone(),
            role: o.role(),
            key: o.key(),
        };
        self.push(Occupant::new(
            &moved,
            &other_user,
            o.role(),
            o.away(),
            o.key(),
        ));
        release(&mut TEXTS.lock().unwrap(), o.text);
        Some(change)
    }

    /// Adds a member (with the key `key()` gives, if new), or updates the
    /// one with the same user id, keeping their key.
    pub(super) fn insert(
        &mut self,
        member: &Member,
        key: impl FnOnce() -> OccupantKey,
        own: Own<'_>,
    ) -> Inserted {
        let user = member.user.as_str();
        let away = member.away.is_some();
        match self.find_user(user) {
            Some(at) => {
                let o = &self.all[at];
                if !shows(o.nick(), &member.nick, o.key()) {
                    let changes = self.rename(&member.user, None, &member.nick, own);
                    if let Some(at) = self.find_user(user) {
                        let o = self.take(at);
                        let (nick, k) = (o.nick().to_owned(), o.key());
                        self.push(Occupant::new(&nick, user, member.role, away, k));
                        release(&mut TEXTS.lock().unwrap(), o.text);
                    }
                    return Inserted::Renamed(changes);
                }
                let o = &mut self.all[at];
                let key = o.key();
                let nick_len = o.nick_len() as u64;
                o.meta = key.bits() << KEY_SHIFT
                    | if away { AWAY_BIT } else { 0 }
                    | role_bits(member.role) << ROLE_SHIFT
                    | nick_len;
                Inserted::Here
            }
            None => {
                let key = key();
                let mut displaced = Vec::new();
                if own.is(user, &member.nick) {
                    displaced.extend(self.make_room(&member.nick, user, own));
                }
                let nick = self.display(&member.nick, user, key, own);
                self.push(Occupant::new(&nick, user, member.role, away, key));
                if displaced.is_empty() {
                    Inserted::Here
                } else {
                    Inserted::Renamed(displaced)
                }
            }
        }
    }

    /// The member with this display nick.
    pub(super) fn get(&self, nick: &str) -> Option<&Occupant> {
        self.find_nick(nick).map(|i| &self.all[i])
    }

    /// The member with this user id.
    pub(super) fn get_user(&self, user: &UserId) -> Option<&Occupant> {
        self.find_user(user.as_str()).map(|i| &self.all[i])
    }

    /// Removes the member with this user id; returns their nick, role and key.
    pub(super) fn remove(&mut self, user: &UserId) -> Option<(String, Role, OccupantKey)> {
        let at = self.find_user(user.as_str())?;
        let gone = self.take(at);
        let out = (gone.nick().to_owned(), gone.role(), gone.key());
        release(&mut TEXTS.lock().unwrap(), gone.text);
        // A room that emptied (a netsplit, a mass part) gives its tables back.
        if self.all.capacity() > 64 && self.all.len() < self.all.capacity() / 4 {
            self.shrink();
        }
        Some(out)
    }

    /// Renames the member with id `user` (to `new_user`, where the network's
    /// ids change with names) to the name `name`, keeping their key and
    /// standing. Returns the nick changes to tell, in order (a member who
    /// held the user's new own nick is moved aside first); none when the
    /// member is not here or their nick stays.
    pub(super) fn rename(
        &mut self,
        user: &UserId,
        new_user: Option<&UserId>,
        name: &str,
        own: Own<'_>,
    ) -> Vec<NickChange> {
        let Some(at) = self.find_user(user.as_str()) else {
            return Vec::new();
        };
        let o = self.take(at);
        let id = new_user.unwrap_or(user).as_str();
        let mut changes = Vec::new();
        if own.is(id, name) {
            changes.extend(self.make_room(name, id, own));
        }
        let nick = self.display(name, id, o.key(), own);
        if nick != o.nick() {
            changes.push(NickChange {
                old: o.nick().to_owned(),
                new: nick.clone(),
                role: o.role(),
                key: o.key(),
            });
        }
        self.push(Occupant::new(&nick, id, o.role(), o.away(), o.key()));
        release(&mut TEXTS.lock().unwrap(), o.text);
        changes
    }

    /// Gives back the room the member list does not use (after a join's
    /// member list, and when a room empties).
    pub(super) fn shrink(&mut self) {
        let all = &self.all;
        self.by_user.shrink_to_fit(|i| hash(all[i].user_str()));
        self.by_nick.shrink_to_fit(|i| hash(all[i].nick()));
        self.all.shrink_to_fit();
    }

    /// Forgets everyone (a rejoin starts the list afresh).
    pub(super) fn clear(&mut self) {
        let gone = std::mem::take(&mut self.all);
        self.by_user = Slots::default();
        self.by_nick = Slots::default();
        let mut texts = TEXTS.lock().unwrap();
        for o in gone {
            release(&mut texts, o.text);
        }
    }

    /// Every member, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Occupant> {
        self.all.iter()
    }

    /// How many members.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.all.len()
    }
}

impl Drop for Occupants {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests;
