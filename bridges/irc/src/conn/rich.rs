//! What IRC can carry of corrections, retractions, reactions, replies and
//! typing, both ways.
//!
//! - Corrections (`Command::Edit`) on any server: a new line as IRC users
//!   write one ([`crate::correction`]), then `Edited` for the core's
//!   reflection. The original text is found among the user's last
//!   [`SENT_KEPT`] messages on this connection.
//! - With `message-tags` acked: reactions as `TAGMSG` with `+draft/react`
//!   and `+draft/reply` (IRC reactions are not sets: each emoji added to
//!   the user's set is one `TAGMSG`; one taken off cannot be told, IRC
//!   has no such tag), typing as `TAGMSG` with `+typing` (at most one per
//!   target in [`TYPING_GAP`], as the spec says); from others the same tags
//!   become `Reacted` (the emoji added to what that person gave that
//!   message here, a set of at most [`MAX_REACTIONS`]) and `Typing`.
//! - With `draft/message-redaction` acked: `REDACT` both ways.
//!
//! The room capabilities told at each join follow what was acked.

use std::collections::{HashSet, VecDeque};

use switchboard_bridge_api::{
    Capabilities, ErrorContext, ErrorKind, Event, MessageId, MessageKind, RoomId, Target, Token,
    TypingState, UserId,
};
use tokio::io::AsyncWrite;
use tokio::time::Instant;

use super::echo::Sent;
use super::Conn;
use crate::correction::correction_line;
use crate::format::styled_to_irc;
use crate::ids::{irc_lowercase, room_id, user_id};
use crate::limits::plausible_nick;
use crate::split::message_lines;
use crate::tags::{self, REACT, REPLY, TYPING};

/// The user's own messages whose text a correction can be made against.
pub(super) const SENT_KEPT: usize = 32;
/// (message, person) pairs whose reactions are kept.
const REACTIONS_KEPT: usize = 512;
/// Reactions kept per person and message.
pub(super) const MAX_REACTIONS: usize = 20;
/// The least time between two typing notifications to one target.
pub(super) const TYPING_GAP: std::time::Duration = std::time::Duration::from_secs(3);
/// Targets whose last typing notification time is kept.
const TYPING_KEPT: usize = 64;
/// How long someone is taken to be typing after `typing=active`, and
/// after `typing=paused`, with nothing more from them (the spec's 6 and 30 s).
pub(super) const ACTIVE_FOR: std::time::Duration = std::time::Duration::from_secs(6);
const PAUSED_FOR: std::time::Duration = std::time::Duration::from_secs(30);
/// People whose typing is followed at most.
const TYPISTS_KEPT: usize = 64;
/// People whose capabilities were told, kept at most (then told again).
const PEERS_KEPT: usize = 1024;

/// The capability that carries client tags.
const MESSAGE_TAGS: &str = "message-tags";
/// The capability for `REDACT`.
pub(super) const REDACTION: &str = "draft/message-redaction";

/// A connection's memory for these: made on first use (most connections
/// never correct nor react), bounded.
#[derive(Debug, Default)]
pub(super) struct Rich {
    /// The user's messages: every id that names one (the command's token,
    /// the server's msgids, the bridge's id), and its text now.
    sent: VecDeque<(Vec<String>, String)>,
    /// Reactions: (conversation, message, person in IRC lowercase) → set.
    reactions: VecDeque<(String, String, String, Vec<String>)>,
    /// When a typing notification last went to a target (IRC lowercase).
    typing: VecDeque<(String, Instant)>,
    /// Others typing: conversation, person, until when.
    typists: VecDeque<(Target, UserId, Instant)>,
    /// People whose direct chat's capabilities were told on this
    /// connection (IRC lowercase).
    told_peers: HashSet<String>,
}

impl Rich {
    /// The text of the user's message named by `id`, if kept.
    fn text_of(&mut self, id: &str) -> Option<&mut String> {
        self.sent
            .iter_mut()
            .rev()
            .find(|(ids, _)| ids.iter().any(|i| i == id))
            .map(|(_, text)| text)
    }

    /// The reaction set of `who` on `message` in `conv`, made empty if new.
    fn set_of(&mut self, conv: &str, message: &str, who: &str) -> &mut Vec<String> {
        let at = self
            .reactions
            .iter()
            .position(|(c, m, w, _)| c == conv && m == message && w == who);
        let at = match at {
            Some(at) => at,
            None => {
                if self.reactions.len() >= REACTIONS_KEPT {
                    self.reactions.pop_front();
                }
                self.reactions.push_back((
                    conv.to_owned(),
                    message.to_owned(),
                    who.to_owned(),
                    Vec::new(),
                ));
                self.reactions.len() - 1
            }
        };
        &mut self.reactions[at].3
    }

