//! IRCv3 `draft/chathistory` catch-up after a reconnect. The last message
//! seen in each channel (its server time and `msgid`) is kept for the whole
//! session, across its connections. When a channel joined on an earlier
//! connection is joined again, the server is asked for what came after
//! that message (`CHATHISTORY AFTER`), and the `chathistory` batch it
//! answers with becomes ordinary messages, at their server times, less
//! those already seen. A first join asks for nothing: the core's archive
//! holds what the user saw.
//!
//! ```text
//! CHATHISTORY AFTER #chan msgid=abc 50
//! :irc.host BATCH +h1 chathistory #chan
//! @batch=h1;msgid=abd;time=2026-12-02T10:00:00.000Z :bob!u@h PRIVMSG #chan :missed
//! :irc.host BATCH -h1
//! ```

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use irc_proto::{BatchSubCommand, Command as Irc, Message as IrcMessage, Prefix};
use switchboard_bridge_api::{Event, Message, MessageId, MessageKind, Target};
use tokio::io::AsyncWrite;
use tracing::debug;

use super::text::Meta;
use super::Conn;
use crate::format::irc_to_styled;
use crate::ids::{irc_lowercase, room_id, user_id};
use crate::limits::{plausible_nick, MAX_ROOMS};
use crate::small_map::SmallMap;
use crate::tags;

/// The most messages asked for, and taken, in one catch-up (less when the
/// server's `CHATHISTORY` token says less).
pub(super) const MAX_CATCH_UP: usize = 100;
/// Ids of the latest messages kept per channel, to skip a replayed message
/// that was also seen live.
const RECENT_IDS: usize = 16;
/// The capabilities a catch-up needs: without `batch` its lines could not
/// be told from live ones, without `server-time` nor placed in time.
const NEEDED: [&str; 3] = ["draft/chathistory", "batch", "server-time"];

/// The last message seen in one channel.
#[derive(Clone, Debug)]
struct Mark {
    /// Its server time (or the join's, before any message).
    time: SystemTime,
    /// Its `msgid`, if it had one.
    msgid: Option<String>,
    /// The ids of the latest messages seen, oldest first.
    recent: VecDeque<String>,
    /// No message was seen yet: `time` is the join's (the gateway's clock,
    /// maybe not the server's), and the first message replaces it.
    empty: bool,
    /// Set on an earlier connection: the next join is a rejoin.
    earlier: bool,
}

impl Mark {
    fn at(time: SystemTime) -> Self {
        Mark {
            time,
            msgid: None,
            recent: VecDeque::new(),
            empty: true,
            earlier: false,
        }
    }

    /// A message at `time` was seen.
    fn advance(&mut self, time: SystemTime, msgid: Option<&str>) {
        if let Some(id) = msgid {
            if self.recent.len() >= RECENT_IDS {
                self.recent.pop_front();
            }
            self.recent.push_back(id.to_owned());
        }
        if self.empty || time >= self.time {
            self.empty = false;
            self.time = time;
            self.msgid = msgid.map(str::to_owned);
        }
    }

    /// Whether a message at `time` with `msgid` is this one or older.
    fn covers(&self, time: SystemTime, msgid: Option<&str>) -> bool {
        match msgid {
            Some(id) if self.recent.iter().any(|r| r == id) => true,
            // Two ids tell apart messages of the same instant.
            Some(_) if self.msgid.is_some() => time < self.time,
            _ => time <= self.time,
        }
    }
}

/// A catch-up batch being received.
#[derive(Debug)]
struct Replay {
    /// The channel, in IRC lowercase.
    chan: String,
    /// The last message seen when it was asked for.
    after: Mark,
    /// Messages still taken from it.
    left: usize,
}

