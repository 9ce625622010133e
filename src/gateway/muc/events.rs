//! Room events from a user's session, as stanzas to the user's joined
//! resources: the join's state, members coming, going and renamed, the
//! subject, messages (live, with the id policy, and into the archive), and
//! errors.

use switchboard_bridge_api::{ErrorKind, LeaveReason, Role as NetRole, Target};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::user::{Affiliation, Item, Role, Status};
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{join_error, muc_user};
use crate::component::Outgoing;
use crate::gateway::message_ids::{is_echo, xmpp_id};
use crate::gateway::occupants::Own;
use crate::gateway::session::condition_for;
use crate::gateway::Gateway;
use crate::store::ArchivedMessage;

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
            E::Message(m) => {
                let Target::Room(room) = &m.target else {
                    return;
                };
                // The author as an occupant: their unique nick, their occupant-id.
                let (nick, key) = self.author(user, room, &m.author, &m.author_nick);
                let Some(from) = self.occupant_jid(room, &nick) else {
                    return;
                };
                let occupant_id = key.element();
                let text = crate::gateway::action::body_of(m.kind, &m.text);
                // One id policy (XEP-0359): the user's own messages keep the
                // id and origin-id they were sent with, the others carry the
                // network's id; every one gets the gateway's stanza-id, the
                // same live, in join history and in MAM.
                let id = xmpp_id(&m);
                let (archived, origin) = self
                    .with_room(user, room, |r| {
                        let origin = if m.own {
                            r.origins
                                .iter()
                                .position(|(token, _)| *token == id)
                                .and_then(|at| r.origins.remove(at))
                                .map(|(_, origin)| origin)
                        } else {
                            None
                        };
                        (r.archived, origin)
                    })
                    .unwrap_or_default();
                let archived = archived && self.archive.enabled();
                let seq = self.archive.next_id();
                // Late (a catch-up after a reconnect): shown at its time (XEP-0203).
                let delay = self.room_jid(room).and_then(|jid| {
                    let now = std::time::SystemTime::now();
                    crate::xmpp::delay::late_delay(m.timestamp, now, &jid.to_string())
                });
                let origin_el: Option<Element> = origin
                    .clone()
                    .map(|id| xmpp_parsers::stanza_id::OriginId { id }.into());
                self.to_joined(user, room, |to| {
                    let mut msg = Message::groupchat(Some(to)).with_body(Lang::new(), text.clone());
                    msg.from = Some(from.clone());
                    msg.id = Some(xmpp_parsers::message::Id(id.clone()));
                    msg.payloads.extend(origin_el.clone());
                    msg.payloads.extend(delay.clone());
                    msg.payloads.push(occupant_id.clone());
                    Some(Outgoing::with_stanza_id(msg, seq))
                })
                .await;
                if is_echo(&m) {
                    self.map_echo(user, room.as_str(), &m, &id, Some(seq)).await;
                }
                if !archived {
                    return;
                }
                let ts = m
                    .timestamp
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_micros() as i64)
                    .unwrap_or_else(crate::archive::now_micros);
                self.archive
                    .record(ArchivedMessage {
                        user: user.to_string(),
                        network: self.network.clone(),
                        room: room.to_string(),
                        seq,
                        ts,
                        nick,
                        body: text,
                        xmpp_id: Some(id),
                        origin_id: origin,
                        network_id: Some(m.id.0),
                        author_id: Some(m.author.0),
                        extra: None,
                    })
                    .await;
            }
            E::Error {
                context: switchboard_bridge_api::ErrorContext::Room(room),
                kind,
                text,
            } => {
                let (pending, refused): (Vec<FullJid>, bool) = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(user_rooms) = rooms.get_mut(user) else {
                        return;
                    };
                    match user_rooms.get(&room) {
                        Some(r) if !r.complete => {
                            let r = user_rooms.remove(&room).unwrap();
                            (r.resources.into_keys().collect(), true)
                        }
                        _ => (Vec::new(), false),
                    }
                };
                if refused {
                    self.join_refused(user, &room, kind).await;
                }
                if pending.is_empty() {
                    // An error about a room (a topic refused, a message not
                    // delivered): the room says it, in the room when a
                    // resource is in it, else in a chat from the room.
                    let in_room = self.with_room(user, &room, |r| r.complete).unwrap_or(false);
                    if in_room {
                        return self.say_in_room(user, &room, &text).await;
                    }
                    let Some(room_jid) = self.room_jid(&room) else {
                        return;
                    };
                    let mut m =
                        Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text);
                    m.from = Some(Jid::from(room_jid));
                    return self.send(m).await;
                }
                let Some(room_jid) = self.room_jid(&room) else {
                    return;
                };
                let condition = if kind == ErrorKind::Conflict {
                    DefinedCondition::Conflict
                } else {
                    condition_for(kind)
                };
                for res in pending {
                    let p = join_error(
                        Jid::from(room_jid.clone()),
                        Jid::from(res),
                        None,
                        condition.clone(),
                        &text,
                    );
                    self.send(p).await;
                }
            }
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
