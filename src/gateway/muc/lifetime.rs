//! A room's lifetime beyond the user's XMPP resources.
//!
//! A room is *persistent* when the network's rooms are
//! (`Capabilities::persistent_rooms`) or the user set it so (the room's
//! `persistent` switch, off by default): [`Gateway::room_persistent`] is
//! the one place that decides. When the last resource of a persistent
//! room leaves or goes offline, the room is *detached*: the session stays
//! in the network room, the room state (members, subject) stays, messages
//! are still archived, and the next join gets the join sequence with what
//! was missed. A persistent room is stored (`rooms` table) once the
//! network confirms the join, and joined again by every new session (at
//! start-up, at registration, and on demand after one ended as idle). Leaving the network
//! room is an explicit act ([`Gateway::leave_room`]); the network saying
//! the user left (kicked, banned) forgets it too.

use std::sync::Arc;
use switchboard_bridge_api::{Command, ErrorKind, RoomId};
use tracing::{debug, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::muc::user::{Affiliation, Item, Role, Status};
use xmpp_parsers::presence::Presence;

use super::{muc_user, Room};
use crate::gateway::occupant_id::OccupantKey;
use crate::gateway::Gateway;

/// The room setting that makes a room persistent where the network's are not.
pub(super) const PERSISTENT: &str = "persistent";

/// The settings scope of one room.
pub(super) fn room_scope(room: &RoomId) -> String {
    format!("room:{room}")
}

impl Gateway {
    /// Whether the user's room outlives their resources: the network's
    /// rooms all do, or the user set this one persistent.
    pub(in crate::gateway) async fn room_persistent(&self, user: &BareJid, room: &RoomId) -> bool {
        if self.bridge.info().capabilities.persistent_rooms {
            return true;
        }
        self.store
            .settings(&user.to_string(), &self.network, &room_scope(room))
            .await
            .map(|s| s.get(PERSISTENT).is_some_and(|v| v == "true"))
            .unwrap_or(false)
    }

    /// The network confirmed the user is in a room with this nick (a join,
    /// a rejoin, an own nick change): a persistent room is stored.
    pub(super) async fn room_confirmed(&self, user: &BareJid, room: &RoomId, nick: &str) {
        let Some((true, password, name)) = self.with_room(user, room, |r| {
            (r.persistent, r.password.clone(), r.name.clone())
        }) else {
            return;
        };
        let sealed = match password.map(|p| self.vault.seal(p.as_bytes())).transpose() {
            Ok(sealed) => sealed,
            Err(e) => return warn!(error = %e, "cannot seal a room's password"),
        };
        let saved = self
            .store
            .save_room(
                &user.to_string(),
                &self.network,
                room.as_str(),
                nick,
                sealed.as_deref(),
            )
            .await;
        match saved {
            Ok(()) => self.bookmark_room(user, room, &name, nick),
            Err(e) => warn!(error = %e, "cannot store a joined room"),
        }
    }

    /// The name of a room the user is in, as the network gave it.
    pub(in crate::gateway) fn room_name(&self, user: &BareJid, room: &RoomId) -> Option<String> {
        self.with_room(user, room, |r| r.name.clone())
            .filter(|n| !n.is_empty())
    }

    /// The network changed the user's nick (in one room, or in all): the
    /// stored persistent rooms keep the new one.
    pub(super) async fn own_nick_changed(&self, user: &BareJid, only: Option<&RoomId>) {
        let renamed: Vec<(RoomId, String)> = {
            let rooms = self.rooms.lock().unwrap();
            let Some(user_rooms) = rooms.get(user) else {
                return;
            };
            user_rooms
                .iter()
                .filter(|(id, r)| r.persistent && only.is_none_or(|o| o == *id))
                .filter_map(|(id, r)| Some((id.clone(), r.own_nick.clone()?)))
                .collect()
        };
        for (room, nick) in renamed {
            self.room_confirmed(user, &room, &nick).await;
        }
    }

    /// The user is no longer in the network room (the network says so, or
    /// they left it): it is not joined again, nor bookmarked.
    pub(super) async fn forget_stored_room(&self, user: &BareJid, room: &RoomId) -> bool {
        let forgotten = self
            .store
            .forget_room(&user.to_string(), &self.network, room.as_str())
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "cannot forget a stored room");
                false
            });
        if forgotten {
            self.unbookmark_room(user, room);
        }
        forgotten
    }

    /// A join (or a rejoin of a stored room) failed. A refusal (banned,
    /// no such room, a wrong key) forgets the stored room; a network that
    /// cannot be reached now does not.
    pub(super) async fn join_refused(&self, user: &BareJid, room: &RoomId, kind: ErrorKind) {
        if !matches!(kind, ErrorKind::Unavailable | ErrorKind::Other) {
            self.forget_stored_room(user, room).await;
        }
    }

    /// Joins the user's stored rooms that the session is not in, with the
    /// stored nick, detached (no resource): whenever a session starts.
    pub(in crate::gateway) async fn rejoin_stored_rooms(&self, user: &BareJid) {
        let stored = match self
            .store
            .stored_rooms(&user.to_string(), &self.network)
            .await
        {
            Ok(s) => s,
            Err(e) => return warn!(error = %e, "cannot read the stored rooms"),
        };
        let max_rooms = self.config.limits.max_rooms;
        for s in stored {
            let room = RoomId(s.room);
            // A password that cannot be opened (the key file changed) is
            // left out: the join then fails as a wrong key would, and says so.
            let password = s.sealed_password.and_then(|sealed| {
                let opened = self.vault.open(&sealed).map(String::from_utf8);
                match opened {
                    Ok(Ok(p)) => Some(p),
                    _ => {
                        warn!(room = %room, "cannot open a stored room's password");
                        None
                    }
                }
            });
            if !self.room_persistent(user, &room).await {
                self.forget_stored_room(user, &room).await;
                continue;
            }
            let fresh = {
                let mut rooms = self.rooms.lock().unwrap();
                let user_rooms = rooms.entry(user.clone()).or_default();
                let fresh = !user_rooms.contains_key(&room) && user_rooms.len() < max_rooms;
                if fresh {
                    let r = Room {
                        persistent: true,
                        password: password.clone(),
                        ..Room::default()
                    };
                    user_rooms.insert(room.clone(), Box::new(r));
                }
                fresh
            };
            if !fresh {
                continue;
            }
            let archived = self.archive_wanted(user, &room).await;
            self.with_room(user, &room, |r| r.archived = archived);
            let join = Command::Join {
                room: room.clone(),
                nick: s.nick,
                password,
            };
            if !self.command_if_running(user, join).await {
                // The session ended meanwhile: the next one joins it.
                self.forget_room_state(user, &room);
            } else {
                debug!(room = %room, "stored room joined again");
            }
        }
    }

    /// Starts joining the stored rooms in a task of its own (from the
    /// path that starts a session on demand).
    pub(in crate::gateway) fn rejoin_stored_rooms_soon(self: &Arc<Self>, user: &BareJid) {
        let gateway = Arc::clone(self);
        let user = user.clone();
        tokio::spawn(async move { gateway.rejoin_stored_rooms(&user).await });
    }

    /// Leaves the network room for good: the joined resources get their
    /// unavailable self-presence, the session leaves, the stored room is
    /// forgotten. Returns whether the user was in it.
    pub(in crate::gateway) async fn leave_room(&self, user: &BareJid, room: &RoomId) -> bool {
        let removed = self.forget_room_state(user, room);
        let stored = self.forget_stored_room(user, room).await;
        let Some(r) = removed else {
            if stored {
                self.command_if_running(user, leave(room)).await;
            }
            return stored;
        };
        let own_key = self.own_key(room, &r);
        if let Some(from) = r
            .own_nick
            .as_deref()
            .and_then(|n| self.occupant_jid(room, n))
        {
            for resource in r.resources.into_keys() {
                let mut p = Presence::unavailable()
                    .with_from(from.clone())
                    .with_to(Jid::from(resource));
                p.payloads.push(muc_user(
                    Item::new(Affiliation::None, Role::None),
                    vec![Status::SelfPresence],
                ));
                p.payloads.extend(own_key.map(OccupantKey::element));
                self.send(p).await;
            }
        }
        self.command_if_running(user, leave(room)).await;
        crate::memory::release_soon();
        true
    }

    /// The user's room switch changed: a room set persistent while joined
    /// is stored; one set back while detached is left, as the last
    /// resource's leave would have.
    pub(super) async fn persistence_changed(&self, user: &BareJid, room: &RoomId, on: bool) {
        let on = on || self.bridge.info().capabilities.persistent_rooms;
        let state = self.with_room(user, room, |r| {
            r.persistent = on;
            (r.complete, r.resources.is_empty(), r.own_nick.clone())
        });
        match state {
            Some((true, _, Some(nick))) if on => self.room_confirmed(user, room, &nick).await,
            _ if on => {}
            Some((_, true, _)) => {
                self.forget_room_state(user, room);
                self.forget_stored_room(user, room).await;
                self.command_if_running(user, leave(room)).await;
            }
            _ => {
                self.forget_stored_room(user, room).await;
            }
        }
    }

    /// Forgets the state of the user's detached rooms (no resource in
    /// them), when their session ended.
    pub(in crate::gateway) fn drop_detached_rooms(&self, user: &BareJid) {
        // Nor will the session before answer the leaves sent to it.
        self.leaving.lock().unwrap().forget_user(user);
        if let Some(rooms) = self.rooms.lock().unwrap().get_mut(user) {
            rooms.retain(|_, r| !r.resources.is_empty());
        }
    }

    /// Takes the user's room state out of the table.
    fn forget_room_state(&self, user: &BareJid, room: &RoomId) -> Option<Box<Room>> {
        self.rooms
            .lock()
            .unwrap()
            .get_mut(user)
            .and_then(|r| r.remove(room))
    }
}

fn leave(room: &RoomId) -> Command {
    Command::Leave {
        room: room.clone(),
        reason: None,
    }
}
