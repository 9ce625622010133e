//! A user's session on the network: started from their credentials, fed
//! commands from their stanzas, and its events turned into stanzas.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_bridge_api::channel;
use switchboard_bridge_api::{
    Command, Credentials, ErrorContext, ErrorKind, Event, Login, MessageKind, Target, UserId,
};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::Gateway;
use crate::xmpp::{errors, escape};

/// What a user's session is doing, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionStatus {
    /// Started, not yet connected.
    #[default]
    Connecting,
    /// Connected, with the user's nick.
    Connected(String),
    /// Lost the connection; retrying or not.
    Disconnected {
        /// Why.
        reason: String,
        /// Whether it retries.
        retrying: bool,
    },
}

impl fmt::Display for SessionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected(nick) => write!(f, "connected as {nick}"),
            Self::Disconnected { reason, retrying } => write!(
                f,
                "disconnected ({reason}){}",
                if *retrying { ", reconnecting" } else { "" }
            ),
        }
    }
}

/// The core's hold on a running session.
pub(super) struct UserSession {
    pub(super) commands: channel::Sender<Command>,
    status: Arc<Mutex<SessionStatus>>,
    pump: JoinHandle<()>,
}

impl UserSession {
    pub(super) fn status(&self) -> SessionStatus {
        self.status.lock().unwrap().clone()
    }

    /// Asks the session to end, and waits a little for it to.
    pub(super) async fn stop(self) {
        let _ = self.commands.send(Command::Shutdown).await;
        let mut pump = self.pump;
        if tokio::time::timeout(Duration::from_secs(3), &mut pump)
            .await
            .is_err()
        {
            pump.abort();
        }
    }
}

impl Gateway {
    /// Starts the user's session with the bridge.
    pub(super) async fn start_session(self: &Arc<Self>, user: &BareJid, credentials: Credentials) {
        let state = self
            .store
            .state(&user.to_string(), &self.network)
            .await
            .unwrap_or_default();
        let server_settings = self.server_settings(user).await;
        let handle = self.bridge.start(Login {
            account: user.to_string(),
            credentials,
            state,
            server_settings,
        });
        let status = Arc::new(Mutex::new(SessionStatus::default()));
        let span = tracing::info_span!("session", user = %user, network = %self.network);
        let pump = tokio::spawn(
            Arc::clone(self)
                .pump(user.clone(), handle.events, Arc::clone(&status))
                .instrument(span),
        );
        info!(user = %user, network = %self.network, "session started");
        self.sessions.lock().unwrap().insert(
            user.clone(),
            UserSession {
                commands: handle.commands,
                status,
                pump,
            },
        );
    }

    async fn pump(
        self: Arc<Self>,
        user: BareJid,
        mut events: channel::Receiver<Event>,
        status: Arc<Mutex<SessionStatus>>,
    ) {
        while let Some(event) = events.recv().await {
            // Boxed: the delivery future is large, and a session waits for events most of its life.
            Box::pin(self.deliver(&user, event, &status)).await;
        }
        debug!("session ended");
    }

