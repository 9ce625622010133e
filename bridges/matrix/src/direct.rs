//! Direct chats: rooms the account data's `m.direct` lists (or that an
//! invitation marked `is_direct`) are conversations with one person, shown
//! as that person's contact (`Target::User`), never as group chats.
//!
//! Which room is the chat with whom is kept both ways; a DM room the
//! session has seen joined is saved as state (`dm.!room` = `@peer`), so
//! a resumed sync (which repeats no account data) still knows it. A
//! message to a person with no such room creates one (`POST /createRoom`
//! with `is_direct`, the person invited, preset `trusted_private_chat`) and
//! adds it to `m.direct`, as Matrix clients do; later messages reuse it.
//!
//! Only the person and the user speak in a direct chat: events from
//! anyone else in the room are not shown (they would appear as the
//! person's). In a direct chat, messages, edits, redactions, reactions, typing and
//! read receipts go both ways, as in rooms (their events carry the
//! person as `Target::User`: [`Session::target_of`]).

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_bridge_api::{ErrorKind, Event, Target, UserId};
use tracing::{debug, info};

use crate::api::{JoinedRoom, RoomEvent};
use crate::commands::{not_joined, refusal, TIMEOUT};
use crate::messages::message_of;
use crate::session::Session;

/// The prefix of the state keys that name a joined direct room's person.
pub(crate) const DM_PREFIX: &str = "dm.";

/// The session's direct rooms and the people they are with.
#[derive(Debug, Default)]
pub(crate) struct Direct {
    /// Every direct room `m.direct` (or an invitation) names → its person.
    peer_by_room: HashMap<String, String>,
    /// The joined direct room of each person (the newest seen).
    room_by_peer: HashMap<String, String>,
    /// People the core was told of as contacts in this session.
    contacts: HashSet<String>,
}

impl Direct {
    /// The person a direct room is with, if it is one.
    pub fn peer_of(&self, room: &str) -> Option<&str> {
        self.peer_by_room.get(room).map(String::as_str)
    }

    /// The joined direct room with `peer`, if any.
    pub fn room_with(&self, peer: &str) -> Option<&str> {
        self.room_by_peer.get(peer).map(String::as_str)
    }

    /// Notes that `room` is a direct room with `peer`.
    pub fn note(&mut self, room: &str, peer: &str) {
        self.peer_by_room.insert(room.to_owned(), peer.to_owned());
    }

    /// Notes `room` as the joined direct room with `peer`; whether that is
    /// news (to be saved).
    pub fn joined(&mut self, room: &str, peer: &str) -> bool {
        self.note(room, peer);
        self.room_by_peer.insert(peer.to_owned(), room.to_owned()) != Some(room.to_owned())
    }

    /// Forgets a room the user left; whether it was a joined direct room.
    pub fn left(&mut self, room: &str) -> bool {
        let Some(peer) = self.peer_by_room.get(room) else {
            return false;
        };
        if self.room_by_peer.get(peer).map(String::as_str) == Some(room) {
            self.room_by_peer.remove(peer);
            return true;
        }
        false
    }

    /// Takes an `m.direct` content: `{"@peer:hs": ["!room", …], …}`.
    pub fn read_account_data(&mut self, content: &Value) {
        let Some(people) = content.as_object() else {
            return;
        };
        for (peer, rooms) in people {
            for room in rooms.as_array().into_iter().flatten() {
                if let Some(room) = room.as_str() {
                    self.note(room, peer);
                }
            }
        }
    }

    /// Takes the saved `dm.!room` = `@peer` state of an earlier session.
    pub fn restore<'a>(&mut self, state: impl IntoIterator<Item = (&'a String, &'a String)>) {
        for (key, peer) in state {
            if let Some(room) = key.strip_prefix(DM_PREFIX) {
                if !peer.is_empty() {
                    self.joined(room, peer);
                }
            }
        }
    }

    /// `peer` is no contact any more: a new chat tells them again.
    pub fn forget_contact(&mut self, peer: &str) {
        self.contacts.remove(peer);
    }

    /// Whether `peer` is a contact the core has not been told of yet (and
    /// from now on, has).
    pub fn is_new_contact(&mut self, peer: &str) -> bool {
        self.contacts.insert(peer.to_owned())
    }
}

