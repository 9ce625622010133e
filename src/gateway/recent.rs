//! The messages a user recently saw, per conversation, in memory: what
//! replies (XEP-0461) and displayed markers (XEP-0333) refer to, both ways.
//! A network names a message by its id, a client by the id it saw (in a
//! room the gateway's stanza-id, in a direct chat the message's `id`);
//! this ties the two, with the author and text a reply's quote needs.
//!
//! Kept only for networks with replies or read markers, bounded per
//! conversation and in conversations. When a message has left it (or
//! after a restart) the store answers what it can: the archive for room
//! messages, the id map for the user's own messages.

use std::collections::{HashMap, VecDeque};
use switchboard_bridge_api::{MessageId, Target, UserId};
use xmpp_parsers::jid::BareJid;

use super::Gateway;
use crate::store::ArchiveRange;

/// How many messages a conversation keeps: what a reply or a marker
/// usually names; older ones are found in the archive.
const PER_CONVERSATION: usize = 16;
/// How many conversations are kept, over all users of a gateway (at most
/// 4,096 messages, each with an excerpt of its text: about 1.7 MB when
/// full of 40-character messages).
const CONVERSATIONS: usize = 256;

/// A message as the user's client got it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    /// The network's ids for it (the first part first); may be empty for
    /// an own message whose network gave none.
    pub network_ids: Vec<String>,
    /// Its XMPP `id`.
    pub xmpp_id: String,
    /// The gateway's stanza-id (room messages).
    pub stanza_id: Option<i64>,
    /// Who wrote it.
    pub author: UserId,
    /// Their nick then.
    pub nick: String,
    /// The user's own message.
    pub own: bool,
    /// The start of its text (as the body showed it,
    /// [`crate::xmpp::reply::excerpt`]), when known.
    pub text: Option<String>,
}

impl Seen {
    /// A network message as delivered with `xmpp_id` (and `stanza_id`),
    /// from the author shown as `nick`, its body `text`.
    pub(super) fn of(
        m: &switchboard_bridge_api::Message,
        xmpp_id: &str,
        stanza_id: Option<i64>,
        nick: &str,
        text: &str,
    ) -> Self {
        let mut network_ids: Vec<String> = m.parts.iter().map(|p| p.0.clone()).collect();
        if !network_ids.contains(&m.id.0) {
            network_ids.push(m.id.0.clone());
        }
        Seen {
            network_ids,
            xmpp_id: xmpp_id.to_owned(),
            stanza_id,
            author: m.author.clone(),
            nick: nick.to_owned(),
            own: m.own,
            text: Some(crate::xmpp::reply::excerpt(text)),
        }
    }

    /// The id a client refers to it by: in a room its stanza-id
    /// (XEP-0461 §3, XEP-0333), in a direct chat its `id`.
    pub(super) fn client_id(&self, target: &Target) -> String {
        match (target, self.stanza_id) {
            (Target::Room(_), Some(sid)) => sid.to_string(),
            _ => self.xmpp_id.clone(),
        }
    }

    /// The network id a command names it by (the first part).
    pub(super) fn network_id(&self) -> Option<MessageId> {
        self.network_ids.first().cloned().map(MessageId)
    }
}

/// A kept message in one allocation: its strings one after the other,
/// each after its length (`u32`, little-endian): the number of network
/// ids (as a length, no bytes), the network ids, the XMPP id, the
/// author, the nick, and the text if known (a `Seen` is six allocations
/// and 144 bytes more).
#[derive(Debug)]
struct Entry {
    packed: Box<[u8]>,
    stanza_id: Option<i64>,
    own: bool,
    has_text: bool,
}

impl Entry {
    fn pack(seen: &Seen) -> Self {
        let strings = seen.network_ids.iter().map(String::as_str).chain([
            seen.xmpp_id.as_str(),
            seen.author.as_str(),
            seen.nick.as_str(),
            seen.text.as_deref().unwrap_or_default(),
        ]);
        let size: usize = strings.clone().map(|s| 4 + s.len()).sum::<usize>() + 4;
        let mut packed = Vec::with_capacity(size);
        let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
        packed.extend_from_slice(&len(seen.network_ids.len()));
        for s in strings {
            // Ids and excerpts are far below 4 GiB.
            packed.extend_from_slice(&len(s.len()));
            packed.extend_from_slice(s.as_bytes());
        }
        Entry {
            packed: packed.into_boxed_slice(),
            stanza_id: seen.stanza_id,
            own: seen.own,
            has_text: seen.text.is_some(),
        }
    }

