//! One user's connection to one IRC server: connect (TCP or TLS), register,
//! turn IRC lines into bridge events and commands into IRC lines, rejoin
//! after a reconnect, queue what comes while the link is down.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use irc_proto::Message as IrcMessage;
use switchboard_bridge_api::channel;
use switchboard_bridge_api::{Command, Event, Member, MessageId};
use tokio::io::{AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{debug, info};

use crate::caps::Caps;
use crate::charset::Charsets;
use crate::connect::Io;
use crate::host::Host;
use crate::ids::irc_lowercase;
use crate::line::{frame, read_line, write_line, write_raw};
use crate::listing::Listing;
use crate::policy::{Policy, Timeouts};
use crate::prefixes::Prefixes;
use crate::small_map::SmallMap;
use crate::tls::{Trust, Verify};

mod echo;
mod feed;
mod history;
#[cfg(test)]
mod hostile_tests;
mod incoming;
#[cfg(test)]
mod ircv3_tests;
mod members;
mod outgoing;
mod rich;
#[cfg(test)]
mod rich_tests;
mod text;

pub use feed::feed_server_lines;

/// Settings for a connection that never connects, for unit tests.
#[cfg(test)]
pub(crate) fn feed_offline_settings() -> ConnSettings {
    feed::offline_settings("irc.example.net")
}

mod lifecycle;

/// Members per `Members` event.
const MEMBER_BATCH: usize = 100;
/// Silence before a lag check, and the wait for its answer.
const LAG_CHECK: Duration = Duration::from_secs(90);

/// How to reach one server, and as whom.
#[derive(Clone)]
pub struct ConnSettings {
    /// The server as users name it (its one spelling): for messages.
    pub name: String,
    /// What to resolve and connect to (and the TLS name).
    pub host: Host,
    /// The ports tried, in order, each with TLS or not (never empty).
    pub ports: Vec<Port>,
    /// The port when the user sets none: the operator's, or 6697 with TLS.
    pub default_port: Port,
    /// The port the operator gave, for a server they listed: that server
    /// at that port is theirs, and not checked against the policy.
    pub listed_port: Option<u16>,
    /// How the server's certificate is checked.
    pub verify: Verify,
    /// The CAs trusted (Mozilla's and the operator's).
    pub trust: Trust,
    /// The operator's policy, checked at every connect.
    pub policy: Arc<Policy>,
    /// Connect, TLS and registration timeouts.
    pub timeouts: Timeouts,
    /// Commands kept while the server is not connected yet.
    pub queue_limit: usize,
    /// Server password (PASS), if any. Never logged.
    pub password: Option<String>,
    /// Wanted nick.
    pub nick: String,
    /// USER name.
    pub username: String,
    /// Real name.
    pub realname: String,
    /// Token bucket towards the server; `None` for no flood control.
    pub flood: Option<(u32, f64)>,
    /// The operator's flood bounds, for the user's settings.
    pub flood_policy: crate::FloodPolicy,
    /// SASL PLAIN account and password, if the user set them. Never logged.
    pub sasl: Option<(String, String)>,
    /// Raw commands sent after registration (NickServ and the like).
    pub after_connect: Vec<String>,
    /// Character sets of the server and of its channels.
    pub charsets: Charsets,
}

/// One port to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    /// The number.
    pub number: u16,
    /// TLS or plain TCP.
    pub tls: bool,
}

