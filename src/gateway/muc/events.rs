//! Room events from a user's session, as stanzas to the user's joined
//! resources: the join's state, members coming, going and renamed, the
//! subject; messages (`message.rs`) and errors (`room_error.rs`) go to
//! their own files.

use switchboard_bridge_api::{LeaveReason, Role as NetRole};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::muc::user::{Affiliation, Item, Role, Status};
use xmpp_parsers::presence::Presence;

use super::muc_user;
use crate::gateway::occupants::Own;
use crate::gateway::Gateway;

impl Gateway {
    /// Room events from the user's session.
    pub(in crate::gateway) async fn room_event(
        &self,
        user: &BareJid,
        event: switchboard_bridge_api::Event,
    ) {
        use switchboard_bridge_api::Event as E;
        match event {
            E::RoomJoined {
                room,
                name,
                own_user,
                own_nick,
                nick_changed,
            } => {
                {
                    let mut rooms = self.rooms.lock().unwrap();
                    let r = rooms
                        .entry(user.clone())
                        .or_default()
                        .entry(room.clone())
                        .or_default();
                    r.name = name;
                    r.own_nick = Some(own_nick.clone());
                    r.own_user = Some(own_user);
                    r.nick_changed = nick_changed;
                    // A rejoin after a reconnect starts the member list afresh.
                    r.members.clear();
                    r.complete = false;
                }
                self.room_confirmed(user, &room, &own_nick).await;
            }
            E::Members {
                room,
                members,
                complete,
            } => {
                let waiting: Vec<FullJid> = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(&room)) else {
                        return;
                    };
                    let own = Own {
                        user: r.own_user.as_ref(),
                        nick: r.own_nick.as_deref(),
                    };
                    for m in &members {
                        // Before the join sequence: nick changes need no telling.
                        let key = || self.occupant_ids.key(&room, &m.user);
                        r.members.insert(m, key, own);
                    }
                    if !complete || r.complete {
                        return;
                    }
                    r.complete = true;
                    r.members.shrink();
                    let waiting = r
                        .resources
                        .iter()
                        .filter(|(_, j)| !**j)
                        .map(|(j, _)| j.clone())
                        .collect();
                    for joined in r.resources.values_mut() {
                        *joined = true;
                    }
                    waiting
                };
                self.send_join_sequence(user, &room, &waiting).await;
                // The join's presences and the network's member batches are
                // freed now; give the pages back rather than keep the peak.
                crate::memory::release_soon();
            }
            E::Topic { room, topic, .. } => {
                {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(&room)) else {
                        return;
                    };
                    r.subject = Some(topic.clone());
                }
                let Some(room_jid) = self.room_jid(&room) else {
                    return;
                };
                self.to_joined(user, &room, |to| {
                    let mut m = Message::groupchat(Some(to));
                    m.from = Some(Jid::from(room_jid.clone()));
                    m.subjects.insert(Lang::new(), topic.clone());
                    Some(m.into())
                })
                .await;
            }
            E::MemberJoined { room, member } | E::MemberChanged { room, member } => {
                self.member_seen(user, &room, member).await
            }
            E::MemberLeft {
                room,
                user: who,
                reason,
            } => self.member_left(user, &room, &who, &reason).await,
            E::RoomLeft { room, reason } => {
                // The answer to a leave sent before a new join of the
                // room does not end that join (`leaving.rs`).
                if self.leaving.lock().unwrap().answered(user, &room)
                    && self.with_room(user, &room, |r| !r.complete) == Some(true)
                {
                    return;
                }
                let (resources, own_nick, role, key) = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.remove(&room)) else {
                        return;
                    };
                    let own = r.own_nick.clone().unwrap_or_default();
                    let role = r.members.get(&own).map(|o| o.role()).unwrap_or_default();
                    let key = self.own_key(&room, &r);
                    (r.resources.into_keys().collect::<Vec<_>>(), own, role, key)
                };
                // Kicked, banned, parted: a stored room is not joined again.
                self.forget_stored_room(user, &room).await;
                let Some(from) = self.occupant_jid(&room, &own_nick) else {
                    return;
                };
                let mut p = leave_presence(from, role, &reason, true);
                p.payloads.extend(key.map(|k| k.element()));
                for res in resources {
                    self.send(p.clone().with_to(res)).await;
                }
            }
            E::MemberRenamed {
                room,
                user: who,
                new_user,
                new_nick,
                own,
            } => {
                let (room, new_user) = (room.as_ref(), new_user.as_ref());
                self.member_renamed(user, room, &who, new_user, &new_nick, own)
                    .await;
                if own {
                    self.own_nick_changed(user, room).await;
                }
            }
            E::Message(m) => self.room_message(user, m).await,
            E::Error {
                context: switchboard_bridge_api::ErrorContext::Room(room),
                kind,
                text,
            } => self.room_error(user, room, kind, text).await,
            E::JoinedAs { asked, room } => self.join_redirected(user, asked, &room).await,
            _ => {}
        }
    }
}

/// An occupant's unavailable presence, with the statuses the reason calls for.
pub(super) fn leave_presence(
    from: Jid,
    role: NetRole,
    reason: &LeaveReason,
    own: bool,
) -> Presence {
    let mut status = Vec::new();
    if own {
        status.push(Status::SelfPresence);
    }
    let mut item = Item::new(Affiliation::None, Role::None);
    let mut p = Presence::unavailable().with_from(from);
    match reason {
        LeaveReason::Kicked { reason, .. } => {
            status.push(Status::Kicked);
            if let Some(r) = reason {
                item = item.with_reason(r.clone());
            }
        }
        LeaveReason::Banned { reason } => {
            status.push(Status::Banned);
            item = Item::new(Affiliation::Outcast, Role::None);
            if let Some(r) = reason {
                item = item.with_reason(r.clone());
            }
        }
        LeaveReason::Part(Some(msg)) | LeaveReason::Quit(Some(msg)) => {
            p.statuses.insert(Lang::new(), msg.clone());
        }
        _ => {}
    }
    let _ = role;
    p.payloads.push(muc_user(item, status));
    p
}
