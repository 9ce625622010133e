//! Switchboard's IRC bridge: one session per user, one connection per IRC
//! server that user talks to, opened on first use.
//!
//! Rooms are `#channel%irc.example.net`, people `nick%irc.example.net`.

mod caps;
mod charset;
mod conn;
mod connect;
mod correction;
mod format;
mod host;
mod ids;
mod limits;
mod line;
mod listing;
mod policy;
mod prefixes;
mod server_settings;
mod session;
mod settings;
mod small_map;
mod split;
mod tags;
mod tls;
mod work;

use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_bridge_api::{
    Bridge, BridgeInfo, Capabilities, Credentials, FieldError, FieldKind, Login, LoginField,
    SessionHandle,
};

pub use conn::{decode, feed_server_lines};
pub use format::{irc_to_styled, styled_to_irc};
pub use host::{normalise as normalise_host, Host};
pub use ids::{parse_room, parse_user, room_id, user_id, valid_channel, valid_nick};
pub use policy::{default_ports, non_public, Limits, Policy, Timeouts};
pub use settings::{Count, IrcSettings, PortRange, Seconds, Server, ServerPattern};
pub use split::message_lines;

pub use tls::read_ca_file;

use server_settings::{apply_server_settings, server_fields};
pub(crate) use session::COMMAND_BATCH;

/// Where an IRC server is, when not at its name on the standard TLS port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// `host:port`.
    pub address: String,
    /// TLS (the default) or plain TCP.
    pub tls: bool,
}

/// The IRC bridge's settings.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// Servers the operator set up, by the name used in room ids: reached
    /// at their address whatever the policy says. Others are reached at
    /// `name:6697` with TLS, if the policy allows.
    pub servers: BTreeMap<String, ServerAddress>,
    /// Flood control towards servers by default (see [`FloodPolicy`]);
    /// `false` here also lets users turn it off.
    pub flood_control: bool,
    /// Flood control's defaults and the most users may ask for.
    pub flood: FloodPolicy,
    /// CA certificates (DER) trusted besides Mozilla's roots, for servers
    /// with a private CA ([`read_ca_file`] reads them from PEM).
    pub extra_ca_certs: Vec<Vec<u8>>,
    /// Which other servers, addresses and ports users may connect to.
    pub policy: Policy,
    /// What one user may hold open or waiting.
    pub limits: Limits,
    /// How long each step of connecting may take.
    pub timeouts: Timeouts,
}

impl Default for IrcConfig {
    fn default() -> Self {
        Self {
            servers: BTreeMap::new(),
            flood_control: true,
            flood: FloodPolicy::default(),
            extra_ca_certs: Vec::new(),
            policy: Policy::default(),
            limits: Limits::default(),
            timeouts: Timeouts::default(),
        }
    }
}

/// Flood control towards IRC servers: a token bucket of `burst` lines,
/// refilled at `rate` lines a second. Users may set their own burst and
/// rate per server, up to the ceilings.
#[derive(Debug, Clone, PartialEq)]
pub struct FloodPolicy {
    /// On unless the user turns it off (where allowed).
    pub on: bool,
    /// Lines at once, by default.
    pub burst: u32,
    /// Lines a second after the burst, by default.
    pub rate: f64,
    /// The most a user may set as burst.
    pub max_burst: u32,
    /// The most a user may set as rate.
    pub max_rate: f64,
    /// Whether users may turn flood control off for a server.
    pub optional: bool,
}

impl Default for FloodPolicy {
    fn default() -> Self {
        Self {
            on: true,
            burst: 5,
            rate: 2.0,
            max_burst: 20,
            max_rate: 10.0,
            optional: false,
        }
    }
}

impl FloodPolicy {
    /// Whether a user may turn flood control off.
    pub fn may_turn_off(&self) -> bool {
        !self.on || self.optional
    }

    /// Checks that the defaults are above zero and within the ceilings;
    /// the error begins with the key at fault.
    pub fn check(&self) -> Result<(), String> {
        if self.burst == 0 || self.burst > self.max_burst {
            return Err(format!(
                "flood_burst ({}) must be from 1 to flood_max_burst ({})",
                self.burst, self.max_burst
            ));
        }
        if self.rate.is_nan() || self.rate <= 0.0 || self.rate > self.max_rate {
            return Err(format!(
                "flood_rate ({}) must be above 0 and at most flood_max_rate ({})",
                self.rate, self.max_rate
            ));
        }
        Ok(())
    }

