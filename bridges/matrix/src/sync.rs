//! A sync's answer turned into the contract's events, room by room: a room
//! the core was not told of is announced (`RoomJoined`, the members seen,
//! the topic), then its state changes and its new messages, in order. A
//! gap (a limited timeline) is filled (`gap.rs`). A room just joined by the
//! core's command shows nothing from before the user's own join; a room
//! the first answer of a registration (or a sliding sync room sent whole
//! with nothing delivered from it yet) shows its state, not its history.
//! The rooms' last delivered events and the position are saved last.

use std::collections::HashSet;
use std::time::Duration;

use switchboard_bridge_api::{Event, LeaveReason, RoomId, UserId};
use tracing::{debug, info};

use crate::api::{JoinedMembers, JoinedRoom, LeftRoom, RoomEvent, SyncResponse};
use crate::messages::message_of;
use crate::rooms::{member, MemberChange};
use crate::session::{Session, POS, SINCE};
use crate::sliding::Batch;

/// A room joined by command with at most this many members shows them
/// all at once (`/joined_members`, about 70 bytes a member); a bigger
/// one shows its members as they are seen (lazily), so that joining it
/// costs the same whatever its size.
pub(crate) const SMALL_ROOM: u64 = 50;

impl Session {
    /// Emits what a sync brought, then saves its position: a sliding
    /// sync's `pos`, or a `/sync`'s `since` (the last `/sync` of a session
    /// upgraded to sliding sync clears it instead).
    pub(crate) async fn synced(&mut self, batch: Batch) {
        let Batch {
            response,
            initial: sent_whole,
            sliding,
            ..
        } = batch;
        let first = !sliding && self.since.is_none();
        let SyncResponse {
            next_batch,
            mut rooms,
            account_data,
        } = response;
        // `m.direct` first: it says which of the rooms are direct chats.
        self.account_data(&account_data.events);
        if sliding {
            // Typing or receipts alone do not make a room known.
            rooms.join.retain(|id, room| {
                self.rooms.contains_key(id)
                    || !room.state.events.is_empty()
                    || !room.timeline.events.is_empty()
            });
        }
        let joined = rooms.join.len();
        for (room_id, room) in rooms.join {
            // A sliding sync room sent whole is history, unless the
            // session delivered from it before (its news is bounded by
            // that) or a connection already open sends it for a join by
            // command (news after the user's own join) or an accepted
            // invitation (news after it).
            let initial = if sliding {
                let joining = self
                    .rooms
                    .get(&room_id)
                    .is_some_and(|r| r.joining || r.invited);
                sent_whole.contains(&room_id)
                    && !self.delivered.contains_key(&room_id)
                    && (self.pos.is_none() || !joining)
            } else {
                first
            };
            let newest = room.timeline.events.last().map(|e| e.event_id.clone());
            if self.is_direct_room(&room_id) {
                self.direct_synced(&room_id, room, initial, sliding).await;
            } else {
                self.joined_room(&room_id, room, initial, sliding).await;
            }
            if self.rooms.contains_key(&room_id) {
                self.delivered_up_to(&room_id, newest);
            }
        }
        for (room_id, room) in rooms.leave {
            self.direct_left(&room_id).await;
            self.left_room(&room_id, room).await;
        }
        for (room_id, room) in rooms.invite {
            self.invite(&room_id, room).await;
        }
        if first || (sliding && self.pos.is_none()) {
            info!(
                bytes = self.client.received(),
                rooms = joined,
                "Matrix initial sync done"
            );
        }
        if self.sliding {
            self.save_delivered().await;
        }
        let (key, value) = if sliding {
            self.pos = Some(next_batch.clone());
            (POS, next_batch)
        } else if self.sliding {
            // The last `/sync` of an upgrade: from now on, sliding sync.
            self.since = None;
            (SINCE, String::new())
        } else {
            self.since = Some(next_batch.clone());
            (SINCE, next_batch)
        };
        self.emit(Event::SaveState {
            key: key.into(),
            value,
            secret: false,
        })
        .await;
    }

    /// The id the core knows a room by.
    pub(crate) fn core_id(&self, room_id: &str) -> RoomId {
        self.rooms
            .get(room_id)
            .and_then(|r| r.core_id.clone())
            .unwrap_or_else(|| RoomId::from(room_id))
    }

