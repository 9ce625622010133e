//! The Discord tests' setup: Prosody, the Discord double and the gateway
//! pointed at it; a registered client; joining a channel's room. Included
//! by the Discord test files with `#[path]` (not from `common/mod.rs`,
//! which the bench crate includes too, without the double).
#![allow(dead_code)]

use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use crate::common::room::muc_info;
use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::{Client, Switchboard};

/// The gateway's component JID.
pub const GW: &str = "discord.localhost";
/// The component secret.
pub const SECRET: &str = "discord-secret";

/// Prosody, the double and the gateway between them.
pub struct Setup {
    pub double: Double,
    pub prosody: Prosody,
    pub gateway: Switchboard,
}

/// Starts the three, the double with its small guild.
pub async fn setup() -> Setup {
    setup_with(Double::start().await.unwrap())
}

/// Starts Prosody and the gateway in front of a double already started.
pub fn setup_with(double: Double) -> Setup {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    let gateway = Switchboard::start(&config(&prosody, &double, "info"));
    Setup {
        double,
        prosody,
        gateway,
    }
}

/// The gateway's config for the double, logging at `level`.
pub fn config(prosody: &Prosody, double: &Double, level: &str) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"{level}\"\n\
         [networks.discord]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.discord.settings]\napi = \"{}\"\n",
        prosody.component_port,
        double.api_url(),
    )
}

/// A logged-in client registered with the double's bot token.
pub async fn registered(setup: &Setup, name: &str) -> Client {
    setup.prosody.register(name, DOMAIN, "pass");
    let mut client =
        Client::login(&format!("{name}@{DOMAIN}"), "pass", setup.prosody.c2s_port).await;
    client
        .register_by_chat(GW, &format!("token={}", discord::BOT_TOKEN))
        .await;
    client
}

/// A channel's room JID.
pub fn room_jid(channel: &str) -> String {
    format!("{channel}@{GW}")
}

/// A Discord user's contact JID.
pub fn contact_jid(user: &str) -> String {
    format!("{user}@{GW}")
}

/// Joins a channel's room; returns the self-presence's JID.
pub async fn join(client: &mut Client, channel: &str, nick: &str) -> Jid {
    let to: Jid = format!("{}/{nick}", room_jid(channel)).parse().unwrap();
    let mut p = Presence::available().with_to(to);
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    client.send(p).await;
    client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::None && muc_info(p).0.contains(&"110".to_owned()) =>
            {
                p.from.clone()
            }
            _ => None,
        })
        .await
}

/// The gateway's resident memory (`VmRSS`, `RssAnon` in kB), for the
/// measurements.
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("RssAnon:"))
}
