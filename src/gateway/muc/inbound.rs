//! What a user sends to a room: messages (groupchat, subject, private
//! messages to occupants) and iq requests (disco#info, XEP-0410 self-ping).

use std::sync::Arc;
use switchboard_bridge_api::{Command, MessageKind, Role as NetRole, Target};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{origin_id, ORIGINS_KEPT};
use crate::gateway::occupants::Occupant;
use crate::gateway::Gateway;
use crate::xmpp::errors;

impl Gateway {
    /// A message to a room (groupchat, subject) or to an occupant (private).
    pub(in crate::gateway) async fn handle_room_message(self: &Arc<Self>, message: Message) {
        let (Some(from), Some(to)) = (&message.from, &message.to) else {
            return;
        };
        let user = from.to_bare();
        let room = self.room_of(to);
        if !self.is_registered(&user).await {
            return self.refuse_unregistered(&message).await;
        }
        let token = message.id.as_ref().map(|i| i.0.clone()).unwrap_or_default();
        let joined = self.with_room(&user, &room, |r| r.complete) == Some(true);
        if message.type_ == MessageType::Groupchat {
            if !joined {
                let reply = errors::message_error(
                    &message,
                    DefinedCondition::NotAcceptable,
                    "join the room first",
                );
                return self.send(reply).await;
            }
            if let Some(request) = crate::xmpp::rich::request_of(&message) {
                let room = Target::Room(room);
                return self.rich_request(&user, room, request, &message).await;
            }
            if let Some((_, subject)) = message.get_best_subject(vec![]) {
                if message.bodies.is_empty() {
                    let topic = Command::SetTopic {
                        room,
                        topic: subject.clone(),
                    };
                    self.command_or_error(&user, topic, &message).await;
                    return;
                }
            }
            let target = Target::Room(room.clone());
            self.signals_in(&user, &target, &message).await;
            let Some(body) = crate::gateway::shared_files::body_of(&message) else {
                return;
            };
            let (body, reply_to) = self.reply_in(&user, &target, &message, &body).await;
            let (text, kind) = crate::gateway::action::text_of(&body);
            let (text, attachments) = self.files_in(&message, text);
            if let Some(origin) = origin_id(&message) {
                self.with_room(&user, &room, |r| {
                    if r.origins.len() >= ORIGINS_KEPT {
                        r.origins.pop_front();
                    }
                    r.origins.push_back((token.clone(), origin));
                });
            }
            let send = Command::SendText {
                target,
                text,
                kind,
                reply_to,
                attachments,
                token,
            };
            return self.command_or_error(&user, send, &message).await;
        }
        // A private message to an occupant goes to that person directly,
        // where the network has direct messages.
        if !self.bridge.info().capabilities.direct_messages {
            return self.refuse_direct(&message).await;
        }
        let nick = to.resource().map(|r| r.to_string()).unwrap_or_default();
        let member = self
            .with_room(&user, &room, |r| r.members.get(&nick).map(Occupant::user))
            .flatten();
        let Some(peer) = member else {
            let reply =
                errors::message_error(&message, DefinedCondition::ItemNotFound, "no such occupant");
            return self.send(reply).await;
        };
        let Some(body) = crate::gateway::shared_files::body_of(&message) else {
            return;
        };
        let (text, attachments) = self.files_in(&message, body);
        let send = Command::SendText {
            target: Target::User(peer),
            text,
            kind: MessageKind::Normal,
            reply_to: None,
            attachments,
            token,
        };
        self.command_or_error(&user, send, &message).await;
    }

    /// Iq requests to a room or occupant: disco#info, XEP-0410 self-ping.
    pub(in crate::gateway) fn room_iq(
        &self,
        from: &Jid,
        to: &Jid,
        payload: &Element,
    ) -> Result<Option<Element>, (DefinedCondition, String)> {
        let room = self.room_of(to);
        let user = from.to_bare();
        if payload.is("ping", ns::PING) {
            // XEP-0410: a ping to one's own occupant JID says whether one is still joined.
            let rooms = self.rooms.lock().unwrap();
            let joined = rooms
                .get(&user)
                .and_then(|r| r.get(&room))
                .is_some_and(|r| {
                    r.complete
                        && from
                            .clone()
                            .try_into_full()
                            .is_ok_and(|f| r.resources.contains_key(&f))
                        && to.resource().map(|n| n.as_str()) == r.own_nick.as_deref()
                });
            return if joined {
                Ok(None)
            } else {
                Err((DefinedCondition::NotAcceptable, "not joined".into()))
            };
        }
        if payload.is("query", ns::DISCO_INFO) && to.resource().is_none() {
            let joined = self.with_room(&user, &room, |r| (r.name.clone(), r.archived));
            // The user's own standing, once joined: XEP-0425 is offered
            // to a moderator only (the network decides whether they may).
            let own_role = self.with_room(&user, &room, |r| {
                let own = r.own_nick.as_deref().and_then(|n| r.members.get(n));
                r.complete.then(|| own.map(Occupant::role)).flatten()
            });
            let name = joined
                .as_ref()
                .map(|(name, _)| name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| room.to_string());
            let mut features: std::collections::BTreeSet<String> = [
                ns::MUC,
                "muc_open",
                "muc_semianonymous",
                "muc_persistent",
                "muc_unsecured",
                ns::PING,
                // Every room message carries the gateway's stanza-id.
                ns::SID,
                // XEP-0421: every occupant presence and message says who.
                ns::OID,
            ]
            .map(str::to_owned)
            .into();
            // XEP-0308, XEP-0424, XEP-0425, XEP-0444 where the network can
            // (the room's own, where the network told them: `caps.rs`);
            // XEP-0425 not to a joined user who is no moderator there, where
            // the network's moderators alone may (`moderation_by_role`).
            let caps = self.jid_capabilities(&user, &room);
            let moderator = !caps.moderation_by_role
                || own_role.flatten().is_none_or(|r| r >= NetRole::Operator);
            features.extend(
                crate::xmpp::rich::room_features(&caps)
                    .filter(|f| moderator || *f != crate::xmpp::rich::MODERATE)
                    .map(str::to_owned),
            );
            // Chat states, markers, replies: as the room has them.
            features.extend(Gateway::signal_features(&caps));
            // MAM on the room JID, when this room's messages are archived
            // (or, before a join, when the archive is on at all).
            if self.archive.enabled() && joined.as_ref().is_none_or(|(_, archived)| *archived) {
                features.insert(ns::MAM.to_owned());
            }
            let info = DiscoInfoResult {
                node: None,
                identities: vec![Identity::new("conference", "text", "en", name)],
                features,
                // XEP-0444 restricted reactions, where the network limits them.
                extensions: crate::xmpp::reactions::restrictions_form(&caps)
                    .into_iter()
                    .collect(),
            };
            return Ok(Some(info.into()));
        }
        Err((
            DefinedCondition::ServiceUnavailable,
            "not served on rooms".into(),
        ))
    }
}
