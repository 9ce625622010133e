//! A user's session on the network: started from their credentials, fed
//! commands from their stanzas, and its events turned into stanzas.

use std::sync::{Arc, Mutex};
use switchboard_bridge_api::channel;
use switchboard_bridge_api::{
    Command, Credentials, ErrorContext, ErrorKind, Event, Limits, Login, Target, UserId,
};
use tracing::{debug, warn, Instrument};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::stanza_error::DefinedCondition;

pub use super::session_link::SessionStatus;
pub(super) use super::session_link::UserSession;
use super::session_link::{Link, Refused, SessionShared};
use super::Gateway;
use crate::xmpp::errors;

/// What an unregistered user is told when they ask for something.
pub(super) const REGISTER_FIRST: &str = "register with this gateway first";

/// Why a command did not reach a session.
pub(super) enum Unsent {
    /// The user has no registration.
    NotRegistered,
    /// The session ended and no new one would take it.
    Ended,
    /// Too many of the user's commands wait for the session already.
    Full,
}

/// What a user is told when their queue to the network is full.
pub(super) const QUEUE_FULL: &str =
    "your queue to the network is full (it is slow or not answering); not sent, try again later";

impl Gateway {
    /// Starts the user's session with the bridge, in place of any running
    /// one (at start-up and at registration).
    pub(super) async fn start_session(self: &Arc<Self>, user: &BareJid, credentials: Credentials) {
        let login = self.login(user, credentials).await;
        let session = self.spawn_session(user, login, 0);
        let old = self.sessions.lock().unwrap().insert(user.clone(), session);
        if let Some(old) = old {
            // Not awaited: this runs on the router, which serves every user.
            tokio::spawn(old.stop());
        }
        // The new session is in no network room: it joins the stored ones.
        self.drop_detached_rooms(user);
        self.rejoin_stored_rooms(user).await;
    }

    /// Everything a session starts from: the credentials and what the store holds.
    async fn login(&self, user: &BareJid, credentials: Credentials) -> Login {
        let stored = self
            .store
            .state(&user.to_string(), &self.network)
            .await
            .unwrap_or_default();
        let state = self.open_state(stored);
        let server_settings = self.server_settings(user).await;
        Login {
            account: user.to_string(),
            credentials,
            state,
            server_settings,
            files: Limits {
                max_bytes: self.config.files.max_file_size,
                allow_private: self.config.files.allow_private_addresses,
            },
        }
    }

    /// Starts a session; `counted` commands are sent to it at once, uncounted.
    fn spawn_session(self: &Arc<Self>, user: &BareJid, login: Login, counted: u64) -> UserSession {
        let handle = self.bridge.start(login);
        let shared = Arc::new(Mutex::new(SessionShared {
            sent: counted,
            ..SessionShared::default()
        }));
        let span = tracing::info_span!("session", user = %user, network = %self.network);
        let pump = tokio::spawn(
            Arc::clone(self)
                .pump(
                    user.clone(),
                    handle.events,
                    handle.files,
                    Arc::clone(&shared),
                )
                .instrument(span),
        );
        debug!(user = %user, network = %self.network, "session started");
        let link = Link {
            commands: handle.commands,
            shared,
        };
        // The user's own picture, when published (`avatars/own.rs`).
        if let Some(url) = self.own_avatars.url(user) {
            let _ = link.send(Command::SetOwnAvatar { url: Some(url) }, usize::MAX);
        }
        UserSession { link, pump }
    }

    /// Whether the user is registered (a running session says so without the store).
    pub(super) async fn is_registered(&self, user: &BareJid) -> bool {
        self.sessions.lock().unwrap().contains_key(user) || self.registered(user).await.is_some()
    }

    /// [`Gateway::is_registered`], as the error a request answers with when not.
    pub(super) async fn require_registered(
        &self,
        user: &BareJid,
    ) -> Result<(), (DefinedCondition, String)> {
        if self.is_registered(user).await {
            Ok(())
        } else {
            Err((
                DefinedCondition::RegistrationRequired,
                REGISTER_FIRST.into(),
            ))
        }
    }

