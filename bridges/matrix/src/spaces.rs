//! Spaces: rooms whose `m.room.create` says `type: m.space` are groups of
//! rooms, not group chats. The session does not announce them as rooms;
//! `ListRooms` with no `within` lists the user's joined spaces (as
//! groups), and `ListRooms` `within` a space lists its children, one level
//! of `GET /_matrix/client/v1/rooms/{id}/hierarchy` a page at a time (its
//! `next_batch` is the listing's cursor). A child the user is in is listed
//! under the id the core knows it by; others by room id, which a join
//! takes. A space seen is saved as state (`space.!id` = its name), so a
//! resumed sync (which repeats no unchanged state) still knows it.

use serde::Deserialize;
use switchboard_bridge_api::{Event, RoomId, RoomListing};
use tracing::warn;

use crate::commands::TIMEOUT;
use crate::session::Session;

/// The prefix of the state keys of the spaces the user is in.
pub(crate) const SPACE_PREFIX: &str = "space.";

/// One page of a space's hierarchy: the fields read.
#[derive(Debug, Deserialize)]
struct Hierarchy {
    #[serde(default)]
    rooms: Vec<ChildRoom>,
    next_batch: Option<String>,
}

/// A room of a space's hierarchy.
#[derive(Debug, Deserialize)]
struct ChildRoom {
    room_id: String,
    name: Option<String>,
    canonical_alias: Option<String>,
    topic: Option<String>,
    num_joined_members: Option<u64>,
    room_type: Option<String>,
}

/// Whether an `m.room.create` content makes a space.
pub(crate) fn is_space(create: &serde_json::Value) -> bool {
    crate::api::text_field(create, "type") == Some("m.space")
}

impl Session {
    /// The spaces saved by an earlier session.
    pub(crate) fn restore_spaces(&mut self, state: &std::collections::BTreeMap<String, String>) {
        for (key, name) in state {
            let Some(room_id) = key.strip_prefix(SPACE_PREFIX) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let room = self.rooms.entry(room_id.to_owned()).or_default();
            room.space = true;
            room.saved_space = true;
            room.name.get_or_insert_with(|| name.clone());
        }
    }

    /// Saves a space first seen (with its name), or forgets a space left
    /// (`None`).
    pub(crate) async fn save_space(&mut self, room_id: &str, name: Option<String>) {
        self.emit(Event::SaveState {
            key: format!("{SPACE_PREFIX}{room_id}"),
            value: name.unwrap_or_default(),
            secret: false,
        })
        .await;
    }

    /// Answers `ListRooms`: the joined spaces, or one space's rooms.
    pub(crate) async fn list_rooms(
        &mut self,
        token: String,
        within: Option<RoomId>,
        after: Option<String>,
        limit: usize,
    ) {
        let (rooms, next) = match within {
            None => (self.joined_spaces(), None),
            Some(space) => self.children(&space, after, limit).await,
        };
        self.emit(Event::RoomList { token, rooms, next }).await;
    }

    /// The spaces the user is in, by name.
    fn joined_spaces(&self) -> Vec<RoomListing> {
        let mut spaces: Vec<RoomListing> = self
            .rooms
            .iter()
            .filter(|(_, room)| room.space)
            .map(|(id, room)| RoomListing {
                room: self.core_id(id),
                name: room.display_name(id, &self.own),
                members: None,
                topic: room.topic.clone(),
                group: true,
            })
            .collect();
        spaces.sort_by(|a, b| a.name.cmp(&b.name).then(a.room.cmp(&b.room)));
        spaces
    }

    /// A page of a space's children (the space itself left out); an
    /// empty page when the server refuses.
    async fn children(
        &mut self,
        space: &RoomId,
        after: Option<String>,
        limit: usize,
    ) -> (Vec<RoomListing>, Option<String>) {
        let space_id = self.room_id_of(space).unwrap_or_else(|| space.0.clone());
        let limit = limit.clamp(1, 100).to_string();
        let mut query = vec![("max_depth", "1"), ("limit", limit.as_str())];
        if let Some(from) = after.as_deref() {
            query.push(("from", from));
        }
        let url = self.client.url(
            &["_matrix", "client", "v1", "rooms", &space_id, "hierarchy"],
            &query,
        );
        let page: Hierarchy = match self.client.get(url, TIMEOUT).await {
            Ok(page) => page,
            Err(e) => {
                warn!(error = %e, "cannot read a Matrix space's rooms");
                return (Vec::new(), None);
            }
        };
        let rooms = page
            .rooms
            .into_iter()
            .filter(|r| r.room_id != space_id)
            .map(|r| {
                let joined = self.rooms.get(&r.room_id).is_some_and(|j| j.announced);
                let room = if joined {
                    self.core_id(&r.room_id)
                } else {
                    RoomId::from(r.room_id.as_str())
                };
                RoomListing {
                    name: r
                        .name
                        .or(r.canonical_alias)
                        .unwrap_or_else(|| r.room_id.clone()),
                    room,
                    members: r.num_joined_members,
                    topic: r.topic,
                    group: r.room_type.as_deref() == Some("m.space"),
                }
            })
            .collect();
        (rooms, page.next_batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_space_is_a_room_created_with_the_space_type() {
        assert!(is_space(&json!({"type": "m.space", "room_version": "10"})));
        assert!(!is_space(&json!({"room_version": "10"})));
        assert!(!is_space(&json!({"type": "org.example.other"})));
    }

    #[test]
    fn a_hierarchy_page_reads_its_rooms_and_cursor() {
        let page: Hierarchy = serde_json::from_value(json!({
            "rooms": [
                {"room_id": "!s:hs", "room_type": "m.space", "children_state": []},
                {"room_id": "!r:hs", "name": "Rust", "num_joined_members": 3,
                 "world_readable": false, "guest_can_join": false}
            ],
            "next_batch": "b1"
        }))
        .unwrap();
        assert_eq!(page.rooms.len(), 2);
        assert_eq!(page.rooms[1].name.as_deref(), Some("Rust"));
        assert_eq!(page.next_batch.as_deref(), Some("b1"));
    }
}
