//! A stand-in for Discord, on loopback, for the tests: the v10 gateway over
//! a websocket and the REST routes the bridge calls, with the payloads'
//! fields as Discord's public API documentation lists them.
//!
//! One bot ([`BOT_TOKEN`]) in one guild ([`fixture`]): two text channels
//! (a thread in one), an announcement channel and a voice channel, a
//! member with a moderator role (`alice`) and one not listed (`carol`);
//! [`Double::start_large`] adds channels and members;
//! [`Double::start_shared`] a channel only the Mods role may see. The gateway says
//! HELLO, takes IDENTIFY (READY, then GUILD_CREATE) or RESUME (the missed
//! dispatches replayed, then RESUMED; an unknown session gets
//! INVALID_SESSION), acknowledges heartbeats, sends every dispatch with the
//! next sequence number, and on the test's word drops its connections,
//! asks for a heartbeat, RECONNECT or INVALID_SESSION. REST answers
//! `GET /gateway`, `GET /gateway/bot`, `GET /users/@me`, a guild member
//! (their roles, for shared-bot mode), DM channels,
//! channel history, webhooks (made, listed, executed), thread joins and
//! `POST /channels/{id}/messages` (a post also dispatches its
//! MESSAGE_CREATE, as Discord does; with `message_reference`, a reply),
//! edits and deletes by the bot and its webhooks, the bot's reactions and
//! typing (each followed by its dispatch, see `rich`), 429 on demand, and
//! records each request for the test.

#![recursion_limit = "256"]

pub mod fixture;
mod gateway;
mod http;
pub mod multipart;
mod rich;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Notify};

pub use fixture::{
    avatar_png, ALICE_ID, ANNOUNCEMENTS_ID, BOT_ID, CAROL_ID, DAVE_AVATAR, DAVE_ID, GENERAL_ID,
    GUILD_ID, GUILD_NAME, RANDOM_ID, STAFF_ID, THREAD_ID, VOICE_ID,
};

/// The bot token the double accepts; every other token is refused.
pub const BOT_TOKEN: &str = "MTAwMA.double.bot-token";

/// A REST request the double received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, from `/api/v10/…` (query included).
    pub path: String,
    /// The JSON body (a multipart request's `payload_json`), `Null` when
    /// there was none.
    pub body: Value,
    /// The files a multipart request carried.
    pub files: Vec<multipart::Upload>,
}

/// What the gateway and REST share: the dispatch log of the one session.
pub(crate) struct State {
    /// Every dispatch so far, by sequence number (1-based): (event name, data).
    pub log: Vec<(String, Value)>,
    /// The REST requests, in order.
    pub requests: Vec<Request>,
    /// The next snowflake the double hands out.
    pub next_id: u64,
    /// How many IDENTIFY and RESUME the gateway took.
    pub identifies: usize,
    /// How many RESUME the gateway took.
    pub resumes: usize,
    /// New connections wait before HELLO while this is set.
    pub held: bool,
    /// Bumped by each [`Double::drop_connections`]: a connection of an
    /// older generation sends nothing more.
    pub generation: u64,
    /// How many heartbeats (op 1) the gateway received.
    pub heartbeats: usize,
    /// Where each session's dispatches start in the log, by session id.
    pub sessions: std::collections::HashMap<String, usize>,
    /// How many of the next message posts (bot or webhook) get 429.
    pub rate_limited: usize,
    /// The webhooks made, as webhook objects.
    pub webhooks: Vec<Value>,
    /// The bot may not manage webhooks (`POST /channels/{id}/webhooks`
    /// answers 403 Missing Permissions).
    pub webhooks_forbidden: bool,
    /// The reactions on messages: (message id, user id, emoji object as JSON text).
    pub reactions: std::collections::HashSet<(String, String, String)>,
    /// The files uploaded with messages, by their CDN path.
    pub cdn: std::collections::HashMap<String, Vec<u8>>,
    /// Members' roles changed since the fixture (by user id).
    pub member_roles: std::collections::HashMap<String, Vec<String>>,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Wakes the connections when the log grows.
    pub dispatched: broadcast::Sender<()>,
    /// Tells every connection to drop, without a close frame.
    pub drop_all: broadcast::Sender<()>,
    /// Wakes connections waiting while held.
    pub released: Notify,
    /// Payloads for every live connection (op 1, 7, 9 on the test's word).
    pub ops: broadcast::Sender<Value>,
    /// The gateway's URL (`ws://127.0.0.1:PORT`).
    pub gateway_url: String,
    /// The REST API's (and CDN's) URL (`http://127.0.0.1:PORT`).
    pub api_url: String,
    /// GUILD_CREATE's data.
    pub guild: Value,
}