    /// The bucket for a user's choices (`None`: no flood control), each
    /// brought within the ceilings.
    pub(crate) fn for_user(
        &self,
        on: Option<bool>,
        burst: Option<u32>,
        rate: Option<f64>,
    ) -> Option<(u32, f64)> {
        let on = match on {
            Some(false) if self.may_turn_off() => false,
            Some(_) => true,
            None => self.on,
        };
        on.then(|| {
            (
                burst.unwrap_or(self.burst).clamp(1, self.max_burst),
                rate.filter(|r| *r > 0.0)
                    .unwrap_or(self.rate)
                    .min(self.max_rate),
            )
        })
    }
}

/// What every IRC server supports: direct messages, corrections (sent
/// as IRC users write them, `correction.rs`), case-insensitive ids. A
/// room on a server with `message-tags` or `draft/message-redaction` has
/// more, told at its join (`Event::Capabilities`, `conn/rich.rs`; direct chats likewise).
pub(crate) fn capabilities() -> Capabilities {
    Capabilities {
        direct_messages: true,
        edits: true,
        // Nicks and channels compare case-insensitively on IRC.
        case_insensitive_ids: true,
        ..Capabilities::default()
    }
}

/// The IRC bridge.
///
/// Cheap to clone: each session holds one, and shares the description and
/// the settings with every other.
#[derive(Clone)]
pub struct IrcBridge {
    info: Arc<BridgeInfo>,
    config: Arc<IrcConfig>,
    policy: Arc<Policy>,
    trust: tls::Trust,
}

impl IrcBridge {
    /// A bridge with these settings.
    pub fn new(mut config: IrcConfig) -> Self {
        // `flood_control = false` was the only flood setting once: it keeps its meaning.
        config.flood.on &= config.flood_control;
        // The operator's servers by the one spelling room ids use.
        config.servers = std::mem::take(&mut config.servers)
            .into_iter()
            .map(|(name, a)| {
                let key = host::normalise(&name).map_or(name, |h| h.to_string());
                (key, a)
            })
            .collect();
        let info = BridgeInfo {
            name: "irc",
            display_name: "IRC",
            instructions: "Choose the nick you will have on IRC servers. Then join rooms \
                           like #channel%irc.example.net on this service.",
            fields: vec![
                LoginField {
                    name: "nick",
                    label: "Nickname",
                    description: "Your IRC nickname",
                    kind: FieldKind::Text,
                    required: true,
                    default: None,
                },
                // No account-wide password: a password belongs to one server
                // and is set in that server's settings, never sent to others.
                LoginField {
                    name: "realname",
                    label: "Real name",
                    description: "Shown in WHOIS",
                    kind: FieldKind::Text,
                    required: false,
                    default: None,
                },
            ],
            capabilities: capabilities(),
            server_settings: server_fields(&config.flood),
        };
        Self {
            info: Arc::new(info),
            trust: tls::Trust::new(&config.extra_ca_certs),
            policy: Arc::new(config.policy.clone()),
            config: Arc::new(config),
        }
    }

