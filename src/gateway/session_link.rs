//! The core's hold on a running session: the way to its commands (counted,
//! never waited for), what the core and the session's pump share about it
//! (its status for `status`), and how it is stopped.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_bridge_api::channel;
use switchboard_bridge_api::Command;
use tokio::task::JoinHandle;

/// What a user's session is doing, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionStatus {
    /// No session runs: nothing was open on the network, so it was ended.
    Idle,
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
            Self::Idle => f.write_str("no connection open; one opens when you join a room"),
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

/// What the core and a session's pump share about the session.
#[derive(Default)]
pub(super) struct SessionShared {
    /// What it is doing.
    pub(super) status: SessionStatus,
    /// Commands sent to the session so far.
    pub(super) sent: u64,
    /// Ended as idle: takes no more commands.
    pub(super) stopped: bool,
}

/// A way to a running session's commands, cheap to clone.
#[derive(Clone)]
pub(super) struct Link {
    /// Where its commands go.
    pub(super) commands: channel::Sender<Command>,
    /// What the core and its pump share.
    pub(super) shared: Arc<Mutex<SessionShared>>,
}

/// Why [`Link::send`] did not send a command; the command comes back
/// (boxed: a `Result` stays small).
pub(super) enum Refused {
    /// The session has ended (as idle, or its task is gone).
    Ended(Box<Command>),
    /// The user's commands waiting for the session reached the limit.
    Full(Box<Command>),
}

impl Link {
    /// Counts and sends a command, never waiting: refused when the session
    /// has ended or `limit` commands already wait for it (the router serves
    /// every user, so one user's slow session must not hold it).
    pub(super) fn send(&self, command: Command, limit: usize) -> Result<(), Refused> {
        let mut shared = self.shared.lock().unwrap();
        if shared.stopped {
            return Err(Refused::Ended(Box::new(command)));
        }
        if self.commands.waiting() >= limit {
            return Err(Refused::Full(Box::new(command)));
        }
        match self.commands.try_send(command) {
            Ok(()) => {
                shared.sent += 1;
                Ok(())
            }
            Err(channel::TrySendError::Full(c)) => Err(Refused::Full(Box::new(c))),
            Err(channel::TrySendError::Closed(c)) => Err(Refused::Ended(Box::new(c))),
        }
    }
}

/// The core's hold on a running session.
pub(super) struct UserSession {
    /// The way to its commands.
    pub(super) link: Link,
    /// The task that turns its events into stanzas.
    pub(super) pump: JoinHandle<()>,
}

impl UserSession {
    pub(super) fn status(&self) -> SessionStatus {
        self.link.shared.lock().unwrap().status.clone()
    }

    /// Asks the session to end, and waits a little for it to. Its command
    /// queue may be full (a stuck network): then the queue is dropped, which
    /// ends the session once it has taken what waits.
    pub(super) async fn stop(self) {
        let _ = self.link.commands.try_send(Command::Shutdown);
        drop(self.link);
        let mut pump = self.pump;
        if tokio::time::timeout(Duration::from_secs(3), &mut pump)
            .await
            .is_err()
        {
            pump.abort();
        }
    }
}
