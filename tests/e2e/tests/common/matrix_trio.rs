//! The set-up of the Matrix tests of direct chats and spaces: Prosody,
//! Synapse with alice, bob and carol, the gateway, and the Synapse API
//! calls they make. Included with `#[path]` by those test files (it needs
//! `common/testnet.rs` as `harness`, which the bench does not include).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;
use xmpp_parsers::minidom::Element;

use crate::common::support::prosody::Prosody;
use crate::common::{result_payload, Client};
use crate::harness::Gateway;
use crate::mx::{config, registered_alice, ALICE_PASSWORD, GW, SECRET};
use crate::synapse::{encode, MatrixUser, Synapse};

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

/// disco#items of the gateway, on a node or not: (jid, node, name) each.
pub async fn disco_items(
    client: &mut Client,
    node: Option<&str>,
) -> Vec<(String, Option<String>, String)> {
    const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
    let query: Element = match node {
        Some(node) => format!("<query xmlns='{DISCO_ITEMS}' node='{node}'/>"),
        None => format!("<query xmlns='{DISCO_ITEMS}'/>"),
    }
    .parse()
    .unwrap();
    let answer = result_payload(client.iq(GW, false, query).await).unwrap();
    answer
        .children()
        .filter(|i| i.is("item", DISCO_ITEMS))
        .map(|i| {
            (
                i.attr("jid").unwrap_or_default().to_owned(),
                i.attr("node").map(str::to_owned),
                i.attr("name").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The gateway's top disco#items once `node` (a space's) is among them:
/// the session's sync shows a space it was told of a moment later.
pub async fn top_items_with(
    client: &mut Client,
    node: &str,
) -> Vec<(String, Option<String>, String)> {
    let deadline = Instant::now() + crate::common::ANSWER;
    loop {
        let items = disco_items(client, None).await;
        if items.iter().any(|(_, n, _)| n.as_deref() == Some(node)) {
            return items;
        }
        assert!(Instant::now() < deadline, "no space in {items:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