    /// Sends a command to the user's session, starting one from their
    /// registration when none runs (an idle one was ended).
    pub(super) async fn command(
        self: &Arc<Self>,
        user: &BareJid,
        command: Command,
    ) -> Result<(), Unsent> {
        let mut command = command;
        // Twice at most: a session may end as idle between the lookup and the send.
        for _ in 0..2 {
            let session = match self.running(user) {
                Some(s) => s,
                None => {
                    let Some(credentials) = self.registered(user).await else {
                        return Err(Unsent::NotRegistered);
                    };
                    let login = self.login(user, credentials).await;
                    let started = {
                        let mut sessions = self.sessions.lock().unwrap();
                        // Another task may have started one meanwhile.
                        match sessions.get(user) {
                            Some(s) => Err(s.link.clone()),
                            None => {
                                // Counted before the session can tell it is idle.
                                let session = self.spawn_session(user, login, 1);
                                let link = session.link.clone();
                                sessions.insert(user.clone(), session);
                                Ok(link)
                            }
                        }
                    };
                    match started {
                        // A new session's queue is empty: there is room.
                        Ok(link) => {
                            // It joins the stored rooms (an idle one ended).
                            self.rejoin_stored_rooms_soon(user);
                            return link.commands.try_send(command).map_err(|_| Unsent::Ended);
                        }
                        Err(link) => link,
                    }
                }
            };
            match session.send(command, self.pending_limit()) {
                Ok(()) => return Ok(()),
                Err(Refused::Full(_)) => return Err(Unsent::Full),
                Err(Refused::Ended(c)) => {
                    command = *c;
                    self.forget_session(user, &session.shared);
                }
            }
        }
        Err(Unsent::Ended)
    }

    /// Sends a command to the user's session if one runs; an idle session
    /// that was ended has nothing the command could change. A leave is sent
    /// whatever the user's limit (it lightens the session), within the
    /// queue's room; a command that finds no room is dropped with a notice.
    /// Returns whether it was sent.
    pub(super) async fn command_if_running(&self, user: &BareJid, command: Command) -> bool {
        let Some(session) = self.running(user) else {
            return false;
        };
        let limit = match command {
            Command::Leave { .. } => usize::MAX,
            _ => self.pending_limit(),
        };
        let leaving = match &command {
            Command::Leave { room, .. } => Some(room.clone()),
            _ => None,
        };
        let refused = match session.send(command, limit) {
            Ok(()) => {
                if let Some(room) = leaving {
                    self.leaving.lock().unwrap().sent(user, &room);
                }
                return true;
            }
            Err(refused) => refused,
        };
        if let Refused::Full(c) = refused {
            let what = match *c {
                // Passing signals (XEP-0085, XEP-0333): not worth a notice.
                Command::Typing { .. } | Command::MarkRead { .. } => return false,
                Command::Leave { room, .. } => format!("leaving {room}"),
                Command::SetNick { .. } => "the nick change".to_owned(),
                Command::ConfigureServer { server, .. } => {
                    format!("the new settings for {server} (saved; they apply from the next connection)")
                }
                _ => "a command".to_owned(),
            };
            debug!(user = %user, network = %self.network, "session queue full; a command dropped");
            self.tell(
                user,
                &format!("Your queue to the network is full: {what} was not sent."),
            )
            .await;
        }
        false
    }

    /// How many of a user's commands may wait for their session.
    fn pending_limit(&self) -> usize {
        self.config.limits.max_pending_commands
    }

    /// The user's running session, if any.
    fn running(&self, user: &BareJid) -> Option<Link> {
        self.sessions
            .lock()
            .unwrap()
            .get(user)
            .map(|s| s.link.clone())
    }

    /// Takes the user's session out of the table if it is still this one.
    fn forget_session(
        &self,
        user: &BareJid,
        shared: &Arc<Mutex<SessionShared>>,
    ) -> Option<UserSession> {
        let mut sessions = self.sessions.lock().unwrap();
        match sessions.get(user) {
            Some(s) if Arc::ptr_eq(&s.link.shared, shared) => sessions.remove(user),
            _ => None,
        }
    }