/// What the connection keeps for catch-ups.
#[derive(Debug)]
pub(super) struct History {
    /// The last message seen, by channel (IRC lowercase), for the session.
    marks: SmallMap<String, Mark>,
    /// Catch-ups asked for and not begun: the mark asked after, by channel.
    asked: HashMap<String, Mark>,
    /// Catch-up batches open, by reference.
    open: HashMap<String, Replay>,
    /// The server's `CHATHISTORY` token (0: no limit).
    limit: Option<usize>,
    /// The server takes `msgid=` references (`MSGREFTYPES` absent, or
    /// listing `msgid`).
    by_msgid: bool,
}

impl Default for History {
    fn default() -> Self {
        History {
            marks: SmallMap::new(),
            asked: HashMap::new(),
            open: HashMap::new(),
            limit: None,
            by_msgid: true,
        }
    }
}

impl History {
    /// A new connection: the marks of channels still wanted are kept (their
    /// next join is a rejoin), what the last connection asked for is not.
    pub(super) fn reconnected(&mut self, wanted: impl Fn(&str) -> bool) {
        self.marks.retain(|k, _| wanted(k));
        for m in self.marks.values_mut() {
            m.earlier = true;
        }
        *self = History {
            marks: std::mem::take(&mut self.marks),
            ..History::default()
        };
    }

    /// The tokens of an `RPL_ISUPPORT` (005) line.
    pub(super) fn isupport(&mut self, tokens: &[String]) {
        for t in tokens {
            if let Some(v) = t.strip_prefix("CHATHISTORY=") {
                self.limit = v.parse().ok();
            } else if let Some(v) = t.strip_prefix("MSGREFTYPES=") {
                self.by_msgid = v.split(',').any(|r| r == "msgid");
            }
        }
    }

    /// Messages asked for in one catch-up.
    fn count(&self) -> usize {
        match self.limit {
            Some(n) if n > 0 => n.min(MAX_CATCH_UP),
            _ => MAX_CATCH_UP,
        }
    }

    /// The user's own join of `chan` (`key` in lowercase), at `at`: the
    /// `CHATHISTORY` line to send on a rejoin when `enabled`, and nothing
    /// on a first join (which starts the channel's mark).
    fn joined(
        &mut self,
        key: &str,
        chan: &str,
        at: SystemTime,
        enabled: bool,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        if let Some(m) = self.marks.get_mut(key).filter(|m| m.earlier) {
            m.earlier = false;
            if !enabled {
                return None;
            }
            let after = m.clone();
            let reference = match &after.msgid {
                Some(id) if self.by_msgid => format!("msgid={id}"),
                _ => format!("timestamp={}", tags::format_time(after.time)),
            };
            let line = format!("CHATHISTORY AFTER {chan} {reference} {}", self.count());
            self.asked.insert(key.to_owned(), after);
            return Some(line);
        }
        // Channels left on this connection are forgotten once the marks
        // reach the bound (the joins wanted are bounded by it).
        if self.marks.len() >= MAX_ROOMS {
            self.marks.retain(|k, _| wanted(k));
        }
        self.marks.insert(key.to_owned(), Mark::at(at));
        None
    }
}

impl Conn {
    /// After the user's own join of `chan`: on a rejoin after a reconnect,
    /// asks the server for what was missed, when it offers that.
    pub(super) async fn catch_up<W: AsyncWrite + Unpin>(
        &mut self,
        chan: &str,
        at: Option<SystemTime>,
        w: &mut W,
    ) -> std::io::Result<()> {
        let key = irc_lowercase(chan);
        if !self.channels.contains_key(&key) {
            return Ok(());
        }
        let enabled = NEEDED.iter().all(|c| self.caps.has(c));
        let wanted = &self.wanted;
        let at = at.unwrap_or_else(SystemTime::now);
        let line = self
            .history
            .joined(&key, chan, at, enabled, |k| wanted.contains_key(k));
        match line {
            Some(line) => self.send(w, &line).await,
            None => Ok(()),
        }
    }