    /// Whether a typing notification may go to `target` now (and notes it).
    fn may_type(&mut self, target: &str, now: Instant) -> bool {
        if let Some((_, last)) = self.typing.iter_mut().find(|(t, _)| t == target) {
            if now.duration_since(*last) < TYPING_GAP {
                return false;
            }
            *last = now;
            return true;
        }
        if self.typing.len() >= TYPING_KEPT {
            self.typing.pop_front();
        }
        self.typing.push_back((target.to_owned(), now));
        true
    }
}

/// The IRC word of a typing state.
fn typing_word(state: TypingState) -> &'static str {
    match state {
        TypingState::Active => "active",
        TypingState::Paused => "paused",
        TypingState::Inactive => "done",
    }
}

/// A typing state from its IRC word.
fn typing_state(word: &str) -> Option<TypingState> {
    match word {
        "active" => Some(TypingState::Active),
        "paused" => Some(TypingState::Paused),
        "done" => Some(TypingState::Inactive),
        _ => None,
    }
}

/// The client tags of a `TAGMSG` the bridge reads.
#[derive(Debug, Default)]
pub(super) struct TagMsg {
    reply: Option<String>,
    react: Option<String>,
    typing: Option<TypingState>,
}

impl TagMsg {
    /// The tags of `msg` this bridge reads.
    pub fn of(msg: &irc_proto::Message) -> Self {
        TagMsg {
            reply: tags::reply_to(msg).map(str::to_owned),
            react: tags::reaction(msg).map(str::to_owned),
            typing: tags::tag(msg, TYPING).and_then(typing_state),
        }
    }
}

impl Conn {
    /// The memory for corrections and reactions, made on first use.
    fn rich(&mut self) -> &mut Rich {
        self.rich.get_or_insert_with(Box::default)
    }

    /// Keeps the text of a message the user sent, under every id naming it.
    pub(super) fn remember_sent(&mut self, ids: Vec<String>, text: &str) {
        let rich = self.rich();
        if rich.sent.len() >= SENT_KEPT {
            rich.sent.pop_front();
        }
        rich.sent.push_back((ids, text.to_owned()));
    }

    /// What a room or direct chat on this connection supports:
    /// corrections always (as lines), reactions, replies and typing with
    /// `message-tags`, retractions with `draft/message-redaction`.
    pub(super) fn conversation_capabilities(&self) -> Capabilities {
        let tags = self.caps.has(MESSAGE_TAGS);
        Capabilities {
            edits: true,
            reactions: tags,
            replies: tags,
            typing: tags,
            retractions: self.caps.has(REDACTION),
            ..crate::capabilities()
        }
    }

    /// Tells the core what `room` supports (after its `RoomJoined`).
    pub(super) async fn tell_room_capabilities(&self, room: &RoomId) {
        self.emit(Event::Capabilities {
            target: Target::Room(room.clone()),
            capabilities: self.conversation_capabilities(),
        })
        .await;
    }

    /// Tells the core what a direct chat with `nick` supports, once per
    /// connection (before its first message either way).
    pub(super) async fn tell_peer_capabilities(&mut self, nick: &str) {
        let told = &mut self.rich().told_peers;
        if told.len() >= PEERS_KEPT {
            told.clear();
        }
        if !told.insert(irc_lowercase(nick)) {
            return;
        }
        self.emit(Event::Capabilities {
            target: Target::User(user_id(nick, &self.host)),
            capabilities: self.conversation_capabilities(),
        })
        .await;
    }

    /// A new connection: its capabilities may differ, so direct chats'
    /// are told again.
    pub(super) fn rich_reconnected(&mut self) {
        if let Some(rich) = &mut self.rich {
            rich.told_peers.clear();
        }
    }

    /// The IRC target of a conversation: a channel joined or joining, or
    /// a nick; `None` (and an error told for `token`) otherwise.
    async fn irc_target(&self, target: &Target, token: &Token) -> Option<String> {
        let found = match target {
            Target::Room(room) => {
                crate::ids::parse_room(room)
                    .map(|(chan, _)| chan)
                    .filter(|chan| {
                        let key = irc_lowercase(chan);
                        self.channels.contains_key(&key) || self.wanted.contains_key(&key)
                    })
            }
            Target::User(user) => crate::ids::parse_user(user).map(|(nick, _)| nick),
        };
        if found.is_none() && !token.is_empty() {
            self.emit(Event::Error {
                context: ErrorContext::Command(token.clone()),
                kind: ErrorKind::Forbidden,
                text: "not a conversation on this server".into(),
            })
            .await;
        }
        found.map(str::to_owned)
    }

    /// Refuses a command the server cannot carry, naming what it lacks.
    async fn refuse(&self, token: Token, what: &str, cap: &str) {
        self.emit(Event::Error {
            context: ErrorContext::Command(token),
            kind: ErrorKind::Other,
            text: format!("{} cannot carry {what} (no {cap})", self.host),
        })
        .await;
    }