    /// Turns one session event into stanzas for the user.
    async fn deliver(&self, user: &BareJid, event: Event, status: &Mutex<SessionStatus>) {
        match event {
            Event::Connected { nick, .. } => {
                let was_down =
                    matches!(*status.lock().unwrap(), SessionStatus::Disconnected { .. });
                *status.lock().unwrap() = SessionStatus::Connected(nick);
                if was_down {
                    self.room_notice(user, "Connection restored.").await;
                }
            }
            Event::Disconnected { reason, retrying } => {
                let text = if retrying {
                    format!("Connection lost ({reason}); reconnecting.")
                } else {
                    format!("Connection lost ({reason}).")
                };
                *status.lock().unwrap() = SessionStatus::Disconnected { reason, retrying };
                self.room_notice(user, &text).await;
            }
            Event::Notice { text } => self.tell(user, &text).await,
            Event::RoomJoined { .. }
            | Event::Members { .. }
            | Event::Topic { .. }
            | Event::MemberJoined { .. }
            | Event::MemberChanged { .. }
            | Event::MemberLeft { .. }
            | Event::MemberRenamed { .. }
            | Event::RoomLeft { .. }
            | Event::Error {
                context: ErrorContext::Room(_),
                ..
            } => self.room_event(user, event).await,
            Event::Message(m) if matches!(m.target, Target::Room(_)) => {
                self.room_event(user, Event::Message(m)).await
            }
            Event::Message(m) => {
                let Target::User(peer) = &m.target else {
                    return;
                };
                let mut text = m.text;
                if m.kind == MessageKind::Action {
                    text = format!("/me {text}");
                }
                let from = self.contact_jid(peer);
                let mut msg =
                    Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text);
                msg.from = Some(from);
                msg.id = Some(xmpp_parsers::message::Id(m.id.0));
                if m.own {
                    // A message the user sent from elsewhere: not echoed to them
                    // as if the contact wrote it.
                    return;
                }
                self.send(msg).await;
            }
            Event::ContactAdded { user: peer, .. } => {
                let from = self.contact_jid(&peer);
                self.send(Presence::available().with_from(from).with_to(user.clone()))
                    .await;
            }
            Event::Error {
                context,
                kind,
                text,
            } => match context {
                ErrorContext::Command(token) => {
                    let mut msg = Message::new(Some(Jid::from(user.clone())));
                    msg.type_ = MessageType::Error;
                    msg.from = Some(Jid::from(self.domain.clone()));
                    msg.id = Some(xmpp_parsers::message::Id(token));
                    msg.payloads
                        .push(errors::stanza_error(condition_for(kind), &text).into());
                    self.send(msg).await;
                }
                ErrorContext::Session if kind == ErrorKind::Conflict => {
                    if !self.nick_conflict(user, &text).await {
                        self.tell(user, &text).await;
                    }
                }
                _ => self.tell(user, &text).await,
            },
            Event::RoomList { token, rooms, next } => self.room_list(&token, rooms, next),
            Event::SaveState { key, value } => {
                if let Err(e) = self
                    .store
                    .save_state(&user.to_string(), &self.network, &key, &value)
                    .await
                {
                    warn!(error = %e, "cannot save session state");
                }
            }
            other => debug!(?other, "event not bridged yet"),
        }
    }

    /// A chat message from the gateway itself to the user.
    pub(super) async fn tell(&self, user: &BareJid, text: &str) {
        let mut msg =
            Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text.to_owned());
        msg.from = Some(Jid::from(self.domain.clone()));
        self.send(msg).await;
    }

    /// The JID of a network user, as a contact.
    pub(super) fn contact_jid(&self, user: &UserId) -> Jid {
        let local = escape::escape(user.as_str());
        format!("{local}@{}", self.domain)
            .parse()
            .unwrap_or_else(|_| Jid::from(self.domain.clone()))
    }

    /// A message to a contact JID: goes to the network as a direct message.
    pub(super) async fn route_to_session(&self, message: Message) {
        let (Some(from), Some(to)) = (&message.from, &message.to) else {
            return;
        };
        let user = from.to_bare();
        let commands = self
            .sessions
            .lock()
            .unwrap()
            .get(&user)
            .map(|s| s.commands.clone());
        let Some(commands) = commands else {
            let reply = errors::message_error(
                &message,
                DefinedCondition::RegistrationRequired,
                "register with this gateway first",
            );
            self.send(reply).await;
            return;
        };
        let Some((_, body)) = message.get_best_body(vec![]) else {
            return; // chat states and the like: nothing to send yet
        };
        let local = to
            .node()
            .map(|n| escape::unescape(n.as_str()))
            .unwrap_or_default();
        let (text, kind) = match body.strip_prefix("/me ") {
            Some(action) => (action.to_owned(), MessageKind::Action),
            None => (body.clone(), MessageKind::Normal),
        };
        let command = Command::SendText {
            target: Target::User(UserId(local)),
            text,
            kind,
            reply_to: None,
            token: message.id.as_ref().map(|i| i.0.clone()).unwrap_or_default(),
        };
        if commands.send(command).await.is_err() {
            let reply = errors::message_error(
                &message,
                DefinedCondition::RecipientUnavailable,
                "the session has ended; try again",
            );
            self.send(reply).await;
        }
    }
}

/// The XMPP condition for a bridge error kind.
pub(super) fn condition_for(kind: ErrorKind) -> DefinedCondition {
    match kind {
        ErrorKind::Conflict => DefinedCondition::Conflict,
        ErrorKind::NotFound => DefinedCondition::ItemNotFound,
        ErrorKind::Forbidden => DefinedCondition::Forbidden,
        ErrorKind::NotAuthorized => DefinedCondition::NotAuthorized,
        ErrorKind::BadRequest => DefinedCondition::BadRequest,
        ErrorKind::Unavailable => DefinedCondition::RecipientUnavailable,
        ErrorKind::Other => DefinedCondition::UndefinedCondition,
    }
}