/// A running double; it stops when dropped (its tasks end with the runtime).
pub struct Double {
    shared: Arc<Shared>,
    api: SocketAddr,
}

impl Double {
    /// Starts the gateway and REST listeners on loopback.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(fixture::guild()).await
    }

    /// Starts with the guild of shared-bot mode ([`fixture::shared_guild`]:
    /// `#staff` hidden from all but the Mods role).
    pub async fn start_shared() -> std::io::Result<Self> {
        Self::start_with(fixture::shared_guild()).await
    }

    /// Starts with the guild made large ([`fixture::large_guild`]).
    pub async fn start_large(channels: usize, listed: usize, total: u64) -> std::io::Result<Self> {
        Self::start_with(fixture::large_guild(channels, listed, total)).await
    }

    /// Starts with the bot in the Mods role (Manage Messages): it may
    /// delete anyone's message.
    pub async fn start_with_moderator_bot() -> std::io::Result<Self> {
        let mut guild = fixture::guild();
        for member in guild["members"].as_array_mut().expect("members") {
            if member["user"]["id"] == BOT_ID {
                member["roles"] = serde_json::json!([fixture::BOT_ROLE_ID, fixture::MODS_ROLE_ID]);
            }
        }
        Self::start_with(guild).await
    }

    /// Starts with a moderator bot whose channel overwrites narrow it
    /// ([`fixture::bot_limited_guild`]: no moderation nor webhooks in
    /// `#random`, `#staff` hidden from it).
    pub async fn start_with_limited_bot() -> std::io::Result<Self> {
        Self::start_with(fixture::bot_limited_guild()).await
    }

    async fn start_with(guild: Value) -> std::io::Result<Self> {
        let gateway = TcpListener::bind("127.0.0.1:0").await?;
        let api = TcpListener::bind("127.0.0.1:0").await?;
        let api_addr = api.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log: Vec::new(),
                requests: Vec::new(),
                next_id: 1_300_000_000_000_000_000,
                identifies: 0,
                resumes: 0,
                held: false,
                generation: 0,
                heartbeats: 0,
                sessions: Default::default(),
                rate_limited: 0,
                webhooks: Vec::new(),
                webhooks_forbidden: false,
                reactions: Default::default(),
                cdn: Default::default(),
                member_roles: Default::default(),
            }),
            dispatched: broadcast::channel(1024).0,
            drop_all: broadcast::channel(16).0,
            released: Notify::new(),
            ops: broadcast::channel(16).0,
            gateway_url: format!("ws://{}", gateway.local_addr()?),
            api_url: format!("http://{api_addr}"),
            guild,
        });
        tokio::spawn(gateway::serve(gateway, Arc::clone(&shared)));
        tokio::spawn(http::serve(api, Arc::clone(&shared)));
        Ok(Self {
            shared,
            api: api_addr,
        })
    }

    /// The base URL to give serenity's `HttpBuilder::proxy` (and the
    /// bridge's `api` setting): `http://127.0.0.1:PORT`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api)
    }

    /// Dispatches MESSAGE_CREATE for a message `author` (a fixture user id)
    /// writes in `channel`; returns its id.
    pub fn say(&self, channel: &str, author: &str, content: &str) -> String {
        let mut state = self.shared.state.lock().unwrap();
        let id = next_id(&mut state);
        let message = fixture::message(&id, channel, &fixture::user(author), content, None);
        dispatch(&self.shared, &mut state, "MESSAGE_CREATE", message);
        id
    }

    /// Dispatches MESSAGE_CREATE for a message `author` writes in
    /// `channel` with more fields (`sticker_items`, `embeds`, …) set as
    /// given; returns its id.
    pub fn say_with(&self, channel: &str, author: &str, content: &str, fields: Value) -> String {
        let mut state = self.shared.state.lock().unwrap();
        let id = next_id(&mut state);
        let mut message = fixture::message(&id, channel, &fixture::user(author), content, None);
        if let (Some(message), Value::Object(fields)) = (message.as_object_mut(), fields) {
            message.extend(fields);
        }
        dispatch(&self.shared, &mut state, "MESSAGE_CREATE", message);
        id
    }

    /// Dispatches MESSAGE_UPDATE: `author` edits their message `id` in
    /// `channel` to `content` (the whole message, `edited_timestamp` set,
    /// as Discord sends it).
    pub fn edit(&self, channel: &str, id: &str, author: &str, content: &str) {
        let mut state = self.shared.state.lock().unwrap();
        let mut message = fixture::message(id, channel, &fixture::user(author), content, None);
        message["edited_timestamp"] = "2026-12-02T13:05:00.000000+00:00".into();
        dispatch(&self.shared, &mut state, "MESSAGE_UPDATE", message);
    }

    /// Dispatches MESSAGE_DELETE of message `id` in `channel` (its id,
    /// channel and guild only, as Discord sends it).
    pub fn delete(&self, channel: &str, id: &str) {
        let mut state = self.shared.state.lock().unwrap();
        let data = serde_json::json!({ "id": id, "channel_id": channel, "guild_id": GUILD_ID });
        dispatch(&self.shared, &mut state, "MESSAGE_DELETE", data);
    }

    /// Dispatches MESSAGE_CREATE for a reply `author` writes in `channel`
    /// to the message `to` (type 19, `message_reference` and
    /// `referenced_message`); returns its id.
    pub fn reply(&self, channel: &str, author: &str, content: &str, to: &str) -> String {
        let mut state = self.shared.state.lock().unwrap();
        let id = next_id(&mut state);
        let mut message = fixture::message(&id, channel, &fixture::user(author), content, None);
        let original = rich::find_message(&state, to).expect("the message replied to");
        rich::make_reply(&mut message, &original);
        dispatch(&self.shared, &mut state, "MESSAGE_CREATE", message);
        id
    }

    /// `user` reacts to message `id` with `emoji` (unicode, or `name:id` of
    /// a custom emoji): MESSAGE_REACTION_ADD.
    pub fn react(&self, id: &str, user: &str, emoji: &str) {
        self.reaction(id, user, emoji, true);
    }

    /// `user` takes their `emoji` reaction off message `id`:
    /// MESSAGE_REACTION_REMOVE.
    pub fn unreact(&self, id: &str, user: &str, emoji: &str) {
        self.reaction(id, user, emoji, false);
    }

    fn reaction(&self, id: &str, user: &str, emoji: &str, add: bool) {
        let mut state = self.shared.state.lock().unwrap();
        let message = rich::find_message(&state, id).expect("a message");
        rich::react(
            &self.shared,
            &mut state,
            &message,
            user,
            rich::emoji(emoji),
            add,
        );
    }

    /// A moderator removes every reaction of message `id` (`emoji` none:
    /// MESSAGE_REACTION_REMOVE_ALL) or those of one emoji
    /// (MESSAGE_REACTION_REMOVE_EMOJI).
    pub fn remove_reactions(&self, id: &str, emoji: Option<&str>) {
        let mut state = self.shared.state.lock().unwrap();
        let message = rich::find_message(&state, id).expect("a message");
        rich::remove_reactions(&self.shared, &mut state, &message, emoji.map(rich::emoji));
    }

    /// `user` starts typing in `channel`: TYPING_START.
    pub fn start_typing(&self, channel: &str, user: &str) {
        let mut state = self.shared.state.lock().unwrap();
        rich::start_typing(&self.shared, &mut state, channel, user);
    }

    /// A message by the bot's webhook in `channel` under `name` (as a
    /// session of the bot sent it earlier); returns its id. The channel's
    /// webhook is made the first time, as the bridge makes it.
    pub fn say_through_bot_webhook(&self, channel: &str, name: &str, content: &str) -> String {
        let mut state = self.shared.state.lock().unwrap();
        let made = state
            .webhooks
            .iter()
            .find(|w| w["channel_id"] == channel)
            .and_then(|w| w["id"].as_str().map(str::to_owned));
        let id = match made {
            Some(id) => id,
            None => {
                let id = next_id(&mut state);
                let webhook = serde_json::json!({
                    "id": id, "type": 1, "guild_id": GUILD_ID, "channel_id": channel,
                    "user": fixture::user(BOT_ID), "name": "Switchboard", "avatar": null,
                    "token": format!("webhook-token-{id}"), "application_id": BOT_ID
                });
                state.webhooks.push(webhook);
                id
            }
        };
        let body = serde_json::json!({ "username": name, "content": content });
        let token = format!("webhook-token-{id}");
        let (_, message) =
            http::execute_webhook(&self.shared, &mut state, &id, &token, None, &body, &[]);
        message["id"].as_str().unwrap_or_default().to_owned()
    }

    /// The next `n` message posts are answered 429 Too Many Requests (as
    /// Discord documents it: `retry_after` in seconds, `Retry-After`).
    pub fn rate_limit_next(&self, n: usize) {
        self.shared.state.lock().unwrap().rate_limited = n;
    }

    /// Takes the Manage Webhooks permission from the bot (or gives it back).
    pub fn forbid_webhooks(&self, forbidden: bool) {
        self.shared.state.lock().unwrap().webhooks_forbidden = forbidden;
    }

    /// `user`'s roles become `roles`, as `GET /guilds/{id}/members/{user}`
    /// answers from now on; nothing is dispatched (Discord tells a bot of
    /// member changes only with the privileged members intent).
    pub fn set_member_roles(&self, user: &str, roles: &[&str]) {
        let roles = roles.iter().map(|r| r.to_string()).collect();
        let mut state = self.shared.state.lock().unwrap();
        state.member_roles.insert(user.to_owned(), roles);
    }

    /// Dispatches CHANNEL_UPDATE: `#general` gets a new topic.
    pub fn set_general_topic(&self, topic: &str) {
        let mut state = self.shared.state.lock().unwrap();
        dispatch(
            &self.shared,
            &mut state,
            "CHANNEL_UPDATE",
            fixture::general_with_topic(topic),
        );
    }

    /// Dispatches CHANNEL_UPDATE: `#general` is hidden from @everyone
    /// (an overwrite denies VIEW_CHANNEL) and shown to the Mods role.
    pub fn hide_general(&self) {
        let mut state = self.shared.state.lock().unwrap();
        let overwrites = serde_json::json!([
            { "id": GUILD_ID, "type": 0, "allow": "0", "deny": "1024" },
            { "id": fixture::MODS_ROLE_ID, "type": 0, "allow": "1024", "deny": "0" }
        ]);
        let general = fixture::general_with_overwrites(overwrites);
        dispatch(&self.shared, &mut state, "CHANNEL_UPDATE", general);
    }

    /// Dispatches CHANNEL_UPDATE: in `#general` a member overwrite denies
    /// the bot Manage Messages (1 << 13).
    pub fn deny_bot_moderation_in_general(&self) {
        let mut state = self.shared.state.lock().unwrap();
        let overwrites =
            serde_json::json!([{ "id": BOT_ID, "type": 1, "allow": "0", "deny": "8192" }]);
        let general = fixture::general_with_overwrites(overwrites);
        dispatch(&self.shared, &mut state, "CHANNEL_UPDATE", general);
    }

    /// Dispatches THREAD_DELETE for the thread `ideas`.
    pub fn delete_thread(&self) {
        let mut state = self.shared.state.lock().unwrap();
        let data = serde_json::json!({
            "id": THREAD_ID, "guild_id": GUILD_ID, "parent_id": GENERAL_ID, "type": 11
        });
        dispatch(&self.shared, &mut state, "THREAD_DELETE", data);
    }

    /// Dispatches MESSAGE_CREATE for a direct message `author` writes to
    /// the bot; returns its id.
    pub fn say_directly(&self, author: &str, content: &str) -> String {
        self.say(&fixture::dm_channel_id(author), author, content)
    }

    /// The id of the newest message in `channel` (sent by anyone, deleted
    /// or not).
    pub fn last_message_id(&self, channel: &str) -> Option<String> {
        let state = self.shared.state.lock().unwrap();
        state
            .log
            .iter()
            .rev()
            .find(|(name, m)| name == "MESSAGE_CREATE" && m["channel_id"] == channel)
            .and_then(|(_, m)| m["id"].as_str().map(str::to_owned))
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    /// Waits (up to 20 s) for a REST request `pick` accepts, and returns it.
    pub async fn wait_request(&self, pick: impl Fn(&Request) -> bool) -> Request {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Some(found) = self.requests().into_iter().find(&pick) {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such request; got {:#?}",
                self.requests()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// How many IDENTIFY the gateway took so far.
    pub fn identifies(&self) -> usize {
        self.shared.state.lock().unwrap().identifies
    }

    /// How many RESUME the gateway took so far.
    pub fn resumes(&self) -> usize {
        self.shared.state.lock().unwrap().resumes
    }

    /// Whether a gateway connection is identified or resumed and reading
    /// dispatches (waits up to 20 s for one).
    pub async fn wait_identified(&self) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.identifies() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "nobody identified");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Drops every gateway connection at the TCP level (no close frame, as
    /// a network failure does) and holds new ones before HELLO until
    /// [`Double::release`].
    pub fn drop_connections(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.held = true;
        state.generation += 1;
        drop(state);
        let _ = self.shared.drop_all.send(());
    }

    /// How many heartbeats (op 1) the gateway received so far.
    pub fn heartbeats(&self) -> usize {
        self.shared.state.lock().unwrap().heartbeats
    }

    /// Asks every connection for a heartbeat now (op 1, `d` and `s` null,
    /// as the gateway sends it).
    pub fn request_heartbeat(&self) {
        let _ = self
            .shared
            .ops
            .send(serde_json::json!({ "op": 1, "d": null, "s": null, "t": null }));
    }

    /// Tells every connection to reconnect and resume (op 7).
    pub fn ask_reconnect(&self) {
        let _ = self
            .shared
            .ops
            .send(serde_json::json!({ "op": 7, "d": null, "s": null, "t": null }));
    }

    /// Invalidates every session (op 9, not resumable): the client must
    /// identify again; a later RESUME of those sessions is refused too.
    pub fn invalidate_sessions(&self) {
        self.shared.state.lock().unwrap().sessions.clear();
        let _ = self
            .shared
            .ops
            .send(serde_json::json!({ "op": 9, "d": false, "s": null, "t": null }));
    }

    /// Lets held connections go on.
    pub fn release(&self) {
        self.shared.state.lock().unwrap().held = false;
        self.shared.released.notify_waiters();
    }
}

/// A new snowflake.
pub(crate) fn next_id(state: &mut State) -> String {
    state.next_id += 1;
    state.next_id.to_string()
}

/// Appends a dispatch to the log and wakes the connections.
pub(crate) fn dispatch(shared: &Shared, state: &mut State, name: &str, data: Value) {
    state.log.push((name.to_owned(), data));
    let _ = shared.dispatched.send(());
}