    /// A joined room's news. On the first sync of a registration its
    /// messages are history, not news: only its state is taken.
    async fn joined_room(
        &mut self,
        room_id: &str,
        joined: JoinedRoom,
        initial: bool,
        sliding: bool,
    ) {
        let JoinedRoom {
            summary,
            state,
            timeline,
            ephemeral,
        } = joined;
        self.note_avatars(state.events.iter().chain(&timeline.events))
            .await;
        let room = self.rooms.entry(room_id.to_owned()).or_default();
        let small = summary.joined.is_some_and(|n| n <= SMALL_ROOM);
        if !summary.heroes.is_empty() {
            room.heroes = summary.heroes;
        }
        let announced = room.announced;
        let joining = std::mem::take(&mut room.joining);
        let mut changes = Vec::new();
        for event in &state.events {
            let change = room.apply_state(event);
            if announced {
                changes.push((event.state_key.clone().unwrap_or_default(), change));
            }
        }
        // A space is a group of rooms (`spaces.rs`), not a group chat:
        // its state is kept, nothing of it is announced.
        if !announced {
            for event in timeline.events.iter().filter(|e| e.kind == "m.room.create") {
                room.apply_state(event);
            }
            if room.space {
                // Its name and the rest, where a young space's timeline holds them.
                for event in timeline.events.iter().filter(|e| e.state_key.is_some()) {
                    room.apply_state(event);
                }
                if !room.saved_space {
                    room.saved_space = true;
                    let name = room.display_name(room_id, &self.own);
                    self.save_space(room_id, Some(name)).await;
                }
                return;
            }
        }
        if !announced {
            if joining && small {
                self.load_members(room_id).await;
            }
            self.announce(room_id, None).await;
        }
        for (user, change) in changes {
            self.member_change(room_id, &user, change).await;
        }
        if initial {
            for event in timeline.events.iter().filter(|e| e.state_key.is_some()) {
                if let Some(room) = self.rooms.get_mut(room_id) {
                    room.apply_state(event);
                }
            }
            return;
        }
        let news = self.news(room_id, timeline, joining, false, sliding).await;
        for event in news {
            self.timeline_event(room_id, event).await;
        }
        for event in ephemeral.events {
            self.ephemeral_event(room_id, event).await;
        }
    }

    /// Drops the events up to and including the user's last own join,
    /// taking their state (the core is told of the members it added);
    /// says whether there was one.
    pub(crate) async fn skip_past(&mut self, room_id: &str, events: &mut Vec<RoomEvent>) -> bool {
        let Some(at) = events.iter().rposition(|e| is_join_of(e, &self.own)) else {
            return false;
        };
        let past: Vec<RoomEvent> = events.drain(..=at).collect();
        let Some(room) = self.rooms.get_mut(room_id) else {
            return true;
        };
        let before: HashSet<String> = room.members.keys().cloned().collect();
        for event in past.iter().filter(|e| e.state_key.is_some()) {
            room.apply_state(event);
        }
        let mut joined: Vec<(String, String)> = room
            .members
            .iter()
            .filter(|(user, _)| !before.contains(*user))
            .map(|(user, nick)| (user.clone(), nick.clone()))
            .collect();
        joined.sort();
        for (user, nick) in joined {
            self.member_change(room_id, &user, MemberChange::Joined(nick))
                .await;
        }
        debug!(
            events = past.len(),
            "Matrix history before the join skipped"
        );
        true
    }

    /// A small room's joined members, all of them (a failure leaves the
    /// members seen so far).
    async fn load_members(&mut self, room_id: &str) {
        let url = self.client.v3(&["rooms", room_id, "joined_members"], &[]);
        let members = match self
            .client
            .get::<JoinedMembers>(url, Duration::from_secs(30))
            .await
        {
            Ok(members) => members,
            Err(e) => {
                debug!(error = %e, "cannot read a room's members");
                return;
            }
        };
        if let Some(room) = self.rooms.get_mut(room_id) {
            for (user, profile) in &members.joined {
                room.add_member(user, profile.display_name.as_deref());
            }
        }
    }

