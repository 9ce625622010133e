//! Direct messages from the user's session, under the one id policy
//! ([`super::message_ids`]): from the contact's JID, with the network's id
//! and the gateway's stanza-id; the echo of one the user sent is not shown
//! (the user's server carbons it to their other clients), its ids mapped;
//! one the user wrote from another client of the network: `roster.rs`.
//! On a network without direct messages, a message to a person's JID is
//! refused (`feature-not-implemented`), never sent nowhere in silence.

use switchboard_bridge_api::{Message, Target};
use tracing::warn;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message as XmppMessage};

use super::message_ids::{is_echo, xmpp_id};
use super::recent::Seen;
use super::Gateway;
use crate::component::Outgoing;

impl Gateway {
    /// A message to a person on a network that has no direct messages:
    /// one with a body, a correction, retraction or reactions is answered
    /// with an error; chat states and markers are dropped.
    pub(super) async fn refuse_direct(&self, message: &XmppMessage) {
        if message.bodies.is_empty() && crate::xmpp::rich::request_of(message).is_none() {
            return;
        }
        let info = self.bridge.info();
        let text = format!("{} has no direct messages", info.display_name);
        let reply = crate::xmpp::errors::message_error(
            message,
            xmpp_parsers::stanza_error::DefinedCondition::FeatureNotImplemented,
            &text,
        );
        self.send(reply).await;
    }

    /// Delivers a direct message of the user's session, or maps its echo.
    pub(super) async fn direct_message(&self, user: &BareJid, m: Message) {
        let Target::User(peer) = &m.target else {
            return;
        };
        let id = xmpp_id(&m);
        self.remember(user, &m.target, || {
            let text = super::action::body_of(m.kind, &m.text);
            Seen::of(&m, &id, None, &m.author_nick, &text)
        });
        if m.own {
            // Not said to the user as if the contact wrote it: an echo is
            // mapped (the server carbons the client's own message), one
            // from another client of the network is carbon-copied
            // (`roster.rs`).
            if is_echo(&m) {
                self.map_echo(user, peer.as_str(), &m, &id, None).await;
            } else if m.token.is_none() {
                self.own_elsewhere(user, &m, peer).await;
            }
            // An empty token: the echo of a message the client sent
            // without an id, which has nothing to map.
            return;
        }
        let Some(from) = self.contact_jid(peer) else {
            warn!(peer = %peer.as_str().escape_debug(), "direct message from an id that is no JID; dropped");
            return;
        };
        let text = super::action::body_of(m.kind, &m.text);
        // XEP-0461: a reply names the message by its id, and quotes it
        // first; XEP-0333: markable (`signals.rs`).
        let reply = self.extras_out(user, &m).await;
        let mut msg = XmppMessage::chat(Some(Jid::from(user.clone())))
            .with_body(Lang::new(), reply.body(text));
        msg.from = Some(from);
        msg.id = Some(Id(id));
        msg.payloads.extend(reply.payloads);
        self.send(Outgoing::with_stanza_id(msg, self.archive.next_id()))
            .await;
    }
}
