//! Typing and read receipts both ways. In: a room's `m.typing` (ephemeral,
//! the whole list of who types now) → `Typing` `Active` for each one new
//! to the list and `Inactive` for each one gone from it; `m.receipt`
//! (`m.read`, the public receipts) → `ReadUpTo` per reader. The user's own
//! are not told, nor, in a direct chat, a third member's (they would show
//! as the contact's). Out: `Typing` → `PUT typing` (`Active`: typing for 30 s,
//! else stopped); `MarkRead` → `POST receipt/m.read`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_bridge_api::{ErrorKind, Event, MessageId, Target, TypingState, UserId};

use crate::api::RoomEvent;
use crate::commands::{refusal, TIMEOUT};
use crate::session::Session;

/// How long a typing notice holds on the server unless renewed.
const TYPING_FOR: Duration = Duration::from_secs(30);

/// The public read receipts of an `m.receipt` content: (event, reader).
fn read_receipts(content: &Value) -> Vec<(&str, &str)> {
    let Some(events) = content.as_object() else {
        return Vec::new();
    };
    let mut read = Vec::new();
    for (event, kinds) in events {
        let readers = kinds.get("m.read").and_then(Value::as_object);
        for reader in readers.into_iter().flat_map(|r| r.keys()) {
            read.push((event.as_str(), reader.as_str()));
        }
    }
    read
}

/// The users an `m.typing` content lists.
fn typing_users(content: &Value) -> Vec<String> {
    content
        .get("user_ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

impl Session {
    /// One ephemeral event of a joined room.
    pub(crate) async fn ephemeral_event(&mut self, room_id: &str, event: RoomEvent) {
        let target = self.target_of(room_id);
        let own = self.own.clone();
        // In a direct chat only the person's signals are theirs: a third
        // member's would show as the contact's (as their messages would).
        let shown = |user: &str| {
            user != own
                && match &target {
                    Target::User(peer) => peer.as_str() == user,
                    Target::Room(_) => true,
                }
        };
        match event.kind.as_str() {
            "m.typing" => {
                let Some(room) = self.rooms.get_mut(room_id) else {
                    return;
                };
                let mut now = typing_users(&event.content);
                now.retain(|u| shown(u));
                let before = std::mem::replace(&mut room.typing, now.clone());
                let started = now.iter().filter(|u| !before.contains(u));
                let stopped = before.iter().filter(|u| !now.contains(u));
                let changes: Vec<(String, TypingState)> = started
                    .map(|u| (u.clone(), TypingState::Active))
                    .chain(stopped.map(|u| (u.clone(), TypingState::Inactive)))
                    .collect();
                for (user, state) in changes {
                    let author = UserId::from(user.as_str());
                    let target = target.clone();
                    self.emit(Event::Typing {
                        target,
                        author,
                        state,
                    })
                    .await;
                }
            }
            "m.receipt" => {
                let receipts: Vec<(String, String)> = read_receipts(&event.content)
                    .into_iter()
                    .filter(|(_, reader)| shown(reader))
                    .map(|(e, r)| (e.to_owned(), r.to_owned()))
                    .collect();
                for (message, reader) in receipts {
                    self.emit(Event::ReadUpTo {
                        target: target.clone(),
                        author: UserId::from(reader.as_str()),
                        message: MessageId::from(message.as_str()),
                    })
                    .await;
                }
            }
            _ => {}
        }
    }

    /// Tells a room the user types, or no longer does.
    pub(crate) async fn typing(
        &mut self,
        target: &Target,
        state: TypingState,
    ) -> Result<(), (ErrorKind, String)> {
        let room_id = self.conversation_room(target)?;
        let body = match state {
            TypingState::Active => json!({"typing": true, "timeout": TYPING_FOR.as_millis()}),
            TypingState::Paused | TypingState::Inactive => json!({"typing": false}),
        };
        let url = self
            .client
            .v3(&["rooms", &room_id, "typing", &self.own], &[]);
        self.client
            .call::<Value>(Method::PUT, url, Some(&body), TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e))
    }

    /// Marks a room read up to a message (a public receipt).
    pub(crate) async fn mark_read(
        &mut self,
        target: &Target,
        message: &MessageId,
    ) -> Result<(), (ErrorKind, String)> {
        let room_id = self.conversation_room(target)?;
        let url = self.client.v3(
            &["rooms", &room_id, "receipt", "m.read", message.as_str()],
            &[],
        );
        self.client
            .call::<Value>(Method::POST, url, Some(&json!({})), TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|e| refusal(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_receipts_and_typing_lists_are_read() {
        let content = json!({
            "$a": {"m.read": {"@b:hs": {"ts": 1}, "@c:hs": {"ts": 2}},
                   "m.read.private": {"@d:hs": {"ts": 3}}},
            "$b": {"m.read.private": {"@e:hs": {"ts": 4}}}
        });
        let mut read = read_receipts(&content);
        read.sort();
        assert_eq!(read, vec![("$a", "@b:hs"), ("$a", "@c:hs")]);
        assert!(read_receipts(&json!([])).is_empty());
        assert_eq!(
            typing_users(&json!({"user_ids": ["@b:hs", 7]})),
            vec!["@b:hs".to_owned()]
        );
    }
}
