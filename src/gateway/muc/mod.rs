//! The MUC service (XEP-0045) for bridged rooms, shared by every network.
//!
//! A room JID is the bridge's room id, XEP-0106-escaped, at the component
//! domain; occupants are `room@domain/nick`. A user's resources that join the
//! same room share the session's one membership: the first join sends
//! `Command::Join`, each later one gets the current state at once. The last
//! one leaving sends `Command::Leave`, or, in a persistent room, detaches
//! (`lifetime.rs`): the session stays in the network room and the archive
//! keeps recording until the user leaves it explicitly (`commands.rs`).
//!
//! ```xml
//! <presence to='#rust%irc.example.net@irc.example.org/ferris'>
//!   <x xmlns='http://jabber.org/protocol/muc'/>
//! </presence>
//! ```

mod caps;
mod commands;
mod events;
mod inbound;
mod join;
mod leaving;
mod lifetime;
mod message;
mod moderate;
mod people;
mod resources;
mod rich;
mod room_error;

use std::collections::{HashMap, VecDeque};
use switchboard_bridge_api::{Role as NetRole, RoomId, UserId};
use xmpp_parsers::jid::{BareJid, FullJid, Jid, ResourcePart};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::muc::{History, Muc};
use xmpp_parsers::muc::user::{Affiliation, Item, MucUser, Role, Status};
use xmpp_parsers::ns;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::gateway::occupant_id::OccupantKey;
use crate::gateway::occupants::Occupants;
use crate::gateway::Gateway;
use crate::xmpp::errors;

/// One bridged room as one user's session sees it.
#[derive(Debug, Default)]
pub(super) struct Room {
    name: String,
    own_nick: Option<String>,
    /// The user's id in the room (from the join; follows their renames).
    own_user: Option<UserId>,
    nick_changed: bool,
    members: Occupants,
    subject: Option<String>,
    /// The member list is complete: the room is joined.
    complete: bool,
    /// The user's resources in the room, and whether each has had its join sequence.
    resources: resources::Resources,
    /// What history each joining resource asked for.
    history: HashMap<FullJid, History>,
    /// A nick change under way: who asked, for which nick.
    renaming: Option<(FullJid, String)>,
    /// Whether this room's messages are archived (the user's and the room's switches).
    archived: bool,
    /// The room's password as the join gave it: stored (sealed) with a
    /// persistent room, so that a rejoin without the client gives it again.
    password: Option<String>,
    /// Whether the room outlives the user's resources ([`Gateway::room_persistent`]):
    /// the last one leaving detaches instead of leaving the network room.
    persistent: bool,
    /// The XEP-0359 origin-ids of the user's messages on their way to the
    /// network, by the message's id, to go on their reflections.
    origins: VecDeque<(String, String)>,
    /// What this room supports where the network said it differs from its
    /// capabilities (`caps.rs`).
    capabilities: Option<switchboard_bridge_api::Capabilities>,
}

/// How many of a room's sent messages keep their origin-id until reflected.
const ORIGINS_KEPT: usize = 64;

/// How many room JIDs [`Gateway::room_jid`] keeps.
const ROOM_JIDS_KEPT: usize = 4096;

/// Every room of every user of one gateway. Rooms are boxed: a table
/// allocates a few slots ahead, and a room is some hundreds of bytes.
pub(super) type Rooms = HashMap<BareJid, HashMap<RoomId, Box<Room>>>;

pub(super) use caps::ContactCaps;
pub(super) use leaving::LeavesInFlight;

/// XEP-0045 §5.1: an IRC-like standing as affiliation and role
/// (owner → owner/moderator, operator → admin/moderator, voiced →
/// member/participant, others → none/participant, visitor → none/visitor).
fn item_for(role: NetRole) -> Item {
    let (affiliation, role) = match role {
        NetRole::Owner => (Affiliation::Owner, Role::Moderator),
        NetRole::Operator => (Affiliation::Admin, Role::Moderator),
        NetRole::Voiced => (Affiliation::Member, Role::Participant),
        NetRole::Member => (Affiliation::None, Role::Participant),
        NetRole::Visitor => (Affiliation::None, Role::Visitor),
    };
    Item::new(affiliation, role)
}

