//! A real Synapse for the Matrix tests: SQLite in a temporary folder, a
//! free loopback port, `registration_shared_secret` for making users
//! (Synapse's `register_new_matrix_user`, which speaks the admin
//! shared-secret API), stopped by PID when dropped. It runs from the venv
//! `scripts/install-test-deps` makes (`SWITCHBOARD_TEST_VENV`, default
//! `/var/cache/switchboard-test/venv`).
//!
//! A test file takes it beside `common`:
//! `mod common; #[path = "common/synapse.rs"] mod synapse;`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::support::{free_port, stop_child, wait_for_port};

/// The homeserver's server name (the part after `:` in ids).
pub const SERVER_NAME: &str = "hs.localhost";
const SHARED_SECRET: &str = "switchboard-test-shared-secret";

/// A running Synapse.
pub struct Synapse {
    pub port: u16,
    /// Its data: config, signing key, database, media.
    dir: PathBuf,
    /// The temporary folder `dir` is in, removed when dropped (none for a
    /// data dir kept between runs, [`Synapse::start_in`]).
    _temp: Option<tempfile::TempDir>,
    child: Option<Child>,
}

fn venv() -> PathBuf {
    std::env::var("SWITCHBOARD_TEST_VENV")
        .unwrap_or_else(|_| "/var/cache/switchboard-test/venv".into())
        .into()
}

impl Synapse {
    /// Writes a config, makes the signing key, starts Synapse and waits
    /// until its client API answers.
    pub fn start() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let mut synapse = Self::start_in(temp.path());
        synapse._temp = Some(temp);
        synapse
    }

    /// [`Synapse::start`] on the data in `dir`, kept after it stops: a new
    /// config on a free port, a signing key made only if there is none.
    pub fn start_in(dir: &std::path::Path) -> Self {
        let python = venv().join("bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/install-test-deps",
            python.display()
        );
        std::fs::create_dir_all(dir).unwrap();
        // A run that was killed leaves its pid file behind.
        let _ = std::fs::remove_file(dir.join("homeserver.pid"));
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "server_name: \"{SERVER_NAME}\"\n\
             pid_file: {d}/homeserver.pid\n\
             listeners:\n  - port: {port}\n    bind_addresses: ['127.0.0.1']\n    type: http\n\
             \x20   tls: false\n    x_forwarded: false\n    resources:\n\
             \x20     - names: [client]\n        compress: false\n\
             database:\n  name: sqlite3\n  args:\n    database: {d}/homeserver.db\n\
             media_store_path: {d}/media\n\
             registration_shared_secret: \"{SHARED_SECRET}\"\n\
             report_stats: false\n\
             signing_key_path: {d}/signing.key\n\
             trusted_key_servers: []\n\
             suppress_key_server_warning: true\n\
             macaroon_secret_key: \"switchboard-test-macaroon\"\n\
             form_secret: \"switchboard-test-form\"\n\
             enable_metrics: false\n\
             presence:\n  enabled: false\n\
             rc_message: {{per_second: 10000, burst_count: 10000}}\n\
             rc_login:\n  address: {{per_second: 1000, burst_count: 1000}}\n\
             \x20 account: {{per_second: 1000, burst_count: 1000}}\n\
             \x20 failed_attempts: {{per_second: 1000, burst_count: 1000}}\n\
             rc_joins:\n  local: {{per_second: 1000, burst_count: 1000}}\n\
             rc_joins_per_room: {{per_second: 1000, burst_count: 1000}}\n\
             rc_room_creation: {{per_second: 1000, burst_count: 1000}}\n"
        );
        let config_path = dir.join("homeserver.yaml");
        std::fs::write(&config_path, config).unwrap();
        if !dir.join("signing.key").exists() {
            let keys = Command::new(&python)
                .args(["-m", "synapse.app.homeserver", "--generate-keys", "-c"])
                .arg(&config_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(keys.success(), "synapse could not make its signing key");
        }
        let mut synapse = Synapse {
            port,
            dir: dir.to_owned(),
            _temp: None,
            child: None,
        };
        synapse.spawn();
        synapse
    }

    /// The process id of the running server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server on its config and waits until it answers; its
    /// log is appended to.
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("synapse.log"))
            .unwrap();
        let child = Command::new(venv().join("bin/python"))
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(self.dir.join("homeserver.yaml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    /// Stops the server this test started (by its PID); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(10));
        }
    }

    /// Starts the stopped server again, on the same port and data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "synapse is still running");
        self.spawn();
    }

    fn wait_ready(&mut self) {
        let ready = wait_for_port(self.port, Duration::from_secs(60));
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("synapse exited ({status}):\n{}", self.log());
        }
        assert!(
            ready,
            "synapse did not listen within a minute:\n{}",
            self.log()
        );
    }

    /// The client API's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Synapse's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("synapse.log")).unwrap_or_default()
    }

    /// Makes a user through the admin shared-secret registration API.
    pub fn register(&self, user: &str, password: &str) {
        self.register_as(user, password, false);
    }

    /// Makes a server admin (for the admin API) the same way.
    pub fn register_admin(&self, user: &str, password: &str) {
        self.register_as(user, password, true);
    }

    fn register_as(&self, user: &str, password: &str, admin: bool) {
        let status = Command::new(venv().join("bin/register_new_matrix_user"))
            .args([
                "-u",
                user,
                "-p",
                password,
                if admin { "--admin" } else { "--no-admin" },
                "-k",
                SHARED_SECRET,
            ])
            .arg(self.url())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "could not register {user} on synapse");
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail = &log[log.len().saturating_sub(4000)..];
            eprintln!("--- synapse log (tail) ---\n{tail}");
        }
    }
}

