//! Commands from the core: bridge commands → IRC lines. Every line goes
//! through [`Conn::send`], which makes it one line ([`crate::line::safe`]).

use std::collections::VecDeque;
use std::time::SystemTime;

use switchboard_bridge_api::{Command, ErrorContext, ErrorKind, Event, Message, Target};
use tokio::io::AsyncWrite;

use super::echo::{Part, Sent};
use super::{Conn, Wanted};
use crate::format::styled_to_irc;
use crate::ids::{irc_lowercase, user_id, valid_nick};
use crate::limits::MAX_ROOMS;
use crate::listing::Listing;
use crate::split::message_lines;

impl Conn {
    /// Sends a message's lines (labelled under labeled-response) and waits
    /// for the server's echo of each ([`super::echo`]).
    /// `tags` (client tags, escaped, `;`-separated) go on the first line.
    pub(super) async fn send_for_echo<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        lines: Vec<String>,
        mut sent: Sent,
        tags: &str,
    ) -> std::io::Result<()> {
        let labelled = self.caps.has("labeled-response");
        sent.ids = vec![None; lines.len()];
        for (index, line) in lines.into_iter().enumerate() {
            let text = line.split_once(" :").map_or("", |(_, t)| t).to_owned();
            let label = labelled.then(|| {
                self.seq += 1;
                format!("sb{}", self.seq)
            });
            let client = if index == 0 { tags } else { "" };
            let all = match (&label, client.is_empty()) {
                (Some(l), true) => format!("label={l}"),
                (Some(l), false) => format!("label={l};{client}"),
                (None, _) => client.to_owned(),
            };
            if all.is_empty() {
                self.send(w, &line).await?;
            } else {
                self.send(w, &format!("@{all} {line}")).await?;
            }
            sent.parts.push_back(Part { label, text, index });
        }
        self.echoes.push(sent);
        Ok(())
    }
}

/// Whether a channel key can go on a JOIN line: one parameter, one line.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && !key.starts_with(':') && !key.contains([' ', ',', '\r', '\n', '\0'])
}

impl Conn {
    pub(super) async fn on_command<W: AsyncWrite + Unpin>(
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
                        own_user: crate::ids::user_id(&self.own_nick, &self.host),
                        own_nick: self.own_nick.clone(),
                        nick_changed: nick != self.own_nick,
                    })
                    .await;
                    self.tell_room_capabilities(&room).await;
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
                if self.wanted.len() >= MAX_ROOMS && !self.wanted.contains_key(&key) {
                    self.emit(Event::Error {
                        context: ErrorContext::Room(room),
                        kind: ErrorKind::Forbidden,
                        text: format!("at most {MAX_ROOMS} channels on one server"),
                    })
                    .await;
                    return Ok(());
                }
                // A key IRC cannot carry is not sent, now or on a rejoin.
                let password = password.filter(|k| valid_key(k));
                let line = match &password {
                    Some(k) => format!("JOIN {chan} {k}"),
                    None => format!("JOIN {chan}"),
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
                reply_to,
                ..
            } => {
                let irc_text = styled_to_irc(&text);
                // `+draft/reply` where the server carries client tags.
                let reply_to = reply_to.filter(|id| {
                    self.caps.has("message-tags") && crate::tags::plausible_id(id.as_str())
                });
                let tags = reply_to.as_ref().map_or_else(String::new, |id| {
                    format!(
                        "{}={}",
                        crate::tags::REPLY,
                        crate::tags::escape_value(id.as_str())
                    )
                });
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
                        let lines = message_lines("PRIVMSG", chan, &irc_text, kind);
                        // The server echoes: the reflection waits for it.
                        if self.caps.has("echo-message") && !lines.is_empty() {
                            let sent = Sent {
                                chan: key,
                                parts: VecDeque::new(),
                                token,
                                text,
                                kind,
                                target,
                                ids: Vec::new(),
                                reply_to,
                                quiet: false,
                            };
                            return self.send_for_echo(w, lines, sent, &tags).await;
                        }
                        self.send_tagged(w, lines, &tags).await?;
                        let id = self.next_id();
                        self.remember_sent(vec![id.0.clone(), token.clone()], &text);
                        self.emit(Event::Message(Message {
                            id,
                            target,
                            author: user_id(&self.own_nick, &self.host),
                            author_nick: self.own_nick.clone(),
                            text,
                            kind,
                            reply_to,
                            attachments: Vec::new(),
                            timestamp: Some(SystemTime::now()),
                            own: true,
                            token: Some(token),
                            parts: Vec::new(),
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
                        self.tell_peer_capabilities(&nick).await;
                        let lines = message_lines("PRIVMSG", &nick, &irc_text, kind);
                        // The echo names the network's ids (for the core's
                        // id map); a private message is never reflected.
                        if self.caps.has("echo-message") && !lines.is_empty() {
                            let sent = Sent {
                                chan: irc_lowercase(&nick),
                                parts: VecDeque::new(),
                                token,
                                text,
                                kind,
                                target,
                                ids: Vec::new(),
                                reply_to,
                                quiet: false,
                            };
                            return self.send_for_echo(w, lines, sent, &tags).await;
                        }
                        self.remember_sent(vec![token], &text);
                        self.send_tagged(w, lines, &tags).await?;
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
                self.listing = Some(Listing::new(token, after, limit));
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
            Command::Edit {
                target,
                message,
                text,
                token,
            } => self.on_edit(target, message, text, token, w).await?,
            Command::Retract {
                target,
                message,
                token,
                ..
            } => self.on_retract(target, message, token, w).await?,
            Command::React {
                target,
                message,
                reactions,
                token,
            } => self.on_react(target, message, reactions, token, w).await?,
            Command::Typing { target, state } => self.on_typing(target, state, w).await?,
            Command::MarkRead { .. }
            | Command::RemoveContact { .. }
            | Command::SetOwnAvatar { .. }
            | Command::Shutdown => {}
        }
        Ok(())
    }
}
