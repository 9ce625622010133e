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

pub mod channel;
mod credentials;
mod ids;
mod login;

pub use credentials::Credentials;
pub use ids::{MessageId, RoomId, UserId};
pub use login::{FieldError, FieldKind, LoginField};

use std::collections::BTreeMap;
use std::time::SystemTime;

/// How many commands or events may wait in a session's channel before the
/// sender waits: the back-pressure bound between the core and a bridge.
pub const CHANNEL_BOUND: usize = 1024;

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
pub struct Capabilities {
    /// Messages can be edited after sending.
    pub edits: bool,
    /// Messages can be retracted (deleted).
    pub retractions: bool,
    /// Messages can carry emoji reactions.
    pub reactions: bool,
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

    /// Starts a session for one user. It returns at once; connecting,
    /// failing and reconnecting are reported as [`Event`]s. The core starts
    /// one at registration and at start-up, and again on the user's next
    /// command after it ended an idle one ([`Event::Idle`]).
    fn start(&self, login: Login) -> SessionHandle;

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

/// Everything a bridge needs to start one user's session.
#[derive(Debug)]
pub struct Login {
    /// An opaque, stable tag for the user (for logs and per-user state); never a
    /// secret. Bridges must not parse it.
    pub account: String,
    /// The login form as the user filled it in.
    pub credentials: Credentials,
    /// Sync positions and other state the session saved earlier with
    /// [`Event::SaveState`].
    pub state: BTreeMap<String, String>,
    /// Per-server settings the user made, by server id.
    pub server_settings: BTreeMap<String, Credentials>,
}

/// The core's end of a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Commands into the session.
    pub commands: channel::Sender<Command>,
    /// Events out of the session. The session ends when this closes.
    pub events: channel::Receiver<Event>,
}

/// The bridge's end of a running session.
#[derive(Debug)]
pub struct SessionEnd {
    /// Commands from the core.
    pub commands: channel::Receiver<Command>,
    /// Events to the core.
    pub events: channel::Sender<Event>,
}

/// Makes the two ends of a session's channels.
pub fn session_channels() -> (SessionHandle, SessionEnd) {
    let (command_tx, command_rx) = channel::channel(CHANNEL_BOUND);
    let (event_tx, event_rx) = channel::channel(CHANNEL_BOUND);
    (
        SessionHandle {
            commands: command_tx,
            events: event_rx,
        },
        SessionEnd {
            commands: command_rx,
            events: event_tx,
        },
    )
}

/// Where a message goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A room (channel, guild channel, Matrix room).
    Room(RoomId),
    /// One user, directly.
    User(UserId),
}

/// A token the core puts on a command so that the session can name it in a
/// later event (an echo or an error). For messages it is the XMPP message id.
pub type Token = String;

/// The kind of a text message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageKind {
    /// Ordinary text.
    #[default]
    Normal,
    /// An action (`/me waves`): the text is without the `/me ` prefix.
    Action,
    /// A notice from a service or bot.
    Notice,
}

/// Typing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypingState {
    /// Composing now.
    Active,
    /// Stopped composing.
    Paused,
    /// Left the conversation's input.
    Inactive,
}

/// What the core asks a session to do.
#[derive(Debug, Clone)]
pub enum Command {
    /// Send text.
    SendText {
        /// Where to.
        target: Target,
        /// The text, XEP-0393 styled; may hold several lines.
        text: String,
        /// Normal text or an action.
        kind: MessageKind,
        /// The message this one replies to, when the network supports replies.
        reply_to: Option<MessageId>,
        /// Named again in the echo or error for this message.
        token: Token,
    },
    /// Replace the text of an earlier message.
    Edit {
        /// The conversation.
        target: Target,
        /// The message to edit.
        message: MessageId,
        /// The new text.
        text: String,
        /// Named again in an error.
        token: Token,
    },
    /// Retract (delete) an earlier message.
    Retract {
        /// The conversation.
        target: Target,
        /// The message.
        message: MessageId,
        /// Named again in an error.
        token: Token,
    },
    /// Set the user's reactions on a message (the full set; empty clears).
    React {
        /// The conversation.
        target: Target,
        /// The message.
        message: MessageId,
        /// Emoji.
        reactions: Vec<String>,
        /// Named again in an error.
        token: Token,
    },
    /// Join a room.
    Join {
        /// The room.
        room: RoomId,
        /// The nick the user asked for, where the network has per-room nicks.
        nick: String,
        /// Room password, if any.
        password: Option<String>,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: RoomId,
        /// Parting words.
        reason: Option<String>,
    },
    /// Change the user's nick (in one room where nicks are per room).
    SetNick {
        /// The room, or `None` for the whole network.
        room: Option<RoomId>,
        /// The new nick.
        nick: String,
    },
    /// Change a room's topic.
    SetTopic {
        /// The room.
        room: RoomId,
        /// The new topic.
        topic: String,
    },
    /// Typing notification.
    Typing {
        /// The conversation.
        target: Target,
        /// The state.
        state: TypingState,
    },
    /// Mark a conversation read up to a message.
    MarkRead {
        /// The conversation.
        target: Target,
        /// The last message read.
        message: MessageId,
    },
    /// List the network's rooms, a page at a time.
    ListRooms {
        /// Named again in [`Event::RoomList`].
        token: Token,
        /// On this server, for networks made of several.
        server: Option<String>,
        /// Continue after this cursor (from the previous page).
        after: Option<String>,
        /// At most this many rooms.
        limit: usize,
    },
    /// Fetch a room's history before a point.
    FetchHistory {
        /// Named again in [`Event::History`].
        token: Token,
        /// The room.
        room: RoomId,
        /// Before this message, or the newest if `None`.
        before: Option<MessageId>,
        /// At most this many messages.
        limit: usize,
    },
    /// New per-server settings; they apply from the next connection to it.
    ConfigureServer {
        /// The server id.
        server: String,
        /// The settings, as the user filled them in.
        settings: Credentials,
    },
    /// Close the session cleanly; the session ends its event stream after.
    Shutdown,
}

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The network's id for the person.
    pub user: UserId,
    /// The name shown in the room.
    pub nick: String,
    /// Their standing in the room.
    pub role: Role,
    /// Away (with a message) or present.
    pub away: Option<String>,
}