    /// A correction: a new line as IRC users write one, then `Edited`.
    pub(super) async fn on_edit<W: AsyncWrite + Unpin>(
        &mut self,
        target: Target,
        message: MessageId,
        text: String,
        token: Token,
        w: &mut W,
    ) -> std::io::Result<()> {
        let Some(to) = self.irc_target(&target, &token).await else {
            return Ok(());
        };
        let old = self.rich().text_of(message.as_str()).cloned();
        let line = correction_line(old.as_deref(), &text);
        let lines = message_lines("PRIVMSG", &to, &styled_to_irc(&line), MessageKind::Normal);
        if self.caps.has("echo-message") && !lines.is_empty() {
            // Its echo is taken off the queue, not shown as a message.
            let sent = Sent {
                chan: irc_lowercase(&to),
                parts: VecDeque::new(),
                token: token.clone(),
                text: line,
                kind: MessageKind::Normal,
                target: target.clone(),
                ids: Vec::new(),
                reply_to: None,
                quiet: true,
            };
            self.send_for_echo(w, lines, sent, "").await?;
        } else {
            self.send_tagged(w, lines, "").await?;
        }
        match self.rich().text_of(message.as_str()) {
            Some(kept) => *kept = text.clone(),
            None => self.remember_sent(vec![message.0.clone()], &text),
        }
        self.emit(Event::Edited {
            target,
            message,
            author: user_id(&self.own_nick, &self.host),
            author_nick: self.own_nick.clone(),
            text,
        })
        .await;
        Ok(())
    }

    /// A retraction: `REDACT` where the server has it.
    pub(super) async fn on_retract<W: AsyncWrite + Unpin>(
        &mut self,
        target: Target,
        message: MessageId,
        token: Token,
        w: &mut W,
    ) -> std::io::Result<()> {
        if !self.caps.has(REDACTION) {
            self.refuse(token, "retractions", REDACTION).await;
            return Ok(());
        }
        let Some(to) = self.irc_target(&target, &token).await else {
            return Ok(());
        };
        if !tags::plausible_id(message.as_str()) {
            return Ok(());
        }
        self.send(w, &format!("REDACT {to} {}", message.as_str()))
            .await?;
        self.emit(Event::Retracted {
            target,
            message,
            by: user_id(&self.own_nick, &self.host),
        })
        .await;
        Ok(())
    }

    /// The user's reactions (a full set): a `TAGMSG` per emoji added.
    pub(super) async fn on_react<W: AsyncWrite + Unpin>(
        &mut self,
        target: Target,
        message: MessageId,
        reactions: Vec<String>,
        token: Token,
        w: &mut W,
    ) -> std::io::Result<()> {
        if !self.caps.has(MESSAGE_TAGS) {
            self.refuse(token, "reactions", MESSAGE_TAGS).await;
            return Ok(());
        }
        let Some(to) = self.irc_target(&target, &token).await else {
            return Ok(());
        };
        if !tags::plausible_id(message.as_str()) {
            return Ok(());
        }
        let mut reactions: Vec<String> = reactions
            .into_iter()
            .filter(|r| tags::plausible_reaction(r))
            .collect();
        let mut seen = std::collections::HashSet::new();
        reactions.retain(|r| seen.insert(r.clone()));
        reactions.truncate(MAX_REACTIONS);
        let me = irc_lowercase(&self.own_nick);
        let conv = irc_lowercase(&to);
        let had = std::mem::replace(
            self.rich().set_of(&conv, message.as_str(), &me),
            reactions.clone(),
        );
        for added in reactions.iter().filter(|r| !had.contains(r)) {
            let tags = tags::prefix(&[(REPLY, message.as_str()), (REACT, added)]);
            self.send(w, &format!("{tags}TAGMSG {to}")).await?;
        }
        self.emit(Event::Reacted {
            target,
            message,
            author: user_id(&self.own_nick, &self.host),
            author_nick: self.own_nick.clone(),
            reactions,
        })
        .await;
        Ok(())
    }

    /// The user's typing state: a `+typing` `TAGMSG`, throttled.
    pub(super) async fn on_typing<W: AsyncWrite + Unpin>(
        &mut self,
        target: Target,
        state: TypingState,
        w: &mut W,
    ) -> std::io::Result<()> {
        if !self.caps.has(MESSAGE_TAGS) {
            return Ok(());
        }
        let Some(to) = self.irc_target(&target, &Token::new()).await else {
            return Ok(());
        };
        if !self.rich().may_type(&irc_lowercase(&to), Instant::now()) {
            return Ok(());
        }
        let tags = tags::prefix(&[(TYPING, typing_word(state))]);
        self.send(w, &format!("{tags}TAGMSG {to}")).await
    }

