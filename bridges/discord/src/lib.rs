//! Switchboard's Discord bridge: a user's own bot, its guilds' text and
//! announcement channels as persistent rooms.
//!
//! A user registers with a bot token ([`register`]), checked with
//! `GET /users/@me`; the core stores it sealed. A session ([`session`])
//! runs serenity's gateway client (no cache: the bridge keeps the few
//! things it uses) and its REST client. Room ids are channel ids, user ids
//! are Discord user ids, message ids are Discord message ids. Text is
//! converted between Discord markdown and XEP-0393 ([`markdown`]); what
//! the gateway sends becomes events ([`incoming`]). Edits, deletes,
//! reactions ([`reactions`]: full sets per person), replies and typing
//! ([`typing`]) go both ways (`session/rich.rs`).
//!
//! The operator may point the bridge at another API base
//! ([`Settings::api`]); the tests do, at their Discord double.
//!
//! Shared-bot mode ([`Settings::shared_bot_token`]): the operator's one
//! bot, one gateway connection ([`shared`]) for every user who links
//! their Discord account with a one-time code ([`links`]); each sees only
//! the channels their Discord account may see ([`permissions`]).

mod authors;
mod avatars;
mod channel_table;
mod claims;
mod direct;
mod dms;
mod errors;
mod extras;
mod files;
mod guilds;
mod incoming;
mod links;
pub mod markdown;
mod names;
mod outgoing;
mod people;
mod permissions;
mod positions;
mod reactions;
mod register;
mod session;
mod shared;
mod typing;
mod webhooks;

use std::sync::Arc;

use serde::Deserialize;
use switchboard_bridge_api::{
    BoxFuture, Bridge, BridgeInfo, Capabilities, FieldError, FieldKind, Login, LoginField,
    ReactionLimits, Registered, RegistrationStep, SessionHandle,
};

/// The network kind's name (`kind = "discord"`).
pub const NAME: &str = "discord";

/// A log directive the gateway adds unless the operator's filter names
/// serenity: serenity's HTTP request span records the request's route, a
/// webhook's route holds its token, and any event inside that span
/// (hyper's, at debug) would print it.
pub const LOG_DIRECTIVE: &str = "serenity=warn";

/// The operator's settings, `[networks.NAME.settings]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    /// Where Discord's REST API is, instead of `https://discord.com`:
    /// `http://127.0.0.1:PORT` for a test double. The gateway's address
    /// comes from this API (`GET /gateway`).
    pub api: Option<String>,
    /// The token of a bot the operator shares with the gateway's users
    /// (shared-bot mode): a user may register without a bot of their own
    /// and link their Discord account to it. The core's registration rules
    /// (the network's allowed domains) say who may. Never logged.
    pub shared_bot_token: Option<Secret>,
    /// Shared-bot mode: how often, in seconds, a linked account's roles
    /// are read again (Discord tells a bot of role changes only with the
    /// privileged members intent, which the bridge does not ask for).
    /// Default 300.
    pub linked_roles_every: Option<u64>,
}

/// A secret setting: `Debug` never shows it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Settings the bridge cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `api` is not an http(s) URL.
    #[error("api: {0:?} is not an http:// or https:// URL")]
    NotAnUrl(String),
    /// `shared_bot_token` is empty.
    #[error("shared_bot_token: empty")]
    EmptySharedToken,
}

/// What a session needs from the operator's settings.
#[derive(Debug)]
pub(crate) struct Config {
    /// The API base, if not Discord's.
    pub api: Option<String>,
    /// How long a linked account's roles are trusted before they are read
    /// again ([`Settings::linked_roles_every`]).
    pub roles_every: std::time::Duration,
    /// One HTTP client (connection pool, TLS settings and roots) for every
    /// user's REST requests, made when the first needs it: one each cost
    /// some 60 kB per user, and made at start it costs 1 MB with no user.
    client: std::sync::OnceLock<reqwest::Client>,
    /// The client that fetches the files users send (public addresses
    /// only, [`public_http`](switchboard_bridge_api::public_http)), one
    /// per answer to "private addresses allowed", made when first needed.
    downloads: [std::sync::OnceLock<reqwest::Client>; 2],
}

impl Config {
    /// The shared HTTP client.
    pub fn client(&self) -> reqwest::Client {
        self.client
            .get_or_init(|| {
                // As serenity makes its own: only a TLS backend that cannot
                // start fails here.
                reqwest::Client::builder()
                    .use_rustls_tls()
                    .build()
                    .expect("an HTTP client with rustls")
            })
            .clone()
    }

    /// The shared client for the files users send.
    pub fn downloads(&self, allow_private: bool) -> reqwest::Client {
        self.downloads[usize::from(allow_private)]
            .get_or_init(|| {
                switchboard_bridge_api::public_http::builder(allow_private)
                    .use_rustls_tls()
                    .build()
                    .expect("an HTTP client with rustls")
            })
            .clone()
    }
}

/// The Discord bridge.
pub struct DiscordBridge {
    info: BridgeInfo,
    config: Arc<Config>,
    /// The operator's shared bot, if any.
    shared: Option<Arc<shared::SharedBot>>,
}

