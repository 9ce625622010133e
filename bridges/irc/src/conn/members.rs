//! Channel membership as the server tells it: the user's own joins (only
//! to channels they asked for), others' joins and NAMES, counted against
//! [`MAX_MEMBERS`]; and the end of a connection to a server that goes past
//! a bound.

use switchboard_bridge_api::{Event, LeaveReason, Member, Role};
use tracing::{debug, warn};

use super::{member_key, Chan, Conn, End};
use crate::ids::{irc_lowercase, room_id, user_id};
use crate::limits::{plausible_nick, MAX_MEMBERS};
use crate::prefixes::{parse_name, Prefixes};

impl Conn {
    /// A JOIN. The user's own only for a channel they asked for (a server
    /// that joins them anywhere else is ignored); others' only in a channel
    /// the user is in, up to [`MAX_MEMBERS`].
    pub(super) async fn on_join(&mut self, chan: &str, source: Option<String>) -> Result<(), End> {
        let key = irc_lowercase(chan);
        let room = room_id(chan, &self.host);
        let Some(nick) = source else { return Ok(()) };
        if irc_lowercase(&nick) == irc_lowercase(&self.own_nick) {
            let Some(wanted) = self.wanted.get(&key) else {
                debug!(host = %self.host, %chan, "joined to a channel the user did not ask for; ignored");
                return Ok(());
            };
            let requested = wanted.nick.clone();
            let mut joined = Chan {
                name: chan.to_owned(),
                ..Default::default()
            };
            joined.members.insert(member_key(&nick));
            self.channels.insert(key, Box::new(joined));
            self.emit(Event::RoomJoined {
                room: room.clone(),
                name: chan.to_owned(),
                own_user: user_id(&self.own_nick, &self.host),
                own_nick: self.own_nick.clone(),
                nick_changed: !requested.is_empty() && requested != self.own_nick,
            })
            .await;
            self.tell_room_capabilities(&room).await;
            return Ok(());
        }
        if !plausible_nick(&nick) {
            debug!(host = %self.host, "join of a nick that cannot be shown; ignored");
            return Ok(());
        }
        let Some(c) = self.channels.get_mut(&key) else {
            return Ok(());
        };
        if !c.members.insert(member_key(&nick)) {
            return Ok(());
        }
        if c.members.len() > MAX_MEMBERS {
            return Err(self
                .overrun(&format!("more than {MAX_MEMBERS} members in {chan}"))
                .await);
        }
        let member = Member {
            user: user_id(&nick, &self.host),
            nick,
            role: Role::Member,
            away: None,
        };
        self.emit(Event::MemberJoined { room, member }).await;
        Ok(())
    }

    /// An `AWAY` (away-notify) from a member: in every channel the user
    /// shares with them, they are now away with `text`, or back.
    pub(super) async fn on_away(&mut self, nick: String, text: Option<String>) {
        let key = member_key(&nick);
        // An empty message is a return, as a bare AWAY is.
        let text = text.filter(|t| !t.is_empty());
        let mut changed = Vec::new();
        for c in self.channels.values_mut() {
            if !c.members.contains(&key) {
                continue;
            }
            match &text {
                Some(t) => c.away.insert(key, t.clone()),
                None => c.away.remove(&key),
            };
            let role = c
                .ranked
                .get(nick.as_str())
                .copied()
                .unwrap_or_default()
                .role();
            changed.push((room_id(&c.name, &self.host), role));
        }
        for (room, role) in changed {
            let member = Member {
                user: user_id(&nick, &self.host),
                nick: nick.clone(),
                role,
                away: text.clone(),
            };
            self.emit(Event::MemberChanged { room, member }).await;
        }
    }

    /// A WHO reply line for a member of a channel the user is in: `G` in
    /// its flags is away (with no message known; an empty one), `H` here.
    /// Told only when it changes what the bridge knew.
    pub(super) async fn on_who_reply(&mut self, chan: &str, nick: &str, flags: &str) {
        let key = member_key(nick);
        let Some(c) = self.channels.get_mut(&irc_lowercase(chan)) else {
            return;
        };
        if !c.members.contains(&key) || irc_lowercase(nick) == irc_lowercase(&self.own_nick) {
            return;
        }
        let away = match flags.chars().next() {
            Some('G') => true,
            Some('H') => false,
            _ => return,
        };
        if away == c.away.contains_key(&key) {
            return;
        }
        if away {
            c.away.insert(key, String::new());
        } else {
            c.away.remove(&key);
        }
        let role = c.ranked.get(nick).copied().unwrap_or_default().role();
        let member = Member {
            user: user_id(nick, &self.host),
            nick: nick.to_owned(),
            role,
            away: away.then(String::new),
        };
        let room = room_id(chan, &self.host);
        self.emit(Event::MemberChanged { room, member }).await;
    }

    /// A NAMES reply for a channel the user is in, told in batches.
    pub(super) async fn on_names(&mut self, chan: &str, names: &str) -> Result<(), End> {
        let key = irc_lowercase(chan);
        let host = self.host.clone();
        let Some(c) = self.channels.get_mut(&key) else {
            return Ok(());
        };
        let mut full = Vec::new();
        for entry in names.split_whitespace() {
            let (prefixes, nick) = parse_name(entry);
            if !plausible_nick(nick) {
                continue;
            }
            c.members.insert(member_key(nick));
            let role = prefixes.role();
            if prefixes != Prefixes::default() {
                c.ranked.insert(nick.into(), prefixes);
            }
            let away = c.away.get(&member_key(nick)).cloned();
            c.batch.push(Member {
                user: user_id(nick, &host),
                nick: nick.to_owned(),
                role,
                away,
            });
            if c.batch.len() >= super::MEMBER_BATCH {
                full.push(std::mem::take(&mut c.batch));
            }
        }
        let over = c.members.len() > MAX_MEMBERS;
        for members in full {
            let room = room_id(chan, &host);
            self.emit(Event::Members {
                room,
                members,
                complete: false,
            })
            .await;
        }
        if over {
            return Err(self
                .overrun(&format!("more than {MAX_MEMBERS} members in {chan}"))
                .await);
        }
        Ok(())
    }

    /// Ends the connection to a server that went past a bound only a
    /// hostile server reaches: the user is told why (in the gateway's own
    /// words), every room is left, and it is not reconnected.
    pub(super) async fn overrun(&mut self, what: &str) -> End {
        warn!(host = %self.host, what, "IRC server went past a bound; disconnecting");
        let reason = format!("{} sent too much ({what})", self.host);
        self.emit(Event::Notice {
            text: format!("Disconnected from {}: {reason}.", self.host),
            server: None,
        })
        .await;
        self.emit(Event::Disconnected {
            reason: reason.clone(),
            retrying: false,
        })
        .await;
        let rooms: Vec<_> = self
            .wanted
            .values()
            .map(|w| room_id(&w.name, &self.host))
            .collect();
        for room in rooms {
            self.emit(Event::RoomLeft {
                room,
                reason: LeaveReason::Quit(Some(reason.clone())),
            })
            .await;
        }
        self.channels.clear();
        self.wanted.clear();
        self.listing = None;
        End::Shutdown
    }
}
