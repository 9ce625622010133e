//! Joining a room and leaving it (XEP-0045 §7.2, §7.14): presence to a
//! room or occupant JID, the join sequence, nick changes and their errors.
//! The last resource leaving a persistent room detaches (`lifetime.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use switchboard_bridge_api::{Command, Role as NetRole, RoomId};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::muc::{History, Muc};
use xmpp_parsers::muc::user::{Affiliation, Item, Role, Status};
use xmpp_parsers::ns;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{item_for, join_error, muc_user, Room};
use crate::gateway::occupant_id::OccupantKey;
use crate::gateway::session::{Unsent, QUEUE_FULL};
use crate::gateway::Gateway;

impl Gateway {
    /// Presence to a room or occupant JID: join, nick change, leave.
    pub(in crate::gateway) async fn handle_room_presence(self: &Arc<Self>, presence: Presence) {
        let (Some(from), Some(to)) = (presence.from.clone(), presence.to.clone()) else {
            return;
        };
        let Ok(resource) = from.clone().try_into_full() else {
            return;
        };
        let user = resource.to_bare();
        let room = self.room_of(&to);
        match presence.type_ {
            Type::None => {
                let Some(nick) = to.resource().map(|r| r.to_string()) else {
                    return self
                        .presence_error(
                            &presence,
                            DefinedCondition::JidMalformed,
                            "a nick is needed to join",
                        )
                        .await;
                };
                if !self.is_registered(&user).await {
                    return self
                        .presence_error(
                            &presence,
                            DefinedCondition::RegistrationRequired,
                            crate::gateway::session::REGISTER_FIRST,
                        )
                        .await;
                }
                let muc = presence
                    .payloads
                    .iter()
                    .find(|p| p.is("x", ns::MUC))
                    .and_then(|x| Muc::try_from(x.clone()).ok());
                let password = muc.as_ref().and_then(|m| m.password.clone());
                let history = muc.and_then(|m| m.history);
                enum Next {
                    Join,
                    Rename(String),
                    Replay,
                    Wait,
                    Nothing,
                    TooMany(usize),
                }
                let max_rooms = self.config.limits.max_rooms;
                let next = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let user_rooms = rooms.entry(user.clone()).or_default();
                    if let (Some(h), Some(r)) = (&history, user_rooms.get_mut(&room)) {
                        r.history.insert(resource.clone(), h.clone());
                    }
                    let count = user_rooms.len();
                    match user_rooms.get_mut(&room) {
                        None if count >= max_rooms => Next::TooMany(count),
                        None => {
                            let mut r = Room::default();
                            r.resources.insert(resource.clone(), false);
                            if let Some(h) = history {
                                r.history.insert(resource.clone(), h);
                            }
                            user_rooms.insert(room.clone(), Box::new(r));
                            Next::Join
                        }
                        Some(r) if r.resources.contains_key(&resource) => {
                            if r.complete && r.own_nick.as_deref() != Some(nick.as_str()) {
                                Next::Rename(nick.clone())
                            } else {
                                Next::Nothing
                            }
                        }
                        Some(r) => {
                            r.resources.insert(resource.clone(), r.complete);
                            if r.complete {
                                Next::Replay
                            } else {
                                Next::Wait
                            }
                        }
                    }
                };
                match next {
                    Next::Join => {
                        let archived = self.archive_wanted(&user, &room).await;
                        let persistent = self.room_persistent(&user, &room).await;
                        self.with_room(&user, &room, |r| {
                            r.archived = archived;
                            r.persistent = persistent;
                            r.password.clone_from(&password);
                        });
                        let join = Command::Join {
                            room: room.clone(),
                            nick,
                            password,
                        };
                        if let Err(unsent) = self.command(&user, join).await {
                            if let Some(r) = self.rooms.lock().unwrap().get_mut(&user) {
                                r.remove(&room);
                            }
                            let (condition, text) = match unsent {
                                Unsent::Full => (DefinedCondition::ResourceConstraint, QUEUE_FULL),
                                Unsent::NotRegistered | Unsent::Ended => (
                                    DefinedCondition::ServiceUnavailable,
                                    "the session has ended; try again",
                                ),
                            };
                            self.presence_error(&presence, condition, text).await;
                        }
                    }
                    Next::TooMany(n) => {
                        let text = format!(
                            "you are in {n} rooms, the most this gateway allows; leave one first"
                        );
                        self.presence_error(&presence, DefinedCondition::PolicyViolation, &text)
                            .await;
                    }
                    Next::Rename(nick) => {
                        self.with_room(&user, &room, |r| {
                            r.renaming = Some((resource.clone(), nick.clone()))
                        });
                        let rename = Command::SetNick {
                            room: Some(room.clone()),
                            nick,
                        };
                        self.command_if_running(&user, rename).await;
                    }
                    Next::Replay => self.send_join_sequence(&user, &room, &[resource]).await,
                    Next::Wait | Next::Nothing => {}
                }
            }
            Type::Unavailable => {
                let (leave, own_nick, own_key) = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(user_rooms) = rooms.get_mut(&user) else {
                        return;
                    };
                    let Some(r) = user_rooms.get_mut(&room) else {
                        return;
                    };
                    r.resources.remove(&resource);
                    let own = r.own_nick.clone();
                    let own_key = self.own_key(&room, r);
                    // The last resource leaves the network room, or detaches
                    // from a persistent one (see `lifetime.rs`).
                    let leave = r.resources.is_empty() && !r.persistent;
                    if leave {
                        user_rooms.remove(&room);
                    }
                    (leave, own, own_key)
                };
                if let Some(from) = own_nick.and_then(|n| self.occupant_jid(&room, &n)) {
                    let mut p = Presence::unavailable().with_from(from).with_to(resource);
                    p.payloads.push(muc_user(
                        Item::new(Affiliation::None, Role::None),
                        vec![Status::SelfPresence],
                    ));
                    p.payloads.extend(own_key.map(OccupantKey::element));
                    self.send(p).await;
                }
                if leave {
                    self.command_if_running(&user, Command::Leave { room, reason: None })
                        .await;
                    crate::memory::release_soon();
                }
            }
            _ => {}
        }
    }

    pub(in crate::gateway) async fn presence_error(
        &self,
        presence: &Presence,
        condition: DefinedCondition,
        text: &str,
    ) {
        let (Some(from), Some(to)) = (&presence.from, &presence.to) else {
            return;
        };
        let reply = join_error(
            to.clone(),
            from.clone(),
            presence.id.clone(),
            condition,
            text,
        );
        self.send(reply).await;
    }

    /// Occupant presences, self-presence (110, 210), then the subject, to the given resources.
    pub(in crate::gateway) async fn send_join_sequence(
        &self,
        user: &BareJid,
        room: &RoomId,
        resources: &[FullJid],
    ) {
        let (others, own_nick, own_role, own_key, nick_changed, subject, mut history) = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(room)) else {
                return;
            };
            let history: HashMap<FullJid, History> = resources
                .iter()
                .filter_map(|res| Some((res.clone(), r.history.remove(res)?)))
                .collect();
            // A map keeps its buckets when emptied; most rooms are joined
            // once per resource, so they go.
            if r.history.is_empty() {
                r.history.shrink_to_fit();
            }
            let own_nick = r.own_nick.clone().unwrap_or_default();
            // Their XEP-0153 hashes (`avatars/`), when the network told any.
            let photos = self.avatars.knows_any(user);
            let others: Vec<(String, NetRole, bool, OccupantKey, Option<Element>)> = r
                .members
                .iter()
                .filter(|m| m.nick() != own_nick)
                .map(|m| {
                    let photo = photos.then(|| self.photo(user, &m.user())).flatten();
                    (m.nick().to_owned(), m.role(), m.away(), m.key(), photo)
                })
                .collect();
            let own_role = r.members.get(&own_nick).map(|o| o.role());
            let own_key = self.own_key(room, r);
            (
                others,
                own_nick,
                own_role.unwrap_or_default(),
                own_key,
                r.nick_changed,
                r.subject.clone(),
                history,
            )
        };
        for res in resources {
            let to = Jid::from(res.clone());
            for (nick, role, away, key, photo) in &others {
                if let Some(mut p) = self.occupant_presence(room, nick, *role, *away, *key) {
                    p.payloads.extend(photo.clone());
                    self.send(p.with_to(to.clone())).await;
                }
            }
            if let Some(from) = self.occupant_jid(room, &own_nick) {
                let mut status = vec![Status::SelfPresence];
                if nick_changed {
                    status.push(Status::AssignedNick);
                }
                let mut p = Presence::available().with_from(from).with_to(to.clone());
                p.payloads.push(muc_user(item_for(own_role), status));
                p.payloads.extend(own_key.map(OccupantKey::element));
                self.send(p).await;
            }
            self.send_join_history(user, room, res, history.remove(res).as_ref())
                .await;
            if let Some(room_jid) = self.room_jid(room) {
                let mut m = Message::groupchat(Some(to.clone()));
                m.from = Some(Jid::from(room_jid));
                m.subjects
                    .insert(Lang::new(), subject.clone().unwrap_or_default());
                self.send(m).await;
            }
        }
    }

    pub(in crate::gateway) fn occupant_presence(
        &self,
        room: &RoomId,
        nick: &str,
        role: NetRole,
        away: bool,
        key: OccupantKey,
    ) -> Option<Presence> {
        let from = self.occupant_jid(room, nick)?;
        let mut p = Presence::available().with_from(from);
        if away {
            p.show = Some(xmpp_parsers::presence::Show::Away);
        }
        p.payloads.push(muc_user(item_for(role), vec![]));
        p.payloads.push(key.element());
        Some(p)
    }

    /// The network refused a nick: a rename under way gets XEP-0045's 409.
    /// Returns whether one was waiting.
    pub(in crate::gateway) async fn nick_conflict(&self, user: &BareJid, text: &str) -> bool {
        let waiting: Vec<(RoomId, FullJid, String)> = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(user_rooms) = rooms.get_mut(user) else {
                return false;
            };
            user_rooms
                .iter_mut()
                .filter_map(|(id, r)| r.renaming.take().map(|(res, nick)| (id.clone(), res, nick)))
                .collect()
        };
        for (room, resource, nick) in &waiting {
            let Some(from) = self.occupant_jid(room, nick) else {
                continue;
            };
            let p = join_error(
                from,
                Jid::from(resource.clone()),
                None,
                DefinedCondition::Conflict,
                text,
            );
            self.send(p).await;
        }
        !waiting.is_empty()
    }
}