impl DiscordBridge {
    /// A bridge with these settings.
    pub fn new(settings: Settings) -> Result<Self, SettingsError> {
        if let Some(api) = &settings.api {
            if !(api.starts_with("http://") || api.starts_with("https://")) {
                return Err(SettingsError::NotAnUrl(api.clone()));
            }
        }
        let config = Arc::new(Config {
            api: settings.api.map(|a| a.trim_end_matches('/').to_owned()),
            roles_every: settings
                .linked_roles_every
                .map_or(session::FRESH, std::time::Duration::from_secs),
            client: Default::default(),
            downloads: Default::default(),
        });
        let shared = match settings.shared_bot_token {
            Some(Secret(token)) => {
                let token = token.trim().trim_start_matches("Bot ").to_owned();
                if token.is_empty() {
                    return Err(SettingsError::EmptySharedToken);
                }
                Some(Arc::new(shared::SharedBot::new(Arc::clone(&config), token)))
            }
            None => None,
        };
        Ok(Self {
            info: info(shared.is_some()),
            config,
            shared,
        })
    }
}

/// The registration form's instructions: how to make the bot.
const INSTRUCTIONS: &str = "1. At discord.com/developers/applications, create an application; under Bot, reset and copy its token.\n\
2. On the same page, turn on the Message Content intent.\n\
3. Under OAuth2, invite it (scope bot) to your server with: View Channels, Send Messages, Manage Webhooks, Add Reactions, Attach Files, Read Message History.";

/// The instructions when the operator shares a bot.
const SHARED_INSTRUCTIONS: &str = "Either turn on \"Use the shared bot\": the gateway then shows a code to send to its bot from your Discord account, and you see the channels your account may see.\n\
Or use a bot of your own and give its token:\n\
1. At discord.com/developers/applications, create an application; under Bot, reset and copy its token.\n\
2. On the same page, turn on the Message Content intent.\n\
3. Under OAuth2, invite it (scope bot) to your server with: View Channels, Send Messages, Manage Webhooks, Add Reactions, Attach Files, Read Message History.";

fn info(shared: bool) -> BridgeInfo {
    let token = LoginField {
        name: register::TOKEN,
        label: "Bot token",
        description: "The token of your Discord bot (Bot page of your application).",
        kind: FieldKind::Password,
        required: !shared,
        default: None,
    };
    let fields = if shared {
        vec![
            LoginField {
                name: register::SHARED,
                label: "Use the shared bot",
                description:
                    "Link your Discord account to the gateway's bot (a token given is then ignored; no token means this too).",
                kind: FieldKind::Boolean,
                required: false,
                default: Some("0"),
            },
            token,
        ]
    } else {
        vec![token]
    };
    BridgeInfo {
        name: NAME,
        display_name: "Discord",
        instructions: if shared {
            SHARED_INSTRUCTIONS
        } else {
            INSTRUCTIONS
        },
        fields,
        capabilities: Capabilities {
            // Ids are snowflakes (digits): the case question never arises;
            // false is the safe side.
            case_insensitive_ids: false,
            persistent_rooms: true,
            direct_messages: true,
            edits: true,
            retractions: true,
            reactions: true,
            // A message holds at most 20 distinct reactions (Discord's error
            // 30010), so no one can have more on it; any emoji, custom ones
            // by name.
            reaction_limits: ReactionLimits {
                per_user: Some(20),
                allowlist: None,
            },
            replies: true,
            typing: true,
            // Files from XMPP are fetched and uploaded (`session/files.rs`).
            attachments: true,
            // Deleting others' messages takes Manage Messages, which makes
            // the bot (the user's own member) a moderator (`guilds.rs`).
            moderation_by_role: true,
            // The user's own picture as a webhook message's `avatar_url`.
            own_avatar: true,
            ..Capabilities::default()
        },
        server_settings: vec![],
    }
}

impl Bridge for DiscordBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn register(
        &self,
        step: RegistrationStep,
    ) -> BoxFuture<'static, Result<Registered, FieldError>> {
        match (&self.shared, register::wants_shared(&step)) {
            (Some(bot), true) => Box::pin(register::shared_step(Arc::clone(bot), step)),
            _ => Box::pin(register::step(Arc::clone(&self.config), step)),
        }
    }

    fn start(&self, login: Login) -> SessionHandle {
        session::start(Arc::clone(&self.config), self.shared.clone(), login)
    }

    /// A guild is a server of the network: `guild-<id>`, whose disco items
    /// are its rooms.
    fn is_server(&self, id: &str) -> bool {
        guild_of_server(id).is_some()
    }
}

/// The guild a server id (`guild-<id>`) names.
pub(crate) fn guild_of_server(id: &str) -> Option<u64> {
    let digits = id.strip_prefix(GUILD_PREFIX)?;
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

/// How a guild's server id starts: `guild-2000`.
pub const GUILD_PREFIX: &str = "guild-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_bot_token_is_never_shown() {
        let settings = Settings {
            api: None,
            shared_bot_token: Some(Secret("MTAw.secret-token".into())),
            linked_roles_every: None,
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("shared_bot_token"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }

    #[test]
    fn the_form_offers_the_shared_bot_only_when_configured() {
        let own = DiscordBridge::new(Settings::default()).unwrap();
        let names: Vec<_> = own.info().fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["token"]);
        assert!(own.info().fields[0].required);
        let shared = DiscordBridge::new(Settings {
            api: None,
            shared_bot_token: Some(Secret("MTAw.x".into())),
            linked_roles_every: None,
        })
        .unwrap();
        let names: Vec<_> = shared.info().fields.iter().map(|f| f.name).collect();
        assert_eq!(names, ["shared", "token"]);
        assert!(!shared.info().fields[1].required);
        let empty = Settings {
            api: None,
            shared_bot_token: Some(Secret(" ".into())),
            linked_roles_every: None,
        };
        assert!(DiscordBridge::new(empty).is_err());
    }
}
