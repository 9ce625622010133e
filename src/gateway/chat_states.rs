//! XEP-0085 chat states ↔ the contract's typing, in rooms and direct chats,
//! where the network has typing notifications.
//!
//! ```xml
//! <message type='groupchat' to='lobby@gw'>
//!   <composing xmlns='http://jabber.org/protocol/chatstates'/>
//! </message>
//! ```
//!
//! `composing` is [`TypingState::Active`], `paused` is
//! [`TypingState::Paused`], and `active`, `inactive` and `gone` (not
//! typing) are [`TypingState::Inactive`], both ways. Clients repeat their
//! state on every message; the network gets a `Typing` command only when
//! the state changes, and a message with a body ends typing without one
//! (a network stops showing typing when the message arrives).

use std::collections::HashMap;
use switchboard_bridge_api::{Command, Target, TypingState};
use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;
use xmpp_parsers::ns;

use super::Gateway;

/// How many typing conversations are tracked before the table starts afresh.
const TRACKED: usize = 65_536;

/// The typing state last sent to the network, per user and conversation;
/// only conversations where the user is typing are in it.
#[derive(Debug, Default)]
pub(super) struct SentTyping {
    typing: HashMap<(BareJid, Target), TypingState>,
}

impl SentTyping {
    /// Records `state`; whether it differs from the one sent before.
    fn changed(&mut self, user: &BareJid, target: &Target, state: TypingState) -> bool {
        let key = (user.clone(), target.clone());
        let last = self
            .typing
            .get(&key)
            .copied()
            .unwrap_or(TypingState::Inactive);
        if last == state {
            return false;
        }
        if state == TypingState::Inactive {
            self.typing.remove(&key);
        } else {
            if self.typing.len() >= TRACKED {
                self.typing.clear();
            }
            self.typing.insert(key, state);
        }
        true
    }
}

/// The contract's state for a chat state.
pub(super) fn typing_of(state: &ChatState) -> TypingState {
    match state {
        ChatState::Composing => TypingState::Active,
        ChatState::Paused => TypingState::Paused,
        ChatState::Active | ChatState::Inactive | ChatState::Gone => TypingState::Inactive,
    }
}

/// The chat state for the contract's state.
pub(super) fn chat_state_of(state: TypingState) -> ChatState {
    match state {
        TypingState::Active => ChatState::Composing,
        TypingState::Paused => ChatState::Paused,
        TypingState::Inactive => ChatState::Active,
    }
}

/// The chat state a message carries, if any.
fn chat_state(message: &Message) -> Option<ChatState> {
    message
        .payloads
        .iter()
        .find(|p| p.ns() == ns::CHATSTATES)
        .and_then(|p| ChatState::try_from(p.clone()).ok())
}

impl Gateway {
    /// A client's message in a conversation: its chat state goes to the
    /// network as `Typing` when it changes what the network was told.
    pub(super) async fn chat_state_in(&self, user: &BareJid, target: &Target, message: &Message) {
        if !self.capabilities(user, target).typing {
            return;
        }
        let has_body = !message.bodies.is_empty();
        let state = if has_body {
            // The message ends typing; the network knows it by itself.
            Some(TypingState::Inactive)
        } else {
            chat_state(message).map(|s| typing_of(&s))
        };
        let Some(state) = state else {
            return;
        };
        let changed = self.typing.lock().unwrap().changed(user, target, state);
        if changed && !has_body {
            let typing = Command::Typing {
                target: target.clone(),
                state,
            };
            // Only to a running session: typing is not worth starting one.
            self.command_if_running(user, typing).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::RoomId;

    #[test]
    fn only_changes_are_sent() {
        let user: BareJid = "a@x".parse().unwrap();
        let room = Target::Room(RoomId::from("r"));
        let mut sent = SentTyping::default();
        assert!(
            !sent.changed(&user, &room, TypingState::Inactive),
            "not typing yet"
        );
        assert!(sent.changed(&user, &room, TypingState::Active));
        assert!(!sent.changed(&user, &room, TypingState::Active));
        assert!(sent.changed(&user, &room, TypingState::Paused));
        assert!(sent.changed(&user, &room, TypingState::Inactive));
        assert!(sent.typing.is_empty(), "nobody typing, nothing kept");
    }

    #[test]
    fn states_map_both_ways() {
        for s in [
            TypingState::Active,
            TypingState::Paused,
            TypingState::Inactive,
        ] {
            assert_eq!(typing_of(&chat_state_of(s)), s);
        }
        assert_eq!(typing_of(&ChatState::Gone), TypingState::Inactive);
    }
}
