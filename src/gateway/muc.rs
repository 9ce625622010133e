//! The MUC service (XEP-0045) for bridged rooms, shared by every network.
//!
//! A room JID is the bridge's room id, XEP-0106-escaped, at the component
//! domain; occupants are `room@domain/nick`. A user's resources that join the
//! same room share the session's one membership: the first join sends
//! `Command::Join`, each later one gets the current state at once.
//!
//! ```xml
//! <presence to='#rust%irc.example.net@irc.example.org/ferris'>
//!   <x xmlns='http://jabber.org/protocol/muc'/>
//! </presence>
//! ```

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use switchboard_bridge_api::{
    Command, ErrorKind, LeaveReason, MessageKind, Role as NetRole, RoomId, Target,
};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::jid::{BareJid, FullJid, Jid, NodePart, ResourcePart};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::muc::{History, Muc};
use xmpp_parsers::muc::user::{Affiliation, Item, MucUser, Role, Status};
use xmpp_parsers::ns;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::occupants::{Occupant, Occupants};
use super::session::{condition_for, Unsent, QUEUE_FULL};
use super::Gateway;
use crate::store::ArchivedMessage;
use crate::xmpp::{errors, escape};
use xmpp_parsers::stanza_id::StanzaId;

/// One bridged room as one user's session sees it.
#[derive(Debug, Default)]
pub(super) struct Room {
    name: String,
    own_nick: Option<String>,
    nick_changed: bool,
    members: Occupants,
    subject: Option<String>,
    /// The member list is complete: the room is joined.
    complete: bool,
    /// The user's resources in the room, and whether each has had its join sequence.
    resources: BTreeMap<FullJid, bool>,
    /// What history each joining resource asked for.
    history: HashMap<FullJid, History>,
    /// A nick change under way: who asked, for which nick.
    renaming: Option<(FullJid, String)>,
    /// Whether this room's messages are archived (the user's and the room's switches).
    archived: bool,
    /// The XEP-0359 origin-ids of the user's messages on their way to the
    /// network, by the message's id, to go on their reflections.
    origins: VecDeque<(String, String)>,
}

/// How many of a room's sent messages keep their origin-id until reflected.
const ORIGINS_KEPT: usize = 64;

/// How many room JIDs [`Gateway::room_jid`] keeps.
const ROOM_JIDS_KEPT: usize = 4096;

