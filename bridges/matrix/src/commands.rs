//! The core's commands as client-server API calls: send a text (with a
//! transaction id that carries the command's token to the echo; a reply
//! names its original in `m.relates_to.m.in_reply_to`, without the
//! quoted fallback, which the spec no longer asks for), edits, retractions
//! and reactions (`rich.rs`), join by
//! alias or id, leave, set a topic. Failures come back as `Event::Error`
//! on the command's token or the room.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchboard_bridge_api::{
    Command, ErrorContext, ErrorKind, Event, LeaveReason, MessageId, MessageKind, RoomId, Target,
};
use tracing::debug;

use crate::api::{InReplyTo, JoinResponse, RelatesTo, SendResponse, TextContent};
use crate::client::ApiError;
use crate::session::{Session, ROOM_PREFIX};
use crate::styling::rich_fields;

/// How long a command's request may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

impl Session {
    /// Carries out one command.
    pub(crate) async fn command(&mut self, command: Command) {
        match command {
            Command::SendText {
                target,
                text,
                kind,
                token,
                reply_to,
                attachments,
            } => {
                // Files first (a message that was only a file has no text).
                let mut sent = self.send_files(&target, &attachments, &token).await;
                if sent.is_ok() && (attachments.is_empty() || !text.is_empty()) {
                    sent = self
                        .send_text(&target, &text, kind, reply_to.as_ref(), &token)
                        .await;
                }
                self.report(ErrorContext::Command(token), sent).await;
            }
            Command::Edit {
                target,
                message,
                text,
                token,
            } => {
                let sent = self.edit(&target, &message, &text, &token).await;
                self.report(ErrorContext::Command(token), sent).await;
            }
            Command::Retract {
                target,
                message,
                reason,
                token,
            } => {
                let sent = self.retract(&target, &message, reason, &token).await;
                self.report(ErrorContext::Command(token), sent).await;
            }
            Command::React {
                target,
                message,
                reactions,
                token,
            } => {
                let sent = self.react(&target, &message, &reactions, &token).await;
                self.report(ErrorContext::Command(token), sent).await;
            }
            // A typing notice or receipt that failed is not worth a word
            // to the user.
            Command::Typing { target, state } => {
                if let Err((_, e)) = self.typing(&target, state).await {
                    debug!(error = %e, "typing notice not sent");
                }
            }
            Command::MarkRead { target, message } => {
                if let Err((_, e)) = self.mark_read(&target, &message).await {
                    debug!(error = %e, "read receipt not sent");
                }
            }
            Command::Join { room, nick, .. } => self.join(room, &nick).await,
            Command::Leave { room, reason } => self.leave(room, reason).await,
            Command::SetTopic { room, topic } => {
                let set = self.set_topic(&room, &topic).await;
                self.report(ErrorContext::Room(room), set).await;
            }
            Command::ListRooms {
                token,
                within,
                after,
                limit,
                ..
            } => self.list_rooms(token, within, after, limit).await,
            Command::RemoveContact { user } => self.remove_contact(user.as_str()).await,
            Command::FetchHistory { token, room, .. } => {
                let messages = Vec::new();
                self.emit(Event::History {
                    token,
                    room,
                    messages,
                })
                .await;
            }
            other => debug!(command = ?std::mem::discriminant(&other), "not bridged to Matrix yet"),
        }
    }

    /// Tells the core of a command that failed.
    async fn report(&mut self, context: ErrorContext, outcome: Result<(), (ErrorKind, String)>) {
        if let Err((kind, text)) = outcome {
            self.emit(Event::Error {
                context,
                kind,
                text,
            })
            .await;
        }
    }

    /// The Matrix room id of a room the core names (an id, or an alias
    /// the user joined by).
    pub(crate) fn room_id_of(&self, room: &RoomId) -> Option<String> {
        if let Some(id) = self.by_alias.get(room) {
            return Some(id.clone());
        }
        room.as_str().starts_with('!').then(|| room.0.clone())
    }

    /// A room's members but the user: (Matrix id, nick) pairs.
    pub(crate) fn others_in(&self, room_id: &str) -> Vec<(String, String)> {
        let Some(room) = self.rooms.get(room_id) else {
            return Vec::new();
        };
        room.members
            .iter()
            .filter(|(user, _)| **user != self.own)
            .map(|(user, nick)| (user.clone(), nick.clone()))
            .collect()
    }

