//! One user's connection to one IRC server: connect (TCP or TLS), register,
//! turn IRC lines into bridge events and commands into IRC lines, rejoin
//! after a reconnect, queue what comes while the link is down.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use irc_proto::{
    CapSubCommand, ChannelMode, Command as Irc, Message as IrcMessage, Mode, Prefix, Response,
};
use switchboard_bridge_api::channel;
use switchboard_bridge_api::{
    Command, ErrorContext, ErrorKind, Event, LeaveReason, Member, Message, MessageId, MessageKind,
    Role, RoomId, RoomListing, Target, Token,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tracing::{debug, info};

use crate::connect::Io;
use crate::format::{irc_to_styled, styled_to_irc};
use crate::host::Host;
use crate::ids::{irc_lowercase, room_id, user_id, valid_nick};
use crate::policy::{Policy, Timeouts};
use crate::prefixes::{parse_name, Prefixes};
use crate::split::message_lines;

mod lifecycle;

/// Members per `Members` event.
const MEMBER_BATCH: usize = 100;
/// Silence before a lag check, and the wait for its answer.
const LAG_CHECK: Duration = Duration::from_secs(90);
/// Longest line read (IRCv3 tags plus the classic 512).
const MAX_LINE: usize = 8191 + 512;

/// How to reach one server, and as whom.
#[derive(Clone)]
pub struct ConnSettings {
    /// The server as users name it (its one spelling): for messages.
    pub name: String,
    /// What to resolve and connect to (and the TLS name).
    pub host: Host,
    /// The port.
    pub port: u16,
    /// The port the operator gave, for a server they listed: that server
    /// at that port is theirs, and not checked against the policy.
    pub listed_port: Option<u16>,
    /// TLS (certificates checked against Mozilla's roots) or plain TCP.
    pub tls: bool,
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
    /// SASL PLAIN account and password, if the user set them. Never logged.
    pub sasl: Option<(String, String)>,
    /// Raw commands sent after registration (NickServ and the like).
    pub after_connect: Vec<String>,
}

/// Starts the connection task; returns where to send it commands.
pub fn spawn(
    host: String,
    settings: ConnSettings,
    events: channel::Sender<Event>,
) -> channel::Sender<Command> {
    let (tx, rx) = channel::channel(switchboard_bridge_api::CHANNEL_BOUND);
    let conn = Conn {
        own_nick: settings.nick.clone(),
        host,
        settings,
        events,
        wanted: HashMap::new(),
        channels: HashMap::new(),
        contacts: HashSet::new(),
        queue: VecDeque::new(),
        listing: None,
        seq: 0,
        limiter: None,
        closing: false,
        out: Vec::new(),
        welcomed: false,
        told: false,
    };
    tokio::spawn(conn.run(rx));
    tx
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
    batch: Vec<Member>,
    topic: Option<String>,
}

struct Listing {
    token: Token,
    after: Option<String>,
    limit: usize,
    rooms: Vec<RoomListing>,
}

struct Conn {
    host: String,
    settings: ConnSettings,
    events: channel::Sender<Event>,
    own_nick: String,
    /// Channels the user wants to be in (rejoined after a reconnect), by lowercase name.
    wanted: HashMap<String, Wanted>,
    /// Channels joined now, by lowercase name.
    channels: HashMap<String, Chan>,
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
}

enum End {
    Shutdown,
    Lost(String),
}

/// Decodes a line: UTF-8, or Latin-1 when it is not (never dropped).
pub fn decode(raw: &[u8]) -> String {
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    }
}

