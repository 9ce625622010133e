//! The client-server API's JSON, for the small subset the bridge uses:
//! login, `/sync` and the room events it turns into the contract's events.
//! Everything else in a response is skipped unread by serde.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /login`, with a password. No `Debug`: it holds the password.
#[derive(Serialize)]
pub struct LoginRequest<'a> {
    /// Always `m.login.password`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Who logs in.
    pub identifier: UserIdentifier<'a>,
    /// The password.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub password: &'a str,
    /// The name the user sees in their list of sessions.
    pub initial_device_display_name: &'static str,
}

/// A user named by their id or localpart.
#[derive(Debug, Serialize)]
pub struct UserIdentifier<'a> {
    /// Always `m.id.user`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `@user:server` or `user`.
    pub user: &'a str,
}

/// The answer to a login. No `Debug`: it holds the access token.
#[derive(Deserialize)]
pub struct LoginResponse {
    /// The full user id.
    pub user_id: String,
    /// The new device.
    pub device_id: String,
    /// The token to use from now on.
    pub access_token: String,
}

/// `GET /account/whoami`.
#[derive(Debug, Deserialize)]
pub struct WhoAmI {
    /// The token's user.
    pub user_id: String,
    /// The token's device, if it has one.
    pub device_id: Option<String>,
}

/// `GET /.well-known/matrix/client`.
#[derive(Debug, Deserialize)]
pub struct WellKnown {
    /// The homeserver's client-server API.
    #[serde(rename = "m.homeserver")]
    pub homeserver: WellKnownServer,
}

/// The homeserver part of `.well-known`.
#[derive(Debug, Deserialize)]
pub struct WellKnownServer {
    /// Its base URL.
    pub base_url: String,
}

/// An error body (`errcode`, `error`, `retry_after_ms`).
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    /// `M_FORBIDDEN`, `M_UNKNOWN_TOKEN`, …
    #[serde(default)]
    pub errcode: String,
    /// In words.
    #[serde(default)]
    pub error: String,
    /// How long to wait, on 429.
    pub retry_after_ms: Option<u64>,
}

/// `POST /join/{room}`.
#[derive(Debug, Deserialize)]
pub struct JoinResponse {
    /// The room joined.
    pub room_id: String,
}

/// `PUT /rooms/{room}/send/...`.
#[derive(Debug, Deserialize)]
pub struct SendResponse {
    /// The new event.
    pub event_id: String,
}

/// The media repository's answer to an upload.
#[derive(Debug, Deserialize)]
pub struct UploadResponse {
    /// The file's `mxc://` URI.
    pub content_uri: String,
}

/// A `/sync` answer.
#[derive(Debug, Default, Deserialize)]
pub struct SyncResponse {
    /// The token of the next sync.
    pub next_batch: String,
    /// The rooms that changed.
    #[serde(default)]
    pub rooms: Rooms,
    /// The account data that changed (the filter keeps `m.direct`).
    #[serde(default)]
    pub account_data: EventList,
}

/// The rooms of a sync, by membership.
#[derive(Debug, Default, Deserialize)]
pub struct Rooms {
    /// Rooms the user is in.
    #[serde(default)]
    pub join: BTreeMap<String, JoinedRoom>,
    /// Rooms the user left or was removed from.
    #[serde(default)]
    pub leave: BTreeMap<String, LeftRoom>,
    /// Rooms the user is invited to.
    #[serde(default)]
    pub invite: BTreeMap<String, InvitedRoom>,
}

/// An invitation: the room's stripped state (name, the members' events,
/// the user's own `invite` among them).
#[derive(Debug, Default, Deserialize)]
pub struct InvitedRoom {
    /// The state the inviter's server shares.
    #[serde(default)]
    pub invite_state: EventList,
}

/// A joined room's changes.
#[derive(Debug, Default, Deserialize)]
pub struct JoinedRoom {
    /// Counts and heroes.
    #[serde(default)]
    pub summary: Summary,
    /// State before the timeline (with lazy loading: the timeline's senders).
    #[serde(default)]
    pub state: EventList,
    /// New events.
    #[serde(default)]
    pub timeline: Timeline,
    /// Typing and read receipts (`m.typing`, `m.receipt`).
    #[serde(default)]
    pub ephemeral: EventList,
}

/// A left room's last events.
#[derive(Debug, Default, Deserialize)]
pub struct LeftRoom {
    /// State before the timeline.
    #[serde(default)]
    pub state: EventList,
    /// The events up to the leave.
    #[serde(default)]
    pub timeline: Timeline,
}

