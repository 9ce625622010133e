//! Big Matrix rooms in the test Synapse, for measuring what joining one
//! costs: a room of N members and about M events (its creation, power
//! levels naming fifty moderators, topic changes, the joins and messages
//! from ten senders), built through the admin API (users without
//! passwords, so no bcrypt; joins by `/_synapse/admin/v1/join`, which is
//! not rate limited), many requests at once.
//!
//! Most messages are sent before the crowd joins: Synapse evaluates push
//! rules for every local member on every message, so a message costs it
//! in proportion to the room's size; the last tenth (at most 200) comes
//! after the joins, so the room's newest events are messages.
//!
//! [`cached`] keeps the built Synapse's data folder between runs, keyed
//! by the rooms' sizes, and reuses it (the runs' own users join and leave,
//! a few events each).
//!
//! A file takes it beside `common` and `synapse`:
//! `#[path = "common/bigroom.rs"] mod bigroom;`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::synapse::{encode, Synapse, SERVER_NAME};

/// The admin's login (made with the shared secret).
const ADMIN: &str = "bench-admin";
const ADMIN_PASSWORD: &str = "bench-admin-pw";
/// How many requests are in flight at once while building.
const PARALLEL: usize = 8;
/// How many members send the messages.
const SENDERS: usize = 10;
/// How many members the power levels name as moderators.
const MODERATORS: usize = 50;

/// A room to build: its alias localpart, members and events.
#[derive(Clone, Debug)]
pub struct RoomSpec {
    pub alias: String,
    pub members: usize,
    pub events: usize,
}

impl RoomSpec {
    /// A room `big{members}` of about `events` events.
    pub fn new(members: usize, events: usize) -> Self {
        Self {
            alias: format!("big{members}"),
            members,
            events,
        }
    }
}

/// A built room: its id and alias, and its senders' logins.
#[derive(Clone, Debug)]
pub struct BuiltRoom {
    pub spec: RoomSpec,
    pub room_id: String,
    pub alias: String,
    /// (user id, access token) of members that send messages.
    pub senders: Vec<(String, String)>,
}

/// A user of the client-server or admin API over plain HTTP.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    /// A request to a path under the server's base URL; its JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        for attempt in 0.. {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let value: Value = response.json().await.unwrap_or(Value::Null);
            if status.as_u16() == 429 && attempt < 50 {
                let wait = value["retry_after_ms"].as_u64().unwrap_or(500);
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                continue;
            }
            assert!(status.is_success(), "{path}: {status} {value}");
            return value;
        }
        unreachable!()
    }

    /// A client-server API path (`/_matrix/client/v3/…`).
    pub async fn client(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/_matrix/client/v3/{path}"), body)
            .await
    }

    /// Sends a text message to a room with this transaction id.
    pub async fn send(&self, room_id: &str, txn: &str, body: &str) -> String {
        let path = format!("rooms/{}/send/m.room.message/{txn}", encode(room_id));
        let content = json!({"msgtype": "m.text", "body": body});
        let answer = self
            .client(reqwest::Method::PUT, &path, Some(content))
            .await;
        answer["event_id"].as_str().unwrap_or_default().to_owned()
    }
}

