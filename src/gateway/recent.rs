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

/// How many messages a conversation keeps.
const PER_CONVERSATION: usize = 64;
/// How many conversations are kept, over all users of a gateway.
const CONVERSATIONS: usize = 4096;

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
    /// Its text (as the body showed it), when known.
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
            text: Some(text.to_owned()),
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

/// Recent messages per (user, conversation).
#[derive(Debug, Default)]
pub(super) struct Recent {
    conversations: HashMap<(BareJid, Target), VecDeque<Seen>>,
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
        messages.push_back(seen);
    }

    /// The message the network knows by `network_id`, newest first.
    pub(super) fn by_network_id(
        &self,
        user: &BareJid,
        target: &Target,
        network_id: &str,
    ) -> Option<Seen> {
        self.find(user, target, |s| {
            s.network_ids.iter().any(|n| n == network_id)
        })
    }

    /// The message a client names by `id` (its stanza-id or its `id`).
    pub(super) fn by_client_id(&self, user: &BareJid, target: &Target, id: &str) -> Option<Seen> {
        self.find(user, target, |s| s.client_id(target) == id)
            .or_else(|| self.find(user, target, |s| s.xmpp_id == id))
    }

    fn find(&self, user: &BareJid, target: &Target, f: impl Fn(&Seen) -> bool) -> Option<Seen> {
        let key = (user.clone(), target.clone());
        self.conversations
            .get(&key)?
            .iter()
            .rev()
            .find(|s| f(s))
            .cloned()
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
    /// Whether messages are kept for references (the network has replies
    /// or read markers).
    pub(super) fn keeps_references(&self) -> bool {
        let caps = &self.bridge.info().capabilities;
        caps.replies || caps.read_markers
    }

    /// Keeps a message delivered to (or echoed for) the user, when the
    /// network can refer to it (built only then: nothing is allocated for
    /// a network without replies or read markers).
    pub(super) fn remember(&self, user: &BareJid, target: &Target, seen: impl FnOnce() -> Seen) {
        if self.keeps_references() {
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
                    text: Some(row.body),
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
