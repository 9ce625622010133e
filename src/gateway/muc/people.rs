//! People in a room, by the network's user id: members seen, gone and
//! renamed, as occupant presences that each carry the person's XEP-0421
//! occupant-id; the author of a message as an occupant.
//!
//! ```xml
//! <presence from='#rust%irc.example.net@irc.example.org/ferris'>
//!   <x xmlns='http://jabber.org/protocol/muc#user'>
//!     <item affiliation='none' role='participant'/>
//!   </x>
//!   <occupant-id xmlns='urn:xmpp:occupant-id:0' id='q7Xc0pLm'/>
//! </presence>
//! ```

use switchboard_bridge_api::{LeaveReason, Member, Role as NetRole, RoomId, UserId};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::muc::user::Status;
use xmpp_parsers::presence::Presence;

use super::events::leave_presence;
use super::{item_for, muc_user};
use crate::gateway::occupant_id::OccupantKey;
use crate::gateway::occupants::{Inserted, NickChange, Own};
use crate::gateway::Gateway;

impl Gateway {
    /// A member joined or changed (role, away, or name): their presence,
    /// after the nick changes a new name brings.
    pub(super) async fn member_seen(&self, user: &BareJid, room: &RoomId, member: Member) {
        let (inserted, now) = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(room)) else {
                return;
            };
            let own = Own {
                user: r.own_user.as_ref(),
                nick: r.own_nick.as_deref(),
            };
            let key = || self.occupant_ids.key(room, &member.user);
            let inserted = r.members.insert(&member, key, own);
            let now = r
                .members
                .get_user(&member.user)
                .map(|o| (o.nick().to_owned(), o.role(), o.away(), o.key()));
            (inserted, now)
        };
        if let Inserted::Renamed(changes) = inserted {
            self.announce_nick_changes(user, room, &changes, None).await;
        }
        let Some((nick, role, away, key)) = now else {
            return;
        };
        let Some(mut p) = self.occupant_presence(room, &nick, role, away, key) else {
            return;
        };
        p.payloads.extend(self.photo(user, &member.user));
        self.to_joined(user, room, |to| Some(p.clone().with_to(to).into()))
            .await;
    }

    /// A member left: their unavailable presence. Someone who is not an
    /// occupant (a bridge tells a quit in each of its rooms) is ignored.
    pub(super) async fn member_left(
        &self,
        user: &BareJid,
        room: &RoomId,
        who: &UserId,
        reason: &LeaveReason,
    ) {
        let Some((nick, role, key)) = self
            .with_room(user, room, |r| r.members.remove(who))
            .flatten()
        else {
            return;
        };
        let Some(from) = self.occupant_jid(room, &nick) else {
            return;
        };
        let mut p = leave_presence(from, role, reason, false);
        p.payloads.push(key.element());
        self.to_joined(user, room, |to| Some(p.clone().with_to(to).into()))
            .await;
    }

    /// A member (or the user) renamed, in `only` or every room with them:
    /// the same occupant (same occupant-id) under a new nick, XEP-0045 303.
    pub(super) async fn member_renamed(
        &self,
        user: &BareJid,
        only: Option<&RoomId>,
        who: &UserId,
        new_user: Option<&UserId>,
        new_nick: &str,
        own: bool,
    ) {
        let affected: Vec<(RoomId, Vec<NickChange>, Option<String>)> = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(user_rooms) = rooms.get_mut(user) else {
                return;
            };
            user_rooms
                .iter_mut()
                .filter(|(id, _)| only.is_none_or(|r| r == *id))
                .map(|(id, r)| {
                    if own {
                        r.own_user = Some(new_user.unwrap_or(who).clone());
                        r.own_nick = Some(new_nick.to_owned());
                        r.renaming = None;
                    }
                    let me = Own {
                        user: r.own_user.as_ref(),
                        nick: r.own_nick.as_deref(),
                    };
                    let changes = r.members.rename(who, new_user, new_nick, me);
                    (id.clone(), changes, r.own_nick.clone())
                })
                .filter(|(_, changes, _)| !changes.is_empty())
                .collect()
        };
        for (room, changes, own_nick) in affected {
            let own_nick = own_nick.filter(|_| own);
            self.announce_nick_changes(user, &room, &changes, own_nick.as_deref())
                .await;
        }
    }

    /// Each change as XEP-0045 §7.6 tells it: unavailable from the old nick
    /// with 303 and the new one, then available from the new; the user's
    /// own (the change to `own_nick`) with 110 as well.
    async fn announce_nick_changes(
        &self,
        user: &BareJid,
        room: &RoomId,
        changes: &[NickChange],
        own_nick: Option<&str>,
    ) {
        for change in changes {
            let (Some(old), Some(new)) = (
                self.occupant_jid(room, &change.old),
                self.occupant_jid(room, &change.new),
            ) else {
                continue;
            };
            let own = own_nick == Some(change.new.as_str());
            let mut status = vec![Status::NewNick];
            if own {
                status.push(Status::SelfPresence);
            }
            let item = item_for(change.role);
            let mut gone = Presence::unavailable().with_from(old);
            gone.payloads
                .push(muc_user(item.clone().with_nick(change.new.clone()), status));
            gone.payloads.push(change.key.element());
            let mut here = Presence::available().with_from(new);
            let status = if own {
                vec![Status::SelfPresence]
            } else {
                vec![]
            };
            here.payloads.push(muc_user(item, status));
            here.payloads.push(change.key.element());
            self.to_joined(user, room, |to| Some(gone.clone().with_to(to).into()))
                .await;
            self.to_joined(user, room, |to| Some(here.clone().with_to(to).into()))
                .await;
        }
    }

    /// A person's occupant presence again (with their picture's hash) in
    /// each of the user's rooms with them.
    pub(in crate::gateway) async fn occupant_again(&self, user: &BareJid, person: &UserId) {
        let occupants: Vec<(RoomId, String, NetRole, bool, OccupantKey)> = {
            let rooms = self.rooms.lock().unwrap();
            rooms
                .get(user)
                .into_iter()
                .flat_map(|r| r.iter())
                .filter_map(|(id, r)| {
                    let o = r.members.get_user(person)?;
                    Some((id.clone(), o.nick().to_owned(), o.role(), o.away(), o.key()))
                })
                .collect()
        };
        for (room, nick, role, away, key) in occupants {
            let Some(mut p) = self.occupant_presence(&room, &nick, role, away, key) else {
                continue;
            };
            p.payloads.extend(self.photo(user, person));
            self.to_joined(user, &room, |to| Some(p.clone().with_to(to).into()))
                .await;
        }
    }

    /// The person behind an occupant nick in one of the user's rooms.
    pub(in crate::gateway) fn occupant_user(
        &self,
        user: &BareJid,
        room: &RoomId,
        nick: &str,
    ) -> Option<UserId> {
        self.with_room(user, room, |r| r.members.get(nick).map(|o| o.user()))
            .flatten()
    }

    /// A message's author as an occupant: their nick in the room (the
    /// network's name when they are no occupant) and occupant key.
    pub(in crate::gateway) fn author(
        &self,
        user: &BareJid,
        room: &RoomId,
        author: &UserId,
        name: &str,
    ) -> (String, OccupantKey) {
        self.with_room(user, room, |r| {
            r.members
                .get_user(author)
                .map(|o| (o.nick().to_owned(), o.key()))
        })
        .flatten()
        .unwrap_or_else(|| (name.to_owned(), self.occupant_ids.key(room, author)))
    }
}
