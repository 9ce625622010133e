//! Lines from the server: IRC → bridge events. The server is not trusted:
//! only channels the user asked for are kept, members are counted and
//! bounded ([`crate::limits`]), modes for nicks not in the channel and
//! text from nicks that cannot be people are ignored, and the server's
//! own words reach the user as the server's. Membership is in `members.rs`.

use irc_proto::{ChannelMode, Command as Irc, Message as IrcMessage, Mode, Prefix, Response};
use switchboard_bridge_api::{ErrorContext, ErrorKind, Event, LeaveReason, Member};

use tokio::io::AsyncWrite;
use tracing::{debug, info, warn};

use super::{base64, member_key, Conn, End};
use crate::format::irc_to_styled;
use crate::ids::{irc_lowercase, room_id, user_id};
use crate::limits::plausible_nick;
use crate::line::write_raw;
use crate::prefixes::Prefixes;

impl Conn {
    pub(super) async fn on_message<W: AsyncWrite + Unpin>(
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
        let meta = self.meta(&msg);
        // An error reply to a line the user sent (labeled-response): that
        // message is not waited for; the server's words are told below.
        if let (Some(label), Irc::Response(r, _)) = (&meta.label, &msg.command) {
            if (400..600).contains(&(*r as u16)) && self.echoes.on_error(label).is_some() {
                debug!(host = %self.host, "the server refused a message the user sent");
            }
        }
        // A catch-up's lines are its own (draft/chathistory); live ones move the mark.
        if self.on_history_line(&msg, &meta).await {
            return Ok(());
        }
        self.saw(&msg, &meta);
        let at = meta.time;
        let tagmsg = matches!(&msg.command, Irc::Raw(c, _) if c == "TAGMSG")
            .then(|| super::rich::TagMsg::of(&msg));
        match msg.command {
            Irc::PING(token, _) => write_raw(w, &format!("PONG :{token}"))
                .await
                .map_err(lost)?,
            Irc::CAP(_, sub, a, b) => {
                for line in self.caps.on_cap(sub.to_str(), a.as_deref(), b.as_deref()) {
                    write_raw(w, &line).await.map_err(lost)?;
                }
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
                for line in self.caps.sasl_done() {
                    write_raw(w, &line).await.map_err(lost)?;
                }
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
                for line in self.caps.sasl_done() {
                    write_raw(w, &line).await.map_err(lost)?;
                }
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
                // Said in the gateway's words: only a nick, never other text.
                let nick = args
                    .get(1)
                    .filter(|n| plausible_nick(n))
                    .cloned()
                    .unwrap_or_default();
                self.emit(Event::Error {
                    context: ErrorContext::Session,
                    kind: ErrorKind::Conflict,
                    text: format!("the nick {nick} is in use on {}", self.host),
                })
                .await;
            }
            Irc::JOIN(chans, _, _) => {
                for chan in chans.split(',') {
                    self.on_join(chan, source.clone()).await?;
                    if is_me(&source, &self.own_nick) {
                        self.catch_up(chan, at, w).await.map_err(lost)?;
                    }
                }
            }
            Irc::Response(Response::RPL_ISUPPORT, args) => self.history.isupport(&args),
            Irc::Response(Response::RPL_NAMREPLY, args) => {
                if let (Some(chan), Some(names)) = (args.get(2), args.get(3)) {
                    self.on_names(chan, names).await?;
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
                        // Who is away already: away-notify tells only changes.
                        if self.caps.has("away-notify") {
                            self.send(w, &format!("WHO {chan}")).await.map_err(lost)?;
                        }
                    }
                }
            }
            Irc::Response(Response::RPL_WHOREPLY, args) if self.caps.has("away-notify") => {
                if let (Some(chan), Some(nick), Some(flags)) =
                    (args.get(1), args.get(5), args.get(6))
                {
                    self.on_who_reply(chan, nick, flags).await;
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
                    // Only a member of a channel the user is in.
                    let Some(c) = self.channels.get_mut(&key) else {
                        return Ok(());
                    };
                    if !c.members.remove(&member_key(&nick)) {
                        return Ok(());
                    }
                    c.away.remove(&member_key(&nick));
                    c.ranked.remove(nick.as_str());
                    self.emit(Event::MemberLeft {
                        room,
                        user: user_id(&nick, &self.host),
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
                    let Some(c) = self.channels.get_mut(&key) else {
                        return Ok(());
                    };
                    if !c.members.remove(&member_key(&victim)) {
                        return Ok(());
                    }
                    c.away.remove(&member_key(&victim));
                    c.ranked.remove(victim.as_str());
                    self.emit(Event::MemberLeft {
                        room,
                        user: user_id(&victim, &self.host),
                        reason: reason_,
                    })
                    .await;
                }
            }
            Irc::QUIT(reason) => {
                let Some(nick) = source else { return Ok(()) };
                let member = member_key(&nick);
                let mut rooms = Vec::new();
                for c in self.channels.values_mut() {
                    if c.members.remove(&member) {
                        c.away.remove(&member);
                        c.ranked.remove(nick.as_str());
                        rooms.push(room_id(&c.name, &self.host));
                    }
                }
                let user = user_id(&nick, &self.host);
                for room in rooms {
                    self.emit(Event::MemberLeft {
                        room,
                        user: user.clone(),
                        reason: LeaveReason::Quit(reason.clone()),
                    })
                    .await;
                }
            }
            Irc::AWAY(text) => {
                if let Some(nick) = source.filter(|n| !is_me(&Some(n.clone()), &self.own_nick)) {
                    self.on_away(nick, text).await;
                }
            }
            Irc::NICK(new) => {
                let Some(old) = source else { return Ok(()) };
                let own = irc_lowercase(&old) == irc_lowercase(&self.own_nick);
                if own {
                    self.own_nick = new.clone();
                }
                let (was, is) = (member_key(&old), member_key(&new));
                let mut rooms = Vec::new();
                for c in self.channels.values_mut() {
                    if !own && !c.members.remove(&was) {
                        continue;
                    }
                    c.members.remove(&was);
                    c.members.insert(is);
                    if let Some(away) = c.away.remove(&was) {
                        c.away.insert(is, away);
                    }
                    if let Some(p) = c.ranked.remove(old.as_str()) {
                        c.ranked.insert(new.as_str().into(), p);
                    }
                    rooms.push(room_id(&c.name, &self.host));
                }
                // IRC's user id is the nick: the rename carries the new id.
                let (user, new_user) = (user_id(&old, &self.host), user_id(&new, &self.host));
                for room in rooms {
                    self.emit(Event::MemberRenamed {
                        room: Some(room),
                        user: user.clone(),
                        new_user: Some(new_user.clone()),
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
                    // A mode for someone not in the channel changes nothing here.
                    if !c.members.contains(&member_key(&nick)) {
                        debug!(%chan, %nick, "mode for a nick not in the channel; ignored");
                        continue;
                    }
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
                    let away = c.away.get(&member_key(&nick)).cloned();
                    let member = Member {
                        user: user_id(&nick, &self.host),
                        nick,
                        role,
                        away,
                    };
                    let room = room_id(&chan, &self.host);
                    self.emit(Event::MemberChanged { room, member }).await;
                }
            }
            Irc::PRIVMSG(target, text) => self
                .on_text(source, target, text, false, meta, w)
                .await
                .map_err(lost)?,
            Irc::NOTICE(target, text) if source.is_some() && *registered => self
                .on_text(source, target, text, true, meta, w)
                .await
                .map_err(lost)?,
            // The server's own notices, once registered (before, they are
            // about looking up the user's host): the server's words.
            Irc::NOTICE(_, text) if *registered => {
                self.emit(Event::Notice {
                    text: irc_to_styled(&text),
                    server: Some(self.host.clone()),
                })
                .await;
            }
            Irc::Response(Response::RPL_LIST, args) => {
                if let (Some(l), Some(chan)) = (&mut self.listing, args.get(1)) {
                    let more = l.add(
                        &self.host,
                        chan,
                        args.get(2).map(String::as_str),
                        args.get(3).map(String::as_str),
                    );
                    if !more {
                        warn!(host = %self.host, "room list cut at its bound");
                        self.finish_listing().await;
                    }
                }
            }
            Irc::Response(Response::RPL_LISTEND, _) => self.finish_listing().await,
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
                    context: ErrorContext::Server(self.host.clone()),
                    kind: ErrorKind::NotFound,
                    text: format!("no such nick: {nick}"),
                })
                .await;
            }
            // Any other error reply, once registered: the server's words,
            // from the server.
            // (No MOTD is no news.)
            Irc::Response(r, args)
                if *registered && r != Response::ERR_NOMOTD && (400..600).contains(&(r as u16)) =>
            {
                self.server_error(&args).await
            }
            Irc::Raw(code, args) if code == "TAGMSG" && *registered => {
                if let (Some(to), Some(tags)) = (args.first(), tagmsg) {
                    self.on_tagmsg(source, to, tags).await;
                }
            }
            Irc::Raw(code, args)
                if code == "REDACT" && *registered && self.caps.has(super::rich::REDACTION) =>
            {
                self.on_redact(source, &args).await
            }
            Irc::Raw(code, args)
                if *registered
                    && code.len() == 3
                    && (code.starts_with('4') || code.starts_with('5')) =>
            {
                self.server_error(&args).await
            }
            Irc::ERROR(text) => return Err(End::Lost(format!("{}: {text}", self.host))),
            _ => {}
        }
        Ok(())
    }

    /// A topic, for a channel the user is in.
    async fn on_topic(&mut self, chan: &str, topic: &str, by: Option<String>) {
        let key = irc_lowercase(chan);
        let Some(c) = self.channels.get_mut(&key) else {
            return;
        };
        let topic = irc_to_styled(topic);
        c.topic = Some(topic.clone());
        self.emit(Event::Topic {
            room: room_id(chan, &self.host),
            topic,
            by,
        })
        .await;
    }

    /// Answers the listing in progress with what it holds.
    async fn finish_listing(&mut self) {
        if let Some(l) = self.listing.take() {
            self.emit(l.finish()).await;
        }
    }

    /// An error reply from the server, told as the server's words.
    async fn server_error(&self, args: &[String]) {
        // The first argument is the user's nick.
        let text = args.get(1..).unwrap_or_default().join(" ");
        self.emit(Event::Error {
            context: ErrorContext::Server(self.host.clone()),
            kind: ErrorKind::Other,
            text,
        })
        .await;
    }
}
