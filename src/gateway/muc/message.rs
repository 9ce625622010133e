//! A room message from the user's session: to each joined resource under
//! the one id policy (`message_ids.rs`), into the archive and the id map.

use switchboard_bridge_api::{Message as NetMessage, Target};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;

use crate::component::Outgoing;
use crate::gateway::message_ids::{is_echo, xmpp_id};
use crate::gateway::recent::Seen;
use crate::gateway::Gateway;
use crate::store::ArchivedMessage;

impl Gateway {
    /// A message in a room the user is in.
    pub(super) async fn room_message(&self, user: &xmpp_parsers::jid::BareJid, m: NetMessage) {
        let Target::Room(room) = &m.target else {
            return;
        };
        // The author as an occupant: their unique nick, their occupant-id.
        let (nick, key) = self.author(user, room, &m.author, &m.author_nick);
        let Some(from) = self.occupant_jid(room, &nick) else {
            return;
        };
        let occupant_id = key.id_bytes();
        let plain = crate::gateway::action::body_of(m.kind, &m.text);
        // One id policy (XEP-0359): the user's own messages keep the
        // id and origin-id they were sent with, the others carry the
        // network's id; every one gets the gateway's stanza-id, the
        // same live, in join history and in MAM.
        let id = xmpp_id(&m);
        let (archived, origin) = self
            .with_room(user, room, |r| {
                let origin = if m.own {
                    r.origins
                        .iter()
                        .position(|(token, _)| *token == id)
                        .and_then(|at| r.origins.remove(at))
                        .map(|(_, origin)| origin)
                } else {
                    None
                };
                (r.archived, origin)
            })
            .unwrap_or_default();
        let archived = archived && self.archive.enabled();
        let seq = self.archive.next_id();
        // XEP-0461: a reply names the message as the client saw it, and
        // quotes it first; XEP-0333: markable (`signals.rs`).
        let reply = self.extras_out(user, &m).await;
        self.remember(user, &m.target, || {
            Seen::of(&m, &id, Some(seq), &nick, &plain)
        });
        let text = reply.body(plain);
        // Late (a catch-up after a reconnect): shown at its time (XEP-0203).
        let now = std::time::SystemTime::now();
        let delay = crate::xmpp::delay::late_delay(m.timestamp, now, || {
            self.room_jid(room).map(|jid| jid.to_string())
        });
        let origin_el: Option<Element> = origin
            .clone()
            .map(|id| xmpp_parsers::stanza_id::OriginId { id }.into());
        self.to_joined(user, room, |to| {
            let mut msg = Message::groupchat(Some(to)).with_body(Lang::new(), text.clone());
            msg.from = Some(from.clone());
            msg.id = Some(xmpp_parsers::message::Id(id.clone()));
            msg.payloads.extend(origin_el.clone());
            msg.payloads.extend(reply.payloads.iter().cloned());
            msg.payloads.extend(delay.clone());
            Some(Outgoing::with_stanza_id(msg, seq).with_occupant_id(occupant_id))
        })
        .await;
        if is_echo(&m) {
            self.map_echo(user, room.as_str(), &m, &id, Some(seq)).await;
        }
        if !archived {
            return;
        }
        let ts = m
            .timestamp
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_micros() as i64)
            .unwrap_or_else(crate::archive::now_micros);
        self.archive
            .record(ArchivedMessage {
                user: user.to_string(),
                network: self.network.clone(),
                room: room.to_string(),
                seq,
                ts,
                nick,
                body: text,
                xmpp_id: Some(id),
                origin_id: origin,
                network_id: Some(m.id.0),
                author_id: Some(m.author.0),
                // XEP-0066: the files, for join history and MAM.
                extra: crate::gateway::files::files_extra(&m.attachments),
            })
            .await;
    }
}
