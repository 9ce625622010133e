//! What one conversation supports: the network's capabilities, or, where
//! the network said otherwise (`Event::Capabilities`: an IRC server with or
//! without client tags), the conversation's own: a room's on its `Room`
//! (until it is left), a person's in [`ContactCaps`]. Disco, the commands
//! sent and the references kept follow it.

use std::collections::HashMap;
use switchboard_bridge_api::{Capabilities, RoomId, Target, UserId};
use xmpp_parsers::jid::BareJid;

use crate::gateway::Gateway;

/// People whose capabilities are kept per user; past that they are
/// forgotten (and told again by the network at the next direct message).
const CONTACTS_KEPT: usize = 1024;

/// Direct chats' capabilities, per user and person.
pub(in crate::gateway) type ContactCaps = HashMap<BareJid, HashMap<UserId, Capabilities>>;

impl Gateway {
    /// What `target` supports, for `user`.
    pub(in crate::gateway) fn capabilities(&self, user: &BareJid, target: &Target) -> Capabilities {
        let told = match target {
            Target::Room(room) => self.with_room(user, room, |r| r.capabilities).flatten(),
            Target::User(peer) => self.contact_capabilities(user, peer),
        };
        told.unwrap_or(self.bridge.info().capabilities)
    }

    /// What the room or contact JID of `id` supports (its disco#info): a
    /// room's if the user has that room, else a person's if told.
    pub(in crate::gateway) fn jid_capabilities(&self, user: &BareJid, id: &RoomId) -> Capabilities {
        self.with_room(user, id, |r| r.capabilities)
            .flatten()
            .or_else(|| self.contact_capabilities(user, &UserId(id.0.clone())))
            .unwrap_or(self.bridge.info().capabilities)
    }

    fn contact_capabilities(&self, user: &BareJid, peer: &UserId) -> Option<Capabilities> {
        let caps = self.contact_caps.lock().unwrap();
        caps.get(user)?.get(peer).copied()
    }

    /// The network told what `target` supports.
    pub(in crate::gateway) fn set_capabilities(
        &self,
        user: &BareJid,
        target: Target,
        capabilities: Capabilities,
    ) {
        match target {
            Target::Room(room) => {
                self.with_room(user, &room, |r| r.capabilities = Some(capabilities));
            }
            Target::User(peer) => {
                let mut caps = self.contact_caps.lock().unwrap();
                let mine = caps.entry(user.clone()).or_default();
                if mine.len() >= CONTACTS_KEPT && !mine.contains_key(&peer) {
                    mine.clear();
                }
                mine.insert(peer, capabilities);
            }
        }
    }
}