/// A running connection task, as its session holds it.
pub(crate) struct Handle {
    /// Where to send it commands.
    pub commands: channel::Sender<Command>,
    /// Its task: ready once the connection has ended.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the connection task.
pub(crate) fn spawn(
    host: String,
    settings: ConnSettings,
    events: channel::Sender<Event>,
) -> Handle {
    let (commands, rx) = channel::channel(switchboard_bridge_api::CHANNEL_BOUND);
    // Boxed: the task's future would otherwise hold the connection twice
    // (an `async fn`'s argument and its moved-in local, a kilobyte each).
    let task = tokio::spawn(Box::new(Conn::new(host, settings, events)).run(rx));
    Handle { commands, task }
}

impl Conn {
    /// A connection not yet connected, in no channel.
    fn new(host: String, settings: ConnSettings, events: channel::Sender<Event>) -> Self {
        Conn {
            own_nick: settings.nick.clone(),
            host,
            settings,
            events,
            wanted: SmallMap::new(),
            channels: SmallMap::new(),
            contacts: HashSet::new(),
            queue: VecDeque::new(),
            listing: None,
            seq: 0,
            limiter: None,
            closing: false,
            out: Vec::new(),
            welcomed: false,
            told: false,
            caps: Caps::default(),
            echoes: echo::Echoes::default(),
            batches: HashMap::new(),
            history: history::History::default(),
            rich: None,
        }
    }
}

struct Wanted {
    name: String,
    nick: String,
    key: Option<String>,
}

#[derive(Default)]
struct Chan {
    name: String,
    /// Members holding a prefix (`~&@%+`), by nick. Others are not kept:
    /// the core knows the room's members, and the bridge needs only what
    /// a mode change must add to or take from.
    ranked: HashMap<Box<str>, Prefixes>,
    /// Every member, as the hash of their lowercase nick ([`member_key`]):
    /// eight bytes each, enough to tell a member from a stranger (a mode
    /// or a part for someone not here is ignored) and to count them.
    members: HashSet<u64>,
    batch: Vec<Member>,
    topic: Option<String>,
    /// Members away (`away-notify`), with their message, by [`member_key`].
    away: HashMap<u64, String>,
}

struct Conn {
    host: String,
    settings: ConnSettings,
    events: channel::Sender<Event>,
    own_nick: String,
    /// Channels the user wants to be in (rejoined after a reconnect), by lowercase name.
    wanted: SmallMap<String, Wanted>,
    /// Channels joined now, by lowercase name. Boxed: most users are in
    /// one channel per server, and a channel's entry moves as others go.
    channels: SmallMap<String, Box<Chan>>,
    contacts: HashSet<String>,
    queue: VecDeque<Command>,
    listing: Option<Listing>,
    seq: u64,
    limiter: Option<Limiter>,
    /// The user left the last channel: end after this command.
    closing: bool,
    /// Lines written since the last flush (empty, and holding no memory, between bursts).
    out: Vec<u8>,
    /// The server has welcomed this connection once.
    welcomed: bool,
    /// A failed attempt was told to the user (once until the next welcome).
    told: bool,
    /// IRCv3 capabilities negotiated on this connection.
    caps: Caps,
    /// The user's channel messages waiting for their echo (`echo-message`).
    echoes: echo::Echoes,
    /// Open labeled-response batches: their label, by reference.
    batches: HashMap<String, String>,
    /// The last message seen per channel, and catch-ups (`draft/chathistory`).
    history: history::History,
    /// Corrections' texts, reactions, typing times (`rich.rs`), made on first use.
    rich: Option<Box<rich::Rich>>,
}

enum End {
    Shutdown,
    Lost(String),
}

/// A channel member's key in [`Chan::members`]: the hash of their nick in
/// IRC lowercase (a fixed hash, so the same nick always gives the same key).
fn member_key(nick: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    irc_lowercase(nick).hash(&mut h);
    h.finish()
}

/// Decodes a line as a server with no encoding set: UTF-8, or Latin-1 when
/// it is not (never dropped). See [`Charsets::decode`].
pub fn decode(raw: &[u8]) -> String {
    Charsets::default().decode(raw)
}

impl Conn {
    /// Tells the core; the event is boxed at once (see
    /// [`channel::Sender::send`]), so an `async fn` awaiting this keeps a
    /// pointer across the wait, not the event.
    fn emit(&self, event: Event) -> impl std::future::Future<Output = ()> + Send + '_ {
        let sent = self.events.send(event);
        async move {
            let _ = sent.await;
        }
    }

