//! What the Matrix test files share: the gateway's config for a Synapse
//! on loopback, the JIDs the gateway gives Matrix ids, and alice
//! registered from her XMPP client. Included by the Matrix test files
//! with `#[path]` (next to `synapse.rs`), not from `common/mod.rs`.
#![allow(dead_code)]

use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::Client;
use crate::synapse::Synapse;

/// The Matrix gateway's component domain in these tests.
pub const GW: &str = "matrix.localhost";
/// The component's secret.
pub const SECRET: &str = "matrix-secret";
/// alice's Matrix password (registered on Synapse by each test).
pub const ALICE_PASSWORD: &str = "alice-Matrix-pw-7341";

/// The gateway's config on this component port: the Matrix network at
/// [`GW`], homeservers on loopback allowed, short syncs, logging at debug;
/// `extra` sections after it (`[files]`, say). Sessions use sliding sync
/// (Synapse offers it) unless `MXTEST_SYNC=v3` is set, which runs the
/// tests on the `/sync` fallback instead.
pub fn config(component_port: u16, extra: &str) -> String {
    let sliding = std::env::var("MXTEST_SYNC").map_or(true, |v| v != "v3");
    config_sync(component_port, extra, sliding)
}

/// [`config`] with sliding sync on or off (`sliding_sync`).
pub fn config_sync(component_port: u16, extra: &str, sliding: bool) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{component_port}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"debug\"\n\
         [networks.matrix]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.matrix.settings]\nallow_private_addresses = true\nsync_timeout_secs = 5\n\
         sliding_sync = {sliding}\n\
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
    registered_alice_at(prosody, &synapse.url()).await
}

/// Like [`registered_alice`], the homeserver at `url` (a relay in front
/// of Synapse, say).
pub async fn registered_alice_at(prosody: &Prosody, url: &str) -> Client {
    prosody.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let command = format!("register homeserver={url} user=alice password={ALICE_PASSWORD}");
    alice.say(GW, &command).await;
    let done = alice.reply_from(GW).await;
    assert!(done.contains("You are registered"), "{done}");
    alice
}