impl Conn {
    /// The rooms of this connection. A quit or a nick change is told in each
    /// (the core ignores rooms without that nick), so that rooms on other
    /// servers with someone of the same nick are left alone.
    fn rooms_here(&self) -> Vec<RoomId> {
        self.channels
            .values()
            .map(|c| room_id(&c.name, &self.host))
            .collect()
    }

    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
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
                            let line = decode(&buf);
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
                _ = tokio::time::sleep_until(welcome_by), if !registered => {
                    return End::Lost(format!(
                        "no welcome from {} within {} s",
                        self.host,
                        self.settings.timeouts.registration.as_secs_f32()
                    ));
                }
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => {
                        self.quit(&mut w).await;
                        return End::Shutdown;
                    }
                    // Before the welcome, commands wait in the bounded queue
                    // (sent after it), so that the session is never held up.
                    Some(c) if !registered => {
                        if self.hold(c).await.is_break() {
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
            return write_raw(w, line).await;
        }
        debug_assert!(!line.contains(['\r', '\n', '\0']), "unsafe IRC line");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
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

    async fn on_message<W: AsyncWrite + Unpin>(
        &mut self,
        msg: IrcMessage,
        w: &mut W,
        registered: &mut bool,
    ) -> Result<(), End> {
        let lost = |e: std::io::Error| End::Lost(e.to_string());
        let source = match &msg.prefix {
            Some(Prefix::Nickname(nick, _, _)) => Some(nick.clone()),
            _ => None,
        };
        let is_me = |s: &Option<String>, own: &str| {
            s.as_deref()
                .is_some_and(|n| irc_lowercase(n) == irc_lowercase(own))
        };
        match msg.command {
            Irc::PING(token, _) => write_raw(w, &format!("PONG :{token}"))
                .await
                .map_err(lost)?,
            Irc::CAP(_, CapSubCommand::LS, a, b) => {
                let offered = b.or(a).unwrap_or_default();
                let want: Vec<&str> = offered
                    .split_whitespace()
                    .map(|c| c.split('=').next().unwrap_or(c))
                    .filter(|c| {
                        matches!(*c, "multi-prefix" | "server-time")
                            || (*c == "sasl" && self.settings.sasl.is_some())
                    })
                    .collect();
                let line = if want.is_empty() {
                    "CAP END".to_owned()
                } else {
                    format!("CAP REQ :{}", want.join(" "))
                };
                write_raw(w, &line).await.map_err(lost)?;
            }
            Irc::CAP(_, CapSubCommand::ACK, a, b)
                if b.as_ref()
                    .or(a.as_ref())
                    .is_some_and(|caps| caps.split_whitespace().any(|c| c == "sasl")) =>
            {
                write_raw(w, "AUTHENTICATE PLAIN").await.map_err(lost)?
            }
            Irc::CAP(_, CapSubCommand::ACK | CapSubCommand::NAK, _, _) => {
                write_raw(w, "CAP END").await.map_err(lost)?
            }
            Irc::AUTHENTICATE(challenge) if challenge == "+" => {
                let Some((user, password)) = &self.settings.sasl else {
                    return Ok(());
                };
                let plain = format!("{user}\0{user}\0{password}");
                write_raw(w, &format!("AUTHENTICATE {}", base64(plain.as_bytes())))
                    .await
                    .map_err(lost)?
            }
            Irc::Response(Response::RPL_SASLSUCCESS, _) => {
                write_raw(w, "CAP END").await.map_err(lost)?
            }
            Irc::Response(
                Response::ERR_SASLFAIL | Response::ERR_SASLTOOLONG | Response::ERR_SASLABORT,
                _,
            ) => {
                self.emit(Event::Error {
                    context: ErrorContext::Session,
                    kind: ErrorKind::NotAuthorized,
                    text: format!(
                        "SASL login to {} failed; check the server settings",
                        self.host
                    ),
                })
                .await;
                write_raw(w, "CAP END").await.map_err(lost)?
            }
            Irc::Response(Response::RPL_WELCOME, args) => {
                *registered = true;
                if let Some(nick) = args.first() {
                    self.own_nick = nick.clone();
                }
                info!(host = %self.host, nick = %self.own_nick, "IRC registered");
                self.emit(Event::Connected {
                    own_id: user_id(&self.own_nick, &self.host),
                    nick: self.own_nick.clone(),
                })
                .await;
                for command in self.settings.after_connect.clone() {
                    self.send(w, &command).await.map_err(lost)?;
                }
                let joins: Vec<String> = self
                    .wanted
                    .values()
                    .map(|c| match &c.key {
                        Some(k) => format!("JOIN {} {k}", c.name),
                        None => format!("JOIN {}", c.name),
                    })
                    .collect();
                for j in joins {
                    self.send(w, &j).await.map_err(lost)?;
                }
                while let Some(c) = self.queue.pop_front() {
                    Box::pin(self.on_command(c, w)).await.map_err(lost)?;
                }
            }
            Irc::Response(Response::ERR_NICKNAMEINUSE | Response::ERR_ERRONEOUSNICKNAME, args)
                if !*registered =>
            {
                let tried = args
                    .get(1)
                    .cloned()
                    .unwrap_or_else(|| self.own_nick.clone());
                self.own_nick = if tried.len() < 28 {
                    format!("{tried}_")
                } else {
                    format!("sb{}", self.seq)
                };
                self.seq += 1;
                write_raw(w, &format!("NICK {}", self.own_nick))
                    .await
                    .map_err(lost)?;
            }
            Irc::Response(Response::ERR_NICKNAMEINUSE, args) => {
                let nick = args.get(1).cloned().unwrap_or_default();
                self.emit(Event::Error {
                    context: ErrorContext::Session,
                    kind: ErrorKind::Conflict,
                    text: format!("the nick {nick} is in use on {}", self.host),
                })
                .await;
            }
            Irc::JOIN(chans, _, _) => {
                for chan in chans.split(',') {
                    self.on_join(chan, source.clone()).await;
                }
            }
            Irc::Response(Response::RPL_NAMREPLY, args) => {
                if let (Some(chan), Some(names)) = (args.get(2), args.get(3)) {
                    self.on_names(chan, names).await;
                }
            }
            Irc::Response(Response::RPL_ENDOFNAMES, args) => {
                if let Some(chan) = args.get(1) {
                    let key = irc_lowercase(chan);
                    if let Some(c) = self.channels.get_mut(&key) {
                        let members = std::mem::take(&mut c.batch);
                        let room = room_id(chan, &self.host);
                        self.emit(Event::Members {
                            room,
                            members,
                            complete: true,
                        })
                        .await;
                    }
                }
            }
            Irc::Response(Response::RPL_TOPIC, args) => {
                if let (Some(chan), Some(topic)) = (args.get(1), args.get(2)) {
                    self.on_topic(chan, topic, None).await;
                }
            }
            Irc::TOPIC(chan, Some(topic)) => self.on_topic(&chan, &topic, source.clone()).await,
            Irc::PART(chan, reason) => {
                let key = irc_lowercase(&chan);
                let room = room_id(&chan, &self.host);
                if is_me(&source, &self.own_nick) {
                    self.channels.remove(&key);
                    self.wanted.remove(&key);
                    self.emit(Event::RoomLeft {
                        room,
                        reason: LeaveReason::Part(reason),
                    })
                    .await;
                } else if let Some(nick) = source {
                    if let Some(c) = self.channels.get_mut(&key) {
                        c.ranked.remove(nick.as_str());
                    }
                    self.emit(Event::MemberLeft {
                        room,
                        nick,
                        reason: LeaveReason::Part(reason),
                    })
                    .await;
                }
            }
            Irc::KICK(chan, victim, reason) => {
                let key = irc_lowercase(&chan);
                let room = room_id(&chan, &self.host);
                let reason_ = LeaveReason::Kicked {
                    by: source.clone(),
                    reason: reason.clone(),
                };
                if irc_lowercase(&victim) == irc_lowercase(&self.own_nick) {
                    self.channels.remove(&key);
                    self.wanted.remove(&key);
                    self.emit(Event::RoomLeft {
                        room,
                        reason: reason_,
                    })
                    .await;
                } else {
                    if let Some(c) = self.channels.get_mut(&key) {
                        c.ranked.remove(victim.as_str());
                    }
                    self.emit(Event::MemberLeft {
                        room,
                        nick: victim,
                        reason: reason_,
                    })
                    .await;
                }
            }
            Irc::QUIT(reason) => {
                let Some(nick) = source else { return Ok(()) };
                for c in self.channels.values_mut() {
                    c.ranked.remove(nick.as_str());
                }
                for room in self.rooms_here() {
                    self.emit(Event::MemberLeft {
                        room,
                        nick: nick.clone(),
                        reason: LeaveReason::Quit(reason.clone()),
                    })
                    .await;
                }
            }
            Irc::NICK(new) => {
                let Some(old) = source else { return Ok(()) };
                let own = irc_lowercase(&old) == irc_lowercase(&self.own_nick);
                if own {
                    self.own_nick = new.clone();
                }
                for c in self.channels.values_mut() {
                    if let Some(p) = c.ranked.remove(old.as_str()) {
                        c.ranked.insert(new.as_str().into(), p);
                    }
                }
                for room in self.rooms_here() {
                    self.emit(Event::MemberRenamed {
                        room: Some(room),
                        old_nick: old.clone(),
                        new_nick: new.clone(),
                        own,
                    })
                    .await;
                }
            }
            Irc::ChannelMODE(chan, modes) => {
                let key = irc_lowercase(&chan);
                for mode in modes {
                    let (add, m, arg) = match mode {
                        Mode::Plus(m, a) => (true, m, a),
                        Mode::Minus(m, a) => (false, m, a),
                        Mode::NoPrefix(_) => continue,
                    };
                    let prefix = match m {
                        ChannelMode::Founder => '~',
                        ChannelMode::Admin => '&',
                        ChannelMode::Oper => '@',
                        ChannelMode::Halfop => '%',
                        ChannelMode::Voice => '+',
                        _ => continue,
                    };
                    let Some(nick) = arg else { continue };
                    let Some(c) = self.channels.get_mut(&key) else {
                        continue;
                    };
                    let p = c.ranked.entry(nick.as_str().into()).or_default();
                    if add {
                        p.insert(prefix);
                    } else {
                        p.remove(prefix);
                    }
                    let role = p.role();
                    if *p == Prefixes::default() {
                        c.ranked.remove(nick.as_str());
                    }
                    let member = Member {
                        user: user_id(&nick, &self.host),
                        nick,
                        role,
                        away: None,
                    };
                    let room = room_id(&chan, &self.host);
                    self.emit(Event::MemberChanged { room, member }).await;
                }
            }
            Irc::PRIVMSG(target, text) => self
                .on_text(source, target, text, false, w)
                .await
                .map_err(lost)?,
            Irc::NOTICE(target, text) if source.is_some() && *registered => self
                .on_text(source, target, text, true, w)
                .await
                .map_err(lost)?,
            Irc::Response(Response::RPL_LIST, args) => {
                if let (Some(l), Some(chan)) = (&mut self.listing, args.get(1)) {
                    l.rooms.push(RoomListing {
                        room: room_id(chan, &self.host),
                        name: chan.clone(),
                        members: args.get(2).and_then(|n| n.parse().ok()),
                        topic: args.get(3).map(|t| irc_to_styled(t)),
                    });
                }
            }
            Irc::Response(Response::RPL_LISTEND, _) => {
                if let Some(mut l) = self.listing.take() {
                    l.rooms.sort_by(|a, b| a.room.cmp(&b.room));
                    let after = l.after.clone();
                    let mut rooms: Vec<RoomListing> = l
                        .rooms
                        .into_iter()
                        .filter(|r| after.as_ref().is_none_or(|a| r.room.as_str() > a.as_str()))
                        .collect();
                    let next = (rooms.len() > l.limit).then(|| rooms[l.limit - 1].room.to_string());
                    rooms.truncate(l.limit);
                    self.emit(Event::RoomList {
                        token: l.token,
                        rooms,
                        next,
                    })
                    .await;
                }
            }
            Irc::Response(
                r @ (Response::ERR_CHANNELISFULL
                | Response::ERR_INVITEONLYCHAN
                | Response::ERR_BANNEDFROMCHAN
                | Response::ERR_BADCHANNELKEY
                | Response::ERR_NOSUCHCHANNEL
                | Response::ERR_TOOMANYCHANNELS
                | Response::ERR_BADCHANMASK),
                args,
            ) => {
                let chan = args.get(1).cloned().unwrap_or_default();
                let text = args.last().cloned().unwrap_or_default();
                let kind = match r {
                    Response::ERR_BADCHANNELKEY => ErrorKind::NotAuthorized,
                    Response::ERR_NOSUCHCHANNEL | Response::ERR_BADCHANMASK => ErrorKind::NotFound,
                    _ => ErrorKind::Forbidden,
                };
                self.wanted.remove(&irc_lowercase(&chan));
                let room = room_id(&chan, &self.host);
                self.emit(Event::Error {
                    context: ErrorContext::Room(room),
                    kind,
                    text: format!("{chan}: {text}"),
                })
                .await;
            }
            Irc::Response(Response::ERR_NOSUCHNICK, args) => {
                let nick = args.get(1).cloned().unwrap_or_default();
                self.emit(Event::Error {
                    context: ErrorContext::Session,
                    kind: ErrorKind::NotFound,
                    text: format!("no such nick on {}: {nick}", self.host),
                })
                .await;
            }
            Irc::ERROR(text) => return Err(End::Lost(format!("{}: {text}", self.host))),
            _ => {}
        }
        Ok(())
    }

    async fn on_join(&mut self, chan: &str, source: Option<String>) {
        let key = irc_lowercase(chan);
        let room = room_id(chan, &self.host);
        let own = source
            .as_deref()
            .is_some_and(|n| irc_lowercase(n) == irc_lowercase(&self.own_nick));
        if own {
            let requested = self
                .wanted
                .get(&key)
                .map(|w| w.nick.clone())
                .unwrap_or_default();
            self.channels.insert(
                key,
                Chan {
                    name: chan.to_owned(),
                    ..Default::default()
                },
            );
            self.emit(Event::RoomJoined {
                room,
                name: chan.to_owned(),
                own_nick: self.own_nick.clone(),
                nick_changed: !requested.is_empty() && requested != self.own_nick,
            })
            .await;
        } else if let Some(nick) = source {
            let member = Member {
                user: user_id(&nick, &self.host),
                nick,
                role: Role::Member,
                away: None,
            };
            self.emit(Event::MemberJoined { room, member }).await;
        }
    }

    async fn on_names(&mut self, chan: &str, names: &str) {
        let key = irc_lowercase(chan);
        let host = self.host.clone();
        let Some(c) = self.channels.get_mut(&key) else {
            return;
        };
        let mut full = Vec::new();
        for entry in names.split_whitespace() {
            let (prefixes, nick) = parse_name(entry);
            let role = prefixes.role();
            if prefixes != Prefixes::default() {
                c.ranked.insert(nick.into(), prefixes);
            }
            c.batch.push(Member {
                user: user_id(nick, &host),
                nick: nick.to_owned(),
                role,
                away: None,
            });
            if c.batch.len() >= MEMBER_BATCH {
                full.push(std::mem::take(&mut c.batch));
            }
        }
        for members in full {
            let room = room_id(chan, &host);
            self.emit(Event::Members {
                room,
                members,
                complete: false,
            })
            .await;
        }
    }

    async fn on_topic(&mut self, chan: &str, topic: &str, by: Option<String>) {
        let key = irc_lowercase(chan);
        let topic = irc_to_styled(topic);
        if let Some(c) = self.channels.get_mut(&key) {
            c.topic = Some(topic.clone());
        }
        self.emit(Event::Topic {
            room: room_id(chan, &self.host),
            topic,
            by,
        })
        .await;
    }

    async fn on_text<W: AsyncWrite + Unpin>(
        &mut self,
        source: Option<String>,
        target: String,
        text: String,
        notice: bool,
        w: &mut W,
    ) -> std::io::Result<()> {
        let Some(nick) = source else { return Ok(()) };
        let (body, kind) = match text.strip_prefix('\x01') {
            Some(ctcp) => {
                let ctcp = ctcp.trim_end_matches('\x01');
                match ctcp.split_once(' ').unwrap_or((ctcp, "")) {
                    ("ACTION", rest) => (rest.to_owned(), MessageKind::Action),
                    ("VERSION", _) if !notice => {
                        let reply = format!("NOTICE {nick} :\x01VERSION Switchboard\x01");
                        return self.send(w, &reply).await;
                    }
                    _ => return Ok(()),
                }
            }
            None if notice => (text, MessageKind::Notice),
            None => (text, MessageKind::Normal),
        };
        let own = irc_lowercase(&nick) == irc_lowercase(&self.own_nick);
        let conversation = if Self::is_channel(&target) {
            Target::Room(room_id(&target, &self.host))
        } else {
            let peer = user_id(&nick, &self.host);
            if !own && self.contacts.insert(irc_lowercase(&nick)) {
                self.emit(Event::ContactAdded {
                    user: peer.clone(),
                    name: nick.clone(),
                })
                .await;
            }
            Target::User(peer)
        };
        let id = self.next_id();
        self.emit(Event::Message(Message {
            id,
            target: conversation,
            author: user_id(&nick, &self.host),
            author_nick: nick,
            text: irc_to_styled(&body),
            kind,
            reply_to: None,
            attachments: Vec::new(),
            timestamp: Some(SystemTime::now()),
            own,
            token: None,
        }))
        .await;
        Ok(())
    }

    async fn on_command<W: AsyncWrite + Unpin>(
        &mut self,
        command: Command,
        w: &mut W,
    ) -> std::io::Result<()> {
        match command {
            Command::Join {
                room,
                nick,
                password,
            } => {
                let Some((chan, _)) = crate::ids::parse_room(&room) else {
                    return Ok(());
                };
                let key = irc_lowercase(chan);
                if let Some(c) = self.channels.get(&key) {
                    // Already in: tell the core again what it needs; the
                    // members come from the server again (NAMES).
                    let (name, topic) = (c.name.clone(), c.topic.clone());
                    self.emit(Event::RoomJoined {
                        room: room.clone(),
                        name,
                        own_nick: self.own_nick.clone(),
                        nick_changed: nick != self.own_nick,
                    })
                    .await;
                    if let Some(topic) = topic {
                        self.emit(Event::Topic {
                            room: room.clone(),
                            topic,
                            by: None,
                        })
                        .await;
                    }
                    self.send(w, &format!("NAMES {chan}")).await?;
                    return Ok(());
                }
                let line = match &password {
                    Some(k) if !k.contains([' ', '\r', '\n', ',']) => format!("JOIN {chan} {k}"),
                    _ => format!("JOIN {chan}"),
                };
                self.wanted.insert(
                    key,
                    Wanted {
                        name: chan.to_owned(),
                        nick,
                        key: password,
                    },
                );
                self.send(w, &line).await?;
            }
            Command::Leave { room, reason } => {
                let Some((chan, _)) = crate::ids::parse_room(&room) else {
                    return Ok(());
                };
                self.wanted.remove(&irc_lowercase(chan));
                let reason: String = reason
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                    .collect();
                self.send(w, &format!("PART {chan} :{reason}")).await?;
                // In no channel any more: the connection is not kept (as biboumi does).
                if self.wanted.is_empty() {
                    self.closing = true;
                }
            }
            Command::SendText {
                target,
                text,
                kind,
                token,
                ..
            } => {
                let irc_text = styled_to_irc(&text);
                match &target {
                    Target::Room(room) => {
                        let Some((chan, _)) = crate::ids::parse_room(room) else {
                            return Ok(());
                        };
                        let key = irc_lowercase(chan);
                        // Joined, or joining (after a reconnect the JOIN goes first).
                        if !self.channels.contains_key(&key) && !self.wanted.contains_key(&key) {
                            self.emit(Event::Error {
                                context: ErrorContext::Command(token),
                                kind: ErrorKind::Forbidden,
                                text: format!("not in {chan}"),
                            })
                            .await;
                            return Ok(());
                        }
                        for line in message_lines("PRIVMSG", chan, &irc_text, kind) {
                            self.send(w, &line).await?;
                        }
                        let id = self.next_id();
                        self.emit(Event::Message(Message {
                            id,
                            target,
                            author: user_id(&self.own_nick, &self.host),
                            author_nick: self.own_nick.clone(),
                            text,
                            kind,
                            reply_to: None,
                            attachments: Vec::new(),
                            timestamp: Some(SystemTime::now()),
                            own: true,
                            token: Some(token),
                        }))
                        .await;
                    }
                    Target::User(user) => {
                        let Some((nick, _)) = crate::ids::parse_user(user) else {
                            self.emit(Event::Error {
                                context: ErrorContext::Command(token),
                                kind: ErrorKind::BadRequest,
                                text: format!("{user} is not an IRC nick"),
                            })
                            .await;
                            return Ok(());
                        };
                        let nick = nick.to_owned();
                        for line in message_lines("PRIVMSG", &nick, &irc_text, kind) {
                            self.send(w, &line).await?;
                        }
                    }
                }
            }
            Command::SetNick { nick, .. } => match valid_nick(&nick) {
                Ok(()) => self.send(w, &format!("NICK {nick}")).await?,
                Err(reason) => {
                    self.emit(Event::Error {
                        context: ErrorContext::Session,
                        kind: ErrorKind::BadRequest,
                        text: format!("{nick:?} {reason}"),
                    })
                    .await
                }
            },
            Command::SetTopic { room, topic } => {
                let Some((chan, _)) = crate::ids::parse_room(&room) else {
                    return Ok(());
                };
                let topic: String = styled_to_irc(&topic)
                    .chars()
                    .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                    .collect();
                self.send(w, &format!("TOPIC {chan} :{topic}")).await?;
            }
            Command::ConfigureServer { settings, .. } => {
                // From the next connection on.
                crate::apply_server_settings(&mut self.settings, &settings);
            }
            Command::ListRooms {
                token,
                after,
                limit,
                ..
            } => {
                self.listing = Some(Listing {
                    token,
                    after,
                    limit: limit.max(1),
                    rooms: Vec::new(),
                });
                self.send(w, "LIST").await?;
            }
            Command::FetchHistory { token, room, .. } => {
                self.emit(Event::History {
                    token,
                    room,
                    messages: Vec::new(),
                })
                .await;
            }
            Command::Edit { token, .. }
            | Command::Retract { token, .. }
            | Command::React { token, .. } => {
                self.emit(Event::Error {
                    context: ErrorContext::Command(token),
                    kind: ErrorKind::Other,
                    text: "IRC has no edits, retractions or reactions".into(),
                })
                .await;
            }
            Command::Typing { .. } | Command::MarkRead { .. } | Command::Shutdown => {}
        }
        Ok(())
    }
}

async fn write_raw<W: AsyncWrite + Unpin>(w: &mut W, line: &str) -> std::io::Result<()> {
    debug_assert!(!line.contains(['\r', '\n', '\0']), "unsafe IRC line");
    let mut bytes = Vec::with_capacity(line.len() + 2);
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Reads one line into `buf`, keeping at most [`MAX_LINE`] bytes of it: a
/// server that never sends a line feed cannot make the buffer grow. Returns
/// how many bytes were read (0 at the end of the stream). Cancel-safe: what
/// was read stays in `buf`, and the next call goes on with the same line.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut read = 0;
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(read);
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let n = chunk.len();
        r.consume(n);
        read += n;
        if done {
            return Ok(read);
        }
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
    async fn an_endless_line_is_cut_and_the_next_line_still_read() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\r\nPING :next\r\n");
        let mut r = BufReader::with_capacity(512, &input[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 100_002);
        assert_eq!(buf.len(), MAX_LINE);
        buf.clear();
        read_line(&mut r, &mut buf).await.unwrap();
        assert_eq!(buf, b"PING :next\r\n");
        buf.clear();
        assert_eq!(read_line(&mut r, &mut buf).await.unwrap(), 0);
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
