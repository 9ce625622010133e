//! Switchboard's Matrix bridge: logs in to any homeserver as an ordinary
//! client, for each registered user, and shows their rooms as group chats.
//!
//! ```toml
//! [networks.matrix.settings]
//! allow_private_addresses = false   # homeservers on loopback/private addresses
//! sync_timeout_secs = 30            # how long a sync long-poll is held open
//! sliding_sync = true               # sliding sync (MSC4186) where offered
//! ```
//!
//! Registration ([`register`]) finds the homeserver (a URL, or a server
//! name through `.well-known`), swaps the password for an access token and a
//! device named "Switchboard" (or checks a pasted token), and stores the
//! homeserver URL, user id, device id and token, never the password.
//!
//! A session ([`session`]) long-polls a filtered `/sync` (lazy-loaded
//! members, a short timeline, no presence) and saves its position with
//! `Event::SaveState`, so a restart resumes exactly. Joined rooms become
//! `RoomJoined` (named by `m.room.name`, the canonical alias or the
//! heroes), their members as they are seen, their topic; `m.text`,
//! `m.notice` and `m.emote` become messages. Sent texts carry the command's
//! token in the transaction id, so their echo is known as the user's own.
//! Edits, redactions and reactions (`relations` in, `rich` out, sets
//! kept in `reactions`), replies, typing and read receipts (`signals`)
//! go both ways in rooms. Rooms the account data's `m.direct` lists are
//! direct chats with their person (`direct.rs`); invitations to other rooms
//! are told to the core (`invites.rs`). Unregistering logs out the device
//! a password login made ([`register::log_out`]).
//!
//! The client-server API's JSON is written out by hand ([`api`]) for the
//! subset used; see the README for why not ruma.

pub mod api;
mod avatars;
mod client;
mod commands;
mod direct;
mod discover;
mod gap;
mod html;
mod invites;
mod media;
mod media_fetch;
mod media_in;
mod mentions;
mod messages;
mod power;
mod reactions;
pub mod register;
mod relations;
mod rich;
mod rooms;
mod sent_files;
mod session;
mod signals;
mod sliding;
mod spaces;
mod styling;
mod sync;

use std::time::Duration;

use serde::Deserialize;
use switchboard_bridge_api::public_http;
use switchboard_bridge_api::{
    BoxFuture, Bridge, BridgeInfo, Capabilities, Credentials, FieldError, FieldKind, Login,
    LoginField, Registered, RegistrationStep, SessionHandle,
};

pub use client::ApiError;

/// The network kind's name.
pub const NAME: &str = "matrix";

/// The operator's settings, `[networks.NAME.settings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MatrixSettings {
    /// Whether users may name homeservers at loopback, private or
    /// link-local address literals (and `localhost`). Off: a user could
    /// otherwise make the gateway probe its own network.
    pub allow_private_addresses: bool,
    /// How long the server may hold a sync open, in seconds.
    pub sync_timeout_secs: u64,
    /// Whether sessions use simplified sliding sync (MSC4186) where the
    /// homeserver offers it; off, always the filtered `/sync`.
    pub sliding_sync: bool,
}

impl Default for MatrixSettings {
    fn default() -> Self {
        Self {
            allow_private_addresses: false,
            sync_timeout_secs: 30,
            sliding_sync: true,
        }
    }
}

/// Settings the bridge cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A sync timeout of zero or over ten minutes.
    #[error("sync_timeout_secs: {0} is not between 1 and 600")]
    SyncTimeout(u64),
    /// The HTTP client could not be set up (no TLS roots).
    #[error("cannot set up HTTPS: {0}")]
    Http(String),
}

/// The Matrix bridge: one HTTP client (one connection pool) for every user.
pub struct MatrixBridge {
    info: BridgeInfo,
    http: reqwest::Client,
    settings: MatrixSettings,
}

impl MatrixBridge {
    /// A bridge with these settings.
    pub fn new(settings: MatrixSettings) -> Result<Self, SettingsError> {
        if !(1..=600).contains(&settings.sync_timeout_secs) {
            return Err(SettingsError::SyncTimeout(settings.sync_timeout_secs));
        }
        // Public addresses only, whatever a name resolves to or a redirect
        // names, unless the operator allowed private ones.
        let http = public_http::builder(settings.allow_private_addresses)
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(2)
            .build()
            .map_err(|e| SettingsError::Http(e.to_string()))?;
        Ok(Self {
            info: info(),
            http,
            settings,
        })
    }
}

/// The login form and what the bridge supports.
fn info() -> BridgeInfo {
    BridgeInfo {
        name: NAME,
        display_name: "Matrix",
        instructions: "Log in to your Matrix account: your homeserver (a server name \
                       such as matrix.org, or its URL), your user name and password — \
                       or an access token instead of them. The password is exchanged \
                       for an access token at once and never stored.",
        fields: vec![
            LoginField {
                name: "homeserver",
                label: "Homeserver",
                description: "Server name (matrix.org) or URL (https://matrix.example.org)",
                kind: FieldKind::Text,
                required: true,
                default: None,
            },
            LoginField {
                name: "user",
                label: "User",
                description: "Your user name or full id (@you:matrix.org)",
                kind: FieldKind::Text,
                required: false,
                default: None,
            },
            LoginField {
                name: "password",
                label: "Password",
                description: "Exchanged for an access token; never stored",
                kind: FieldKind::Password,
                required: false,
                default: None,
            },
            LoginField {
                name: "token",
                label: "Access token",
                description: "Instead of user and password",
                kind: FieldKind::Password,
                required: false,
                default: None,
            },
        ],
        capabilities: Capabilities {
            // Matrix ids are case-sensitive: `@Bob:hs` and `@bob:hs` are two people.
            case_insensitive_ids: false,
            persistent_rooms: true,
            edits: true,
            retractions: true,
            reactions: true,
            replies: true,
            typing: true,
            read_markers: true,
            direct_messages: true,
            // Files the user sends (`media.rs`).
            attachments: true,
            // Spaces, listed in the component's disco#items (`spaces.rs`).
            room_groups: true,
            ..Capabilities::default()
        },
        server_settings: vec![],
    }
}

impl Bridge for MatrixBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn register(
        &self,
        step: RegistrationStep,
    ) -> BoxFuture<'static, Result<Registered, FieldError>> {
        let http = self.http.clone();
        let allow_private = self.settings.allow_private_addresses;
        Box::pin(register::register(http, step.answers, allow_private))
    }

    fn unregistered(&self, stored: Credentials) -> BoxFuture<'static, ()> {
        Box::pin(register::log_out(self.http.clone(), stored))
    }

    fn start(&self, login: Login) -> SessionHandle {
        let sync = session::SyncChoice {
            timeout: Duration::from_secs(self.settings.sync_timeout_secs),
            sliding: self.settings.sliding_sync,
        };
        let files = login.files;
        session::start(self.http.clone(), sync, files, login)
    }
}
