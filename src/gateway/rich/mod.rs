//! Corrections (XEP-0308), retractions (XEP-0424) and reactions (XEP-0444),
//! both ways, in rooms and direct chats, where the network's capabilities
//! allow them. A request names a message by the id the client saw, and the
//! network by its own id; this module maps one to the other under the one
//! id policy (`message_ids.rs`):
//!
//! - XMPP → network (`inbound.rs`): the client's id of its own message
//!   (the id map), the gateway's stanza-id (the id map for the user's own,
//!   the room archive for anyone's), else the id as the network's (the
//!   `id` of everyone else's messages is the network's id).
//! - network → XMPP (`ids.rs`): the id the client saw for the message:
//!   its own id (the id map) or the network's id; in a room also the
//!   stanza-id (the id map or the archive), which XEP-0424 and XEP-0444
//!   name a groupchat message by, while XEP-0308 names it by its `id`.
//!
//! Stanzas to rooms: `muc/rich.rs`; to direct chats: `direct.rs` here.
//! The reflection of the user's own request keeps the id the client sent it
//! with ([`Pending`]), as a sent message's reflection does.

mod direct;
mod ids;
mod inbound;

pub(super) use ids::Author;

use std::collections::VecDeque;
use switchboard_bridge_api::{Event, Target};
use xmpp_parsers::jid::BareJid;

use super::Gateway;

/// How many requests on their way to the network keep their client id.
const PENDING_KEPT: usize = 256;

/// What kind of request a reflection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Edit,
    Retract,
    React,
}

/// The client ids of the user's requests on their way to the network, by
/// (user, kind, conversation, network id of the message), oldest first,
/// bounded: the network's echo takes its id back for the reflection.
#[derive(Debug, Default)]
pub(super) struct Pending(VecDeque<(BareJid, Kind, String, String, String)>);

impl Pending {
    /// Keeps `token` for the echo of a request.
    fn put(&mut self, user: &BareJid, kind: Kind, conversation: &str, message: &str, token: &str) {
        if token.is_empty() {
            return;
        }
        if self.0.len() >= PENDING_KEPT {
            self.0.pop_front();
        }
        self.0.push_back((
            user.clone(),
            kind,
            conversation.to_owned(),
            message.to_owned(),
            token.to_owned(),
        ));
    }

    /// The client id of the oldest request the echo answers, if any.
    pub(super) fn take(
        &mut self,
        user: &BareJid,
        kind: Kind,
        conversation: &str,
        message: &str,
    ) -> Option<String> {
        let at = self.0.iter().position(|(u, k, c, m, _)| {
            u == user && *k == kind && c == conversation && m == message
        })?;
        self.0.remove(at).map(|(.., token)| token)
    }
}

/// The conversation's id as the id map and the archive scope it.
pub(super) fn conversation(target: &Target) -> &str {
    match target {
        Target::Room(room) => room.as_str(),
        Target::User(peer) => peer.as_str(),
    }
}

impl Gateway {
    /// An edit, retraction or reactions from the network, to the user.
    pub(super) async fn rich_event(&self, user: &BareJid, event: Event) {
        let target = match &event {
            Event::Edited { target, .. }
            | Event::Retracted { target, .. }
            | Event::Reacted { target, .. } => target.clone(),
            _ => return,
        };
        match target {
            Target::Room(room) => self.room_rich_event(user, &room, event).await,
            Target::User(peer) => self.direct_rich_event(user, &peer, event).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_ids_are_taken_once_and_by_their_key() {
        let alice: BareJid = "alice@example.org".parse().unwrap();
        let mut p = Pending::default();
        p.put(&alice, Kind::Edit, "lobby", "n1", "c2");
        p.put(&alice, Kind::Edit, "lobby", "n1", "");
        assert_eq!(p.take(&alice, Kind::Retract, "lobby", "n1"), None);
        assert_eq!(p.take(&alice, Kind::Edit, "other", "n1"), None);
        assert_eq!(p.take(&alice, Kind::Edit, "lobby", "n1"), Some("c2".into()));
        assert_eq!(p.take(&alice, Kind::Edit, "lobby", "n1"), None);
        for i in 0..=PENDING_KEPT {
            p.put(&alice, Kind::React, "lobby", &i.to_string(), "t");
        }
        assert_eq!(
            p.take(&alice, Kind::React, "lobby", "0"),
            None,
            "the oldest went"
        );
        assert_eq!(p.take(&alice, Kind::React, "lobby", "1"), Some("t".into()));
    }
}
