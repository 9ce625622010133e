//! Messages: where they go, their kind, their files.

use std::time::SystemTime;

use crate::{MessageId, RoomId, UserId};

/// Where a message goes or comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MessageKind {
    /// Ordinary text.
    #[default]
    Normal,
    /// An action (`/me waves`): the text is without the `/me ` prefix.
    Action,
    /// A notice from a service or bot.
    Notice,
}

/// An attachment on a message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Attachment {
    /// Where to fetch it.
    pub url: String,
    /// File name.
    pub name: Option<String>,
    /// MIME type.
    pub media_type: Option<String>,
    /// Size in bytes.
    pub size: Option<u64>,
    /// The URL needs the session's credentials: the core gets the bytes
    /// from the session's [`FileFetcher`](crate::FileFetcher)
    /// ([`SessionHandle::files`](crate::SessionHandle)) and never shows the
    /// URL to a client.
    #[cfg_attr(feature = "serde", serde(default))]
    pub needs_credentials: bool,
    /// The file's SHA-256, base64 (XEP-0300), where known. The core sets it
    /// on a file it uploaded to the XMPP server (for XEP-0447 metadata);
    /// a bridge may leave it `None`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sha256: Option<String>,
}

/// A message seen on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Message {
    /// The network's id for it (for edits, reactions, replies); bridges of
    /// networks without ids make a unique one.
    pub id: MessageId,
    /// The conversation: a room, or the other user of a direct conversation.
    pub target: Target,
    /// Who wrote it.
    pub author: UserId,
    /// The author's display name; in a room the core shows the author's
    /// occupant (found by `author`) when they are a member.
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
    /// the echo of a [`Command::SendText`](crate::Command::SendText), whose token is then set).
    pub own: bool,
    /// For echoes: the token of the command that sent it.
    pub token: Option<Token>,
    /// On the echo of a message the user sent: the network's own ids for
    /// it, one per part, in order (one XMPP message can become several
    /// network messages: IRC splits long text into lines, Discord sends
    /// attachments apart). The core maps each to the command's token, so
    /// that a correction, a retraction or a reply can reach all of them.
    /// Empty when the network gave no ids (`id` is then the bridge's own):
    /// nothing is mapped.
    pub parts: Vec<MessageId>,
}
