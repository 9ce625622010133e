//! XEP-0333 displayed markers ↔ the contract's read markers (`MarkRead`,
//! `ReadUpTo`), in rooms and direct chats, where the network has them.
//!
//! ```xml
//! <message type='groupchat' to='lobby@gw'>
//!   <displayed xmlns='urn:xmpp:chat-markers:0' id='1764000000000001'/>
//! </message>
//! ```
//!
//! The marker's `id` is the id the client saw: in a room the gateway's
//! stanza-id, in a direct chat the message's `id`; `recent.rs` maps it to
//! the network's id and back. A marker for a message the gateway does not
//! know is dropped.

use switchboard_bridge_api::{Command, MessageId, Target};
use tracing::debug;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::Gateway;

/// The id a client's `<displayed/>` names, if the message has one.
fn displayed(message: &Message) -> Option<&str> {
    message
        .payloads
        .iter()
        .find(|p| p.is("displayed", ns::DISPLAYED_MARKERS))
        .and_then(|p| p.attr("id"))
        .filter(|id| !id.is_empty())
}

/// `<displayed id=…/>`.
pub(super) fn displayed_element(id: String) -> Element {
    xmpp_parsers::displayed_markers::Displayed {
        id: xmpp_parsers::message::Id(id),
    }
    .into()
}

impl Gateway {
    /// A client's displayed marker: `MarkRead` for the network's message.
    pub(super) async fn marker_in(&self, user: &BareJid, target: &Target, message: &Message) {
        if !self.bridge.info().capabilities.read_markers {
            return;
        }
        let Some(id) = displayed(message) else {
            return;
        };
        let Some(network_id) = self.network_id_of(user, target, id).await else {
            debug!("a displayed marker for a message the gateway does not know; dropped");
            return;
        };
        let read = Command::MarkRead {
            target: target.clone(),
            message: network_id,
        };
        self.command_if_running(user, read).await;
    }

    /// The `<displayed/>` for a network's "read up to", naming the message
    /// as the client saw it; `None` for a message the gateway never saw.
    pub(super) async fn marker_out(
        &self,
        user: &BareJid,
        target: &Target,
        message: &MessageId,
    ) -> Option<Element> {
        let Some(seen) = self
            .seen_by_network_id(user, target, message.as_str())
            .await
        else {
            debug!("read up to a message the gateway never saw; dropped");
            return None;
        };
        Some(displayed_element(seen.client_id(target)))
    }
}
