//! Spaces: rooms whose `m.room.create` says `type: m.space` are groups of
//! rooms, not group chats. The session does not announce them as rooms;
//! `ListRooms` with no `within` lists the user's joined spaces (as
//! groups), and `ListRooms` `within` a space lists its children, one level
//! of `GET /_matrix/client/v1/rooms/{id}/hierarchy` a page at a time (its
//! `next_batch` is the listing's cursor). A child the user is in is listed
//! under the id the core knows it by; others by room id, which a join
//! takes. A space seen is saved as state (`space.!id` = its name), so
//! a resumed sync (which repeats no unchanged state) still knows it.
//!
//! A space the user is not in is listed too: a sub-space is an item
//! (a group) of its parent's listing, and `within` may name any space by
//! id or by alias (resolved with `GET /directory/room/{alias}`); the
//! homeserver lists what the user may see (a public space, or one whose
//! rooms the user's spaces allow). The servers a listing names for each
//! child (`m.space.child` `via`, a directory's `servers`) are kept
//! ([`Vias`], bounded) for the join by id of a room the homeserver may not
//! know yet (room ids name no server from room version 12 on).

use std::collections::{HashMap, VecDeque};

use serde::Deserialize;
use switchboard_bridge_api::{Event, RoomId, RoomListing};
use tracing::{debug, warn};

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
    /// A space's `m.space.child` events (stripped): its children's servers.
    #[serde(default)]
    children_state: Vec<ChildState>,
}

/// An `m.space.child` event of a hierarchy: the child and its servers.
#[derive(Debug, Deserialize)]
struct ChildState {
    #[serde(rename = "type")]
    kind: String,
    state_key: String,
    #[serde(default)]
    content: ChildContent,
}

/// The content of an `m.space.child`: the fields read.
#[derive(Debug, Default, Deserialize)]
struct ChildContent {
    #[serde(default)]
    via: Vec<String>,
}

/// An alias resolved by the room directory.
#[derive(Debug, Deserialize)]
struct Directory {
    room_id: String,
    #[serde(default)]
    servers: Vec<String>,
}

/// How many rooms' servers are kept.
const VIA_ROOMS: usize = 128;
/// How many servers are kept for one room.
const VIA_SERVERS: usize = 3;

/// The servers to join a listed room through, by room id: the last
/// [`VIA_ROOMS`] rooms listed, [`VIA_SERVERS`] servers each.
#[derive(Debug, Default)]
pub(crate) struct Vias {
    servers: HashMap<String, Vec<String>>,
    order: VecDeque<String>,
}

impl Vias {
    /// Notes the servers a listing names for `room` (none: nothing noted).
    fn note(&mut self, room: &str, servers: &[String]) {
        let servers: Vec<String> = servers
            .iter()
            .filter(|s| !s.is_empty())
            .take(VIA_SERVERS)
            .cloned()
            .collect();
        if servers.is_empty() {
            return;
        }
        if self.servers.insert(room.to_owned(), servers).is_none() {
            self.order.push_back(room.to_owned());
            if self.order.len() > VIA_ROOMS {
                if let Some(oldest) = self.order.pop_front() {
                    self.servers.remove(&oldest);
                }
            }
        }
    }

    /// The query of a join of `room`: each server as `via` and as the
    /// older `server_name` (servers read one or the other).
    pub(crate) fn join_query(&self, room: &str) -> Vec<(&'static str, &str)> {
        let servers = self.servers.get(room).map(Vec::as_slice).unwrap_or(&[]);
        ["via", "server_name"]
            .into_iter()
            .flat_map(|key| servers.iter().map(move |s| (key, s.as_str())))
            .collect()
    }
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
        let Some(space_id) = self.space_id(space).await else {
            return (Vec::new(), None);
        };
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
        for state in page.rooms.iter().flat_map(|r| &r.children_state) {
            if state.kind == "m.space.child" {
                self.vias.note(&state.state_key, &state.content.via);
            }
        }
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

    /// The room id of a space named by id or alias (an alias the user is
    /// not in resolved by the room directory).
    async fn space_id(&mut self, space: &RoomId) -> Option<String> {
        if let Some(id) = self.room_id_of(space) {
            return Some(id);
        }
        if !space.as_str().starts_with('#') {
            debug!("a space named neither by id nor by alias");
            return None;
        }
        let url = self.client.v3(&["directory", "room", space.as_str()], &[]);
        match self.client.get::<Directory>(url, TIMEOUT).await {
            Ok(found) => {
                self.vias.note(&found.room_id, &found.servers);
                Some(found.room_id)
            }
            Err(e) => {
                warn!(error = %e, "cannot resolve a Matrix space's alias");
                None
            }
        }
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

    #[test]
    fn a_hierarchy_names_its_childrens_servers() {
        let page: Hierarchy = serde_json::from_value(json!({
            "rooms": [{"room_id": "!s", "room_type": "m.space", "children_state": [
                {"type": "m.space.child", "state_key": "!r", "sender": "@b:hs",
                 "origin_server_ts": 1, "content": {"via": ["hs", "other.example"]}},
                {"type": "m.space.child", "state_key": "!gone", "content": {}}
            ]}]
        }))
        .unwrap();
        let states = &page.rooms[0].children_state;
        assert_eq!(states[0].content.via, ["hs", "other.example"]);
        assert!(states[1].content.via.is_empty());
    }

    #[test]
    fn a_join_goes_through_the_servers_a_listing_named() {
        let mut vias = Vias::default();
        vias.note("!r", &["hs".into(), "b.example".into()]);
        vias.note("!none", &[]);
        assert_eq!(
            vias.join_query("!r"),
            [
                ("via", "hs"),
                ("via", "b.example"),
                ("server_name", "hs"),
                ("server_name", "b.example")
            ]
        );
        assert!(vias.join_query("!none").is_empty());
        let many: Vec<String> = (0..9).map(|i| format!("s{i}")).collect();
        vias.note("!big", &many);
        assert_eq!(vias.join_query("!big").len(), 2 * VIA_SERVERS);
        for i in 0..VIA_ROOMS {
            vias.note(&format!("!n{i}"), &["hs".into()]);
        }
        assert!(vias.join_query("!r").is_empty(), "the oldest forgotten");
        assert_eq!(vias.servers.len(), VIA_ROOMS);
    }
}
