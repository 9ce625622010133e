//! What the core asks a session to do.

use crate::{Attachment, Credentials, MessageId, MessageKind, RoomId, Target, Token, UserId};

/// Typing state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
        /// Files the user shared (XEP-0066 / XEP-0447: uploaded by their
        /// client, fetched by the bridge with [`crate::download`] and
        /// uploaded to the network). Only for networks whose
        /// [`Capabilities::attachments`](crate::Capabilities::attachments)
        /// is set; a message that was only a file's URL has `text` empty.
        #[cfg_attr(feature = "serde", serde(default))]
        attachments: Vec<Attachment>,
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
        /// A moderator's reason (XEP-0425), for networks that keep one
        /// (Matrix's redaction `reason`); `None` for the user's own.
        #[cfg_attr(feature = "serde", serde(default))]
        reason: Option<String>,
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
        /// Named again in [`Event::RoomList`](crate::Event::RoomList).
        token: Token,
        /// On this server, for networks made of several.
        server: Option<String>,
        /// Continue after this cursor (from the previous page).
        after: Option<String>,
        /// At most this many rooms.
        limit: usize,
        /// The rooms of this group (a [`RoomListing::group`](crate::RoomListing::group));
        /// `None`: the top of the list (for a network with
        /// [`Capabilities::room_groups`](crate::Capabilities::room_groups),
        /// the user's groups).
        #[cfg_attr(feature = "serde", serde(default))]
        within: Option<RoomId>,
    },
    /// The user removed a person from their contacts (a roster removal or
    /// an unsubscription): the bridge ends the direct chat with them at
    /// the network (Matrix: leaves the direct room), so it does not come
    /// back. A later message to the person starts a new one.
    RemoveContact {
        /// Who.
        user: UserId,
    },
    /// The XMPP user's own picture, for networks whose
    /// [`Capabilities::own_avatar`](crate::Capabilities::own_avatar) is
    /// set (Discord: a webhook message's `avatar_url`): an `http(s)` URL the
    /// network can fetch (the picture on the XMPP server's upload
    /// service), or `None` when the user has no picture. Sent when a
    /// session starts, if the core knows one, and when it changes; a
    /// changed picture has a new URL. Other networks never get it, and
    /// would ignore it.
    SetOwnAvatar {
        /// Where the picture is; `None`: no picture.
        url: Option<String>,
    },
    /// Fetch a room's history before a point.
    FetchHistory {
        /// Named again in [`Event::History`](crate::Event::History).
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