/// A room's summary: the members to name a room without a name by.
#[derive(Debug, Default, Deserialize)]
pub struct Summary {
    /// Up to five members' ids.
    #[serde(rename = "m.heroes", default)]
    pub heroes: Vec<String>,
    /// How many members have joined (when it changed).
    #[serde(rename = "m.joined_member_count", default)]
    pub joined: Option<u64>,
}

/// `GET /rooms/{id}/joined_members`: the joined members and their names.
#[derive(Debug, Default, Deserialize)]
pub struct JoinedMembers {
    /// Member id → profile in the room.
    #[serde(default)]
    pub joined: std::collections::HashMap<String, JoinedMember>,
}

/// One joined member's profile in a room.
#[derive(Debug, Default, Deserialize)]
pub struct JoinedMember {
    /// The member's display name in the room.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A list of events.
#[derive(Debug, Default, Deserialize)]
pub struct EventList {
    /// The events.
    #[serde(default)]
    pub events: Vec<RoomEvent>,
}

/// A room's timeline in a sync.
#[derive(Debug, Default, Deserialize)]
pub struct Timeline {
    /// Its events, oldest first.
    #[serde(default)]
    pub events: Vec<RoomEvent>,
    /// Events were left out before these (a gap).
    #[serde(default)]
    pub limited: bool,
    /// Where to page back from, for a gap.
    pub prev_batch: Option<String>,
}

/// `GET /rooms/{room}/messages`.
#[derive(Debug, Default, Deserialize)]
pub struct MessagesResponse {
    /// The events, in the direction asked.
    #[serde(default)]
    pub chunk: Vec<RoomEvent>,
    /// Where to go on from, if there is more.
    pub end: Option<String>,
}

/// A room event, its content kept as JSON until its type is known.
#[derive(Debug, Clone, Deserialize)]
pub struct RoomEvent {
    /// `m.room.message`, `m.room.member`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Who sent it.
    #[serde(default)]
    pub sender: String,
    /// Its id.
    #[serde(default)]
    pub event_id: String,
    /// For state events: whom or what it is about.
    pub state_key: Option<String>,
    /// When the server got it (ms since 1970).
    pub origin_server_ts: Option<u64>,
    /// The body.
    #[serde(default)]
    pub content: Value,
    /// A redaction's target, where room versions before 11 put it (later
    /// ones: in `content`).
    pub redacts: Option<String>,
    /// What the server adds.
    #[serde(default)]
    pub unsigned: Unsigned,
}

/// An event's unsigned part.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Unsigned {
    /// On the sender's own device: the transaction id it sent with.
    pub transaction_id: Option<String>,
    /// For state events: the content this one replaced.
    pub prev_content: Option<Value>,
}

/// `m.room.message` content.
#[derive(Debug, Serialize)]
pub struct TextContent<'a> {
    /// `m.text`, `m.emote`, `m.notice`.
    pub msgtype: &'static str,
    /// The text.
    pub body: &'a str,
    /// An edit's new content (the body then is a fallback, `* text`).
    #[serde(rename = "m.new_content", skip_serializing_if = "Option::is_none")]
    pub new_content: Option<NewContent<'a>>,
    /// What it relates to (edit or reply).
    #[serde(rename = "m.relates_to", skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<RelatesTo<'a>>,
}

/// An edit's replacement content.
#[derive(Debug, Serialize)]
pub struct NewContent<'a> {
    /// As the original's.
    pub msgtype: &'static str,
    /// The new text.
    pub body: &'a str,
}

/// A relation (`m.relates_to`) to send: an edit (`rel_type` `m.replace`),
/// a reaction (`m.annotation` with its `key`) or a reply (`m.in_reply_to`).
#[derive(Debug, Default, Serialize)]
pub struct RelatesTo<'a> {
    /// `m.replace` or `m.annotation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rel_type: Option<&'static str>,
    /// The event related to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<&'a str>,
    /// A reaction's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
    /// The event a reply answers.
    #[serde(rename = "m.in_reply_to", skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<InReplyTo<'a>>,
}

/// The event a reply answers.
#[derive(Debug, Serialize)]
pub struct InReplyTo<'a> {
    /// Its id.
    pub event_id: &'a str,
}

/// A content field as text, if present.
pub fn text_field<'a>(content: &'a Value, field: &str) -> Option<&'a str> {
    content.get(field).and_then(Value::as_str)
}
