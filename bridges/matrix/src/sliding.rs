//! Simplified sliding sync (MSC4186), which Synapse serves natively: the
//! request (one list of all the user's rooms, the state the session reads,
//! a timeline of one event, only the typing, receipts and account data
//! extensions: not `e2ee` or `to_device`, whose device lists cost ~22
//! bytes per member of every room joined) and its answer turned into the
//! `/sync` shape the rest of the bridge reads ([`adapt`]), with the rooms
//! the server sends whole (`initial`) named apart.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::{
    EventList, InvitedRoom, JoinedRoom, LeftRoom, RoomEvent, Rooms, Summary, SyncResponse, Timeline,
};
use crate::client::{ApiError, Client};

/// The path segments of the endpoint, under `/_matrix/client`.
const PATH: [&str; 4] = [
    "_matrix",
    "client",
    "unstable",
    "org.matrix.simplified_msc3575",
];

/// The feature a server lists in `/versions` when it serves it.
pub(crate) const FEATURE: &str = "org.matrix.simplified_msc3575";

/// The list's name.
const LIST: &str = "rooms";

/// How many rooms one request adds to the list's range.
pub(crate) const PAGE: u64 = 100;

/// The timeline limit of every room: one event. A room new in the list
/// (joined, or first seen) comes with that many events of its history,
/// which is all a join downloads of its timeline, whatever the room's
/// size; more events than that since the last answer are a gap, filled
/// with `/messages` back to the last event delivered (`gap.rs`). The
/// limit never changes: Synapse resends a longer timeline to a room
/// whose limit grew.
const TIMELINE_LIMIT: u64 = 1;

/// The request's body for a list covering rooms `0..=last`.
pub(crate) fn body(last: u64) -> Value {
    json!({
        "lists": {LIST: {
            "ranges": [[0, last]],
            "timeline_limit": TIMELINE_LIMIT,
            "required_state": [
                ["m.room.name", ""], ["m.room.canonical_alias", ""],
                ["m.room.topic", ""], ["m.room.encryption", ""],
                ["m.room.power_levels", ""], ["m.room.create", ""],
                ["m.room.member", "$ME"], ["m.room.member", "$LAZY"]
            ]
        }},
        "extensions": {
            "account_data": {"enabled": true},
            "typing": {"enabled": true},
            "receipts": {"enabled": true}
        }
    })
}

/// One sliding sync request from `pos` (none: a new connection), its
/// list covering rooms `0..=last`, held open by the server at most `poll`.
pub(crate) async fn request(
    client: &Client,
    pos: Option<&str>,
    last: u64,
    poll: Duration,
) -> Result<Answer, ApiError> {
    let ms = poll.as_millis().to_string();
    let mut query = vec![("timeout", ms.as_str())];
    if let Some(pos) = pos {
        query.push(("pos", pos));
    }
    let mut segments = PATH.to_vec();
    segments.push("sync");
    let url = client.url(&segments, &query);
    let body = body(last);
    client
        .call(
            Method::POST,
            url,
            Some(&body),
            poll + Duration::from_secs(30),
        )
        .await
}

/// Whether an error says the server does not serve sliding sync.
pub(crate) fn unsupported(e: &ApiError) -> bool {
    matches!(e, ApiError::Matrix { status: 404, .. }) || e.errcode() == Some("M_UNRECOGNIZED")
}

/// Whether an error says the connection's position expired.
pub(crate) fn unknown_pos(e: &ApiError) -> bool {
    e.errcode() == Some("M_UNKNOWN_POS")
}

/// `GET /_matrix/client/versions`: whether the server lists sliding sync.
pub(crate) async fn offered(client: &Client) -> Result<bool, ApiError> {
    let url = client.url(&["_matrix", "client", "versions"], &[]);
    let versions: Versions = client.get(url, Duration::from_secs(30)).await?;
    Ok(versions
        .unstable_features
        .get(FEATURE)
        .copied()
        .unwrap_or(false))
}

/// `/versions`' answer, the part read.
#[derive(Debug, Default, Deserialize)]
struct Versions {
    #[serde(default)]
    unstable_features: BTreeMap<String, bool>,
}

/// A sliding sync answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Answer {
    /// The position of the next request.
    pub pos: String,
    /// The lists' counts.
    #[serde(default)]
    pub lists: BTreeMap<String, ListInfo>,
    /// The rooms that changed (or are new in the list).
    #[serde(default)]
    pub rooms: BTreeMap<String, SlidingRoom>,
    /// The extensions asked for.
    #[serde(default)]
    pub extensions: Extensions,
}

/// A list's size.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListInfo {
    /// How many rooms the list holds in all.
    #[serde(default)]
    pub count: u64,
}

