//! What one conversation supports: the network's capabilities, or, for a
//! room whose network said otherwise (`Event::RoomCapabilities`: an IRC
//! server with or without client tags), the room's own. Disco, the
//! commands sent and the references kept follow it.

use switchboard_bridge_api::{Capabilities, RoomId, Target};
use xmpp_parsers::jid::BareJid;

use crate::gateway::Gateway;

impl Gateway {
    /// What `target` supports, for `user`.
    pub(in crate::gateway) fn capabilities(&self, user: &BareJid, target: &Target) -> Capabilities {
        let network = self.bridge.info().capabilities;
        match target {
            Target::Room(room) => self
                .with_room(user, room, |r| r.capabilities)
                .flatten()
                .unwrap_or(network),
            Target::User(_) => network,
        }
    }

    /// The network told what `room` supports (after its join).
    pub(in crate::gateway) fn set_room_capabilities(
        &self,
        user: &BareJid,
        room: &RoomId,
        capabilities: Capabilities,
    ) {
        self.with_room(user, room, |r| r.capabilities = Some(capabilities));
    }
}