/// A member's standing in a room, from the network's modes or powers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Role {
    /// Can read, not speak (a moderated room without voice).
    Visitor,
    /// Ordinary member.
    #[default]
    Member,
    /// Voiced or half-operator.
    Voiced,
    /// Operator / moderator.
    Operator,
    /// Owner / admin of the room.
    Owner,
}

/// Why a member left a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaveReason {
    /// Left on their own, with parting words.
    Part(Option<String>),
    /// Disconnected from the network.
    Quit(Option<String>),
    /// Kicked.
    Kicked {
        /// Who kicked, if known.
        by: Option<String>,
        /// Why.
        reason: Option<String>,
    },
    /// Banned.
    Banned {
        /// Why.
        reason: Option<String>,
    },
}

/// An attachment on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where to fetch it.
    pub url: String,
    /// File name.
    pub name: Option<String>,
    /// MIME type.
    pub media_type: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
}

/// A message seen on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The network's id for it (for edits, reactions, replies); bridges of
    /// networks without ids make a unique one.
    pub id: MessageId,
    /// The conversation: a room, or the other user of a direct conversation.
    pub target: Target,
    /// Who wrote it.
    pub author: UserId,
    /// The author's name as shown in the room.
    pub author_nick: String,
    /// XEP-0393 styled text.
    pub text: String,
    /// Normal, action or notice.
    pub kind: MessageKind,
    /// The message it replies to.
    pub reply_to: Option<MessageId>,
    /// Files.
    pub attachments: Vec<Attachment>,
    /// When it was sent, if the network says (otherwise: when it arrived).
    pub timestamp: Option<SystemTime>,
    /// The user's own message coming back (from another client of theirs, or
    /// the echo of a [`Command::SendText`], whose token is then set).
    pub own: bool,
    /// For echoes: the token of the command that sent it.
    pub token: Option<Token>,
}

/// What kind of failure an [`Event::Error`] reports; the core turns it into
/// the matching XMPP error condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A name is taken (nick in use).
    Conflict,
    /// No such room or user.
    NotFound,
    /// Not allowed (banned, invite only, no voice).
    Forbidden,
    /// A room needs a password, or the one given is wrong.
    NotAuthorized,
    /// The request makes no sense (invalid channel name).
    BadRequest,
    /// The network cannot be reached now; the command was not carried out.
    Unavailable,
    /// Anything else.
    Other,
}

/// Where an [`Event::Error`] belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorContext {
    /// The session as a whole.
    Session,
    /// A room (a join that failed, for instance).
    Room(RoomId),
    /// The command that carried this token.
    Command(Token),
    /// The network's server of this name (as [`Bridge::is_server`] knows
    /// it), whose own words `text` is: the core says it from that
    /// server, never as the gateway's.
    Server(String),
}

/// Presence of a contact or member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Online.
    Online,
    /// Away, with a message.
    Away(Option<String>),
    /// Offline.
    Offline,
}

/// A room in a [`Event::RoomList`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomListing {
    /// The room's id.
    pub room: RoomId,
    /// Its name.
    pub name: String,
    /// How many members, if known.
    pub members: Option<u64>,
    /// Its topic.
    pub topic: Option<String>,
}