    async fn send_text(
        &mut self,
        target: &Target,
        text: &str,
        kind: MessageKind,
        reply_to: Option<&MessageId>,
        token: &String,
    ) -> Result<(), (ErrorKind, String)> {
        let room_id = match target {
            Target::Room(room) => self.room_id_of(room).ok_or_else(not_joined)?,
            Target::User(peer) => self.direct_room(peer.as_str()).await?,
        };
        let txn = self.next_txn(token);
        let content = TextContent {
            msgtype: match kind {
                MessageKind::Normal => "m.text",
                MessageKind::Action => "m.emote",
                MessageKind::Notice => "m.notice",
            },
            body: text,
            new_content: None,
            relates_to: reply_to.map(|original| RelatesTo {
                in_reply_to: Some(InReplyTo {
                    event_id: original.as_str(),
                }),
                ..RelatesTo::default()
            }),
        };
        let mut content = serde_json::to_value(&content).unwrap_or_default();
        if let Some(fields) = content.as_object_mut() {
            fields.extend(rich_fields(text, &self.others_in(&room_id)));
        }
        let url = self
            .client
            .v3(&["rooms", &room_id, "send", "m.room.message", &txn], &[]);
        let sent: SendResponse = self
            .client
            .call(Method::PUT, url, Some(&content), TIMEOUT)
            .await
            .map_err(|e| refusal(&e))?;
        debug!(event = %sent.event_id, "sent to Matrix");
        Ok(())
    }

    /// Joins a room by alias or id (joining one the user is in answers at
    /// once) and announces it under the name the core used.
    async fn join(&mut self, room: RoomId, nick: &str) {
        let target = room.as_str();
        // Aliases name their server; room ids do from room version 12 on
        // no longer (`!hash`), only before it (`!opaque:server`).
        let alias = target.starts_with('#') && target.contains(':');
        if !(alias || (target.starts_with('!') && target.len() > 1)) {
            let text =
                "A Matrix room is joined by its alias (#room:server) or id (!id).".to_owned();
            let refused = Err((ErrorKind::BadRequest, text));
            return self.report(ErrorContext::Room(room), refused).await;
        }
        let known = self
            .room_id_of(&room)
            .filter(|id| self.rooms.get(id).is_some_and(|r| r.announced));
        let room_id = match known {
            Some(id) => id,
            None => {
                let via = self.vias.join_query(target);
                let url = self.client.v3(&["join", target], &via);
                let joined: Result<JoinResponse, _> = self
                    .client
                    .call(Method::POST, url, Some(&json!({})), TIMEOUT)
                    .await;
                match joined {
                    Ok(joined) => joined.room_id,
                    Err(e) => {
                        return self
                            .report(ErrorContext::Room(room), Err(refusal(&e)))
                            .await;
                    }
                }
            }
        };
        // The room the core has already under its other name (an alias
        // and the id): that name stays, this join is redirected to it.
        let known_as = self
            .rooms
            .get(&room_id)
            .filter(|r| r.announced)
            .map(|_| self.core_id(&room_id))
            .filter(|core| *core != room);
        if let Some(core) = known_as {
            debug!("a Matrix room joined under its other name; redirected");
            return self
                .emit(Event::JoinedAs {
                    asked: room,
                    room: core,
                })
                .await;
        }
        if room.as_str() != room_id {
            self.by_alias.insert(room.clone(), room_id.clone());
            self.emit(Event::SaveState {
                key: format!("{ROOM_PREFIX}{room_id}"),
                value: room.0.clone(),
                secret: false,
            })
            .await;
        }
        let fresh = !self.rooms.get(&room_id).is_some_and(|r| r.announced);
        let entry = self.rooms.entry(room_id.clone()).or_default();
        entry.core_id = Some(room.clone());
        entry.joining |= fresh;
        if fresh && std::mem::take(&mut self.poll_dropped) {
            entry.asked_nick = Some(nick.to_owned());
            self.join_sync(&room_id).await;
            if self.rooms.get(&room_id).is_some_and(|r| r.announced) {
                return;
            }
        }
        if fresh {
            self.fetch_state(&room_id).await;
        }
        // A space is no group chat (`spaces.rs`): the join is refused
        // (a stored one forgotten), the user stays in the space.
        if self.rooms.get(&room_id).is_some_and(|r| r.space) {
            let text = format!(
                "{room} is a Matrix space, not a room: its rooms are listed in the \
                 gateway's service discovery."
            );
            let refused = Err((ErrorKind::BadRequest, text));
            return self.report(ErrorContext::Room(room), refused).await;
        }
        self.announce(&room_id, Some(nick)).await;
    }

