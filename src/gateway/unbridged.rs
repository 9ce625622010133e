//! The one list of session events the core does not turn into stanzas yet.
//! Each is dropped, and its kind logged at info the first time this process
//! sees it, so that an operator (and a bridge's author) learns what their
//! network said that XMPP users did not get.

use std::sync::atomic::{AtomicU32, Ordering};
use switchboard_bridge_api::Event;
use tracing::info;

/// The events with no XMPP mapping yet, by kind, each with the XEP that
/// would carry it. Every other event has one (`session.rs`, `muc/events.rs`).
/// The match is exhaustive on purpose: a new kind of event must be put on
/// one side or the other.
pub(super) fn kind(event: &Event) -> Option<Unbridged> {
    use Unbridged as U;
    Some(match event {
        // RFC 6121 presence from a contact's JID.
        Event::ContactPresence { .. } => U::ContactPresence,
        // The answer to `Command::FetchHistory`, which the core never sends:
        // join history and MAM come from the archive.
        Event::History { .. } => U::History,
        Event::Connected { .. }
        | Event::Disconnected { .. }
        | Event::RoomJoined { .. }
        // Disco and what is sent to the room: `muc/caps.rs`.
        | Event::Capabilities { .. }
        | Event::Members { .. }
        | Event::RoomLeft { .. }
        // XEP-0045 join refused with a redirect: `muc/room_error.rs`.
        | Event::JoinedAs { .. }
        | Event::MemberJoined { .. }
        | Event::MemberLeft { .. }
        | Event::MemberRenamed { .. }
        | Event::MemberChanged { .. }
        | Event::Message(_)
        | Event::Edited { .. }
        | Event::Retracted { .. }
        | Event::Reacted { .. }
        | Event::Topic { .. }
        // XEP-0085 and XEP-0333: `signals.rs`.
        | Event::Typing { .. }
        | Event::ReadUpTo { .. }
        | Event::ContactAdded { .. }
        // XEP-0153 and XEP-0054: `avatars/`.
        | Event::AvatarChanged { .. }
        // XEP-0249: `invites.rs`.
        | Event::Invited { .. }
        | Event::Idle { .. }
        | Event::Notice { .. }
        | Event::Error { .. }
        | Event::RoomList { .. }
        | Event::SaveState { .. } => return None,
    })
}

/// A kind of event the core drops (see [`kind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unbridged {
    ContactPresence,
    History,
}

/// The kinds logged so far in this process, one bit each.
static LOGGED: AtomicU32 = AtomicU32::new(0);

impl Unbridged {
    /// Logs the kind at info if this process has not logged it yet (the
    /// session's span names the user and the network).
    pub(super) fn log_once(self) {
        let bit = 1 << self as u32;
        if LOGGED.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
            info!(
                kind = ?self,
                "a network event with no XMPP mapping yet was dropped (logged once per kind)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::{MessageId, Target, TypingState, UserId};

    #[test]
    fn the_list_names_what_the_core_drops_and_nothing_it_bridges() {
        let peer = Target::User(UserId::from("bob"));
        let typing = Event::Typing {
            target: peer.clone(),
            author: UserId::from("bob"),
            state: TypingState::Active,
        };
        let read = Event::ReadUpTo {
            target: peer,
            author: UserId::from("bob"),
            message: MessageId::from("m1"),
        };
        assert_eq!(kind(&typing), None, "chat states: signals.rs");
        assert_eq!(kind(&read), None, "displayed markers: signals.rs");
        let history = Event::History {
            token: "t".into(),
            room: switchboard_bridge_api::RoomId::from("r"),
            messages: vec![],
        };
        assert_eq!(kind(&history), Some(Unbridged::History));
        assert_eq!(kind(&Event::Idle { commands: 0 }), None);
    }
}