/// One room of an answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SlidingRoom {
    /// Sent whole: the room is new to this connection (or joined).
    #[serde(default)]
    pub initial: bool,
    /// The state asked for (whole when `initial`, else what changed).
    #[serde(default)]
    pub required_state: Vec<RoomEvent>,
    /// The newest events, oldest first.
    #[serde(default)]
    pub timeline: Vec<RoomEvent>,
    /// Events were left out before the timeline.
    #[serde(default)]
    pub limited: bool,
    /// Where to page back from, for a gap.
    pub prev_batch: Option<String>,
    /// An invitation's stripped state.
    pub invite_state: Option<Vec<RoomEvent>>,
    /// Members to name a room without a name by.
    #[serde(default)]
    pub heroes: Vec<Hero>,
    /// How many members have joined.
    pub joined_count: Option<u64>,
}

/// A hero of a room.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Hero {
    /// Their id.
    pub user_id: String,
}

/// The extensions' answers.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Extensions {
    /// Account data (`m.direct`).
    #[serde(default)]
    pub account_data: AccountData,
    /// `m.typing` by room.
    #[serde(default)]
    pub typing: ByRoom,
    /// `m.receipt` by room.
    #[serde(default)]
    pub receipts: ByRoom,
}

/// The account data extension's answer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AccountData {
    /// The user's global account data that changed.
    #[serde(default)]
    pub global: Vec<RoomEvent>,
}

/// One ephemeral event per room.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ByRoom {
    /// Room id → event.
    #[serde(default)]
    pub rooms: BTreeMap<String, RoomEvent>,
}

/// A sync's answer in the shape of `/sync`'s, whichever sync it came from.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The rooms and account data, `next_batch` the position.
    pub response: SyncResponse,
    /// Sliding sync: the joined rooms the server sent whole.
    pub initial: HashSet<String>,
    /// Sliding sync: how many rooms the list holds in all.
    pub count: u64,
    /// It came from sliding sync (else from `/sync`).
    pub sliding: bool,
}

impl Batch {
    /// A `/sync` answer.
    pub(crate) fn classic(response: SyncResponse) -> Self {
        Self {
            response,
            ..Self::default()
        }
    }
}

/// Turns an answer into `/sync`'s shape: a room with the user's own
/// `leave` or `ban` is a left room, one with `invite_state` an invitation,
/// the others joined rooms (the state asked for as their state, less the
/// events the timeline holds; typing and receipts as their ephemeral
/// events; heroes and joined count as their summary).
pub(crate) fn adapt(answer: Answer, own: &str) -> Batch {
    let Answer {
        pos,
        lists,
        rooms,
        mut extensions,
    } = answer;
    let mut out = Rooms::default();
    let mut initial = HashSet::new();
    for (room_id, room) in rooms {
        if let Some(invite_state) = room.invite_state {
            let invited = InvitedRoom {
                invite_state: EventList {
                    events: invite_state,
                },
            };
            out.invite.insert(room_id, invited);
            continue;
        }
        let in_timeline: HashSet<&str> = room
            .timeline
            .iter()
            .map(|e| e.event_id.as_str())
            .filter(|id| !id.is_empty())
            .collect();
        let state: Vec<RoomEvent> = room
            .required_state
            .iter()
            .filter(|e| !in_timeline.contains(e.event_id.as_str()))
            .cloned()
            .collect();
        let timeline = Timeline {
            events: room.timeline,
            limited: room.limited,
            prev_batch: room.prev_batch,
        };
        if has_left(&room.required_state, &timeline.events, own) {
            let left = LeftRoom {
                state: EventList { events: state },
                timeline,
            };
            out.leave.insert(room_id, left);
            continue;
        }
        let mut ephemeral = Vec::new();
        ephemeral.extend(extensions.typing.rooms.remove(&room_id));
        ephemeral.extend(extensions.receipts.rooms.remove(&room_id));
        if room.initial {
            initial.insert(room_id.clone());
        }
        let joined = JoinedRoom {
            summary: Summary {
                heroes: room.heroes.into_iter().map(|h| h.user_id).collect(),
                joined: room.joined_count,
            },
            state: EventList { events: state },
            timeline,
            ephemeral: EventList { events: ephemeral },
        };
        out.join.insert(room_id, joined);
    }
    // Typing and receipts of rooms that had nothing else new.
    let quiet: BTreeMap<String, Vec<RoomEvent>> = {
        let mut by_room: BTreeMap<String, Vec<RoomEvent>> = BTreeMap::new();
        for (room_id, event) in extensions
            .typing
            .rooms
            .into_iter()
            .chain(extensions.receipts.rooms)
        {
            by_room.entry(room_id).or_default().push(event);
        }
        by_room
    };
    for (room_id, events) in quiet {
        if out.leave.contains_key(&room_id) || out.invite.contains_key(&room_id) {
            continue;
        }
        let room = out.join.entry(room_id).or_default();
        room.ephemeral.events.extend(events);
    }
    Batch {
        response: SyncResponse {
            next_batch: pos,
            rooms: out,
            account_data: EventList {
                events: extensions.account_data.global,
            },
        },
        initial,
        count: lists.get(LIST).map_or(0, |l| l.count),
        sliding: true,
    }
}

