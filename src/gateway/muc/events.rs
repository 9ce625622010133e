//! Room events from a user's session, as stanzas to the user's joined
//! resources: the join's state, members coming, going and renamed, the
//! subject, messages (live, with the id policy, and into the archive), and
//! errors.

use switchboard_bridge_api::{
    ErrorKind, LeaveReason, MessageKind, Role as NetRole, RoomId, Target,
};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::user::{Affiliation, Item, Role, Status};
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{item_for, join_error, muc_user};
use crate::component::Outgoing;
use crate::gateway::message_ids::{is_echo, xmpp_id};
use crate::gateway::occupants::Occupant;
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
                own_nick,
                nick_changed,
            } => {
                let mut rooms = self.rooms.lock().unwrap();
                let r = rooms
                    .entry(user.clone())
                    .or_default()
                    .entry(room)
                    .or_default();
                r.name = name;
                r.own_nick = Some(own_nick);
                r.nick_changed = nick_changed;
                // A rejoin after a reconnect starts the member list afresh.
                r.members.clear();
                r.complete = false;
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
                    for m in &members {
                        r.members.insert(m);
                    }
                    if !complete || r.complete {
                        return;
                    }
                    r.complete = true;
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
                {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(&room)) else {
                        return;
                    };
                    r.members.insert(&member);
                }
                let away = member.away.is_some();
                let Some(p) = self.occupant_presence(&room, &member.nick, member.role, away) else {
                    return;
                };
                self.to_joined(user, &room, |to| Some(p.clone().with_to(to).into()))
                    .await;
            }
            E::MemberLeft { room, nick, reason } => {
                let role = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(&room)) else {
                        return;
                    };
                    // Not an occupant (a bridge tells a quit in each of its rooms): nothing to say.
                    let Some(role) = r.members.remove(&nick) else {
                        return;
                    };
                    role
                };
                let Some(from) = self.occupant_jid(&room, &nick) else {
                    return;
                };
                let p = leave_presence(from, role, &reason, false);
                self.to_joined(user, &room, |to| Some(p.clone().with_to(to).into()))
                    .await;
            }
            E::RoomLeft { room, reason } => {
                let (resources, own_nick, role) = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(r) = rooms.get_mut(user).and_then(|r| r.remove(&room)) else {
                        return;
                    };
                    let own = r.own_nick.clone().unwrap_or_default();
                    let role = r.members.get(&own).map(Occupant::role).unwrap_or_default();
                    (r.resources.into_keys().collect::<Vec<_>>(), own, role)
                };
                let Some(from) = self.occupant_jid(&room, &own_nick) else {
                    return;
                };
                let p = leave_presence(from, role, &reason, true);
                for res in resources {
                    self.send(p.clone().with_to(res)).await;
                }
            }
            E::MemberRenamed {
                room,
                old_nick,
                new_nick,
                own,
            } => {
                let affected: Vec<(RoomId, NetRole)> = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(user_rooms) = rooms.get_mut(user) else {
                        return;
                    };
                    user_rooms
                        .iter_mut()
                        .filter(|(id, _)| room.as_ref().is_none_or(|r| r == *id))
                        .filter_map(|(id, r)| {
                            let role = r.members.rename(&old_nick, &new_nick)?;
                            if own {
                                r.own_nick = Some(new_nick.clone());
                                r.renaming = None;
                            }
                            Some((id.clone(), role))
                        })
                        .collect()
                };
                for (room, role) in affected {
                    let (Some(old), Some(new)) = (
                        self.occupant_jid(&room, &old_nick),
                        self.occupant_jid(&room, &new_nick),
                    ) else {
                        continue;
                    };
                    let mut status = vec![Status::NewNick];
                    if own {
                        status.push(Status::SelfPresence);
                    }
                    let mut gone = Presence::unavailable().with_from(old);
                    gone.payloads
                        .push(muc_user(item_for(role).with_nick(new_nick.clone()), status));
                    let mut here = Presence::available().with_from(new);
                    here.payloads.push(muc_user(
                        item_for(role),
                        if own {
                            vec![Status::SelfPresence]
                        } else {
                            vec![]
                        },
                    ));
                    self.to_joined(user, &room, |to| Some(gone.clone().with_to(to).into()))
                        .await;
                    self.to_joined(user, &room, |to| Some(here.clone().with_to(to).into()))
                        .await;
                }
            }
            E::Message(m) => {
                let Target::Room(room) = &m.target else {
                    return;
                };
                let Some(from) = self.occupant_jid(room, &m.author_nick) else {
                    return;
                };
                let text = match m.kind {
                    MessageKind::Action => format!("/me {}", m.text),
                    _ => m.text.clone(),
                };
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
                let origin_el: Option<Element> = origin
                    .clone()
                    .map(|id| xmpp_parsers::stanza_id::OriginId { id }.into());
                self.to_joined(user, room, |to| {
                    let mut msg = Message::groupchat(Some(to)).with_body(Lang::new(), text.clone());
                    msg.from = Some(from.clone());
                    msg.id = Some(xmpp_parsers::message::Id(id.clone()));
                    msg.payloads.extend(origin_el.clone());
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
                        nick: m.author_nick.clone(),
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
                let pending: Vec<FullJid> = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(user_rooms) = rooms.get_mut(user) else {
                        return;
                    };
                    match user_rooms.get(&room) {
                        Some(r) if !r.complete => {
                            let r = user_rooms.remove(&room).unwrap();
                            r.resources.into_keys().collect()
                        }
                        _ => Vec::new(),
                    }
                };
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
fn leave_presence(from: Jid, role: NetRole, reason: &LeaveReason, own: bool) -> Presence {
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