/// XEP-0045 §7.2: the error presence that answers a join or a nick change,
/// from the occupant JID asked for, with the MUC `<x/>` that tells clients
/// the join is over, and the room as the error's `by`.
fn join_error(
    from: Jid,
    to: Jid,
    id: Option<String>,
    condition: DefinedCondition,
    text: &str,
) -> Presence {
    let mut error = errors::stanza_error(condition, text);
    error.by = Some(Jid::from(from.to_bare()));
    let mut p = Presence::error().with_from(from).with_to(to);
    p.id = id;
    p.payloads.push(Muc::new().into());
    p.payloads.push(error.into());
    p
}

/// The client's XEP-0359 origin-id on a message, if it has one.
fn origin_id(message: &Message) -> Option<String> {
    message
        .payloads
        .iter()
        .find(|p| p.is("origin-id", ns::SID))
        .and_then(|p| p.attr("id"))
        .map(str::to_owned)
}

fn muc_user(item: Item, status: Vec<Status>) -> Element {
    MucUser::new()
        .with_items(vec![item])
        .with_statuses(status)
        .into()
}

impl Gateway {
    /// The room's JID: its id escaped (XEP-0106) at our domain. Checking a
    /// JID is costly (stringprep) and every message needs one, so the JIDs
    /// of recent rooms are kept.
    pub(in crate::gateway) fn room_jid(&self, room: &RoomId) -> Option<BareJid> {
        self.with_room_jid(room, BareJid::clone)
    }

    /// An occupant's JID: the room's JID with the nick as resource.
    pub(in crate::gateway) fn occupant_jid(&self, room: &RoomId, nick: &str) -> Option<Jid> {
        let resource = ResourcePart::new(nick).ok()?;
        self.with_room_jid(room, |jid| Jid::from(jid.with_resource(&resource)))
    }

    /// The XEP-0421 occupant-id of `user` in `room` as live stanzas carry it
    /// for an occupant first seen with that id (join history and MAM give
    /// it to archived messages by their author's id).
    pub(in crate::gateway) fn occupant_id(&self, room: &RoomId, user: &UserId) -> String {
        self.occupant_ids.of(room, user)
    }

    /// The user's own occupant key in the room: their member's, or made
    /// from their id when the network does not list them.
    fn own_key(&self, room: &RoomId, r: &Room) -> Option<OccupantKey> {
        let own = r.own_nick.as_deref().and_then(|n| r.members.get(n));
        match (own, &r.own_user) {
            (Some(o), _) => Some(o.key()),
            (None, Some(u)) => Some(self.occupant_ids.key(room, u)),
            (None, None) => None,
        }
    }

    /// Calls `f` with the room's JID, from the cache when it is there.
    pub(in crate::gateway) fn with_room_jid<R>(
        &self,
        room: &RoomId,
        f: impl FnOnce(&BareJid) -> R,
    ) -> Option<R> {
        let mut cache = self.room_jids.lock().unwrap();
        if let Some(jid) = cache.get(room) {
            return Some(f(jid));
        }
        let jid = self.id_jid(room.as_str())?;
        if cache.len() >= ROOM_JIDS_KEPT {
            cache.clear();
        }
        let out = f(&jid);
        cache.insert(room.clone(), jid);
        Some(out)
    }

    pub(in crate::gateway) fn room_of(&self, to: &Jid) -> RoomId {
        RoomId(self.jid_id(to).unwrap_or_default())
    }