    /// A live PRIVMSG or NOTICE in a joined channel moves its mark.
    pub(super) fn saw(&mut self, msg: &IrcMessage, meta: &Meta) {
        let (Irc::PRIVMSG(target, _) | Irc::NOTICE(target, _)) = &msg.command else {
            return;
        };
        let (Some(time), key) = (meta.time, irc_lowercase(target)) else {
            return;
        };
        if !self.channels.contains_key(&key) {
            return;
        }
        if let Some(m) = self.history.marks.get_mut(&key) {
            m.advance(time, meta.msgid.as_deref());
        }
    }

    /// Takes `msg` if it belongs to a catch-up asked for: the start of its
    /// batch, a line in it (a message becomes an event; anything else is
    /// dropped) or its end. Tells whether it did.
    pub(super) async fn on_history_line(&mut self, msg: &IrcMessage, meta: &Meta) -> bool {
        if let Irc::BATCH(reference, kind, args) = &msg.command {
            if let Some(opened) = reference.strip_prefix('+') {
                let chathistory =
                    matches!(kind, Some(BatchSubCommand::CUSTOM(k)) if k == "CHATHISTORY");
                let chan = args.as_ref().and_then(|a| a.first());
                let Some(chan) = chan.filter(|_| chathistory) else {
                    return false;
                };
                let key = irc_lowercase(chan);
                let Some(after) = self.history.asked.remove(&key) else {
                    return false;
                };
                let left = self.history.count();
                let replay = Replay {
                    chan: key,
                    after,
                    left,
                };
                self.history.open.insert(opened.to_owned(), replay);
                return true;
            }
            return reference
                .strip_prefix('-')
                .is_some_and(|closed| self.history.open.remove(closed).is_some());
        }
        let Some(reference) = tags::tag(msg, "batch") else {
            return false;
        };
        if !self.history.open.contains_key(reference) {
            return false;
        }
        if let Some(message) = self.replayed(reference, msg, meta) {
            self.emit(Event::Message(message)).await;
        }
        true
    }

    /// The message a line of the catch-up batch `reference` is, unless it
    /// is not a message of its channel, was seen already, or comes past
    /// the count asked for.
    fn replayed(&mut self, reference: &str, msg: &IrcMessage, meta: &Meta) -> Option<Message> {
        let (target, text, notice) = match &msg.command {
            Irc::PRIVMSG(t, x) => (t, x, false),
            Irc::NOTICE(t, x) => (t, x, true),
            _ => return None,
        };
        let Some(Prefix::Nickname(nick, _, _)) = &msg.prefix else {
            return None;
        };
        let time = meta.time?;
        let msgid = meta.msgid.as_deref();
        let replay = self.history.open.get_mut(reference)?;
        let name = self.channels.get(&replay.chan)?.name.clone();
        let mark = self.history.marks.get_mut(&replay.chan)?;
        if !plausible_nick(nick)
            || irc_lowercase(target) != replay.chan
            || replay.left == 0
            || replay.after.covers(time, msgid)
            || msgid.is_some_and(|id| mark.recent.iter().any(|r| r == id))
        {
            debug!(host = %self.host, "a catch-up line seen already or out of place; dropped");
            return None;
        }
        let (body, kind) = match text.strip_prefix('\x01') {
            Some(ctcp) => (
                ctcp.trim_end_matches('\x01').strip_prefix("ACTION ")?,
                MessageKind::Action,
            ),
            None if notice => (text.as_str(), MessageKind::Notice),
            None => (text.as_str(), MessageKind::Normal),
        };
        replay.left -= 1;
        mark.advance(time, msgid);
        let id = match msgid {
            Some(id) => MessageId(id.to_owned()),
            None => self.next_id(),
        };
        Some(Message {
            id,
            target: Target::Room(room_id(&name, &self.host)),
            author: user_id(nick, &self.host),
            author_nick: nick.clone(),
            text: irc_to_styled(body),
            kind,
            reply_to: None,
            attachments: Vec::new(),
            timestamp: Some(time),
            own: irc_lowercase(nick) == irc_lowercase(&self.own_nick),
            token: None,
            parts: Vec::new(),
        })
    }
}