    /// One timeline event: a state change or a message.
    async fn timeline_event(&mut self, room_id: &str, event: RoomEvent) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        if event.state_key.is_some() {
            let user = event.state_key.clone().unwrap_or_default();
            let topic_before = room.topic.clone();
            let change = room.apply_state(&event);
            let topic = (room.topic != topic_before).then(|| room.topic.clone());
            self.member_change(room_id, &user, change).await;
            if let Some(topic) = topic {
                let room = self.core_id(room_id);
                let by = Some(event.sender.clone());
                let topic = topic.unwrap_or_default();
                self.emit(Event::Topic { room, topic, by }).await;
            }
            return;
        }
        // A sender the lazy members did not bring is a member first.
        if !event.sender.is_empty() && !room.members.contains_key(&event.sender) {
            let nick = room.nick_of(&event.sender).to_owned();
            room.members.insert(event.sender.clone(), nick);
            let change = MemberChange::Joined(room.nick_of(&event.sender).to_owned());
            self.member_change(room_id, &event.sender.clone(), change)
                .await;
        }
        if self.relation_event(room_id, &event).await {
            return;
        }
        let core = self.core_id(room_id);
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        if let Some(mut message) = message_of(&event, room, core, &self.own, self.client.base()) {
            self.sent_files.restore(&mut message);
            self.emit(Event::Message(message)).await;
        }
    }

    /// Tells the core of a member's change.
    async fn member_change(&mut self, room_id: &str, user: &str, change: MemberChange) {
        let room = self.core_id(room_id);
        let own = user == self.own;
        let event = match change {
            MemberChange::None => return,
            MemberChange::Joined(nick) => Event::MemberJoined {
                room,
                member: match self.rooms.get(room_id) {
                    Some(r) => r.member(user, &nick),
                    None => member(user, &nick),
                },
            },
            MemberChange::Roles(members) => {
                for member in members {
                    let room = room.clone();
                    self.emit(Event::MemberChanged { room, member }).await;
                }
                return;
            }
            MemberChange::Renamed(new_nick) => Event::MemberRenamed {
                room: Some(room),
                user: UserId::from(user),
                new_user: None,
                new_nick,
                own,
            },
            MemberChange::Left(reason) => {
                if own {
                    self.forget(room_id);
                    Event::RoomLeft { room, reason }
                } else {
                    Event::MemberLeft {
                        room,
                        user: UserId::from(user),
                        reason,
                    }
                }
            }
        };
        self.emit(event).await;
    }

    /// A room the user left, was kicked or banned from (elsewhere).
    async fn left_room(&mut self, room_id: &str, left: LeftRoom) {
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        if !room.announced {
            let space = room.space;
            self.forget(room_id);
            if space {
                self.save_space(room_id, None).await;
            }
            return;
        }
        let own = self.own.clone();
        let mut reason = LeaveReason::Part(None);
        for event in left.state.events.iter().chain(&left.timeline.events) {
            if event.state_key.as_deref() == Some(own.as_str()) {
                if let MemberChange::Left(why) = room.apply_state(event) {
                    reason = why;
                }
            }
        }
        let core = self.core_id(room_id);
        self.forget(room_id);
        self.emit(Event::RoomLeft { room: core, reason }).await;
    }

    /// Tells the core the user is in a room: its name, the user's nick
    /// (`nick_changed` when it differs from the one asked for), the members
    /// seen so far with the user among them, its topic.
    pub(crate) async fn announce(&mut self, room_id: &str, asked_nick: Option<&str>) {
        let own = self.own.clone();
        let core = self.core_id(room_id);
        let Some(room) = self.rooms.get_mut(room_id) else {
            return;
        };
        room.announced = true;
        let asked_nick = asked_nick.map(str::to_owned).or(room.asked_nick.take());
        let own_nick = room.nick_of(&own).to_owned();
        room.members.insert(own.clone(), own_nick.clone());
        let name = room.display_name(room_id, &own);
        let members = room.member_list();
        let topic = room.topic.clone();
        let encrypted = room.encrypted;
        self.emit(Event::RoomJoined {
            room: core.clone(),
            name,
            own_user: UserId::from(own.as_str()),
            nick_changed: asked_nick.is_some_and(|n| n != own_nick),
            own_nick,
        })
        .await;
        self.emit(Event::Members {
            room: core.clone(),
            members,
            complete: true,
        })
        .await;
        if let Some(topic) = topic {
            self.emit(Event::Topic {
                room: core.clone(),
                topic,
                by: None,
            })
            .await;
        }
        if encrypted {
            self.emit(encrypted_notice(core)).await;
        }
    }

    /// Drops what the session knows of a room.
    pub(crate) fn forget(&mut self, room_id: &str) {
        if self.delivered.remove(room_id).is_some() {
            self.delivered_changed.insert(room_id.to_owned());
        }
        if let Some(room) = self.rooms.remove(room_id) {
            if let Some(alias) = room.core_id {
                self.by_alias.remove(&alias);
            }
        }
    }
}

/// Whether an event is `user` joining (not a member already changing
/// their display name).
pub(crate) fn is_join_of(event: &RoomEvent, user: &str) -> bool {
    let membership =
        |content: &serde_json::Value| crate::api::text_field(content, "membership") == Some("join");
    event.kind == "m.room.member"
        && event.state_key.as_deref() == Some(user)
        && membership(&event.content)
        && !event.unsigned.prev_content.as_ref().is_some_and(membership)
}

/// The notice that a room's messages cannot be read here, said once per join.
fn encrypted_notice(room: RoomId) -> Event {
    Event::Notice {
        text: format!("{room} is end-to-end encrypted: Switchboard cannot read its messages yet."),
        server: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(user: &str, membership: &str, prev: Option<&str>) -> RoomEvent {
        let mut event = json!({
            "type": "m.room.member", "sender": user, "state_key": user,
            "content": {"membership": membership}, "event_id": "$m"
        });
        if let Some(prev) = prev {
            event["unsigned"] = json!({"prev_content": {"membership": prev}});
        }
        serde_json::from_value(event).unwrap()
    }

    #[test]
    fn a_join_is_a_membership_that_was_not_join_before() {
        assert!(is_join_of(&member("@me:hs", "join", None), "@me:hs"));
        assert!(is_join_of(
            &member("@me:hs", "join", Some("leave")),
            "@me:hs"
        ));
        assert!(!is_join_of(
            &member("@me:hs", "join", Some("join")),
            "@me:hs"
        ));
        assert!(!is_join_of(&member("@bob:hs", "join", None), "@me:hs"));
        assert!(!is_join_of(&member("@me:hs", "leave", None), "@me:hs"));
    }
}