/// The server admin, logged in.
pub async fn admin(synapse: &Synapse) -> Api {
    let http = reqwest::Client::new();
    let base = synapse.url();
    let body = json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": ADMIN},
        "password": ADMIN_PASSWORD,
    });
    let answer: Value = http
        .post(format!("{base}/_matrix/client/v3/login"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"]
        .as_str()
        .expect("the bench admin's login")
        .to_owned();
    Api { http, base, token }
}

/// The full user id of a localpart.
pub fn user_id(localpart: &str) -> String {
    format!("@{localpart}:{SERVER_NAME}")
}

/// Makes a user (with a password, or none: a user only the admin logs in).
pub async fn create_user(admin: &Api, localpart: &str, password: Option<&str>) {
    let path = format!("/_synapse/admin/v2/users/{}", encode(&user_id(localpart)));
    let mut body = json!({"displayname": format!("Member {localpart}")});
    if let Some(password) = password {
        body["password"] = json!(password);
    }
    admin.call(reqwest::Method::PUT, &path, Some(body)).await;
}

/// A login for a user, made by the admin: an API handle with its token.
pub async fn login_as(admin: &Api, localpart: &str) -> Api {
    let path = format!(
        "/_synapse/admin/v1/users/{}/login",
        encode(&user_id(localpart))
    );
    let answer = admin
        .call(reqwest::Method::POST, &path, Some(json!({})))
        .await;
    Api {
        http: admin.http.clone(),
        base: admin.base.clone(),
        token: answer["access_token"].as_str().unwrap().to_owned(),
    }
}

/// Joins a local user to a room (the admin API: no invite, no rate limit).
pub async fn force_join(admin: &Api, localpart: &str, room: &str) {
    let path = format!("/_synapse/admin/v1/join/{}", encode(room));
    let body = json!({"user_id": user_id(localpart)});
    admin.call(reqwest::Method::POST, &path, Some(body)).await;
}

/// The localpart of member `n` of every big room.
fn member(n: usize) -> String {
    format!("m{n}")
}

/// A message of the history: of varied length, as a chat's are.
fn history_text(n: usize) -> String {
    let words = [
        "hello", "matrix", "bridge", "room", "message", "test", "xmpp",
    ];
    let len = 3 + (n * 7919) % 30;
    let text: Vec<&str> = (0..len).map(|i| words[(n + i) % words.len()]).collect();
    format!("history {n}: {}", text.join(" "))
}

/// Sends `count` messages from the senders, `PARALLEL` at once, with
/// transaction ids starting at `from`.
async fn send_messages(room_id: &str, senders: &[Api], from: usize, count: usize) {
    futures::stream::iter(from..from + count)
        .map(|n| {
            let sender = &senders[n % senders.len()];
            async move {
                sender
                    .send(room_id, &format!("h{n}"), &history_text(n))
                    .await;
            }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
}

/// Makes the users `m0`… up to the largest room's size.
pub async fn create_members(admin: &Api, count: usize) {
    futures::stream::iter(0..count)
        .map(|n| async move { create_user(admin, &member(n), None).await })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
}

/// Builds one room (its members made by [`create_members`] already).
pub async fn build_room(admin: &Api, spec: &RoomSpec) -> BuiltRoom {
    let alias = format!("#{}:{SERVER_NAME}", spec.alias);
    // The creator (the admin) has unlimited power from room version 12
    // on, and may not be named.
    let moderators: serde_json::Map<String, Value> = (0..MODERATORS.min(spec.members))
        .map(|n| (user_id(&member(n)), json!(50)))
        .collect();
    let body = json!({
        "room_alias_name": spec.alias,
        "name": format!("Big room of {}", spec.members),
        "topic": "A room for measuring joins",
        "preset": "public_chat",
        "power_level_content_override": {"users": moderators},
    });
    let created = admin
        .client(reqwest::Method::POST, "createRoom", Some(body))
        .await;
    let room_id = created["room_id"].as_str().unwrap().to_owned();
    let senders_n = SENDERS.min(spec.members);
    let mut senders = Vec::new();
    for n in 0..senders_n {
        force_join(admin, &member(n), &room_id).await;
        senders.push(login_as(admin, &member(n)).await);
    }
    // Creation (about 8), the joins, topic changes: the rest are messages.
    let messages = spec.events.saturating_sub(spec.members + 8).max(20);
    let tail = (messages / 10).min(200);
    let topics = messages / 2000;
    let before = messages - tail - topics;
    let chunk = before / (topics + 1);
    for t in 0..=topics {
        let count = if t == topics {
            before - chunk * topics
        } else {
            chunk
        };
        send_messages(&room_id, &senders, t * chunk, count).await;
        if t < topics {
            let path = format!("rooms/{}/state/m.room.topic/", encode(&room_id));
            let topic = json!({"topic": format!("Topic number {t}")});
            admin.client(reqwest::Method::PUT, &path, Some(topic)).await;
        }
    }
    let room = room_id.clone();
    futures::stream::iter(senders_n..spec.members)
        .map(|n| {
            let room = room.clone();
            async move { force_join(admin, &member(n), &room).await }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
    send_messages(&room_id, &senders, before, tail).await;
    BuiltRoom {
        spec: spec.clone(),
        room_id,
        alias,
        senders: senders
            .iter()
            .enumerate()
            .map(|(n, api)| (user_id(&member(n)), api.token.clone()))
            .collect(),
    }
}

/// Builds the rooms in a running Synapse (the admin made first).
pub async fn build(synapse: &Synapse, specs: &[RoomSpec]) -> Vec<BuiltRoom> {
    synapse.register_admin(ADMIN, ADMIN_PASSWORD);
    let admin = admin(synapse).await;
    let most = specs.iter().map(|s| s.members).max().unwrap_or(0);
    create_members(&admin, most).await;
    let mut rooms = Vec::new();
    for spec in specs {
        let started = std::time::Instant::now();
        rooms.push(build_room(&admin, spec).await);
        eprintln!(
            "built {} ({} members, about {} events) in {:.0} s",
            spec.alias,
            spec.members,
            spec.events,
            started.elapsed().as_secs_f64()
        );
    }
    rooms
}

/// The data folder for these rooms under `root`.
pub fn cache_dir(root: &Path, specs: &[RoomSpec]) -> PathBuf {
    let key: Vec<String> = specs
        .iter()
        .map(|s| format!("{}x{}", s.members, s.events))
        .collect();
    root.join(format!("synapse-{}", key.join("-")))
}

/// Synapse with these rooms: started on the data kept in [`cache_dir`]
/// when a complete build is there (its `rooms.json`, written last), else
/// built there now.
pub async fn cached(root: &Path, specs: &[RoomSpec]) -> (Synapse, Vec<BuiltRoom>) {
    let dir = cache_dir(root, specs);
    let index = dir.join("rooms.json");
    if let Ok(text) = std::fs::read_to_string(&index) {
        let saved: Value = serde_json::from_str(&text).unwrap();
        let rooms = specs
            .iter()
            .zip(saved.as_array().unwrap())
            .map(|(spec, r)| BuiltRoom {
                spec: spec.clone(),
                room_id: r["room_id"].as_str().unwrap().to_owned(),
                alias: r["alias"].as_str().unwrap().to_owned(),
                senders: r["senders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| {
                        (
                            s[0].as_str().unwrap().to_owned(),
                            s[1].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect(),
            })
            .collect();
        eprintln!("reusing the rooms built in {}", dir.display());
        return (Synapse::start_in(&dir), rooms);
    }
    // An unfinished build is started again from nothing.
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("building the rooms in {} (once)", dir.display());
    let synapse = Synapse::start_in(&dir);
    let rooms = build(&synapse, specs).await;
    let saved: Vec<Value> = rooms
        .iter()
        .map(|r| json!({"room_id": r.room_id, "alias": r.alias, "senders": r.senders}))
        .collect();
    std::fs::write(&index, serde_json::to_string(&saved).unwrap()).unwrap();
    (synapse, rooms)
}
