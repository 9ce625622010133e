//! What a session tells the core.

use crate::{
    Availability, AvatarRef, Capabilities, LeaveReason, Member, Message, MessageId, RoomId, Target,
    Token, TypingState, UserId,
};

/// What kind of failure an [`Event::Error`](crate::Event::Error) reports; the core turns it into
/// the matching XMPP error condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// Too large: a file over the size limit the operator set.
    TooLarge,
    /// Anything else.
    Other,
}

/// Where an [`Event::Error`](crate::Event::Error) belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ErrorContext {
    /// The session as a whole.
    Session,
    /// A room (a join that failed, for instance).
    Room(RoomId),
    /// The command that carried this token.
    Command(Token),
    /// The network's server of this name (as [`Bridge::is_server`](crate::Bridge::is_server) knows
    /// it), whose own words `text` is: the core says it from that
    /// server, never as the gateway's.
    Server(String),
}

/// A room in a [`Event::RoomList`](crate::Event::RoomList).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RoomListing {
    /// The room's id.
    pub room: RoomId,
    /// Its name.
    pub name: String,
    /// How many members, if known.
    pub members: Option<u64>,
    /// Its topic.
    pub topic: Option<String>,
    /// It is a group of rooms (a Matrix space), not a room to join: its
    /// rooms are listed by [`Command::ListRooms`](crate::Command::ListRooms)
    /// `within` it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub group: bool,
}

/// What a session tells the core.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// The user is in a room now. Members follow in [`Event::Members`](crate::Event::Members).
    RoomJoined {
        /// The room.
        room: RoomId,
        /// Its display name.
        name: String,
        /// The user's id in it: the member of [`Event::Members`](crate::Event::Members) who is
        /// the user, whose nick the core shows as the network gives it (a
        /// member with the same display name is the one told apart).
        own_user: UserId,
        /// The user's nick in it.
        own_nick: String,
        /// The network changed the requested nick.
        nick_changed: bool,
    },
    /// What one conversation supports, where it differs from the
    /// bridge's [`Capabilities`](crate::Capabilities) (an IRC server that
    /// carries client tags has reactions, replies and typing; another has
    /// not). For a room, told after [`Event::RoomJoined`], it holds until
    /// the room is left; for a person (direct chats), for the session. The
    /// conversation's disco#info and what the core sends it follow it.
    Capabilities {
        /// The room or person.
        target: Target,
        /// Its capabilities.
        capabilities: Capabilities,
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
    /// Someone left a room. The core ignores a user who is not in the
    /// room, so a bridge may tell a network-wide quit in each of its rooms.
    MemberLeft {
        /// The room.
        room: RoomId,
        /// Who.
        user: UserId,
        /// Why.
        reason: LeaveReason,
    },
    /// Someone changed their display name (in every room they share with
    /// the user, or in `room` only); rooms without that member are left
    /// alone. The core follows the person by id: their occupant stays the
    /// same (same XEP-0421 occupant-id), only its nick changes.
    MemberRenamed {
        /// Only this room, or every room with that member.
        room: Option<RoomId>,
        /// Who, by the id they had until now.
        user: UserId,
        /// Their id from now on, where the network's ids change with the
        /// name (IRC's user id is the nick); `None` where ids are stable
        /// (Discord, Matrix).
        new_user: Option<UserId>,
        /// The new display name.
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
        by: UserId,
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
        author: UserId,
        /// The state.
        state: TypingState,
    },
    /// Someone read up to a message.
    ReadUpTo {
        /// The conversation.
        target: Target,
        /// Who.
        author: UserId,
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
    /// Someone invited the user to a room. Joining the room accepts
    /// ([`Command::Join`](crate::Command::Join)); leaving it
    /// ([`Command::Leave`](crate::Command::Leave)) declines. The core
    /// shows it as a XEP-0249 invitation.
    Invited {
        /// The room.
        room: RoomId,
        /// Its display name, as far as the invitation tells.
        name: String,
        /// Who invited the user, if known.
        by: Option<UserId>,
        /// Their words, if any.
        reason: Option<String>,
    },
    /// A join was not carried out: the room asked for (`asked`) is one
    /// the user is in under another id (`room`), as a Matrix room's alias
    /// and its id name one room. The core refuses the join with a
    /// redirect to `room`'s address, so that one room is never two.
    JoinedAs {
        /// The id the join named.
        asked: RoomId,
        /// The id the core knows the room by.
        room: RoomId,
    },
    /// A person's picture, told when the bridge learns it and when it
    /// changes: the same person in every room and as a contact. `None`:
    /// they have none (any more).
    AvatarChanged {
        /// Who.
        user: UserId,
        /// Where their picture is.
        avatar: Option<AvatarRef>,
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
    /// core may then end it with [`Command::Shutdown`](crate::Command::Shutdown), if it has sent no
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
        /// The server whose words these are (as [`Bridge::is_server`](crate::Bridge::is_server) knows
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
        /// The token of the [`Command::ListRooms`](crate::Command::ListRooms).
        token: Token,
        /// The rooms.
        rooms: Vec<RoomListing>,
        /// Cursor for the next page, if any.
        next: Option<String>,
    },
    /// Fetched history, oldest first.
    History {
        /// The token of the [`Command::FetchHistory`](crate::Command::FetchHistory).
        token: Token,
        /// The room.
        room: RoomId,
        /// The messages.
        messages: Vec<Message>,
    },
    /// Persist a small piece of state (a sync position); handed back in
    /// [`Login::state`](crate::Login::state) next time.
    SaveState {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// A secret (an access token): stored sealed like credentials, never
        /// logged, handed back opened.
        secret: bool,
    },
}