    /// Whether a command joins a room this session knows nothing of:
    /// the one the join's own sync describes ([`Session::join_sync`]).
    pub(crate) fn joins_new_room(&self, command: &Command) -> bool {
        let Command::Join { room, .. } = command else {
            return false;
        };
        self.room_id_of(room)
            .is_none_or(|id| !self.rooms.contains_key(&id))
    }

    /// The few state events a room is shown with (name, alias, topic,
    /// power levels, creation, the user's own membership), for a room no
    /// sync described yet. The creation is asked for as a whole event: its
    /// sender is a creator.
    async fn fetch_state(&mut self, room_id: &str) {
        let own = self.own.clone();
        for (kind, key) in [
            ("m.room.name", ""),
            ("m.room.canonical_alias", ""),
            ("m.room.topic", ""),
            ("m.room.encryption", ""),
            ("m.room.power_levels", ""),
            ("m.room.create", ""),
            ("m.room.member", own.as_str()),
        ] {
            let whole = kind == "m.room.create";
            let query: &[(&str, &str)] = if whole { &[("format", "event")] } else { &[] };
            let url = self
                .client
                .v3(&["rooms", room_id, "state", kind, key], query);
            let Ok(mut content) = self.client.get::<serde_json::Value>(url, TIMEOUT).await else {
                continue;
            };
            // A server that ignores `format` names no creator.
            let mut sender = if whole { String::new() } else { own.clone() };
            if whole && content.get("type").and_then(|t| t.as_str()) == Some(kind) {
                sender = crate::api::text_field(&content, "sender")
                    .unwrap_or_default()
                    .to_owned();
                content = content["content"].take();
            }
            let event = crate::api::RoomEvent {
                kind: kind.to_owned(),
                sender,
                event_id: String::new(),
                state_key: Some(key.to_owned()),
                origin_server_ts: None,
                content,
                redacts: None,
                unsigned: Default::default(),
            };
            if let Some(room) = self.rooms.get_mut(room_id) {
                room.apply_state(&event);
            }
        }
    }

    /// Leaves a room; the core is told at once.
    async fn leave(&mut self, room: RoomId, reason: Option<String>) {
        if let Some(room_id) = self.room_id_of(&room) {
            let url = self.client.v3(&["rooms", &room_id, "leave"], &[]);
            let body = match &reason {
                Some(r) => json!({ "reason": r }),
                None => json!({}),
            };
            let left: Result<serde_json::Value, _> = self
                .client
                .call(Method::POST, url, Some(&body), TIMEOUT)
                .await;
            if let Err(e) = left {
                debug!(error = %e, "leaving a Matrix room failed");
            }
            if room.as_str() != room_id {
                self.emit(Event::SaveState {
                    key: format!("{ROOM_PREFIX}{room_id}"),
                    value: String::new(),
                    secret: false,
                })
                .await;
            }
            self.forget(&room_id);
        }
        self.emit(Event::RoomLeft {
            room,
            reason: LeaveReason::Part(reason),
        })
        .await;
    }

    async fn set_topic(&mut self, room: &RoomId, topic: &str) -> Result<(), (ErrorKind, String)> {
        let room_id = self.room_id_of(room).ok_or_else(not_joined)?;
        let url = self
            .client
            .v3(&["rooms", &room_id, "state", "m.room.topic", ""], &[]);
        let body = json!({ "topic": topic });
        self.client
            .call::<serde_json::Value>(Method::PUT, url, Some(&body), TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e))
    }
}

pub(crate) fn not_joined() -> (ErrorKind, String) {
    (
        ErrorKind::NotFound,
        "You are not in this Matrix room.".to_owned(),
    )
}

/// A failed request as an error kind and words for the user.
pub(crate) fn refusal(e: &ApiError) -> (ErrorKind, String) {
    let kind = match e.errcode() {
        None => ErrorKind::Unavailable,
        Some("M_NOT_FOUND") => ErrorKind::NotFound,
        Some("M_FORBIDDEN") => ErrorKind::Forbidden,
        Some("M_LIMIT_EXCEEDED") => ErrorKind::Unavailable,
        Some("M_TOO_LARGE") => ErrorKind::TooLarge,
        Some("M_UNKNOWN_TOKEN") | Some("M_MISSING_TOKEN") => ErrorKind::NotAuthorized,
        Some(_) => ErrorKind::Other,
    };
    (kind, e.to_string())
}