/// What a session tells the core.
#[derive(Debug, Clone)]
pub enum Event {
    /// Logged in to the network (again).
    Connected {
        /// The user's own id on the network.
        own_id: UserId,
        /// The user's nick on the network.
        nick: String,
    },
    /// The connection is gone.
    Disconnected {
        /// Why, in words for the user.
        reason: String,
        /// Whether the session will try again by itself.
        retrying: bool,
    },
    /// The user is in a room now. Members follow in [`Event::Members`].
    RoomJoined {
        /// The room.
        room: RoomId,
        /// Its display name.
        name: String,
        /// The user's nick in it.
        own_nick: String,
        /// The network changed the requested nick.
        nick_changed: bool,
    },
    /// A batch of a room's members (after a join); `complete` on the last.
    Members {
        /// The room.
        room: RoomId,
        /// This batch.
        members: Vec<Member>,
        /// No more batches follow.
        complete: bool,
    },
    /// The user left a room (or was made to).
    RoomLeft {
        /// The room.
        room: RoomId,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone joined a room.
    MemberJoined {
        /// The room.
        room: RoomId,
        /// Who.
        member: Member,
    },
    /// Someone left a room. The core ignores a nick that is not in the
    /// room, so a bridge may tell a network-wide quit in each of its rooms.
    MemberLeft {
        /// The room.
        room: RoomId,
        /// Their nick.
        nick: String,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone changed their nick (in every room they share with the user,
    /// or in `room` only); rooms without that nick are left alone.
    MemberRenamed {
        /// Only this room, or every room with that member.
        room: Option<RoomId>,
        /// Old nick.
        old_nick: String,
        /// New nick.
        new_nick: String,
        /// Whether it is the user.
        own: bool,
    },
    /// A member's role or away state changed.
    MemberChanged {
        /// The room.
        room: RoomId,
        /// The member as they are now.
        member: Member,
    },
    /// A message.
    Message(Message),
    /// A message was edited.
    Edited {
        /// The conversation.
        target: Target,
        /// The message.
        message: MessageId,
        /// Who edited it.
        author: UserId,
        /// The author's nick.
        author_nick: String,
        /// The new text.
        text: String,
    },
    /// A message was retracted.
    Retracted {
        /// The conversation.
        target: Target,
        /// The message.
        message: MessageId,
        /// Who retracted it.
        by_nick: String,
    },
    /// Someone's reactions on a message, as a full set.
    Reacted {
        /// The conversation.
        target: Target,
        /// The message.
        message: MessageId,
        /// Who reacted.
        author: UserId,
        /// Their nick.
        author_nick: String,
        /// Their reactions now.
        reactions: Vec<String>,
    },
    /// Someone is typing.
    Typing {
        /// The conversation.
        target: Target,
        /// Who.
        author_nick: String,
        /// The state.
        state: TypingState,
    },
    /// Someone read up to a message.
    ReadUpTo {
        /// The conversation.
        target: Target,
        /// Who.
        author_nick: String,
        /// The message.
        message: MessageId,
    },
    /// A room's topic.
    Topic {
        /// The room.
        room: RoomId,
        /// The topic text.
        topic: String,
        /// Who set it, if known.
        by: Option<String>,
    },
    /// A person the user can talk to directly.
    ContactAdded {
        /// Their id.
        user: UserId,
        /// Their display name.
        name: String,
    },
    /// A contact's presence.
    ContactPresence {
        /// Who.
        user: UserId,
        /// How.
        availability: Availability,
    },
    /// The session holds nothing open on the network (an IRC session with
    /// no server connection) and has taken `commands` commands so far. The
    /// core may then end it with [`Command::Shutdown`], if it has sent no
    /// more than that, and start a new one from the stored login when the
    /// user next needs it. A session tells this again each time it becomes
    /// idle; bridges whose sessions must stay online never tell it.
    Idle {
        /// How many commands the session had taken when it became idle.
        commands: u64,
    },
    /// A notice for the user: the network's own words (MOTD, server
    /// notices) or the bridge's.
    Notice {
        /// The text.
        text: String,
        /// The server whose words these are (as [`Bridge::is_server`] knows
        /// it): the core says them from that server. `None`: the bridge's
        /// own words about the session, said by the gateway.
        server: Option<String>,
    },
    /// Something failed.
    Error {
        /// What it belongs to.
        context: ErrorContext,
        /// The kind.
        kind: ErrorKind,
        /// In words for the user.
        text: String,
    },
    /// A page of the network's rooms.
    RoomList {
        /// The token of the [`Command::ListRooms`].
        token: Token,
        /// The rooms.
        rooms: Vec<RoomListing>,
        /// Cursor for the next page, if any.
        next: Option<String>,
    },
    /// Fetched history, oldest first.
    History {
        /// The token of the [`Command::FetchHistory`].
        token: Token,
        /// The room.
        room: RoomId,
        /// The messages.
        messages: Vec<Message>,
    },
    /// Persist a small piece of state (a sync position); handed back in
    /// [`Login::state`] next time.
    SaveState {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
}
