//! A bridge: its self-description, what it supports, and how it starts a session.

use std::collections::BTreeMap;

use crate::{
    login, BoxFuture, Credentials, FieldError, LoginField, Registered, RegistrationStep,
    SessionHandle,
};

/// What a bridge tells the core about itself.
#[derive(Debug, Clone)]
pub struct BridgeInfo {
    /// Short lowercase name, also the disco identity type (`irc`, `discord`, `matrix`).
    pub name: &'static str,
    /// Human name for forms and disco (`IRC`, `Discord`, `Matrix`).
    pub display_name: &'static str,
    /// Instructions shown on the registration form.
    pub instructions: &'static str,
    /// The fields of the login form, in order.
    pub fields: Vec<LoginField>,
    /// What the network supports.
    pub capabilities: Capabilities,
    /// Settings a user may set per server, for networks made of several
    /// servers (IRC servers, Matrix homeservers); empty where there is one.
    pub server_settings: Vec<LoginField>,
}

/// What a network supports beyond plain text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Capabilities {
    /// Messages can be edited after sending.
    pub edits: bool,
    /// Messages can be retracted (deleted).
    pub retractions: bool,
    /// Messages can carry emoji reactions.
    pub reactions: bool,
    /// How the network limits each person's reactions, where it has
    /// [`Capabilities::reactions`] (XEP-0444 restricted reactions); the
    /// default is no limit.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub reaction_limits: ReactionLimits,
    /// A message can reply to another one.
    pub replies: bool,
    /// Typing notifications.
    pub typing: bool,
    /// Room history can be fetched from the network.
    pub history: bool,
    /// Files can be attached.
    pub attachments: bool,
    /// Direct (one-to-one) messages with other users.
    pub direct_messages: bool,
    /// Read markers.
    pub read_markers: bool,
    /// Ids that differ only in the case of ASCII letters name the same room
    /// or person (IRC: `#Rust` is `#rust`). The core then lets the XMPP
    /// server fold them in JIDs and keeps them readable; otherwise (false,
    /// the default, the safe side: Matrix, Discord) it escapes capitals so
    /// that `@Bob:hs` and `@bob:hs` stay two JIDs.
    pub case_insensitive_ids: bool,
    /// The user's rooms outlive their XMPP clients: when the last resource
    /// leaves (or goes offline), the session stays in the network room and
    /// the archive keeps recording; leaving the network room is an
    /// explicit command. Discord and Matrix rooms are; IRC channels are
    /// not, unless the user sets a channel persistent.
    pub persistent_rooms: bool,
    /// The network groups rooms (Matrix spaces): the component's disco#items
    /// lists the user's groups (`ListRooms` with no `within`), each an item
    /// with a node whose items are its rooms (`ListRooms` `within` it).
    pub room_groups: bool,
    /// Only the network's moderators may retract others' messages, and the
    /// user's own role in a room says whether they are one (Discord: the
    /// bot's Manage Messages). The core then offers XEP-0425 moderation in
    /// a joined room only while the user's role there is operator or
    /// owner; otherwise (false) wherever the network can retract, and the
    /// network's refusal answers a user who may not.
    pub moderation_by_role: bool,
    /// The network shows the XMPP user's own picture by URL (Discord's
    /// webhook `avatar_url`): the core reads the user's avatar (XEP-0153
    /// hash in their presence, their vCard), publishes it on the XMPP
    /// server's upload service and tells the session with
    /// [`Command::SetOwnAvatar`](crate::Command::SetOwnAvatar). Off
    /// (the default): the core does none of this.
    pub own_avatar: bool,
}

/// Limits a network puts on one person's reactions to one message.
/// Static data, so that [`Capabilities`] stays `Copy`: a bridge whose
/// limits come from its settings leaks them once, at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReactionLimits {
    /// At most this many reactions per person on a message (Discord: 20
    /// distinct emoji on a message in all); `None`: no limit.
    pub per_user: Option<u32>,
    /// Only these reactions can be made; `None`: any emoji.
    pub allowlist: Option<&'static [&'static str]>,
}

