//! Edits, retractions and reactions in a room, from the network to the
//! user's joined resources: from the occupant who made them, with the
//! gateway's stanza-id and the author's occupant-id, naming the message as
//! each XEP does in a groupchat (XEP-0308 by its `id`, XEP-0424 and
//! XEP-0444 by its stanza-id); then into the archive as stanzas of their
//! own, in order, and a retracted message's row becomes a tombstone. A
//! retraction by someone other than the author is a moderator's (XEP-0425),
//! said by the room.

use switchboard_bridge_api::{Event, RoomId, Target};
use tracing::warn;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message};
use xmpp_parsers::minidom::Element;

use crate::component::Outgoing;
use crate::gateway::rich::{Author, Kind};
use crate::gateway::Gateway;
use crate::store::ArchivedMessage;
use crate::xmpp::rich::{self, Extra};

impl Gateway {
    /// An edit, retraction or reactions in a room the user is in.
    pub(in crate::gateway) async fn room_rich_event(
        &self,
        user: &BareJid,
        room: &RoomId,
        event: Event,
    ) {
        let (kind, message, author, name) = match &event {
            Event::Edited {
                message,
                author,
                author_nick,
                ..
            } => (Kind::Edit, message, author, author_nick),
            Event::Retracted { message, by, .. } => (Kind::Retract, message, by, &by.0),
            Event::Reacted {
                message,
                author,
                author_nick,
                ..
            } => (Kind::React, message, author, author_nick),
            _ => return,
        };
        let (message, author, name) = (message.clone(), author.clone(), name.clone());
        let Some((archived, own)) = self.with_room(user, room, |r| {
            (r.archived, r.own_user.as_ref() == Some(&author))
        }) else {
            return;
        };
        let (nick, key) = self.author(user, room, &author, &name);
        let Some(from) = self.occupant_jid(room, &nick) else {
            return;
        };
        let target = Target::Room(room.clone());
        let original = self.xmpp_ref(user, &target, message.as_str()).await;
        let seq = self.archive.next_id();
        // The reflection of the user's own request keeps the client's id.
        let token = own
            .then(|| {
                self.rich_pending
                    .lock()
                    .unwrap()
                    .take(user, kind, room.as_str(), message.as_str())
            })
            .flatten();
        if let Some(token) = &token {
            self.command_done(user, token);
        }
        let id = token.unwrap_or_else(|| format!("sb-{seq}"));
        // XEP-0425: someone else's message retracted by a moderator is
        // the room's word, not the moderator's own retraction.
        let moderated = kind == Kind::Retract
            && match &original.author {
                Author::Own => !own,
                Author::Id(a) => *a != author.0,
                Author::Unknown => false,
            };
        let (body, payloads, extra): (String, Vec<Element>, Extra) = match event {
            Event::Edited { text, .. } => (
                text,
                vec![rich::replace(&original.id)],
                Extra::Replace(original.id.clone()),
            ),
            Event::Retracted { .. } if moderated => {
                let named = original.in_room();
                let by = from.to_string();
                let oid = self.occupant_id(room, &author);
                (
                    format!("A message was retracted by the moderator {nick}."),
                    rich::moderated(&named, &by, Some(&oid)).into(),
                    Extra::Moderated(named, by),
                )
            }
            Event::Retracted { .. } => {
                let named = original.in_room();
                let mut payloads = vec![rich::retract(&named)];
                payloads.extend(rich::retract_extras());
                (
                    rich::RETRACT_FALLBACK.to_owned(),
                    payloads,
                    Extra::Retract(named),
                )
            }
            Event::Reacted { reactions, .. } => {
                let named = original.in_room();
                let mut payloads = vec![rich::reactions(&named, &reactions)];
                payloads.extend(rich::reactions_extras());
                (
                    rich::reactions_fallback(&reactions),
                    payloads,
                    Extra::Reactions(named, reactions),
                )
            }
            _ => return,
        };
        // A moderation comes from the room itself, without an occupant-id.
        let (from, nick, author_id) = if moderated {
            let Some(room_jid) = self.room_jid(room) else {
                return;
            };
            (Jid::from(room_jid), String::new(), None)
        } else {
            (from, nick, Some(author.0.clone()))
        };
        let occupant_id = (!moderated).then(|| key.id_bytes());
        self.to_joined(user, room, |to| {
            let mut msg = Message::groupchat(Some(to));
            if !body.is_empty() {
                msg.bodies.insert(Lang::new(), body.clone());
            }
            msg.from = Some(from.clone());
            msg.id = Some(Id(id.clone()));
            msg.payloads.extend(payloads.iter().cloned());
            let out = Outgoing::with_stanza_id(msg, seq);
            Some(match occupant_id {
                Some(oid) => out.with_occupant_id(oid),
                None => out,
            })
        })
        .await;
        if !(archived && self.archive.enabled()) {
            return;
        }
        let now = crate::archive::now_micros();
        self.archive
            .record(ArchivedMessage {
                user: user.to_string(),
                network: self.network.clone(),
                room: room.to_string(),
                seq,
                ts: now,
                nick,
                body,
                xmpp_id: Some(id),
                origin_id: None,
                network_id: None,
                author_id,
                extra: extra.encode(),
            })
            .await;
        if let (Kind::Retract, Some(retracted)) = (kind, original.stanza_id) {
            let Some(tombstone) = Extra::Retracted(now).encode() else {
                return;
            };
            let (user_s, room_s) = (user.to_string(), room.to_string());
            if let Err(e) = self
                .store
                .tombstone(&user_s, &self.network, &room_s, retracted, &tombstone)
                .await
            {
                warn!(error = %e, "cannot tombstone a retracted message");
            }
        }
    }
}
