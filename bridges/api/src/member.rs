//! Members of rooms: who they are, their standing, why they left.

use crate::UserId;

/// A member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Member {
    /// The network's id for the person: the core follows them by it.
    pub user: UserId,
    /// Their display name on the network, unique or not: the core makes
    /// the nicks of a room unique.
    pub nick: String,
    /// Their standing in the room.
    pub role: Role,
    /// Away (with a message) or present.
    pub away: Option<String>,
}

/// A member's standing in a room, from the network's modes or powers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// Presence of a contact or member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Availability {
    /// Online.
    Online,
    /// Away, with a message.
    Away(Option<String>),
    /// Offline.
    Offline,
}