/// Every room of every user of one gateway. Rooms are boxed: a table
/// allocates a few slots ahead, and a room is some hundreds of bytes.
pub(super) type Rooms = HashMap<BareJid, HashMap<RoomId, Box<Room>>>;

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
    pub(super) fn room_jid(&self, room: &RoomId) -> Option<BareJid> {
        self.with_room_jid(room, BareJid::clone)
    }

    /// An occupant's JID: the room's JID with the nick as resource.
    pub(super) fn occupant_jid(&self, room: &RoomId, nick: &str) -> Option<Jid> {
        let resource = ResourcePart::new(nick).ok()?;
        self.with_room_jid(room, |jid| Jid::from(jid.with_resource(&resource)))
    }

    /// Calls `f` with the room's JID, from the cache when it is there.
    fn with_room_jid<R>(&self, room: &RoomId, f: impl FnOnce(&BareJid) -> R) -> Option<R> {
        let mut cache = self.room_jids.lock().unwrap();
        if let Some(jid) = cache.get(room) {
            return Some(f(jid));
        }
        let escaped = escape::escape(room.as_str());
        let node = NodePart::new(&escaped).ok()?;
        let jid = BareJid::from_parts(Some(&node), self.domain.domain());
        if cache.len() >= ROOM_JIDS_KEPT {
            cache.clear();
        }
        let out = f(&jid);
        cache.insert(room.clone(), jid);
        Some(out)
    }

    fn room_of(&self, to: &Jid) -> RoomId {
        RoomId(escape::unescape(
            to.node().map(|n| n.as_str()).unwrap_or_default(),
        ))
    }

    /// Presence to a room or occupant JID: join, nick change, leave.
    pub(super) async fn handle_room_presence(self: &Arc<Self>, presence: Presence) {
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
                            super::session::REGISTER_FIRST,
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
                        self.with_room(&user, &room, |r| r.archived = archived);
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
                let (leave, own_nick) = {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(user_rooms) = rooms.get_mut(&user) else {
                        return;
                    };
                    let Some(r) = user_rooms.get_mut(&room) else {
                        return;
                    };
                    r.resources.remove(&resource);
                    let own = r.own_nick.clone();
                    let empty = r.resources.is_empty();
                    if empty {
                        user_rooms.remove(&room);
                    }
                    (empty, own)
                };
                if let Some(from) = own_nick.and_then(|n| self.occupant_jid(&room, &n)) {
                    let mut p = Presence::unavailable().with_from(from).with_to(resource);
                    p.payloads.push(muc_user(
                        Item::new(Affiliation::None, Role::None),
                        vec![Status::SelfPresence],
                    ));
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

    async fn presence_error(&self, presence: &Presence, condition: DefinedCondition, text: &str) {
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

    /// A message to a room (groupchat, subject) or to an occupant (private).
    pub(super) async fn handle_room_message(self: &Arc<Self>, message: Message) {
        let (Some(from), Some(to)) = (&message.from, &message.to) else {
            return;
        };
        let user = from.to_bare();
        let room = self.room_of(to);
        if !self.is_registered(&user).await {
            return self.refuse_unregistered(&message).await;
        }
        let token = message.id.as_ref().map(|i| i.0.clone()).unwrap_or_default();
        let joined = self
            .rooms
            .lock()
            .unwrap()
            .get(&user)
            .and_then(|r| r.get(&room))
            .is_some_and(|r| r.complete);
        if message.type_ == MessageType::Groupchat {
            if !joined {
                let reply = errors::message_error(
                    &message,
                    DefinedCondition::NotAcceptable,
                    "join the room first",
                );
                return self.send(reply).await;
            }
            if let Some((_, subject)) = message.get_best_subject(vec![]) {
                if message.bodies.is_empty() {
                    let topic = Command::SetTopic {
                        room,
                        topic: subject.clone(),
                    };
                    self.command_or_error(&user, topic, &message).await;
                    return;
                }
            }
            let Some((_, body)) = message.get_best_body(vec![]) else {
                return;
            };
            let (text, kind) = match body.strip_prefix("/me ") {
                Some(action) => (action.to_owned(), MessageKind::Action),
                None => (body.clone(), MessageKind::Normal),
            };
            if let Some(origin) = origin_id(&message) {
                self.with_room(&user, &room, |r| {
                    if r.origins.len() >= ORIGINS_KEPT {
                        r.origins.pop_front();
                    }
                    r.origins.push_back((token.clone(), origin));
                });
            }
            let send = Command::SendText {
                target: Target::Room(room),
                text,
                kind,
                reply_to: None,
                token,
            };
            return self.command_or_error(&user, send, &message).await;
        }
        // A private message to an occupant goes to that person directly.
        let nick = to.resource().map(|r| r.to_string()).unwrap_or_default();
        let member = self
            .rooms
            .lock()
            .unwrap()
            .get(&user)
            .and_then(|r| r.get(&room))
            .and_then(|r| r.members.get(&nick))
            .map(Occupant::user);
        let Some(peer) = member else {
            let reply =
                errors::message_error(&message, DefinedCondition::ItemNotFound, "no such occupant");
            return self.send(reply).await;
        };
        let Some((_, body)) = message.get_best_body(vec![]) else {
            return;
        };
        let send = Command::SendText {
            target: Target::User(peer),
            text: body.clone(),
            kind: MessageKind::Normal,
            reply_to: None,
            token,
        };
        self.command_or_error(&user, send, &message).await;
    }

    /// Iq requests to a room or occupant: disco#info, XEP-0410 self-ping.
    pub(super) fn room_iq(
        &self,
        from: &Jid,
        to: &Jid,
        payload: &Element,
    ) -> Result<Option<Element>, (DefinedCondition, String)> {
        let room = self.room_of(to);
        let user = from.to_bare();
        if payload.is("ping", ns::PING) {
            // XEP-0410: a ping to one's own occupant JID says whether one is still joined.
            let rooms = self.rooms.lock().unwrap();
            let joined = rooms
                .get(&user)
                .and_then(|r| r.get(&room))
                .is_some_and(|r| {
                    r.complete
                        && from
                            .clone()
                            .try_into_full()
                            .is_ok_and(|f| r.resources.contains_key(&f))
                        && to.resource().map(|n| n.as_str()) == r.own_nick.as_deref()
                });
            return if joined {
                Ok(None)
            } else {
                Err((DefinedCondition::NotAcceptable, "not joined".into()))
            };
        }
        if payload.is("query", ns::DISCO_INFO) && to.resource().is_none() {
            let joined = self
                .rooms
                .lock()
                .unwrap()
                .get(&user)
                .and_then(|r| r.get(&room))
                .map(|r| (r.name.clone(), r.archived));
            let name = joined
                .as_ref()
                .map(|(name, _)| name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| room.to_string());
            let mut features: std::collections::BTreeSet<String> = [
                ns::MUC,
                "muc_open",
                "muc_semianonymous",
                "muc_persistent",
                "muc_unsecured",
                ns::PING,
                // Every room message carries the gateway's stanza-id.
                ns::SID,
            ]
            .map(str::to_owned)
            .into();
            // MAM on the room JID, when this room's messages are archived
            // (or, before a join, when the archive is on at all).
            if self.archive.enabled() && joined.as_ref().is_none_or(|(_, archived)| *archived) {
                features.insert(ns::MAM.to_owned());
            }
            let info = DiscoInfoResult {
                node: None,
                identities: vec![Identity::new("conference", "text", "en", name)],
                features,
                extensions: vec![],
            };
            return Ok(Some(info.into()));
        }
        Err((
            DefinedCondition::ServiceUnavailable,
            "not served on rooms".into(),
        ))
    }

    /// Occupant presences, self-presence (110, 210), then the subject, to the given resources.
    async fn send_join_sequence(&self, user: &BareJid, room: &RoomId, resources: &[FullJid]) {
        let (others, own_nick, own_role, nick_changed, subject, mut history) = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(r) = rooms.get_mut(user).and_then(|r| r.get_mut(room)) else {
                return;
            };
            let history: HashMap<FullJid, History> = resources
                .iter()
                .filter_map(|res| Some((res.clone(), r.history.remove(res)?)))
                .collect();
            let own_nick = r.own_nick.clone().unwrap_or_default();
            let others: Vec<(String, NetRole, bool)> = r
                .members
                .iter()
                .filter(|m| m.nick() != own_nick)
                .map(|m| (m.nick().to_owned(), m.role(), m.away()))
                .collect();
            let own_role = r.members.get(&own_nick).map(Occupant::role);
            (
                others,
                own_nick,
                own_role.unwrap_or_default(),
                r.nick_changed,
                r.subject.clone(),
                history,
            )
        };
        for res in resources {
            let to = Jid::from(res.clone());
            for (nick, role, away) in &others {
                if let Some(p) = self.occupant_presence(room, nick, *role, *away) {
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

    fn occupant_presence(
        &self,
        room: &RoomId,
        nick: &str,
        role: NetRole,
        away: bool,
    ) -> Option<Presence> {
        let from = self.occupant_jid(room, nick)?;
        let mut p = Presence::available().with_from(from);
        if away {
            p.show = Some(xmpp_parsers::presence::Show::Away);
        }
        p.payloads.push(muc_user(item_for(role), vec![]));
        Some(p)
    }

    /// Sends `stanza(resource)` to every joined resource of the user in the room.
    async fn to_joined(
        &self,
        user: &BareJid,
        room: &RoomId,
        make: impl Fn(Jid) -> Option<xmpp_parsers::stanza::Stanza>,
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

    /// The network refused a nick: a rename under way gets XEP-0045's 409.
    /// Returns whether one was waiting.
    pub(super) async fn nick_conflict(&self, user: &BareJid, text: &str) -> bool {
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

    /// Whether the user wants this room archived: their own switch, then the room's.
    pub(super) async fn archive_wanted(&self, user: &BareJid, room: &RoomId) -> bool {
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

    /// XEP-0045 status 332: every joined resource is told that the service
    /// is shutting down (its own unavailable presence), and the rooms are
    /// forgotten, so the sessions' last events say nothing more.
    pub(super) async fn announce_shutdown(&self) {
        let rooms: Rooms = std::mem::take(&mut *self.rooms.lock().unwrap());
        for (room, r) in rooms.into_values().flatten() {
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
                self.send(p).await;
            }
        }
    }

    /// Runs `f` on the user's room state, if there is one.
    fn with_room<T>(
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
    fn room_ids(&self, user: &BareJid) -> Vec<RoomId> {
        self.rooms
            .lock()
            .unwrap()
            .get(user)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Applies a changed archive switch to the rooms the user is in.
    pub(super) async fn refresh_archive_switch(&self, user: &BareJid) {
        let rooms = self.room_ids(user);
        for room in rooms {
            let archived = self.archive_wanted(user, &room).await;
            self.with_room(user, &room, |r| r.archived = archived);
        }
    }

    /// A message from each of the user's rooms to its joined resources
    /// (the network's connection state, so that nothing hangs silently).
    pub(super) async fn room_notice(&self, user: &BareJid, text: &str) {
        let rooms = self.room_ids(user);
        for room in rooms {
            let Some(room_jid) = self.room_jid(&room) else {
                continue;
            };
            let from = Jid::from(room_jid);
            self.to_joined(user, &room, |to| {
                let mut m = Message::groupchat(Some(to)).with_body(Lang::new(), text.to_owned());
                m.from = Some(from.clone());
                Some(m.into())
            })
            .await;
        }
    }

    /// Room events from the user's session.
    pub(super) async fn room_event(&self, user: &BareJid, event: switchboard_bridge_api::Event) {
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
                let id = m
                    .token
                    .clone()
                    .filter(|t| m.own && !t.is_empty())
                    .unwrap_or_else(|| m.id.0.clone());
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
                let Some(room_jid) = self.room_jid(room).map(Jid::from) else {
                    return;
                };
                let stanza_id: Element = StanzaId {
                    id: seq.to_string(),
                    by: room_jid,
                }
                .into();
                let origin_el: Option<Element> = origin
                    .clone()
                    .map(|id| xmpp_parsers::stanza_id::OriginId { id }.into());
                self.to_joined(user, room, |to| {
                    let mut msg = Message::groupchat(Some(to)).with_body(Lang::new(), text.clone());
                    msg.from = Some(from.clone());
                    msg.id = Some(xmpp_parsers::message::Id(id.clone()));
                    msg.payloads.extend(origin_el.clone());
                    msg.payloads.push(stanza_id.clone());
                    Some(msg.into())
                })
                .await;
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
                    return self.tell(user, &format!("{room}: {text}")).await;
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
