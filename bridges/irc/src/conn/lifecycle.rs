//! A connection's life: connect (within the policy and the timeouts),
//! retry with backoff, keep commands while not connected, and end when no
//! channel is wanted any more or the server is refused.

use std::time::{Duration, Instant};

use switchboard_bridge_api::channel;
use switchboard_bridge_api::{Command, ErrorContext, ErrorKind, Event, RoomId};
use tracing::{debug, info, warn};

use super::{Conn, End};
use crate::connect::{connect, Failure};
use crate::ids::{irc_lowercase, room_id};
use crate::session::{command_room, error_for};
use crate::tls::Verify;

impl Conn {
    pub(super) async fn run(mut self: Box<Self>, mut commands: channel::Receiver<Command>) {
        use std::ops::ControlFlow;
        let mut backoff = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            // Boxed: a TLS handshake's state is kilobytes, needed only while
            // connecting, and the task would otherwise keep room for it.
            let settings = self.settings.clone();
            let mut attempt = Box::pin(async move { connect(&settings).await });
            // Commands are taken while connecting too: kept for later, or
            // the end of the attempt (shutdown, the last room left).
            let connected = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    cmd = commands.recv() => match cmd {
                        None | Some(Command::Shutdown) => return,
                        // Boxed: rare (before the welcome), and a kilobyte.
                        Some(c) => if Box::pin(self.hold(c)).await.is_break() {
                            return;
                        },
                    },
                }
            };
            drop(attempt);
            let reason = match connected {
                Ok(connected) => {
                    if connected.port.tls && self.settings.verify == Verify::Off {
                        self.warn_unverified().await;
                    }
                    match self.serve(connected.io, &mut commands).await {
                        End::Shutdown => return,
                        End::Lost(reason) => reason,
                    }
                }
                Err(Failure::Refused(text)) => {
                    warn!(host = %self.host, %text, "IRC server refused by policy");
                    self.give_up(ErrorKind::Forbidden, &text).await;
                    return;
                }
                Err(Failure::Untrusted(text)) => {
                    warn!(host = %self.host, %text, "IRC server's certificate refused");
                    self.give_up(ErrorKind::Forbidden, &text).await;
                    return;
                }
                Err(Failure::Failed { text, detail }) => {
                    debug!(host = %self.host, %detail, "IRC connect failed");
                    text
                }
            };
            warn!(host = %self.host, %reason, retry_in = ?backoff, "IRC connection lost");
            self.channels.clear();
            self.emit(Event::Disconnected {
                reason: reason.clone(),
                retrying: true,
            })
            .await;
            // Nothing to come back for (no channel wanted, only messages
            // or a listing): what waits fails now, and the connection ends.
            if !self.wants_a_channel() {
                self.give_up(ErrorKind::Unavailable, &reason).await;
                return;
            }
            // Rooms being joined on a server never reached show nothing
            // else: the user is told once, while the attempts go on.
            if !self.welcomed && !self.told {
                self.told = true;
                self.emit(Event::Error {
                    context: ErrorContext::Session,
                    kind: ErrorKind::Unavailable,
                    text: format!("{}: {reason}; trying again", self.host),
                })
                .await;
            }
            if started.elapsed() > Duration::from_secs(60) {
                backoff = Duration::from_secs(1);
            }
            let deadline = tokio::time::Instant::now() + backoff;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    cmd = commands.recv() => match cmd {
                        None | Some(Command::Shutdown) => return,
                        Some(c) => if let ControlFlow::Break(()) = Box::pin(self.hold(c)).await {
                            return;
                        },
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    /// Tells the user (once per connection) and the log that this
    /// connection's certificate was not verified.
    async fn warn_unverified(&self) {
        warn!(host = %self.host, "TLS certificate not verified (verify_cert off)");
        self.emit(Event::Notice {
            text: format!(
                "The TLS certificate of {} was not verified (verify_cert is off in this \
                 server's settings): the connection is encrypted, but the server is not \
                 authenticated.",
                self.host
            ),
            server: None,
        })
        .await;
    }

    /// Takes a command while the server has not welcomed this connection:
    /// a leave is carried out at once (nothing to part from; the channel is
    /// not rejoined), anything else waits. Breaks when no channel is wanted
    /// any more: the connection then ends, attempts and all.
    pub(super) async fn hold(&mut self, command: Command) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow;
        let Command::Leave { room, .. } = &command else {
            self.enqueue(command).await;
            return ControlFlow::Continue(());
        };
        if let Some((chan, _)) = crate::ids::parse_room(room) {
            self.wanted.remove(&irc_lowercase(chan));
        }
        self.queue.retain(|c| command_room(c) != Some(room));
        if self.wants_a_channel() {
            ControlFlow::Continue(())
        } else {
            info!(host = %self.host, "left the last channel before connecting; stopped");
            ControlFlow::Break(())
        }
    }

    /// Whether a channel is wanted: to rejoin, or to join once connected.
    fn wants_a_channel(&self) -> bool {
        !self.wanted.is_empty() || self.queue.iter().any(|c| matches!(c, Command::Join { .. }))
    }

    /// Ends the connection for good: every waiting command and every
    /// wanted room gets this error.
    async fn give_up(&mut self, kind: ErrorKind, text: &str) {
        let rooms: Vec<RoomId> = self
            .wanted
            .values()
            .map(|w| room_id(&w.name, &self.host))
            .collect();
        self.wanted.clear();
        for room in rooms {
            self.emit(Event::Error {
                context: ErrorContext::Room(room),
                kind,
                text: text.to_owned(),
            })
            .await;
        }
        while let Some(command) = self.queue.pop_front() {
            if let Some(event) = error_for(&command, kind, text.to_owned()) {
                self.emit(event).await;
            }
        }
    }

    /// Keeps a command for after the connection, or refuses it when the queue is full.
    async fn enqueue(&mut self, command: Command) {
        if self.queue.len() < self.settings.queue_limit {
            self.queue.push_back(command);
            return;
        }
        let text = format!(
            "{} is not connected yet and {} commands are waiting, the most this \
             gateway keeps; not sent",
            self.host, self.settings.queue_limit
        );
        if let Some(event) = error_for(&command, ErrorKind::Unavailable, text) {
            self.emit(event).await;
        }
    }
}
