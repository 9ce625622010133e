//! A chat network in memory, for the tests: every capability of the
//! contract, driven by the test over a control channel.
//!
//! The gateway has it only when built with its `test-network` feature (off
//! by default, never in a release build), under the network name `testnet`:
//!
//! ```toml
//! [networks.testnet]
//! jid = "testnet.localhost"
//! secret = "…"
//! [networks.testnet.settings]
//! control = "127.0.0.1:PORT"   # the test listens here; loopback only
//! ```
//!
//! A user registers with `username`, which names their session on the
//! control channel. With a `password` too, registration takes a second
//! step ([`register`]): the network asks for a code ([`register::CODE`])
//! and stores a token in place of the password; a session started with a
//! token saves a secret state value (`refresh`) at once. The bridge
//! connects to `control` when its first session starts, and then speaks
//! newline-delimited JSON ([`wire`]): it reports each session's start and
//! end and every [`Command`] a session gets, in order, and takes events the
//! test injects into a user's session. A session answers by itself what a
//! network would: `Connected` at start, a join with `RoomJoined` and the
//! room's members (those the injected member events left in it, in the
//! order they came, then the user), a sent text with its echo (`own`, the
//! command's token, an id `tn-N`), edits, retractions, reactions, nick and
//! topic changes with their echoes, a room list of the rooms any session
//! joined (rooms persist), an empty history.
//! An injected attachment marked `needs_credentials` is fetched by the
//! session ([`files`]) with the header `Authorization: Bearer testnet-<user>`.
//! Everything else a room or a contact does, the test injects.
//! Capabilities can be turned off (`without = ["reactions", …]`) and
//! reactions limited (`max_reactions_per_user`, `reaction_allowlist`) in
//! the settings, for tests of what the core advertises.
//!
//! [`Command`]: switchboard_bridge_api::Command

pub mod files;
mod hub;
pub mod register;
mod sent_files;
mod session;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use switchboard_bridge_api::{
    BoxFuture, Bridge, BridgeInfo, Capabilities, FieldError, FieldKind, Login, LoginField,
    ReactionLimits, Registered, RegistrationStep, SessionHandle,
};

use hub::Hub;

/// The network name the gateway knows it by.
pub const NAME: &str = "testnet";

/// The operator's settings, `[networks.testnet.settings]`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Settings {
    /// The test's control listener (`127.0.0.1:PORT`); without it the
    /// network runs on its own, with nobody to inject events.
    pub control: Option<String>,
    /// Capabilities this network lacks, by their contract names
    /// (`edits`, `retractions`, `reactions`, `replies`, `typing`,
    /// `history`, `attachments`, `direct_messages`, `read_markers`): a
    /// test of a network without them. Every one is on by default.
    #[serde(default)]
    pub without: Vec<String>,
    /// XEP-0444 restricted reactions: at most this many per person on a message.
    pub max_reactions_per_user: Option<u32>,
    /// XEP-0444 restricted reactions: only these.
    pub reaction_allowlist: Option<Vec<String>>,
}

/// Settings the bridge cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `control` is not `ip:port`.
    #[error("control: {0:?} is not an address like 127.0.0.1:PORT")]
    NotAnAddress(String),
    /// `control` is not on loopback: the test network talks to nothing else.
    #[error("control: {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// `without` names no capability of the contract.
    #[error("without: {0:?} is not a capability")]
    UnknownCapability(String),
}

/// The test network's bridge.
pub struct TestnetBridge {
    info: BridgeInfo,
    hub: Arc<Hub>,
    files: Arc<sent_files::Files>,
}

impl TestnetBridge {
    /// A bridge with these settings.
    pub fn new(settings: Settings) -> Result<Self, SettingsError> {
        let control = match settings.control.clone() {
            None => None,
            Some(text) => {
                let addr: SocketAddr = text
                    .parse()
                    .map_err(|_| SettingsError::NotAnAddress(text))?;
                if !addr.ip().is_loopback() {
                    return Err(SettingsError::NotLoopback(addr));
                }
                Some(addr)
            }
        };
        let mut info = info();
        capabilities(&mut info.capabilities, &settings)?;
        Ok(Self {
            info,
            hub: Hub::new(control),
            files: Arc::new(sent_files::Files::new()),
        })
    }
}

/// What the test network is: a username (and a password for the two-step
/// login), every capability.
fn info() -> BridgeInfo {
    BridgeInfo {
        name: NAME,
        display_name: "Test network",
        instructions: "Choose a username on the test network.",
        fields: vec![
            LoginField {
                name: "username",
                label: "Username",
                description:
                    "Your name on the test network; the test addresses your session by it.",
                kind: FieldKind::Text,
                required: true,
                default: None,
            },
            LoginField {
                name: "password",
                label: "Password",
                description:
                    "Give one to log in in two steps: a code, then a token is stored instead.",
                kind: FieldKind::Password,
                required: false,
                default: None,
            },
        ],
        capabilities: Capabilities {
            edits: true,
            retractions: true,
            reactions: true,
            replies: true,
            typing: true,
            history: true,
            attachments: true,
            direct_messages: true,
            read_markers: true,
            // No limit unless the settings say (`capabilities`).
            reaction_limits: ReactionLimits::default(),
            // Ids are case-sensitive, as Matrix's are: `Bob` and `bob` are two people.
            case_insensitive_ids: false,
            persistent_rooms: true,
            room_groups: false,
            moderation_by_role: false,
            // The user's own picture is Discord's alone for now.
            own_avatar: false,
        },
        server_settings: vec![],
    }
}

/// The operator's (the test's) changes to every capability: those turned
/// off, the reaction limits (leaked once: the contract's limits are static).
fn capabilities(caps: &mut Capabilities, settings: &Settings) -> Result<(), SettingsError> {
    for name in &settings.without {
        let flag = match name.as_str() {
            "edits" => &mut caps.edits,
            "retractions" => &mut caps.retractions,
            "reactions" => &mut caps.reactions,
            "replies" => &mut caps.replies,
            "typing" => &mut caps.typing,
            "history" => &mut caps.history,
            "attachments" => &mut caps.attachments,
            "direct_messages" => &mut caps.direct_messages,
            "read_markers" => &mut caps.read_markers,
            _ => return Err(SettingsError::UnknownCapability(name.clone())),
        };
        *flag = false;
    }
    caps.reaction_limits.per_user = settings.max_reactions_per_user;
    caps.reaction_limits.allowlist = settings.reaction_allowlist.as_ref().map(|list| {
        let leaked: Vec<&'static str> = list
            .iter()
            .map(|e| &*Box::leak(e.clone().into_boxed_str()))
            .collect();
        &*Box::leak(leaked.into_boxed_slice())
    });
    Ok(())
}

impl Bridge for TestnetBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn register(
        &self,
        step: RegistrationStep,
    ) -> BoxFuture<'static, Result<Registered, FieldError>> {
        register::step(&self.info.fields, step)
    }

    fn start(&self, login: Login) -> SessionHandle {
        session::start(Arc::clone(&self.hub), Arc::clone(&self.files), login)
    }
}

#[cfg(test)]
mod tests;
