//! Network ids ↔ JIDs at the gateway's domain: rooms, people and servers all
//! go through these two, with the network's case rule
//! ([`Capabilities::case_insensitive_ids`](switchboard_bridge_api::Capabilities)).

use tracing::debug;
use xmpp_parsers::jid::{BareJid, Jid};

use super::Gateway;
use crate::xmpp::escape::Case;
use crate::xmpp::localpart;

impl Gateway {
    /// How this network compares its ids.
    pub(super) fn id_case(&self) -> Case {
        if self.bridge.info().capabilities.case_insensitive_ids {
            Case::Insensitive
        } else {
            Case::Sensitive
        }
    }

    /// The JID at this domain that stands for a network id; `None` when the
    /// id can have no localpart (empty, or too long once escaped).
    pub(super) fn id_jid(&self, id: &str) -> Option<BareJid> {
        match localpart::localpart(id, self.id_case()) {
            Ok(node) => Some(BareJid::from_parts(Some(&node), self.domain.domain())),
            Err(e) => {
                debug!(id = %id.escape_debug(), error = %e, "an id that cannot be a JID");
                None
            }
        }
    }

    /// The network id a JID at this domain stands for, if it has a localpart.
    pub(super) fn jid_id(&self, jid: &Jid) -> Option<String> {
        localpart::id_of_jid(jid)
    }
}