    /// Sends lines, `tags` (client tags, escaped) on the first.
    pub(super) async fn send_tagged<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        lines: Vec<String>,
        tags: &str,
    ) -> std::io::Result<()> {
        for (i, line) in lines.into_iter().enumerate() {
            if i == 0 && !tags.is_empty() {
                self.send(w, &format!("@{tags} {line}")).await?;
            } else {
                self.send(w, &line).await?;
            }
        }
        Ok(())
    }

    /// The conversation a `TAGMSG` or `REDACT` from `nick` to `to` is in:
    /// a channel the user is in, or the user's direct chat with `nick`.
    fn conversation(&self, nick: &str, to: &str) -> Option<(Target, String)> {
        if Self::is_channel(to) {
            let key = irc_lowercase(to);
            self.channels
                .contains_key(&key)
                .then(|| (Target::Room(room_id(to, &self.host)), key))
        } else {
            Some((Target::User(user_id(nick, &self.host)), irc_lowercase(nick)))
        }
    }

    /// A `TAGMSG` from someone: their reaction or typing state.
    pub(super) async fn on_tagmsg(&mut self, source: Option<String>, to: &str, tags: TagMsg) {
        let Some(nick) = source.filter(|n| plausible_nick(n)) else {
            return;
        };
        // The echo of the user's own: told already.
        if irc_lowercase(&nick) == irc_lowercase(&self.own_nick) {
            return;
        }
        let Some((target, conv)) = self.conversation(&nick, to) else {
            return;
        };
        if matches!(target, Target::User(_)) {
            self.tell_peer_capabilities(&nick).await;
        }
        let author = user_id(&nick, &self.host);
        if let (Some(message), Some(reaction)) = (tags.reply, tags.react) {
            let who = irc_lowercase(&nick);
            let set = self.rich().set_of(&conv, &message, &who);
            if set.contains(&reaction) || set.len() >= MAX_REACTIONS {
                return;
            }
            set.push(reaction);
            let reactions = set.clone();
            self.emit(Event::Reacted {
                target,
                message: MessageId(message),
                author,
                author_nick: nick,
                reactions,
            })
            .await;
        } else if let Some(state) = tags.typing {
            self.typing_until(&target, &author, state, Instant::now());
            self.emit(Event::Typing {
                target,
                author,
                state,
            })
            .await;
        }
    }

    /// Follows how long `author` is taken to be typing in `target`.
    fn typing_until(&mut self, target: &Target, author: &UserId, state: TypingState, now: Instant) {
        let typists = &mut self.rich().typists;
        typists.retain(|(t, a, _)| !(t == target && a == author));
        let until = match state {
            TypingState::Active => now + ACTIVE_FOR,
            TypingState::Paused => now + PAUSED_FOR,
            TypingState::Inactive => return,
        };
        if typists.len() >= TYPISTS_KEPT {
            typists.pop_front();
        }
        typists.push_back((target.clone(), author.clone(), until));
    }

    /// A message from `author` in `target` ends their typing (the client
    /// knows it by itself).
    pub(super) fn typing_ended(&mut self, target: &Target, author: &UserId) {
        if let Some(rich) = &mut self.rich {
            rich.typists
                .retain(|(t, a, _)| !(t == target && a == author));
        }
    }

    /// When the first typist's notice runs out, if anyone is typing.
    pub(super) fn typing_deadline(&self) -> Option<Instant> {
        self.rich
            .as_ref()?
            .typists
            .iter()
            .map(|(.., until)| *until)
            .min()
    }

    /// Those whose typing ran out by `now` stopped (`Typing` inactive):
    /// the spec's timeouts, which XMPP clients do not keep.
    pub(super) async fn expire_typing(&mut self, now: Instant) {
        let Some(rich) = &mut self.rich else {
            return;
        };
        let mut ended = Vec::new();
        rich.typists.retain(|(target, author, until)| {
            let over = *until <= now;
            if over {
                ended.push((target.clone(), author.clone()));
            }
            !over
        });
        for (target, author) in ended {
            self.emit(Event::Typing {
                target,
                author,
                state: TypingState::Inactive,
            })
            .await;
        }
    }

    /// A `REDACT` from someone: their message (or one they moderate) retracted.
    pub(super) async fn on_redact(&mut self, source: Option<String>, args: &[String]) {
        let (Some(nick), Some(to), Some(id)) = (source, args.first(), args.get(1)) else {
            return;
        };
        if !plausible_nick(&nick) || !tags::plausible_id(id) {
            return;
        }
        if irc_lowercase(&nick) == irc_lowercase(&self.own_nick) {
            return;
        }
        let Some((target, _)) = self.conversation(&nick, to) else {
            return;
        };
        self.emit(Event::Retracted {
            target,
            message: MessageId(id.clone()),
            by: user_id(&nick, &self.host),
        })
        .await;
    }
}