    /// Ends a session that told it was idle, if no command went to it since.
    async fn end_if_idle(&self, user: &BareJid, shared: &Arc<Mutex<SessionShared>>, commands: u64) {
        {
            let mut s = shared.lock().unwrap();
            if s.stopped || s.sent != commands {
                return;
            }
            s.stopped = true;
        }
        let session = self.forget_session(user, shared);
        // In no network room now: the next session joins them again.
        self.drop_detached_rooms(user);
        {
            let mut rooms = self.rooms.lock().unwrap();
            if rooms.get(user).is_some_and(|r| r.is_empty()) {
                rooms.remove(user);
            }
        }
        if let Some(session) = session {
            // Not `stop`: this runs on the session's own pump, which ends
            // when the session closes its events.
            let _ = session.link.commands.send(Command::Shutdown).await;
            debug!("idle session ended");
            crate::memory::release_soon();
        }
    }

    async fn pump(
        self: Arc<Self>,
        user: BareJid,
        mut events: channel::Receiver<Event>,
        files: Option<Arc<dyn switchboard_bridge_api::FileFetcher>>,
        shared: Arc<Mutex<SessionShared>>,
    ) {
        // Files and avatars are fetched off the pump (`files/`, `avatars/`).
        let mut files = super::files::FileQueue::new(files);
        while let Some(event) = events.recv().await {
            // Boxed like the delivery: the file step's future holds an event
            // of its own, and would otherwise be part of every waiting pump.
            let Some(event) = Box::pin(self.files_first(&user, event, &mut files)).await else {
                continue;
            };
            // Boxed: the delivery future is large, and a session waits for events most of its life.
            Box::pin(self.deliver(&user, event, &shared)).await;
        }
        debug!("session ended");
    }

    /// Turns one session event into stanzas for the user.
    async fn deliver(&self, user: &BareJid, event: Event, shared: &Arc<Mutex<SessionShared>>) {
        if let Some(kind) = super::unbridged::kind(&event) {
            return kind.log_once();
        }
        if let Event::Message(m) = &event {
            if let (true, Some(token)) = (m.own, &m.token) {
                self.command_done(user, token);
            }
        }
        match event {
            Event::Idle { commands } => self.end_if_idle(user, shared, commands).await,
            Event::Connected { nick, .. } => {
                let was_down = {
                    let mut s = shared.lock().unwrap();
                    let was_down = matches!(s.status, SessionStatus::Disconnected { .. });
                    s.status = SessionStatus::Connected(nick);
                    was_down
                };
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
                // One notice when the connection drops, not one per failed retry.
                let was_down = {
                    let mut s = shared.lock().unwrap();
                    let was_down = matches!(s.status, SessionStatus::Disconnected { .. });
                    s.status = SessionStatus::Disconnected { reason, retrying };
                    was_down
                };
                if !was_down {
                    self.room_notice(user, &text).await;
                }
            }
            Event::Notice {
                text,
                server: Some(server),
            } => self.tell_from_server(user, &server, &text).await,
            Event::Notice { text, server: None } => self.tell(user, &text).await,
            Event::RoomJoined { .. }
            | Event::Members { .. }
            | Event::Topic { .. }
            | Event::MemberJoined { .. }
            | Event::MemberChanged { .. }
            | Event::MemberLeft { .. }
            | Event::MemberRenamed { .. }
            | Event::RoomLeft { .. }
            | Event::JoinedAs { .. }
            | Event::Error {
                context: ErrorContext::Room(_),
                ..
            } => self.room_event(user, event).await,
            Event::Message(m) if matches!(m.target, Target::Room(_)) => {
                self.room_event(user, Event::Message(m)).await
            }
            Event::Message(m) => self.direct_message(user, m).await,
            Event::Edited { .. } | Event::Retracted { .. } | Event::Reacted { .. } => {
                self.rich_event(user, event).await
            }
            Event::ContactAdded { user: peer, name } => self.contact_added(user, peer, name).await,
            Event::Error {
                context,
                kind,
                text,
            } => match context {
                ErrorContext::Command(token) => self.command_error(user, token, kind, &text).await,
                ErrorContext::Session if kind == ErrorKind::Conflict => {
                    if !self.nick_conflict(user, &text).await {
                        self.tell(user, &text).await;
                    }
                }
                ErrorContext::Server(server) => self.tell_from_server(user, &server, &text).await,
                _ => self.tell(user, &text).await,
            },
            Event::Invited { .. } => self.invited(user, event).await,
            Event::Capabilities {
                target,
                capabilities,
            } => self.set_capabilities(user, target, capabilities),
            Event::RoomList { token, rooms, next } => self.room_list(&token, rooms, next),
            Event::Typing { .. } | Event::ReadUpTo { .. } => self.signal_event(user, event).await,
            Event::SaveState { key, value, secret } => {
                self.save_session_state(user, &key, &value, secret).await
            }
            // The kinds `unbridged::kind` lists, dropped above.
            _ => {}
        }
    }

