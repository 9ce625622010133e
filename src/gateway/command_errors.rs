//! Where each of the user's commands came from, so that the network's
//! error for it (`Event::Error` with `ErrorContext::Command`: a send, an
//! edit, a retraction, reactions, a file refused) reaches the resource
//! that sent the stanza, from where it went, with the stanza's id
//! (RFC 6120 §8.3: an error stanza keeps the original's id and swaps
//! `from` and `to`). A message error to the user's bare JID is dropped by
//! their server (RFC 6121 §8.5.2.1.1), and a client marks a message
//! failed only from an error with its id in that conversation.

use std::collections::VecDeque;

use switchboard_bridge_api::{Command, ErrorKind, Token};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Message, MessageType};

use super::Gateway;
use crate::xmpp::errors;

/// How many commands are remembered for their errors, per network (an
/// entry goes with the command's echo: a sent text's, or the reflection
/// of a correction, retraction or reactions; so these are the ones in
/// flight, and those of networks that echo nothing).
const SENDERS_KEPT: usize = 512;

/// The last [`SENDERS_KEPT`] commands with a token: (user, token, the
/// sender's JID, the JID the stanza was sent to), oldest first.
#[derive(Default)]
pub(super) struct Senders(VecDeque<(BareJid, Token, Jid, Jid)>);

/// The token a command names again in its error, if it has one.
fn token_of(command: &Command) -> Option<&Token> {
    match command {
        Command::SendText { token, .. }
        | Command::Edit { token, .. }
        | Command::Retract { token, .. }
        | Command::React { token, .. } => Some(token).filter(|t| !t.is_empty()),
        _ => None,
    }
}

impl Gateway {
    /// Remembers who sent the stanza behind `command` and to which JID.
    pub(super) fn note_sender(&self, user: &BareJid, command: &Command, from: &Jid, to: &Jid) {
        let Some(token) = token_of(command) else {
            return;
        };
        let mut senders = self.command_senders.lock().unwrap();
        if senders.0.len() >= SENDERS_KEPT {
            senders.0.pop_front();
        }
        senders
            .0
            .push_back((user.clone(), token.clone(), from.clone(), to.clone()));
    }

    /// The network took the command with this token (its echo came): its
    /// sender is no longer needed (a retraction of a message the network
    /// split is one entry per part and one echo taken: the rest go with
    /// age).
    pub(super) fn command_done(&self, user: &BareJid, token: &str) {
        let mut senders = self.command_senders.lock().unwrap();
        if let Some(at) = senders
            .0
            .iter()
            .rposition(|(u, t, ..)| u == user && t == token)
        {
            senders.0.remove(at);
        }
    }

    /// The error of the user's command with this token: to the resource
    /// that sent it, from the JID it was sent to, with its id; a command
    /// whose sender is not known (forgotten, or none) from the gateway to
    /// the user's bare JID.
    pub(super) async fn command_error(
        &self,
        user: &BareJid,
        token: Token,
        kind: ErrorKind,
        text: &str,
    ) {
        let sender = {
            let mut senders = self.command_senders.lock().unwrap();
            let found = senders
                .0
                .iter()
                .rposition(|(u, t, ..)| u == user && *t == token);
            found.and_then(|i| senders.0.remove(i))
        };
        let (to, from) = match sender {
            Some((_, _, sender, sent_to)) => (sender, sent_to),
            None => (Jid::from(user.clone()), Jid::from(self.domain.clone())),
        };
        let mut msg = Message::new(Some(to));
        msg.type_ = MessageType::Error;
        msg.from = Some(from);
        msg.id = Some(Id(token));
        let condition = super::session::condition_for(kind);
        msg.payloads
            .push(errors::stanza_error(condition, text).into());
        self.send(msg).await;
    }
}