    /// The packed strings, in order (the count of network ids first, as "").
    fn strings(&self) -> impl Iterator<Item = &str> {
        let mut rest: &[u8] = &self.packed;
        let mut first = true;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            if std::mem::take(&mut first) {
                rest = tail;
                return Some("");
            }
            let (s, tail) = tail.split_at(len.min(tail.len()));
            rest = tail;
            Some(std::str::from_utf8(s).unwrap_or_default())
        })
    }

    fn ids(&self) -> usize {
        self.packed
            .first_chunk::<4>()
            .map_or(0, |n| u32::from_le_bytes(*n) as usize)
    }

    fn has_network_id(&self, id: &str) -> bool {
        self.strings().skip(1).take(self.ids()).any(|s| s == id)
    }

    fn xmpp_id(&self) -> &str {
        self.strings().nth(1 + self.ids()).unwrap_or_default()
    }

    fn unpack(&self) -> Seen {
        let ids = self.ids();
        let mut strings = self.strings().skip(1);
        let network_ids = strings.by_ref().take(ids).map(str::to_owned).collect();
        let mut next = || strings.next().unwrap_or_default().to_owned();
        let (xmpp_id, author, nick, text) = (next(), next(), next(), next());
        Seen {
            network_ids,
            xmpp_id,
            stanza_id: self.stanza_id,
            author: UserId(author),
            nick,
            own: self.own,
            text: self.has_text.then_some(text),
        }
    }
}

/// Recent messages per (user, conversation).
#[derive(Debug, Default)]
pub(super) struct Recent {
    conversations: HashMap<(BareJid, Target), VecDeque<Entry>>,
    /// Conversations in the order they were first kept, to drop the oldest.
    order: VecDeque<(BareJid, Target)>,
}

impl Recent {
    /// Keeps a message the user's client got.
    pub(super) fn keep(&mut self, user: &BareJid, target: &Target, seen: Seen) {
        let key = (user.clone(), target.clone());
        if !self.conversations.contains_key(&key) {
            while self.conversations.len() >= CONVERSATIONS {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                self.conversations.remove(&old);
            }
            self.order.push_back(key.clone());
        }
        let messages = self.conversations.entry(key).or_default();
        if messages.len() >= PER_CONVERSATION {
            messages.pop_front();
        }
        messages.push_back(Entry::pack(&seen));
    }

    /// The message the network knows by `network_id`, newest first.
    pub(super) fn by_network_id(
        &self,
        user: &BareJid,
        target: &Target,
        network_id: &str,
    ) -> Option<Seen> {
        self.find(user, target, |e| e.has_network_id(network_id))
    }

    /// The message a client names by `id` (its stanza-id or its `id`).
    pub(super) fn by_client_id(&self, user: &BareJid, target: &Target, id: &str) -> Option<Seen> {
        let by_stanza_id = match (target, id.parse::<i64>()) {
            (Target::Room(_), Ok(sid)) => self.find(user, target, |e| e.stanza_id == Some(sid)),
            _ => None,
        };
        by_stanza_id.or_else(|| self.find(user, target, |e| e.xmpp_id() == id))
    }

    fn find(&self, user: &BareJid, target: &Target, f: impl Fn(&Entry) -> bool) -> Option<Seen> {
        let key = (user.clone(), target.clone());
        self.conversations
            .get(&key)?
            .iter()
            .rev()
            .find(|e| f(e))
            .map(Entry::unpack)
    }
}

/// The conversation's id as the store scopes it.
fn conversation(target: &Target) -> &str {
    match target {
        Target::Room(r) => r.as_str(),
        Target::User(u) => u.as_str(),
    }
}

impl Gateway {
    /// Whether messages of `target` are kept for references (it has
    /// replies or read markers).
    pub(super) fn keeps_references(&self, user: &BareJid, target: &Target) -> bool {
        let caps = self.capabilities(user, target);
        caps.replies || caps.read_markers
    }

    /// Keeps a message delivered to (or echoed for) the user, when the
    /// network can refer to it (built only then: nothing is allocated for
    /// a network without replies or read markers).
    pub(super) fn remember(&self, user: &BareJid, target: &Target, seen: impl FnOnce() -> Seen) {
        if self.keeps_references(user, target) {
            let seen = seen();
            self.recent.lock().unwrap().keep(user, target, seen);
        }
    }