/// A Matrix user the test drives over plain HTTP (the far side).
pub struct MatrixUser {
    http: reqwest::Client,
    base: String,
    pub user_id: String,
    token: String,
    txn: u64,
}

impl MatrixUser {
    /// Logs in with a password.
    pub async fn login(synapse: &Synapse, user: &str, password: &str) -> Self {
        let http = reqwest::Client::new();
        let base = synapse.url();
        let body = json!({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password,
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
        Self {
            http,
            base,
            user_id: answer["user_id"].as_str().unwrap().to_owned(),
            token: answer["access_token"].as_str().unwrap().to_owned(),
            txn: 0,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/_matrix/client/v3/{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// The access token of this login.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Joins a room by alias or id.
    pub async fn join(&self, room: &str) {
        let path = format!("join/{}", encode(room));
        self.call(reqwest::Method::POST, &path, json!({})).await;
    }

    /// The size in bytes of an initial `/sync` with no filter, as a naive
    /// client makes it.
    pub async fn naive_initial_sync_bytes(&self) -> usize {
        self.get_bytes("sync").await.len()
    }

    /// The ids of a room's joined members.
    pub async fn joined_members(&self, room_id: &str) -> Vec<String> {
        let path = format!("rooms/{}/joined_members", encode(room_id));
        let answer = self.get(&path).await;
        let mut members: Vec<String> = answer["joined"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        members.sort();
        members
    }

    /// Logs out every device of this user (the gateway's too).
    pub async fn log_out_everywhere(&self) {
        self.call(reqwest::Method::POST, "logout/all", json!({}))
            .await;
    }

    /// A `GET` of the client API, as JSON.
    async fn get(&self, path: &str) -> Value {
        serde_json::from_slice(&self.get_bytes(path).await).unwrap()
    }

    /// A `GET` of the client API, its body as it came.
    async fn get_bytes(&self, path: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!("{}/_matrix/client/v3/{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        response.bytes().await.unwrap().to_vec()
    }

    /// Creates a public room with this alias localpart; its room id.
    pub async fn create_room(&self, alias: &str, name: &str) -> String {
        let body = json!({"room_alias_name": alias, "name": name, "preset": "public_chat"});
        let answer = self.call(reqwest::Method::POST, "createRoom", body).await;
        answer["room_id"].as_str().unwrap().to_owned()
    }

    /// Creates an end-to-end encrypted room with this alias localpart; its room id.
    pub async fn create_encrypted_room(&self, alias: &str) -> String {
        let body = json!({
            "room_alias_name": alias,
            "preset": "public_chat",
            "initial_state": [{
                "type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}
            }]
        });
        let answer = self.call(reqwest::Method::POST, "createRoom", body).await;
        answer["room_id"].as_str().unwrap().to_owned()
    }

    /// Sends an encrypted-looking event (the gateway cannot read any).
    pub async fn send_encrypted(&mut self, room_id: &str) {
        self.txn += 1;
        let path = format!(
            "rooms/{}/send/m.room.encrypted/t{}",
            encode(room_id),
            self.txn
        );
        let body = json!({
            "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAc",
            "device_id": "BOBDEVICE", "sender_key": "k", "session_id": "s"
        });
        self.call(reqwest::Method::PUT, &path, body).await;
    }

    /// Sends a text; its event id.
    pub async fn send(&mut self, room_id: &str, text: &str) -> String {
        self.txn += 1;
        let path = format!(
            "rooms/{}/send/m.room.message/t{}",
            encode(room_id),
            self.txn
        );
        let body = json!({"msgtype": "m.text", "body": text});
        let answer = self.call(reqwest::Method::PUT, &path, body).await;
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// Sends an event of any type with this content; its event id.
    pub async fn send_event(&mut self, room_id: &str, kind: &str, content: Value) -> String {
        self.txn += 1;
        let path = format!("rooms/{}/send/{kind}/t{}", encode(room_id), self.txn);
        let answer = self.call(reqwest::Method::PUT, &path, content).await;
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// Redacts an event; the redaction's event id.
    pub async fn redact(&mut self, room_id: &str, event_id: &str) -> String {
        self.txn += 1;
        let path = format!(
            "rooms/{}/redact/{}/t{}",
            encode(room_id),
            event_id.replace('$', "%24"),
            self.txn
        );
        let answer = self.call(reqwest::Method::PUT, &path, json!({})).await;
        answer["event_id"].as_str().unwrap().to_owned()
    }

    /// One event of a room, as the server has it now.
    pub async fn event(&self, room_id: &str, event_id: &str) -> Value {
        let path = format!(
            "rooms/{}/event/{}",
            encode(room_id),
            event_id.replace('$', "%24")
        );
        self.get(&path).await
    }

    /// Waits until the room's newest events hold one `found` picks; what it picked.
    pub async fn wait_for_event<T>(&self, room_id: &str, found: impl Fn(&Value) -> Option<T>) -> T {
        let deadline = Instant::now() + crate::common::ANSWER;
        loop {
            let path = format!("rooms/{}/messages?dir=b&limit=50", encode(room_id));
            let answer = self.get(&path).await;
            let picked = answer["chunk"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(&found);
            if let Some(picked) = picked {
                return picked;
            }
            assert!(Instant::now() < deadline, "the event never reached Matrix");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A room's state event of this type (empty state key), its content.
    pub async fn state(&self, room_id: &str, kind: &str) -> Value {
        self.get(&format!("rooms/{}/state/{kind}/", encode(room_id)))
            .await
    }

    /// Sets a room's state event of this type (empty state key).
    pub async fn set_state(&self, room_id: &str, kind: &str, content: Value) {
        let path = format!("rooms/{}/state/{kind}/", encode(room_id));
        self.call(reqwest::Method::PUT, &path, content).await;
    }

    /// Kicks `user` from a room, with a reason.
    pub async fn kick(&self, room_id: &str, user: &str, reason: &str) {
        let path = format!("rooms/{}/kick", encode(room_id));
        let body = json!({"user_id": user, "reason": reason});
        self.call(reqwest::Method::POST, &path, body).await;
    }

    /// Makes a direct chat with `user` (invited, as Element does); its id.
    pub async fn create_direct(&self, user: &str) -> String {
        let body = json!({"is_direct": true, "invite": [user], "preset": "trusted_private_chat"});
        let answer = self.call(reqwest::Method::POST, "createRoom", body).await;
        answer["room_id"].as_str().unwrap().to_owned()
    }

    /// Uploads a file to the media repository (`POST
    /// /_matrix/media/v3/upload`); its `mxc://` URI.
    pub async fn upload(&self, name: &str, media_type: &str, bytes: &[u8]) -> String {
        let response = self
            .http
            .post(format!("{}/_matrix/media/v3/upload", self.base))
            .query(&[("filename", name)])
            .bearer_auth(&self.token)
            .header("content-type", media_type)
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "upload: {status} {value}");
        value["content_uri"]
            .as_str()
            .expect("an mxc URI")
            .to_owned()
    }

    /// The bytes of an `mxc://` URI, through authenticated media
    /// (`/_matrix/client/v1/media/download`).
    pub async fn download(&self, mxc: &str) -> Vec<u8> {
        let path = mxc.strip_prefix("mxc://").expect("an mxc:// URI");
        let response = self
            .http
            .get(format!(
                "{}/_matrix/client/v1/media/download/{path}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{mxc}: {}",
            response.status()
        );
        response.bytes().await.unwrap().to_vec()
    }

    /// Says this user types in a room, or stopped.
    pub async fn typing(&self, room_id: &str, typing: bool) {
        let path = format!("rooms/{}/typing/{}", encode(room_id), encode(&self.user_id));
        let body = json!({"typing": typing, "timeout": 30000});
        self.call(reqwest::Method::PUT, &path, body).await;
    }

    /// Posts a public read receipt for an event.
    pub async fn read_up_to(&self, room_id: &str, event_id: &str) {
        let path = format!(
            "rooms/{}/receipt/m.read/{}",
            encode(room_id),
            event_id.replace('$', "%24")
        );
        self.call(reqwest::Method::POST, &path, json!({})).await;
    }

    /// Waits until a room's ephemeral events (typing, receipts, in a fresh
    /// sync) hold one `found` accepts.
    pub async fn wait_for_ephemeral(&self, room_id: &str, found: impl Fn(&Value) -> bool) {
        let deadline = Instant::now() + crate::common::ANSWER;
        for poll in 0.. {
            // Synapse answers a repeated sync from its cache for a while:
            // each poll's filter differs (in a type no room has).
            let filter = format!(
                r#"{{"room":{{"timeline":{{"limit":0,"not_types":["t.{poll}"]}},"state":{{"types":[]}},"ephemeral":{{"types":["m.typing","m.receipt"]}}}}}}"#
            );
            let answer = self.get(&format!("sync?filter={filter}")).await;
            let events = &answer["rooms"]["join"][room_id]["ephemeral"]["events"];
            if events.as_array().into_iter().flatten().any(&found) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never seen in {room_id}: {events}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The newest message events of a room, oldest first: (sender, body, event id).
    pub async fn messages(&self, room_id: &str, limit: usize) -> Vec<(String, String, String)> {
        let path = format!("rooms/{}/messages?dir=b&limit={limit}", encode(room_id));
        let answer = self.get(&path).await;
        let mut out: Vec<(String, String, String)> = answer["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .map(|e| {
                (
                    e["sender"].as_str().unwrap_or_default().to_owned(),
                    e["content"]["body"].as_str().unwrap_or_default().to_owned(),
                    e["event_id"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.reverse();
        out
    }

    /// Waits until a message with this body from `sender` is in the room.
    pub async fn wait_for_message(&self, room_id: &str, sender: &str, body: &str) -> String {
        let deadline = Instant::now() + crate::common::ANSWER;
        loop {
            let found = self
                .messages(room_id, 50)
                .await
                .into_iter()
                .find(|(s, b, _)| s == sender && b == body);
            if let Some((_, _, id)) = found {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "{body:?} from {sender} never reached Matrix"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A room id, alias or user id as one path segment.
pub fn encode(id: &str) -> String {
    id.replace('#', "%23")
        .replace('!', "%21")
        .replace(':', "%3A")
        .replace('@', "%40")
}
