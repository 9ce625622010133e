//! A client's correction, retraction or reactions → `Command::{Edit,
//! Retract, React}` naming the network's message; refused with
//! `feature-not-implemented` where the network cannot do it, reactions
//! beyond the network's limits (`xmpp/reactions.rs`) with `not-acceptable`.

use std::sync::Arc;
use switchboard_bridge_api::{Command, MessageId, Target};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{conversation, Kind};
use crate::gateway::Gateway;
use crate::xmpp::errors;
use crate::xmpp::rich::Request;

impl Gateway {
    /// Sends the network what `request` (carried by `message`) asks of an
    /// earlier message of the conversation, or answers why not.
    pub(in crate::gateway) async fn rich_request(
        self: &Arc<Self>,
        user: &BareJid,
        target: Target,
        request: Request,
        message: &Message,
    ) {
        let info = self.bridge.info();
        if !request.allowed(&self.capabilities(user, &target)) {
            let text = format!("{} cannot {} messages", info.display_name, request.verb());
            let reply =
                errors::message_error(message, DefinedCondition::FeatureNotImplemented, &text);
            return self.send(reply).await;
        }
        // XEP-0444: a set of reactions beyond what the network takes (the
        // limits its disco#info lists) is refused here, not half-sent.
        if let Request::React { reactions, .. } = &request {
            let limits = &info.capabilities.reaction_limits;
            if let Some(why) = crate::xmpp::reactions::beyond_limits(limits, reactions) {
                let text = format!("{}: {why}", info.display_name);
                let reply = errors::message_error(message, DefinedCondition::NotAcceptable, &text);
                return self.send(reply).await;
            }
        }
        let parts = self.network_ref(user, &target, request.id()).await;
        let token = message.id.as_ref().map(|i| i.0.clone()).unwrap_or_default();
        let conv = conversation(&target).to_owned();
        // A correction or reactions go to the first part (the text's, where
        // the network split a message); a retraction to every part.
        let first = MessageId(parts[0].clone());
        let (kind, commands) = match request {
            Request::Edit { body, .. } => (
                Kind::Edit,
                vec![Command::Edit {
                    target,
                    message: first.clone(),
                    text: body,
                    token: token.clone(),
                }],
            ),
            Request::React { reactions, .. } => (
                Kind::React,
                vec![Command::React {
                    target,
                    message: first.clone(),
                    reactions,
                    token: token.clone(),
                }],
            ),
            Request::Retract { .. } => (
                Kind::Retract,
                parts
                    .iter()
                    .map(|p| Command::Retract {
                        target: target.clone(),
                        message: MessageId(p.clone()),
                        reason: None,
                        token: token.clone(),
                    })
                    .collect(),
            ),
        };
        self.rich_pending
            .lock()
            .unwrap()
            .put(user, kind, &conv, first.as_str(), &token);
        for command in commands {
            self.command_or_error(user, command, message).await;
        }
    }
}