/// `m.direct` with `room` added under `peer` (once).
fn with_room(mut content: Value, peer: &str, room: &str) -> Value {
    if !content.is_object() {
        content = json!({});
    }
    let rooms = content
        .as_object_mut()
        .expect("made an object above")
        .entry(peer)
        .or_insert_with(|| json!([]));
    if !rooms.is_array() {
        *rooms = json!([]);
    }
    let list = rooms.as_array_mut().expect("made an array above");
    if !list.iter().any(|r| r.as_str() == Some(room)) {
        list.push(json!(room));
    }
    content
}

/// `m.direct` without `rooms`, under whichever person lists them; a
/// person left with no room is dropped, everything else kept as it was.
fn without_rooms(mut content: Value, rooms: &[String]) -> Value {
    let Some(people) = content.as_object_mut() else {
        return content;
    };
    for list in people.values_mut().filter_map(Value::as_array_mut) {
        list.retain(|r| !r.as_str().is_some_and(|r| rooms.iter().any(|g| g == r)));
    }
    people.retain(|_, list| list.as_array().is_none_or(|l| !l.is_empty()));
    content
}

/// Whether a user id is well formed enough to invite (`@local:server`).
fn is_user_id(id: &str) -> bool {
    id.strip_prefix('@')
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(local, server)| !local.is_empty() && !server.is_empty())
}

impl Session {
    /// The account data a sync brought: `m.direct` read.
    pub(crate) fn account_data(&mut self, events: &[RoomEvent]) {
        for event in events.iter().filter(|e| e.kind == "m.direct") {
            self.direct.read_account_data(&event.content);
        }
    }

    /// The conversation a room's events belong to: the person of a direct
    /// chat, else the room.
    pub(crate) fn target_of(&self, room_id: &str) -> Target {
        match self.direct.peer_of(room_id) {
            Some(peer) if self.is_direct_room(room_id) => Target::User(UserId::from(peer)),
            _ => Target::Room(self.core_id(room_id)),
        }
    }