    /// Sends `stanza(resource)` to every joined resource of the user in the room.
    pub(in crate::gateway) async fn to_joined(
        &self,
        user: &BareJid,
        room: &RoomId,
        make: impl Fn(Jid) -> Option<crate::component::Outgoing>,
    ) {
        let resources: Vec<FullJid> = {
            let rooms = self.rooms.lock().unwrap();
            match rooms.get(user).and_then(|r| r.get(room)) {
                Some(r) if r.complete => r
                    .resources
                    .iter()
                    .filter(|(_, joined)| **joined)
                    .map(|(j, _)| j.clone())
                    .collect(),
                _ => return,
            }
        };
        for res in resources {
            if let Some(s) = make(Jid::from(res)) {
                self.send(s).await;
            }
        }
    }

    /// Whether the user wants this room archived: their own switch, then the room's.
    pub(in crate::gateway) async fn archive_wanted(&self, user: &BareJid, room: &RoomId) -> bool {
        let user_s = user.to_string();
        let on = |m: std::collections::BTreeMap<String, String>| {
            m.get("archive").is_none_or(|v| v != "false")
        };
        let own = self
            .store
            .settings(&user_s, &self.network, "")
            .await
            .unwrap_or_default();
        let here = self
            .store
            .settings(&user_s, &self.network, &format!("room:{room}"))
            .await
            .unwrap_or_default();
        on(own) && on(here)
    }

    /// Runs `f` on the user's room state, if there is one.
    pub(in crate::gateway) fn with_room<T>(
        &self,
        user: &BareJid,
        room: &RoomId,
        f: impl FnOnce(&mut Room) -> T,
    ) -> Option<T> {
        self.rooms
            .lock()
            .unwrap()
            .get_mut(user)
            .and_then(|r| r.get_mut(room))
            .map(|r| f(r))
    }

    /// The rooms the user is in (or joining).
    pub(in crate::gateway) fn room_ids(&self, user: &BareJid) -> Vec<RoomId> {
        self.rooms
            .lock()
            .unwrap()
            .get(user)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Applies a changed archive switch to the rooms the user is in.
    pub(in crate::gateway) async fn refresh_archive_switch(&self, user: &BareJid) {
        let rooms = self.room_ids(user);
        for room in rooms {
            let archived = self.archive_wanted(user, &room).await;
            self.with_room(user, &room, |r| r.archived = archived);
        }
    }

    /// A message from each of the user's rooms to its joined resources
    /// (the network's connection state, so that nothing hangs silently).
    pub(in crate::gateway) async fn room_notice(&self, user: &BareJid, text: &str) {
        let rooms = self.room_ids(user);
        for room in rooms {
            self.say_in_room(user, &room, text).await;
        }
    }

    /// A message from the room itself (its bare JID) to the user's joined
    /// resources: the network's words about this room are the room's, never
    /// the gateway's.
    pub(in crate::gateway) async fn say_in_room(&self, user: &BareJid, room: &RoomId, text: &str) {
        let Some(room_jid) = self.room_jid(room) else {
            return;
        };
        let from = Jid::from(room_jid);
        self.to_joined(user, room, |to| {
            let mut m = Message::groupchat(Some(to)).with_body(Lang::new(), text.to_owned());
            m.from = Some(from.clone());
            Some(m.into())
        })
        .await;
    }

    /// XEP-0045 status 332: every joined resource is told that the service
    /// is shutting down (its own unavailable presence), and the rooms are
    /// forgotten, so the sessions' last events say nothing more.
    pub(in crate::gateway) async fn announce_shutdown(&self) {
        let rooms: Rooms = std::mem::take(&mut *self.rooms.lock().unwrap());
        for (room, r) in rooms.into_values().flatten() {
            let key = self.own_key(&room, &r);
            let Some(from) = r
                .own_nick
                .as_deref()
                .and_then(|n| self.occupant_jid(&room, n))
            else {
                continue;
            };
            for (resource, joined) in r.resources {
                if !joined {
                    continue;
                }
                let mut p = Presence::unavailable()
                    .with_from(from.clone())
                    .with_to(resource);
                p.payloads.push(muc_user(
                    Item::new(Affiliation::None, Role::None),
                    vec![Status::SelfPresence, Status::ServiceShutdown],
                ));
                p.payloads.extend(key.map(OccupantKey::element));
                self.send(p).await;
            }
        }
    }
}