    /// A chat message from the gateway itself to the user.
    pub(super) async fn tell(&self, user: &BareJid, text: &str) {
        let mut msg =
            Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text.to_owned());
        msg.from = Some(Jid::from(self.domain.clone()));
        self.send(msg).await;
    }

    /// A chat message from one of the network's servers to the user: the
    /// server's own words, never said as the gateway's. Dropped (with a
    /// log line) when the name cannot be a JID.
    async fn tell_from_server(&self, user: &BareJid, server: &str, text: &str) {
        let Some(from) = self.server_jid(server) else {
            warn!(server = %server.escape_debug(), "words from a server that is no JID; dropped");
            return;
        };
        let mut msg =
            Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text.to_owned());
        msg.from = Some(from);
        self.send(msg).await;
    }

    /// The JID of a network user, as a contact; `None` when the id cannot
    /// be a JID localpart even escaped (a network's text is never said
    /// from the gateway's own JID).
    pub(super) fn contact_jid(&self, user: &UserId) -> Option<Jid> {
        self.id_jid(user.as_str()).map(Jid::from)
    }

    /// A message to a contact JID: goes to the network as a direct message.
    pub(super) async fn route_to_session(self: &Arc<Self>, message: Message) {
        let (Some(from), Some(to)) = (&message.from, &message.to) else {
            return;
        };
        let user = from.to_bare();
        if !self.is_registered(&user).await {
            return self.refuse_unregistered(&message).await;
        }
        let target = Target::User(UserId(self.jid_id(to).unwrap_or_default()));
        if let Some(request) = crate::xmpp::rich::request_of(&message) {
            return self.rich_request(&user, target, request, &message).await;
        }
        self.signals_in(&user, &target, &message).await;
        let Some(body) = super::shared_files::body_of(&message) else {
            return;
        };
        let (body, reply_to) = self.reply_in(&user, &target, &message, &body).await;
        let (text, kind) = super::action::text_of(&body);
        let (text, attachments) = self.files_in(&message, text);
        let command = Command::SendText {
            target,
            text,
            kind,
            reply_to,
            attachments,
            token: message.id.as_ref().map(|i| i.0.clone()).unwrap_or_default(),
        };
        self.command_or_error(&user, command, &message).await;
    }

    /// Sends a command for a user's message, or answers the message with why not.
    pub(super) async fn command_or_error(
        self: &Arc<Self>,
        user: &BareJid,
        command: Command,
        message: &Message,
    ) {
        if let (Some(from), Some(to)) = (&message.from, &message.to) {
            self.note_sender(user, &command, from, to);
        }
        match self.command(user, command).await {
            Ok(()) => {}
            Err(Unsent::NotRegistered) => self.refuse_unregistered(message).await,
            Err(Unsent::Ended) => {
                let reply = errors::message_error(
                    message,
                    DefinedCondition::RecipientUnavailable,
                    "the session has ended; try again",
                );
                self.send(reply).await;
            }
            Err(Unsent::Full) => {
                let reply = errors::message_error(
                    message,
                    DefinedCondition::ResourceConstraint,
                    QUEUE_FULL,
                );
                self.send(reply).await;
            }
        }
    }

    /// Answers a message from a user who is not registered.
    pub(super) async fn refuse_unregistered(&self, message: &Message) {
        let reply = errors::message_error(
            message,
            DefinedCondition::RegistrationRequired,
            REGISTER_FIRST,
        );
        self.send(reply).await;
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
        ErrorKind::TooLarge => DefinedCondition::PolicyViolation,
        ErrorKind::Other => DefinedCondition::UndefinedCondition,
    }
}