    /// The joined room of a conversation: a room's, or the direct room
    /// with a person (none is made here: only a message makes one).
    pub(crate) fn conversation_room(&self, target: &Target) -> Result<String, (ErrorKind, String)> {
        match target {
            Target::Room(room) => self.room_id_of(room).ok_or_else(not_joined),
            Target::User(peer) => self
                .direct
                .room_with(peer.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    let text = format!("You have no direct chat with {peer} on Matrix yet.");
                    (ErrorKind::NotFound, text)
                }),
        }
    }

    /// Whether a joined room's news belong to a direct chat: a direct room
    /// the core has not joined as a group chat.
    pub(crate) fn is_direct_room(&self, room_id: &str) -> bool {
        self.direct.peer_of(room_id).is_some()
            && !self.rooms.get(room_id).is_some_and(|r| r.announced)
    }

    /// A direct room's news: its person as a contact (once), its messages
    /// from and to that contact. The first sync of a registration shows
    /// no messages (they are history), as in rooms.
    pub(crate) async fn direct_synced(
        &mut self,
        room_id: &str,
        joined: JoinedRoom,
        initial: bool,
        sliding: bool,
    ) {
        let Some(peer) = self.direct.peer_of(room_id).map(str::to_owned) else {
            return;
        };
        if self.direct.joined(room_id, &peer) {
            self.save_direct(room_id, &peer).await;
        }
        let JoinedRoom {
            state,
            timeline,
            ephemeral,
            ..
        } = joined;
        self.note_avatars(state.events.iter().chain(&timeline.events))
            .await;
        let room = self.rooms.entry(room_id.to_owned()).or_default();
        let invited = std::mem::take(&mut room.invited);
        for event in state.events.iter().chain(&timeline.events) {
            if event.state_key.is_some() {
                room.apply_state(event);
            }
        }
        if self.direct.is_new_contact(&peer) {
            let name = room.nick_of(&peer).to_owned();
            let user = UserId::from(peer.as_str());
            self.emit(Event::ContactAdded { user, name }).await;
        }
        if initial {
            return;
        }
        let news = self.news(room_id, timeline, false, invited, sliding).await;
        let core = self.core_id(room_id);
        for event in news {
            // The contact stands for the person: what anyone else says in
            // the room (a third member) is not shown as theirs.
            if event.sender != peer && event.sender != self.own {
                if event.state_key.is_none() {
                    debug!("a direct room's event from a third person; not shown");
                }
                continue;
            }
            // Edits, reactions, redactions: to the contact (`target_of`).
            if self.relation_event(room_id, &event).await {
                continue;
            }
            let Some(room) = self.rooms.get(room_id) else {
                return;
            };
            // Messages only: a member event is no news for a contact.
            let Some(mut message) =
                message_of(&event, room, core.clone(), &self.own, self.client.base())
            else {
                continue;
            };
            message.target = Target::User(UserId::from(peer.as_str()));
            self.sent_files.restore(&mut message);
            self.emit(Event::Message(message)).await;
        }
        for event in ephemeral.events {
            self.ephemeral_event(room_id, event).await;
        }
    }

    /// A room the user left: no longer a direct chat to write to.
    pub(crate) async fn direct_left(&mut self, room_id: &str) {
        if self.direct.left(room_id) {
            self.save_direct(room_id, "").await;
        }
    }

    /// The user removed the person from their contacts: each joined
    /// direct room with them is left and taken out of `m.direct` (so the
    /// chat does not come back on the next start, nor in the account's
    /// other clients), and they are no contact until a new chat.
    pub(crate) async fn remove_contact(&mut self, peer: &str) {
        let mut rooms: Vec<String> = self
            .rooms
            .iter()
            .filter(|(id, room)| !room.announced && self.direct.peer_of(id) == Some(peer))
            .map(|(id, _)| id.clone())
            .collect();
        rooms.extend(self.direct.room_with(peer).map(str::to_owned));
        rooms.sort();
        rooms.dedup();
        for room_id in &rooms {
            let url = self.client.v3(&["rooms", room_id, "leave"], &[]);
            let left: Result<Value, _> = self
                .client
                .call(Method::POST, url, Some(&json!({})), TIMEOUT)
                .await;
            match left {
                Ok(_) => info!("Matrix direct room left: the contact was removed"),
                Err(e) => debug!(error = %e, "leaving a direct room failed"),
            }
            self.direct_left(room_id).await;
            self.rooms.remove(room_id);
        }
        // Other clients of the account would still list the chat.
        if !rooms.is_empty() {
            self.update_m_direct(|content| without_rooms(content, &rooms))
                .await;
        }
        self.direct.forget_contact(peer);
    }

    /// Saves (or, with no person, clears) a joined direct room.
    async fn save_direct(&mut self, room_id: &str, peer: &str) {
        self.emit(Event::SaveState {
            key: format!("{DM_PREFIX}{room_id}"),
            value: peer.to_owned(),
            secret: false,
        })
        .await;
    }

    /// The direct room with `peer` to send in: the joined one, or a new one.
    pub(crate) async fn direct_room(&mut self, peer: &str) -> Result<String, (ErrorKind, String)> {
        if let Some(room) = self.direct.room_with(peer) {
            return Ok(room.to_owned());
        }
        if !is_user_id(peer) || peer == self.own {
            return Err((
                ErrorKind::NotFound,
                format!("{peer} is not a Matrix user id (@name:server)."),
            ));
        }
        let body = json!({
            "is_direct": true,
            "invite": [peer],
            "preset": "trusted_private_chat",
        });
        let url = self.client.v3(&["createRoom"], &[]);
        let created: Value = self
            .client
            .call(Method::POST, url, Some(&body), TIMEOUT)
            .await
            .map_err(|e| refusal(&e))?;
        let Some(room_id) = created.get("room_id").and_then(Value::as_str) else {
            return Err((
                ErrorKind::Other,
                "the homeserver made no room for the chat".into(),
            ));
        };
        let room_id = room_id.to_owned();
        info!("Matrix direct room created");
        self.direct.joined(&room_id, peer);
        self.save_direct(&room_id, peer).await;
        self.add_to_m_direct(peer, &room_id).await;
        Ok(room_id)
    }

    /// Lists a direct room in the account's `m.direct`, as Matrix
    /// clients do.
    pub(crate) async fn add_to_m_direct(&mut self, peer: &str, room_id: &str) {
        self.update_m_direct(|content| with_room(content, peer, room_id))
            .await;
    }

    /// Changes the account's `m.direct`: read afresh (so that what other
    /// clients wrote stays), changed by `change`, written back.
    async fn update_m_direct(&mut self, change: impl FnOnce(Value) -> Value) {
        let own = self.own.clone();
        let url = self
            .client
            .v3(&["user", &own, "account_data", "m.direct"], &[]);
        let current = match self.client.get::<Value>(url.clone(), TIMEOUT).await {
            Ok(content) => content,
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => json!({}),
            Err(e) => {
                debug!(error = %e, "cannot read m.direct; not updated");
                return;
            }
        };
        let content = change(current);
        let put: Result<Value, _> = self
            .client
            .call(Method::PUT, url, Some(&content), TIMEOUT)
            .await;
        if let Err(e) = put {
            debug!(error = %e, "cannot update m.direct");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m_direct_names_the_person_of_each_room() {
        let mut direct = Direct::default();
        direct.read_account_data(&json!({
            "@bob:hs": ["!a:hs", "!b:hs"], "@carol:hs": ["!c:hs"], "@odd:hs": "x"
        }));
        assert_eq!(direct.peer_of("!b:hs"), Some("@bob:hs"));
        assert_eq!(direct.peer_of("!c:hs"), Some("@carol:hs"));
        assert_eq!(direct.peer_of("!z:hs"), None);
        // Listed is not joined: nothing to write to yet.
        assert_eq!(direct.room_with("@bob:hs"), None);
        assert!(direct.joined("!b:hs", "@bob:hs"));
        assert!(!direct.joined("!b:hs", "@bob:hs"));
        assert_eq!(direct.room_with("@bob:hs"), Some("!b:hs"));
        assert!(!direct.left("!a:hs"));
        assert!(direct.left("!b:hs"));
        assert_eq!(direct.room_with("@bob:hs"), None);
    }

    #[test]
    fn saved_state_restores_joined_direct_rooms() {
        let state = [
            ("dm.!a:hs".to_owned(), "@bob:hs".to_owned()),
            ("dm.!gone:hs".to_owned(), String::new()),
            ("room.!r:hs".to_owned(), "#r:hs".to_owned()),
        ];
        let mut direct = Direct::default();
        direct.restore(state.iter().map(|(k, v)| (k, v)));
        assert_eq!(direct.room_with("@bob:hs"), Some("!a:hs"));
        assert_eq!(direct.peer_of("!gone:hs"), None);
        assert_eq!(direct.peer_of("!r:hs"), None);
    }

    #[test]
    fn a_new_room_is_added_to_m_direct_once_keeping_the_rest() {
        let before = json!({"@carol:hs": ["!c:hs"], "@bob:hs": ["!old:hs"]});
        let after = with_room(before, "@bob:hs", "!new:hs");
        assert_eq!(
            after,
            json!({"@carol:hs": ["!c:hs"], "@bob:hs": ["!old:hs", "!new:hs"]})
        );
        assert_eq!(with_room(after.clone(), "@bob:hs", "!new:hs"), after);
        assert_eq!(
            with_room(json!(null), "@bob:hs", "!n:hs"),
            json!({"@bob:hs": ["!n:hs"]})
        );
    }

    #[test]
    fn a_left_room_leaves_m_direct_keeping_the_rest() {
        let before = json!({
            "@bob:hs": ["!old:hs", "!dm:hs"], "@carol:hs": ["!c:hs"], "@dan:hs": ["!dm:hs"],
            "@odd:hs": "x"
        });
        let after = without_rooms(before, &["!dm:hs".to_owned()]);
        assert_eq!(
            after,
            json!({"@bob:hs": ["!old:hs"], "@carol:hs": ["!c:hs"], "@odd:hs": "x"})
        );
        assert_eq!(without_rooms(json!(null), &[]), json!(null));
    }

    #[test]
    fn only_user_ids_are_invited() {
        assert!(is_user_id("@bob:hs.example"));
        assert!(!is_user_id("bob"));
        assert!(!is_user_id("@bob"));
        assert!(!is_user_id("!room:hs"));
        assert!(!is_user_id("@:hs"));
    }
}