    /// The message the network names by `network_id`, as the user's client
    /// got it: kept in memory, else from the archive (room messages), else
    /// from the id map (the user's own).
    pub(super) async fn seen_by_network_id(
        &self,
        user: &BareJid,
        target: &Target,
        network_id: &str,
    ) -> Option<Seen> {
        if let Some(seen) = self
            .recent
            .lock()
            .unwrap()
            .by_network_id(user, target, network_id)
        {
            return Some(seen);
        }
        let user_s = user.to_string();
        if let (Target::Room(room), true) = (target, self.archive.enabled()) {
            // What the writer still holds is written first.
            self.archive.flush().await;
            let row = self
                .store
                .archived_by_network_id(&user_s, &self.network, room.as_str(), network_id)
                .await
                .ok()
                .flatten();
            if let Some(row) = row {
                // The user's own messages from XMPP keep their origin-id.
                let own = row.origin_id.is_some();
                return Some(Seen {
                    network_ids: vec![network_id.to_owned()],
                    xmpp_id: row.xmpp_id.unwrap_or_else(|| network_id.to_owned()),
                    stanza_id: Some(row.seq),
                    author: UserId(row.author_id.unwrap_or_default()),
                    nick: row.nick,
                    own,
                    text: Some(crate::xmpp::reply::excerpt(&row.body)),
                });
            }
        }
        let mapped = self
            .store
            .xmpp_id(&user_s, &self.network, conversation(target), network_id)
            .await
            .ok()
            .flatten()?;
        Some(Seen {
            network_ids: vec![network_id.to_owned()],
            xmpp_id: mapped.xmpp_id,
            stanza_id: mapped.stanza_id,
            author: UserId(String::new()),
            nick: String::new(),
            own: true,
            text: None,
        })
    }

    /// The network id of the message a client names by `id` in a
    /// conversation: kept in memory, else the user's own from the id map,
    /// else (a room) the archived message with that stanza-id.
    pub(super) async fn network_id_of(
        &self,
        user: &BareJid,
        target: &Target,
        id: &str,
    ) -> Option<MessageId> {
        let kept = self.recent.lock().unwrap().by_client_id(user, target, id);
        if let Some(seen) = kept {
            return seen.network_id();
        }
        let user_s = user.to_string();
        let own = |xmpp_id: String| {
            let user_s = user_s.clone();
            async move {
                self.store
                    .network_ids(&user_s, &self.network, conversation(target), &xmpp_id)
                    .await
                    .ok()
                    .and_then(|ids| ids.into_iter().next())
                    .map(MessageId)
            }
        };
        if let Some(found) = own(id.to_owned()).await {
            return Some(found);
        }
        let (Target::Room(room), Ok(seq)) = (target, id.parse::<i64>()) else {
            return None;
        };
        if !self.archive.enabled() {
            return None;
        }
        self.archive.flush().await;
        let range = ArchiveRange {
            after: Some(seq - 1),
            before: Some(seq + 1),
            ..ArchiveRange::default()
        };
        let row = self
            .store
            .archived(&user_s, &self.network, room.as_str(), &range, 1)
            .await
            .ok()?
            .into_iter()
            .next()?;
        if row.origin_id.is_some() {
            if let Some(found) = own(row.xmpp_id.clone().unwrap_or_default()).await {
                return Some(found);
            }
        }
        row.network_id.map(MessageId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::RoomId;

    fn seen(n: usize) -> Seen {
        Seen {
            network_ids: vec![format!("n{n}")],
            xmpp_id: format!("x{n}"),
            stanza_id: Some(100 + n as i64),
            author: UserId::from("bob"),
            nick: "bob".into(),
            own: false,
            text: Some(format!("text {n}")),
        }
    }

    #[test]
    fn an_entry_gives_back_what_was_kept() {
        let mut two = seen(3);
        two.network_ids.push("n3b".into());
        two.own = true;
        for s in [
            seen(1),
            two,
            Seen {
                text: None,
                network_ids: vec![],
                ..seen(2)
            },
        ] {
            let e = Entry::pack(&s);
            assert_eq!(e.unpack(), s);
            assert_eq!(e.xmpp_id(), s.xmpp_id);
            for id in &s.network_ids {
                assert!(e.has_network_id(id));
            }
            assert!(!e.has_network_id(&s.xmpp_id));
        }
    }

    #[test]
    fn a_room_names_by_stanza_id_a_direct_chat_by_id_and_both_are_bounded() {
        let user: BareJid = "a@x".parse().unwrap();
        let room = Target::Room(RoomId::from("r"));
        let peer = Target::User(UserId::from("bob"));
        let mut recent = Recent::default();
        for n in 0..PER_CONVERSATION + 1 {
            recent.keep(&user, &room, seen(n));
        }
        recent.keep(&user, &peer, seen(7));
        assert_eq!(recent.by_network_id(&user, &room, "n0"), None, "dropped");
        let one = recent.by_network_id(&user, &room, "n1").unwrap();
        assert_eq!(one.client_id(&room), "101");
        assert_eq!(recent.by_client_id(&user, &room, "101"), Some(one));
        assert_eq!(
            recent.by_client_id(&user, &peer, "x7").unwrap().xmpp_id,
            "x7"
        );
        assert_eq!(seen(7).client_id(&peer), "x7");
    }
}
