//! What the Matrix test files share: the gateway's config for a Synapse
//! on loopback, the JIDs the gateway gives Matrix ids, and alice
//! registered from her XMPP client. Included by the Matrix test files
//! with `#[path]` (next to `synapse.rs`), not from `common/mod.rs`.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::Client;
use crate::harness::Gateway;
use crate::synapse::{encode, MatrixUser, Synapse};

/// The Matrix gateway's component domain in these tests.
pub const GW: &str = "matrix.localhost";
/// The component's secret.
pub const SECRET: &str = "matrix-secret";
/// alice's Matrix password (registered on Synapse by each test).
pub const ALICE_PASSWORD: &str = "alice-Matrix-pw-7341";

/// The gateway's config on this component port: the Matrix network at
/// [`GW`], homeservers on loopback allowed, short syncs, logging at debug;
/// `extra` sections after it (`[files]`, say).
pub fn config(component_port: u16, extra: &str) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{component_port}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"debug\"\n\
         [networks.matrix]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.matrix.settings]\nallow_private_addresses = true\nsync_timeout_secs = 5\n\
         {extra}"
    )
}

/// A Matrix id (room or person) as the gateway escapes it in a JID's
/// localpart (XEP-0106: `@` is `\40`, `:` is `\3a`; a capital is `\` and
/// its code in lower-case hex, so case survives the server's folding).
fn escaped(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            '@' => "\\40".to_owned(),
            ':' => "\\3a".to_owned(),
            c if c.is_ascii_uppercase() => format!("\\{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

/// The room JID of a Matrix alias or id. Synapse's default room version
/// (12) makes ids without a server part.
pub fn room_jid(id: &str) -> String {
    format!("{}@{GW}", escaped(id))
}

/// The contact JID of a Matrix user id.
pub fn jid_of(id: &str) -> String {
    format!("{}@{GW}", escaped(id))
}

/// The chat command that registers alice with her password.
pub fn register_command(synapse: &Synapse, password: &str) -> String {
    format!(
        "register homeserver={} user=alice password={password}",
        synapse.url()
    )
}

/// alice's XMPP account made and logged in, then registered with the
/// gateway by chat command with her Matrix password.
pub async fn registered_alice(prosody: &Prosody, synapse: &Synapse) -> Client {
    prosody.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice
        .say(GW, &register_command(synapse, ALICE_PASSWORD))
        .await;
    let done = alice.reply_from(GW).await;
    assert!(done.contains("You are registered"), "{done}");
    alice
}

/// Prosody, Synapse with alice, bob and carol, and the gateway: what the
/// tests of direct chats and spaces start with.
pub struct Trio {
    /// The gateway process.
    pub gateway: Gateway,
    /// The homeserver.
    pub synapse: Synapse,
    /// The XMPP server.
    pub prosody: Prosody,
}

impl Trio {
    /// Starts the three, with alice, bob and carol on Synapse.
    pub fn start() -> Self {
        let prosody = Prosody::start(&[(GW, SECRET)]);
        let synapse = Synapse::start();
        synapse.register("alice", ALICE_PASSWORD);
        synapse.register("bob", "bob-pw");
        synapse.register("carol", "carol-pw");
        let config = config(prosody.component_port, "");
        Self {
            gateway: Gateway::start(&config),
            synapse,
            prosody,
        }
    }

    /// alice's XMPP account, logged in and registered with her password.
    pub async fn alice(&self) -> Client {
        registered_alice(&self.prosody, &self.synapse).await
    }

    /// bob, logged in to Synapse.
    pub async fn bob(&self) -> MatrixUser {
        MatrixUser::login(&self.synapse, "bob", "bob-pw").await
    }

    /// A client-server API call with a token; the status and the JSON.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Value) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = format!("{}/_matrix/client/v3/{path}", self.synapse.url());
        let mut request = reqwest::Client::new().request(method.clone(), url);
        request = request.bearer_auth(token);
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Like [`Trio::call`] with `user`'s token, asserting success.
    pub async fn ok(&self, user: &MatrixUser, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = self.call(user.token(), method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {value}");
        value
    }

    /// `user`'s membership in a room, as the server has it for `asker`.
    pub async fn membership(&self, asker: &MatrixUser, room_id: &str, user: &str) -> String {
        let path = format!(
            "rooms/{}/state/m.room.member/{}",
            encode(room_id),
            encode(user)
        );
        let (_, value) = self.call(asker.token(), "GET", &path, Value::Null).await;
        value["membership"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `user`'s membership in a room is `want`.
    pub async fn wait_membership(&self, asker: &MatrixUser, room_id: &str, user: &str, want: &str) {
        let deadline = Instant::now() + crate::common::ANSWER;
        loop {
            let now = self.membership(asker, room_id, user).await;
            if now == want {
                return;
            }
            assert!(Instant::now() < deadline, "{user} is {now:?}, not {want}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
