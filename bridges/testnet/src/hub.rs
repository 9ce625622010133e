//! What the test network's sessions share: the control channel to the test,
//! the running sessions by username (for injected events), and the
//! network's rooms.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_bridge_api::{
    ErrorContext, ErrorKind, Event, Member, MessageId, RoomId, RoomListing, UserId,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::wire::{self, Order, Report};

/// How often, and how far apart, the link tries to reach the test's
/// listener before giving up (the test listens before it starts the gateway).
const CONNECT_ATTEMPTS: u32 = 100;
const CONNECT_PAUSE: Duration = Duration::from_millis(100);

/// The network's shared state.
pub(crate) struct Hub {
    /// The test's listener, if the settings name one.
    control: Option<SocketAddr>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Lines to the test; `None` until the first report starts the link.
    link: Option<mpsc::UnboundedSender<String>>,
    /// Running sessions by username: their serial and where injected events go.
    sessions: HashMap<String, (u64, mpsc::UnboundedSender<Event>)>,
    /// Events injected for users with no running session, oldest first.
    pending: HashMap<String, Vec<Event>>,
    /// The network's rooms and the usernames in each.
    rooms: BTreeMap<RoomId, BTreeSet<String>>,
    /// The other members of each room, as the injected member events left
    /// them, in the order they came.
    members: BTreeMap<RoomId, Vec<Member>>,
    /// Commands to refuse, by (username, token): the error's kind and words.
    refusals: HashMap<(String, String), (ErrorKind, String)>,
    next_session: u64,
    next_message: u64,
}

/// A session's place in the hub.
pub(crate) struct Attached {
    /// Its serial, to detach only itself.
    pub serial: u64,
    /// Events the test injects for it.
    pub injected: mpsc::UnboundedReceiver<Event>,
    /// Events injected before it started, oldest first.
    pub pending: Vec<Event>,
}

impl Hub {
    pub(crate) fn new(control: Option<SocketAddr>) -> Arc<Self> {
        Arc::new(Self {
            control,
            state: Mutex::default(),
        })
    }