impl ReactionLimits {
    /// Whether there is any limit.
    pub fn any(&self) -> bool {
        self.per_user.is_some() || self.allowlist.is_some()
    }
}

/// A network bridge: describes itself and starts sessions.
pub trait Bridge: Send + Sync + 'static {
    /// Self-description: name, login form, capabilities.
    fn info(&self) -> &BridgeInfo;

    /// Checks a filled-in login form before anything is stored. Returns an
    /// error naming the field at fault.
    fn validate(&self, credentials: &Credentials) -> Result<(), FieldError> {
        login::check_required(&self.info().fields, credentials)
    }

    /// One step of a registration: may talk to the network (log in, swap a
    /// password for a token), and answers with what to store
    /// ([`Registered::Done`]) or another form ([`Registered::NextStep`]).
    /// Errors name the field at fault. The core runs it off its router, one
    /// at a time per user, and gives up on it after a while.
    ///
    /// The default checks the login form with [`Bridge::validate`] and
    /// stores it as typed, in one step.
    fn register(
        &self,
        step: RegistrationStep,
    ) -> BoxFuture<'static, Result<Registered, FieldError>> {
        let outcome = self.validate(&step.answers).map(|()| Registered::Done {
            store: step.answers,
        });
        Box::pin(std::future::ready(outcome))
    }

    /// Starts a session for one user. It returns at once; connecting,
    /// failing and reconnecting are reported as [`Event`](crate::Event)s. The core starts
    /// one at registration and at start-up, and again on the user's next
    /// command after it ended an idle one ([`Event::Idle`](crate::Event::Idle)).
    fn start(&self, login: Login) -> SessionHandle;

    /// The user unregistered: undo at the network what [`Bridge::register`]
    /// set up (log out the device it made), given what was stored. The
    /// core calls it once, after the user's session has ended, off its
    /// router; failures are the bridge's to log. The default does nothing.
    fn unregistered(&self, stored: Credentials) -> BoxFuture<'static, ()> {
        drop(stored);
        Box::pin(std::future::ready(()))
    }

    /// Whether `id` names one of the network's servers (for per-server
    /// settings and room lists), as opposed to a room or a person.
    fn is_server(&self, id: &str) -> bool {
        let _ = id;
        false
    }

    /// Checks per-server settings before they are stored.
    fn validate_server_settings(&self, settings: &Credentials) -> Result<(), FieldError> {
        login::check_required(&self.info().server_settings, settings)
    }
}

/// Everything a bridge needs to start one user's session. `Debug` shows
/// no value of the credentials nor of the state.
pub struct Login {
    /// An opaque, stable tag for the user (for logs and per-user state); never a
    /// secret. Bridges must not parse it.
    pub account: String,
    /// What was stored at registration: the login form as the user filled
    /// it in, or what [`Bridge::register`] returned to store instead.
    pub credentials: Credentials,
    /// Sync positions and other state the session saved earlier with
    /// [`Event::SaveState`](crate::Event::SaveState); secret values come
    /// back opened.
    pub state: BTreeMap<String, String>,
    /// Per-server settings the user made, by server id.
    pub server_settings: BTreeMap<String, Credentials>,
    /// The operator's limits for the files the user sends (`[files]`).
    pub files: crate::files::Limits,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.account)
            .field("credentials", &self.credentials)
            .field("state", &self.state.keys().collect::<Vec<_>>())
            .field("server_settings", &self.server_settings)
            .field("files", &self.files)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_debug_shows_no_secret() {
        let mut credentials = Credentials::new();
        credentials.set("token", "syt_secret");
        let login = Login {
            account: "alice@example.org".into(),
            credentials,
            state: BTreeMap::from([("refresh".to_owned(), "refresh_secret".to_owned())]),
            server_settings: BTreeMap::new(),
            files: Default::default(),
        };
        let shown = format!("{login:?}");
        assert!(
            shown.contains("refresh") && shown.contains("token"),
            "{shown}"
        );
        assert!(!shown.contains("secret"), "{shown}");
    }
}