    /// How to reach the server `key` (in its one spelling), and as whom.
    fn conn_settings(
        &self,
        key: &str,
        credentials: &Credentials,
        server: Option<&Credentials>,
    ) -> conn::ConnSettings {
        let listed = self.config.servers.get(key).and_then(|a| {
            let (h, p) = a.address.rsplit_once(':')?;
            let host = host::normalise(h).unwrap_or_else(|_| Host::Name(h.to_owned()));
            Some((host, p.parse::<u16>().ok()?, a.tls))
        });
        let (host, port, tls, listed_port) = match listed {
            Some((host, port, tls)) => (host, port, tls, Some(port)),
            None => (
                host::normalise(key).unwrap_or_else(|_| Host::Name(key.to_owned())),
                6697,
                true,
                None,
            ),
        };
        let nick = credentials.get("nick").unwrap_or("switchboard").to_owned();
        let mut settings = conn::ConnSettings {
            name: key.to_owned(),
            host,
            ports: vec![conn::Port { number: port, tls }],
            default_port: conn::Port { number: port, tls },
            listed_port,
            verify: tls::Verify::Ca,
            trust: self.trust.clone(),
            policy: Arc::clone(&self.policy),
            timeouts: self.config.timeouts,
            queue_limit: self.config.limits.max_pending_commands,
            password: None,
            username: {
                let u: String = nick
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(9)
                    .collect();
                if u.is_empty() {
                    "user".to_owned()
                } else {
                    u
                }
            },
            realname: credentials.get("realname").unwrap_or(&nick).to_owned(),
            nick,
            flood: self.config.flood.for_user(None, None, None),
            flood_policy: self.config.flood.clone(),
            sasl: None,
            after_connect: Vec::new(),
            charsets: charset::Charsets::default(),
        };
        if let Some(server) = server {
            apply_server_settings(&mut settings, server);
        }
        settings
    }
}

impl Bridge for IrcBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn validate(&self, credentials: &Credentials) -> Result<(), FieldError> {
        let nick = credentials
            .get("nick")
            .ok_or_else(|| FieldError::new("nick", "this field is required"))?;
        valid_nick(nick).map_err(|reason| FieldError::new("nick", format!("the nick {reason}")))?;
        for field in ["realname"] {
            if credentials
                .get(field)
                .is_some_and(|v| v.contains(['\r', '\n', '\0']))
            {
                return Err(FieldError::new(field, "may not hold line breaks"));
            }
        }
        Ok(())
    }

    fn is_server(&self, id: &str) -> bool {
        valid_host(id)
    }

    fn validate_server_settings(&self, settings: &Credentials) -> Result<(), FieldError> {
        server_settings::validate(settings, &self.config.flood)
    }

    fn start(&self, login: Login) -> SessionHandle {
        session::start(self.clone(), login)
    }
}

/// Whether `id` looks like an IRC server's host name.
fn valid_host(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 253
        && id.contains('.')
        && id
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::{Command, ErrorContext, ErrorKind, Event};

    fn creds(nick: &str) -> Credentials {
        let mut c = Credentials::new();
        c.set("nick", nick);
        c
    }

    #[test]
    fn validate_refuses_bad_nicks_and_line_breaks() {
        let b = IrcBridge::new(IrcConfig::default());
        assert!(b.validate(&creds("ferris")).is_ok());
        assert_eq!(b.validate(&creds("bad nick")).unwrap_err().field, "nick");
        assert_eq!(b.validate(&Credentials::new()).unwrap_err().field, "nick");
        let mut c = creds("ferris");
        c.set("realname", "a\r\nQUIT");
        assert_eq!(b.validate(&c).unwrap_err().field, "realname");
    }

    #[test]
    fn flood_control_off_by_the_operator_may_be_turned_on_by_a_user() {
        let off = FloodPolicy {
            on: false,
            ..FloodPolicy::default()
        };
        assert!(off.may_turn_off());
        assert_eq!(off.for_user(None, Some(3), None), None);
        assert_eq!(off.for_user(Some(true), Some(3), None), Some((3, 2.0)));
        let on = FloodPolicy::default();
        assert!(!on.may_turn_off());
        assert_eq!(on.for_user(Some(false), None, Some(50.0)), Some((5, 10.0)));
        let optional = FloodPolicy {
            optional: true,
            ..FloodPolicy::default()
        };
        assert_eq!(optional.for_user(Some(false), None, None), None);
        assert!(FloodPolicy {
            burst: 30,
            ..FloodPolicy::default()
        }
        .check()
        .unwrap_err()
        .starts_with("flood_burst"));
    }

    #[test]
    fn invalid_room_is_an_error_naming_the_room() {
        let cmd = Command::Join {
            room: "no-hash%irc.example.net".into(),
            nick: "x".into(),
            password: None,
        };
        match session::host_of(&cmd) {
            Err(Event::Error {
                context: ErrorContext::Room(r),
                kind: ErrorKind::BadRequest,
                ..
            }) => assert_eq!(r.as_str(), "no-hash%irc.example.net"),
            other => panic!("{other:?}"),
        }
    }
}
