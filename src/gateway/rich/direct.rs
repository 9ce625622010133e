//! Edits, retractions and reactions of a direct conversation, from the
//! contact's JID, naming the message by the `id` the client saw (XEP-0308,
//! XEP-0424 and XEP-0444 in one-to-one chats). The echo of the user's own
//! is not shown, as the echo of a direct message they sent is not.

use switchboard_bridge_api::{Event, Target, UserId};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message};

use super::Kind;
use crate::component::Outgoing;
use crate::gateway::Gateway;
use crate::xmpp::rich;

impl Gateway {
    /// An edit, retraction or reactions in a direct conversation with `peer`.
    pub(in crate::gateway) async fn direct_rich_event(
        &self,
        user: &BareJid,
        peer: &UserId,
        event: Event,
    ) {
        let (kind, message, author) = match &event {
            Event::Edited {
                message, author, ..
            } => (Kind::Edit, message, author),
            Event::Retracted { message, by, .. } => (Kind::Retract, message, by),
            Event::Reacted {
                message, author, ..
            } => (Kind::React, message, author),
            _ => return,
        };
        if author != peer {
            // The user's own, from this gateway (its request's echo) or
            // from another client of theirs on the network.
            let token =
                self.rich_pending
                    .lock()
                    .unwrap()
                    .take(user, kind, peer.as_str(), message.as_str());
            if let Some(token) = token {
                self.command_done(user, &token);
            }
            return;
        }
        let Some(from) = self.contact_jid(peer) else {
            return;
        };
        let target = Target::User(peer.clone());
        let original = self.xmpp_ref(user, &target, message.as_str()).await;
        let seq = self.archive.next_id();
        let mut msg = Message::chat(Some(Jid::from(user.clone())));
        msg.from = Some(from);
        msg.id = Some(Id(format!("sb-{seq}")));
        match event {
            Event::Edited { text, .. } => {
                msg.bodies.insert(Lang::new(), text);
                msg.payloads.push(rich::replace(&original.id));
            }
            Event::Retracted { .. } => {
                msg.bodies
                    .insert(Lang::new(), rich::RETRACT_FALLBACK.to_owned());
                msg.payloads.push(rich::retract(&original.id));
                msg.payloads.extend(rich::retract_extras());
            }
            Event::Reacted { reactions, .. } => {
                msg.bodies
                    .insert(Lang::new(), rich::reactions_fallback(&reactions));
                msg.payloads.push(rich::reactions(&original.id, &reactions));
                msg.payloads.extend(rich::reactions_extras());
            }
            _ => return,
        }
        self.send(Outgoing::with_stanza_id(msg, seq)).await;
    }
}