/// Whether the user's newest own membership here is `leave` or `ban`.
fn has_left(state: &[RoomEvent], timeline: &[RoomEvent], own: &str) -> bool {
    let own_membership =
        |e: &&RoomEvent| e.kind == "m.room.member" && e.state_key.as_deref() == Some(own);
    let newest = timeline
        .iter()
        .rev()
        .find(own_membership)
        .or_else(|| state.iter().rev().find(own_membership));
    newest.is_some_and(|e| {
        matches!(
            crate::api::text_field(&e.content, "membership"),
            Some("leave" | "ban")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(value: Value) -> Batch {
        adapt(serde_json::from_value(value).unwrap(), "@me:hs")
    }

    #[test]
    fn the_request_asks_no_device_lists_and_one_event_a_room() {
        let body = body(99);
        let list = &body["lists"]["rooms"];
        assert_eq!(list["ranges"][0][1], 99);
        assert_eq!(list["timeline_limit"], 1);
        let state = list["required_state"].to_string();
        assert!(state.contains("$LAZY") && state.contains("$ME"));
        let extensions = body["extensions"].as_object().unwrap();
        let mut names: Vec<&str> = extensions.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["account_data", "receipts", "typing"]);
    }

    fn error(status: u16, errcode: &str) -> ApiError {
        ApiError::Matrix {
            status,
            errcode: errcode.into(),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn errors_tell_a_server_without_sliding_sync_and_an_expired_position() {
        assert!(unsupported(&error(404, "")));
        assert!(unsupported(&error(400, "M_UNRECOGNIZED")));
        assert!(!unsupported(&error(400, "M_UNKNOWN_POS")));
        assert!(unknown_pos(&error(400, "M_UNKNOWN_POS")));
        assert!(!unknown_pos(&error(502, "")));
    }

    #[test]
    fn an_answer_becomes_joined_left_and_invited_rooms() {
        let adapted = answer(json!({
            "pos": "7",
            "lists": {"rooms": {"count": 3}},
            "rooms": {
                "!j:hs": {
                    "initial": true,
                    "required_state": [
                        {"type": "m.room.name", "state_key": "", "content": {"name": "J"}, "event_id": "$n"},
                        {"type": "m.room.member", "state_key": "@bob:hs", "sender": "@bob:hs",
                         "content": {"membership": "join"}, "event_id": "$b"}
                    ],
                    "timeline": [
                        {"type": "m.room.member", "state_key": "@bob:hs", "sender": "@bob:hs",
                         "content": {"membership": "join"}, "event_id": "$b"}
                    ],
                    "limited": true, "prev_batch": "p1",
                    "heroes": [{"user_id": "@bob:hs"}], "joined_count": 2
                },
                "!l:hs": {
                    "timeline": [
                        {"type": "m.room.member", "state_key": "@me:hs", "sender": "@op:hs",
                         "content": {"membership": "ban"}, "event_id": "$x"}
                    ]
                },
                "!i:hs": {"invite_state": [
                    {"type": "m.room.member", "state_key": "@me:hs", "sender": "@bob:hs",
                     "content": {"membership": "invite"}}
                ]}
            },
            "extensions": {
                "account_data": {"global": [{"type": "m.direct", "content": {}}]},
                "typing": {"rooms": {"!j:hs": {"type": "m.typing", "content": {"user_ids": []}}}},
                "receipts": {"rooms": {"!q:hs": {"type": "m.receipt", "content": {}}}}
            }
        }));
        let sync = &adapted.response;
        assert_eq!(sync.next_batch, "7");
        assert_eq!(adapted.count, 3);
        let joined = &sync.rooms.join["!j:hs"];
        // The member event is the timeline's, not also state before it.
        assert_eq!(joined.state.events.len(), 1);
        assert_eq!(joined.timeline.events.len(), 1);
        assert!(joined.timeline.limited);
        assert_eq!(joined.timeline.prev_batch.as_deref(), Some("p1"));
        assert_eq!(joined.summary.heroes, ["@bob:hs"]);
        assert_eq!(joined.summary.joined, Some(2));
        assert_eq!(joined.ephemeral.events[0].kind, "m.typing");
        assert!(adapted.initial.contains("!j:hs"));
        assert!(sync.rooms.leave.contains_key("!l:hs"));
        assert!(sync.rooms.invite.contains_key("!i:hs"));
        // A receipt in a room with nothing else new.
        assert_eq!(
            sync.rooms.join["!q:hs"].ephemeral.events[0].kind,
            "m.receipt"
        );
        assert_eq!(sync.account_data.events[0].kind, "m.direct");
    }
}