    /// Tells the test something; the first report opens the link (sessions
    /// run inside the gateway's runtime, the bridge is built before it).
    pub(crate) fn report(self: &Arc<Self>, report: &Report) {
        let Some(addr) = self.control else {
            return;
        };
        let mut state = self.state.lock().unwrap();
        let link = state.link.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(Arc::clone(self).run_link(addr, rx));
            tx
        });
        // A test that has gone no longer reads: nothing to do about it.
        let _ = link.send(wire::to_line(report));
    }

    /// Registers a running session for `user` in place of any earlier one.
    pub(crate) fn attach(&self, user: &str) -> Attached {
        let (tx, injected) = mpsc::unbounded_channel();
        let mut state = self.state.lock().unwrap();
        state.next_session += 1;
        let serial = state.next_session;
        state.sessions.insert(user.to_owned(), (serial, tx));
        let pending = state.pending.remove(user).unwrap_or_default();
        Attached {
            serial,
            injected,
            pending,
        }
    }

    /// Forgets a session that ended, unless a newer one took its place.
    pub(crate) fn detach(&self, user: &str, serial: u64) {
        let mut state = self.state.lock().unwrap();
        if state.sessions.get(user).is_some_and(|(s, _)| *s == serial) {
            state.sessions.remove(user);
        }
    }

    /// An event for the user's session, or held for its next one.
    fn inject(&self, user: String, event: Event) {
        let mut state = self.state.lock().unwrap();
        let event = match state.sessions.get(&user) {
            Some((_, tx)) => match tx.send(event) {
                Ok(()) => return,
                Err(mpsc::error::SendError(event)) => event,
            },
            None => event,
        };
        state.pending.entry(user).or_default().push(event);
    }

    /// The error the test ordered for the user's command with this token,
    /// if any (taken: it answers one command).
    pub(crate) fn refusal(&self, user: &str, token: &str) -> Option<Event> {
        let mut state = self.state.lock().unwrap();
        let (kind, text) = state
            .refusals
            .remove(&(user.to_owned(), token.to_owned()))?;
        Some(Event::Error {
            context: ErrorContext::Command(token.to_owned()),
            kind,
            text,
        })
    }

    /// A new message id, unique on the network.
    pub(crate) fn message_id(&self) -> MessageId {
        let mut state = self.state.lock().unwrap();
        state.next_message += 1;
        MessageId(format!("tn-{}", state.next_message))
    }

    /// `user` is in `room` now (the room exists from then on: rooms persist).
    pub(crate) fn enter(&self, room: &RoomId, user: &str) {
        let mut state = self.state.lock().unwrap();
        state
            .rooms
            .entry(room.clone())
            .or_default()
            .insert(user.to_owned());
    }

    /// `user` left `room`; the room stays.
    pub(crate) fn leave(&self, room: &RoomId, user: &str) {
        if let Some(members) = self.state.lock().unwrap().rooms.get_mut(room) {
            members.remove(user);
        }
    }

    /// Follows a member event the test injected, so that a later join
    /// lists the room's members as they are then.
    pub(crate) fn note_members(&self, event: &Event) {
        let mut state = self.state.lock().unwrap();
        let members = &mut state.members;
        match event {
            Event::MemberJoined { room, member } | Event::MemberChanged { room, member } => {
                let list = members.entry(room.clone()).or_default();
                match list.iter_mut().find(|m| m.user == member.user) {
                    Some(m) => *m = member.clone(),
                    None => list.push(member.clone()),
                }
            }
            Event::MemberLeft { room, user, .. } => {
                if let Some(list) = members.get_mut(room) {
                    list.retain(|m| m.user != *user);
                }
            }
            Event::MemberRenamed {
                room,
                user,
                new_user,
                new_nick,
                ..
            } => {
                let rooms = members
                    .iter_mut()
                    .filter(|(id, _)| room.as_ref().is_none_or(|r| r == *id));
                for m in rooms.flat_map(|(_, list)| list.iter_mut()) {
                    if m.user == *user {
                        m.user = new_user.clone().unwrap_or_else(|| user.clone());
                        m.nick.clone_from(new_nick);
                    }
                }
            }
            _ => {}
        }
    }

    /// The room's members other than `own`, in the order they came.
    pub(crate) fn members(&self, room: &RoomId, own: &UserId) -> Vec<Member> {
        let state = self.state.lock().unwrap();
        let list = state
            .members
            .get(room)
            .map(Vec::as_slice)
            .unwrap_or_default();
        list.iter().filter(|m| m.user != *own).cloned().collect()
    }

    /// A page of the network's rooms, by id, after the cursor (a room id).
    pub(crate) fn rooms(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<RoomListing>, Option<String>) {
        let state = self.state.lock().unwrap();
        let mut rooms: Vec<RoomListing> = state
            .rooms
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| id.as_str() > a))
            .take(limit.saturating_add(1))
            .map(|(id, members)| RoomListing {
                room: id.clone(),
                name: id.0.clone(),
                members: Some(members.len() as u64),
                topic: None,
                group: false,
            })
            .collect();
        let next = if rooms.len() > limit {
            rooms.truncate(limit);
            rooms.last().map(|r| r.room.0.clone())
        } else {
            None
        };
        (rooms, next)
    }

    /// The link to the test: connects, then writes reports and reads orders
    /// until either side closes.
    async fn run_link(
        self: Arc<Self>,
        addr: SocketAddr,
        mut lines: mpsc::UnboundedReceiver<String>,
    ) {
        let mut stream = None;
        for _ in 0..CONNECT_ATTEMPTS {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(_) => tokio::time::sleep(CONNECT_PAUSE).await,
            }
        }
        let Some(stream) = stream else {
            warn!(%addr, "test network: no control listener; running without one");
            return;
        };
        debug!(%addr, "test network: control channel open");
        let (read, mut write) = stream.into_split();
        let hub = Arc::clone(&self);
        tokio::spawn(async move {
            let mut read = BufReader::new(read).lines();
            while let Ok(Some(line)) = read.next_line().await {
                match wire::from_line::<Order>(&line) {
                    Ok(Order::Inject { user, event }) => hub.inject(user, event),
                    Ok(Order::Refuse {
                        user,
                        token,
                        kind,
                        text,
                    }) => {
                        let mut state = hub.state.lock().unwrap();
                        state.refusals.insert((user, token), (kind, text));
                    }
                    Err(e) => warn!(error = %e, "test network: unreadable order; ignored"),
                }
            }
        });
        while let Some(line) = lines.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    }
}
