//! The contract between Switchboard's core and its network bridges.
//!
//! A bridge speaks one chat network (IRC, Discord, Matrix) and knows nothing of
//! XMPP. It describes itself with [`BridgeInfo`] and, given a user's
//! [`Credentials`], starts a session: an actor that takes [`Command`]s on one
//! bounded channel and emits [`Event`]s on another ([`SessionHandle`]). The
//! session owns its connection and its reconnects, and reports both as events.
//!
//! Ids ([`RoomId`], [`UserId`], [`MessageId`]) are opaque strings the bridge
//! picks and keeps stable; the core turns them into JIDs.
//!
//! Text crosses the contract in one form: plain text with XEP-0393 message
//! styling (`*bold*`, `_italic_`, `` `code` ``, ```` ``` ```` blocks, `> quote`).
//!
//! The `serde` feature derives `Serialize` and `Deserialize` on commands,
//! events and their parts (ids as plain strings). Only the test network
//! (`switchboard-testnet`) turns it on, to carry them over its control
//! channel; the gateway's own build does not.

pub mod address;
mod avatar;
mod bridge;
pub mod channel;
mod command;
mod credentials;
#[cfg(feature = "download")]
pub mod download;
mod event;
mod files;
mod ids;
mod login;
mod member;
mod message;
#[cfg(feature = "download")]
pub mod public_http;
mod register;
mod session;

pub use avatar::AvatarRef;
pub use bridge::{Bridge, BridgeInfo, Capabilities, Login, ReactionLimits};
pub use command::{Command, TypingState};
pub use credentials::Credentials;
pub use event::{ErrorContext, ErrorKind, Event, RoomListing};
pub use files::{FetchError, FileFetcher, Limits};
pub use ids::{MessageId, RoomId, UserId};
pub use login::{check_required, FieldError, FieldKind, LoginField};
pub use member::{Availability, LeaveReason, Member, Role};
pub use message::{Attachment, Message, MessageKind, Target, Token};
pub use register::{BoxFuture, Registered, RegistrationStep, StepState};
pub use session::{session_channels, SessionEnd, SessionHandle};

/// How many commands or events may wait in a session's channel before the
/// sender waits: the back-pressure bound between the core and a bridge.
pub const CHANNEL_BOUND: usize = 1024;
