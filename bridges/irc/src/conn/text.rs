//! Text from the server (PRIVMSG, NOTICE, CTCP ACTION) → bridge messages,
//! with the IRCv3 tags that come with it: the server's time
//! (`server-time`) and id (`msgid`), and, for the user's own lines under
//! `echo-message`, their reflection ([`super::echo`]).

use std::time::SystemTime;

use irc_proto::Message as IrcMessage;
use switchboard_bridge_api::{Event, Message, MessageId, MessageKind, Target};
use tokio::io::AsyncWrite;
use tracing::{debug, warn};

use super::echo::Echo;
use super::Conn;
use crate::format::irc_to_styled;
use crate::ids::{irc_lowercase, room_id, user_id};
use crate::limits::{plausible_nick, MAX_CONTACTS};
use crate::tags;

/// Open `labeled-response` batches kept at most (a server opening more
/// without closing them is not followed further).
const MAX_BATCHES: usize = 32;

/// What a line's tags say about it.
#[derive(Debug, Default)]
pub(super) struct Meta {
    /// When it was sent (`time`).
    pub time: Option<SystemTime>,
    /// The server's id (`msgid`).
    pub msgid: Option<String>,
    /// The label of the user's command it answers (`label`, or that of
    /// the labeled-response batch it is in).
    pub label: Option<String>,
    /// The message it replies to (`+draft/reply`).
    pub reply_to: Option<String>,
}

impl Conn {
    /// Reads the tags of `msg`, and follows labeled-response batches.
    pub(super) fn meta(&mut self, msg: &IrcMessage) -> Meta {
        if msg.tags.is_none() {
            return Meta::default();
        }
        let mut label = tags::tag(msg, "label").map(str::to_owned);
        if let irc_proto::Command::BATCH(reference, kind, _) = &msg.command {
            if let Some(open) = reference.strip_prefix('+') {
                let labelled = matches!(kind, Some(irc_proto::BatchSubCommand::CUSTOM(k)) if k == "LABELED-RESPONSE");
                if let (true, Some(l)) = (labelled, label.take()) {
                    if self.batches.len() < MAX_BATCHES {
                        self.batches.insert(open.to_owned(), l);
                    }
                }
            } else if let Some(closed) = reference.strip_prefix('-') {
                self.batches.remove(closed);
            }
        } else if label.is_none() {
            label = tags::tag(msg, "batch").and_then(|b| self.batches.get(b).cloned());
        }
        Meta {
            time: tags::server_time(msg),
            msgid: tags::msgid(msg).map(str::to_owned),
            label,
            reply_to: tags::reply_to(msg).map(str::to_owned),
        }
    }

    pub(super) async fn on_text<W: AsyncWrite + Unpin>(
        &mut self,
        source: Option<String>,
        target: String,
        text: String,
        notice: bool,
        meta: Meta,
        w: &mut W,
    ) -> std::io::Result<()> {
        let Some(nick) = source else { return Ok(()) };
        if !plausible_nick(&nick) {
            warn!(host = %self.host, "text from a nick that cannot be a contact; dropped");
            return Ok(());
        }
        let own = irc_lowercase(&nick) == irc_lowercase(&self.own_nick);
        if own && self.caps.has("echo-message") && !notice {
            return self.on_echo(target, text, meta).await;
        }
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
        // The user's own notices echoed back are not shown (nothing sends
        // them but the gateway's CTCP replies).
        if own && notice && self.caps.has("echo-message") {
            return Ok(());
        }
        let conversation = if Self::is_channel(&target) {
            if !self.channels.contains_key(&irc_lowercase(&target)) {
                return Ok(());
            }
            Target::Room(room_id(&target, &self.host))
        } else {
            let peer = user_id(&nick, &self.host);
            if !own {
                self.tell_peer_capabilities(&nick).await;
            }
            if self.contacts.len() >= MAX_CONTACTS {
                self.contacts.clear();
            }
            if !own && self.contacts.insert(irc_lowercase(&nick)) {
                self.emit(Event::ContactAdded {
                    user: peer.clone(),
                    name: nick.clone(),
                })
                .await;
            }
            Target::User(peer)
        };
        let id = self.message_id(&meta);
        let author = user_id(&nick, &self.host);
        self.typing_ended(&conversation, &author);
        self.emit(Event::Message(Message {
            id,
            target: conversation,
            author,
            author_nick: nick,
            text: irc_to_styled(&body),
            kind,
            reply_to: meta.reply_to.map(MessageId),
            attachments: Vec::new(),
            timestamp: Some(meta.time.unwrap_or_else(SystemTime::now)),
            own,
            token: None,
            parts: Vec::new(),
        }))
        .await;
        Ok(())
    }

    /// The server's echo of the user's own PRIVMSG (`echo-message`): the
    /// last part of a message sent here reflects it, with the command's
    /// token and every part's id; an echo of nothing sent here is the
    /// user's line from elsewhere. Private messages are echoed for their
    /// ids (the core shows the user no reflection of those); one sent
    /// elsewhere is not told.
    async fn on_echo(&mut self, target: String, text: String, meta: Meta) -> std::io::Result<()> {
        let channel = Self::is_channel(&target);
        let chan = irc_lowercase(&target);
        if channel && !self.channels.contains_key(&chan) {
            return Ok(());
        }
        let id = self.message_id(&meta);
        let sent = match self.echoes.on_echo(
            &chan,
            meta.label.as_deref(),
            &text,
            meta.msgid.clone().map(MessageId),
        ) {
            Echo::Done(sent) => sent,
            Echo::Part => return Ok(()),
            Echo::Unknown if !channel => return Ok(()),
            Echo::Unknown => {
                debug!(host = %self.host, "echo of a line not sent from here");
                let (body, kind) = match text
                    .strip_prefix("\x01ACTION ")
                    .map(|t| t.trim_end_matches('\x01'))
                {
                    Some(action) => (action.to_owned(), MessageKind::Action),
                    None if text.starts_with('\x01') => return Ok(()),
                    None => (text, MessageKind::Normal),
                };
                self.emit(Event::Message(Message {
                    id,
                    target: Target::Room(room_id(&target, &self.host)),
                    author: user_id(&self.own_nick, &self.host),
                    author_nick: self.own_nick.clone(),
                    text: irc_to_styled(&body),
                    kind,
                    reply_to: meta.reply_to.map(MessageId),
                    attachments: Vec::new(),
                    timestamp: Some(meta.time.unwrap_or_else(SystemTime::now)),
                    own: true,
                    token: None,
                    parts: Vec::new(),
                }))
                .await;
                return Ok(());
            }
        };
        let parts = sent.part_ids();
        if sent.quiet {
            return Ok(());
        }
        let mut ids: Vec<String> = parts.iter().map(|p| p.0.clone()).collect();
        ids.push(id.0.clone());
        ids.push(sent.token.clone());
        self.remember_sent(ids, &sent.text);
        self.emit(Event::Message(Message {
            id,
            target: sent.target,
            author: user_id(&self.own_nick, &self.host),
            author_nick: self.own_nick.clone(),
            text: sent.text,
            kind: sent.kind,
            reply_to: sent.reply_to,
            attachments: Vec::new(),
            timestamp: Some(meta.time.unwrap_or_else(SystemTime::now)),
            own: true,
            token: Some(sent.token),
            parts,
        }))
        .await;
        Ok(())
    }

    /// The server's `msgid`, or an id of the bridge's own.
    fn message_id(&mut self, meta: &Meta) -> MessageId {
        match &meta.msgid {
            Some(id) => MessageId(id.clone()),
            None => self.next_id(),
        }
    }
}