    async fn serve(&mut self, io: Box<dyn Io>, commands: &mut channel::Receiver<Command>) -> End {
        let (r, mut w) = tokio::io::split(io);
        // IRC lines are short (512 bytes but for tags); a longer one is read in several fills.
        let mut reader = BufReader::with_capacity(512, r);
        self.limiter = self
            .settings
            .flood
            .map(|(burst, rate)| Limiter::new(burst, rate));
        self.own_nick = self.settings.nick.clone();
        // Lines kept for a connection that was lost do not go to the next one.
        self.out = Vec::new();
        // Capabilities, echoes waited for and batches are the connection's own.
        self.caps = Caps::new(self.settings.sasl.is_some());
        self.echoes.clear();
        self.batches.clear();
        self.rich_reconnected();
        let wanted = &self.wanted;
        self.history.reconnected(|k| wanted.contains_key(k));
        let mut registered = false;
        // No welcome by then: this attempt failed (a silent server holds nothing).
        let welcome_by = tokio::time::Instant::now() + self.settings.timeouts.registration;
        let mut lag_sent = false;
        let mut register = vec!["CAP LS 302".to_owned()];
        if let Some(p) = &self.settings.password {
            register.push(format!("PASS :{p}"));
        }
        register.push(format!("NICK {}", self.own_nick));
        register.push(format!(
            "USER {} 0 * :{}",
            self.settings.username, self.settings.realname
        ));
        for line in register {
            if let Err(e) = write_raw(&mut w, &line).await {
                return End::Lost(e.to_string());
            }
        }
        // A line read only in part (a command came first) stays here until
        // the rest arrives: reading is cancelled by the select, never lost.
        let mut buf = Vec::new();
        loop {
            tokio::select! {
                read = tokio::time::timeout(LAG_CHECK, read_line(&mut reader, &mut buf)) => {
                    match read {
                        Err(_) if lag_sent => return End::Lost(format!("no answer from {} (lag check)", self.host)),
                        Err(_) => {
                            lag_sent = true;
                            if let Err(e) = write_raw(&mut w, "PING :switchboard-lag").await {
                                return End::Lost(e.to_string());
                            }
                        }
                        Ok(Err(e)) => return End::Lost(e.to_string()),
                        Ok(Ok(0)) => return End::Lost(format!("{} closed the connection", self.host)),
                        Ok(Ok(_)) => {
                            lag_sent = false;
                            let line = self.settings.charsets.decode(&buf);
                            buf.clear();
                            let line = line.trim_end_matches(['\r', '\n']);
                            if line.is_empty() {
                                continue;
                            }
                            let msg: IrcMessage = match line.parse() {
                                Ok(m) => m,
                                Err(e) => {
                                    debug!(error = %e, "unparsed IRC line");
                                    continue;
                                }
                            };
                            if let Err(end) = Box::pin(self.on_message(msg, &mut w, &mut registered)).await {
                                return end;
                            }
                            if registered && !self.welcomed {
                                self.welcomed = true;
                            }
                            if registered {
                                self.told = false;
                            }
                            if let Err(e) = self.flush_out(&mut w).await {
                                return End::Lost(e.to_string());
                            }
                        }
                    }
                }
                // One timer: the welcome's, then others' typing running out.
                _ = tokio::time::sleep_until(self.typing_deadline().filter(|_| registered).unwrap_or(welcome_by)),
                    if !registered || self.typing_deadline().is_some() => {
                    if !registered {
                        return End::Lost(format!(
                            "no welcome from {} within {} s",
                            self.host,
                            self.settings.timeouts.registration.as_secs_f32()
                        ));
                    }
                    self.expire_typing(tokio::time::Instant::now()).await;
                }
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => {
                        self.quit(&mut w).await;
                        return End::Shutdown;
                    }
                    // Before the welcome, commands wait in the bounded queue
                    // (sent after it), so that the session is never held up.
                    Some(c) if !registered => {
                        if Box::pin(self.hold(c)).await.is_break() {
                            self.quit(&mut w).await;
                            return End::Shutdown;
                        }
                    }
                    Some(c) => {
                        // The commands waiting now go out in one write.
                        for c in commands.burst(c, crate::COMMAND_BATCH) {
                            if let Command::Shutdown = c {
                                self.quit(&mut w).await;
                                return End::Shutdown;
                            }
                            if let Err(e) = Box::pin(self.on_command(c, &mut w)).await {
                                return End::Lost(e.to_string());
                            }
                            if self.closing {
                                self.quit(&mut w).await;
                                info!(host = %self.host, "left the last channel; disconnected");
                                return End::Shutdown;
                            }
                        }
                        if let Err(e) = self.flush_out(&mut w).await {
                            return End::Lost(e.to_string());
                        }
                    }
                },
            }
        }
    }

    /// Sends a line: at once under flood control (the limiter paces each
    /// line), else with the lines written until the next [`Conn::flush_out`].
    async fn send<W: AsyncWrite + Unpin>(&mut self, w: &mut W, line: &str) -> std::io::Result<()> {
        if let Some(l) = &mut self.limiter {
            l.take().await;
            return write_line(w, line, &self.settings.charsets).await;
        }
        frame(line, &self.settings.charsets, &mut self.out);
        Ok(())
    }

    /// Sends what is kept, then QUIT, and closes the connection.
    async fn quit<W: AsyncWrite + Unpin>(&mut self, w: &mut W) {
        let _ = self.flush_out(w).await;
        let _ = write_raw(w, "QUIT :Switchboard").await;
        let _ = w.shutdown().await;
    }

    /// Writes the lines [`Conn::send`] kept, and lets their buffer go.
    async fn flush_out<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        w.write_all(&out).await?;
        w.flush().await
    }

    fn next_id(&mut self) -> MessageId {
        self.seq += 1;
        let ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        MessageId(format!("{ms}-{}", self.seq))
    }

    fn is_channel(name: &str) -> bool {
        name.starts_with(['#', '&', '+', '!'])
    }
}

/// Standard base64 (RFC 4648), for SASL.
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(TABLE[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A token bucket: `burst` lines at once, then `rate` lines a second.
struct Limiter {
    tokens: f64,
    burst: f64,
    rate: f64,
    last: tokio::time::Instant,
}

impl Limiter {
    fn new(burst: u32, rate: f64) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            rate,
            last: tokio::time::Instant::now(),
        }
    }

    async fn take(&mut self) {
        let now = tokio::time::Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        if self.tokens < 1.0 {
            let wait = (1.0 - self.tokens) / self.rate;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            self.tokens = 1.0;
            self.last = tokio::time::Instant::now();
        }
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            base64(b"jilles\0jilles\0sesame"),
            "amlsbGVzAGppbGxlcwBzZXNhbWU="
        );
    }

    #[test]
    fn non_utf8_falls_back_to_latin1() {
        assert_eq!(decode(b"caf\xe9"), "café");
        assert_eq!(decode("café".as_bytes()), "café");
    }

    #[tokio::test]
    async fn limiter_spaces_lines_after_the_burst() {
        let mut l = Limiter::new(2, 20.0);
        let start = tokio::time::Instant::now();
        for _ in 0..4 {
            l.take().await;
        }
        // Two free, then two at 20 a second.
        assert!(start.elapsed() >= Duration::from_millis(95));
    }
}
