//! The user's persistent rooms in their XEP-0402 bookmarks, so that every
//! client of theirs (Conversations, Dino, Gajim) lists them and joins them
//! at login.
//!
//! Only where the user's server granted the pubsub iq privilege (XEP-0356
//! 0.4 §6, `Privileges::pubsub_iq`): a room stored as persistent
//! (`muc/lifetime.rs`) is bookmarked with `autojoin` and the nick, a stored
//! room forgotten (an explicit leave, a kick) loses the bookmark. Each is
//! read first, as the user: a bookmark the user made for the room is
//! never replaced nor retracted; the gateway's own (marked, see
//! `xmpp/bookmarks.rs`) is updated when the nick changed. Without the
//! privilege nothing is done (the user bookmarks rooms themselves).
//!
//! One task per gateway does the work in order, waiting for each answer:
//! a room's bookmark and its retraction cannot overtake each other, and
//! the router never waits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use switchboard_bridge_api::RoomId;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use super::Gateway;
use crate::component::Outgoing;
use crate::xmpp::bookmarks;
use crate::xmpp::privilege::{self, NS_CLIENT};

/// The prefix of the ids of the privileged iqs sent here.
const ID_PREFIX: &str = "sb-bm-";

/// How long the server has to answer.
const ANSWER: Duration = Duration::from_secs(30);

/// Bookmark changes waiting for the task, at most (beyond, one is dropped
/// and logged).
const QUEUE: usize = 256;

/// One change to a user's bookmarks.
#[derive(Debug)]
enum Job {
    /// Bookmark the room (autojoin, this nick and name) unless the user has one.
    Keep {
        user: BareJid,
        room: BareJid,
        name: String,
        nick: String,
        namespace: &'static str,
    },
    /// Retract the gateway's bookmark of the room.
    Drop {
        user: BareJid,
        room: BareJid,
        namespace: &'static str,
    },
}

/// Iqs awaiting the server's answer, by id.
type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Iq>>>>;

/// The bookmark task's queue (started at the first change) and its waiting iqs.
#[derive(Default)]
pub(super) struct Bookmarks {
    jobs: OnceLock<mpsc::Sender<Job>>,
    waiting: Waiting,
}

impl Bookmarks {
    /// An iq answer the task waits for is handed over (`None`); any other
    /// iq comes back.
    pub(super) fn answered(&self, iq: Iq) -> Option<Iq> {
        if !matches!(iq, Iq::Result { .. } | Iq::Error { .. }) || !iq.id().starts_with(ID_PREFIX) {
            return Some(iq);
        }
        match self.waiting.lock().unwrap().remove(iq.id()) {
            Some(tx) => {
                let _ = tx.send(iq);
                None
            }
            None => Some(iq),
        }
    }
}

impl Gateway {
    /// A persistent room was stored with this nick: bookmarked, where the
    /// server lets the gateway.
    pub(super) fn bookmark_room(&self, user: &BareJid, room: &RoomId, name: &str, nick: &str) {
        if let Some(job) = self.keep_job(user, room, name, nick) {
            self.queue_bookmark(job);
        }
    }

    /// The job that bookmarks a room, where the server lets the gateway.
    fn keep_job(&self, user: &BareJid, room: &RoomId, name: &str, nick: &str) -> Option<Job> {
        let granted = self.privileges(user);
        if !granted.pubsub_iq {
            return None;
        }
        Some(Job::Keep {
            user: user.clone(),
            room: self.room_jid(room)?,
            name: name.to_owned(),
            nick: nick.to_owned(),
            namespace: granted.namespace,
        })
    }

    /// A stored room was forgotten: its bookmark, if the gateway made it,
    /// is retracted.
    pub(super) fn unbookmark_room(&self, user: &BareJid, room: &RoomId) {
        let granted = self.privileges(user);
        if !granted.pubsub_iq {
            return;
        }
        let Some(room_jid) = self.room_jid(room) else {
            return;
        };
        self.queue_bookmark(Job::Drop {
            user: user.clone(),
            room: room_jid,
            namespace: granted.namespace,
        });
    }

    /// The server granted the privilege (after each connect): the stored
    /// rooms of its users are bookmarked, those restored at start-up (whose
    /// joins came before the privilege) and any stored while it was not
    /// granted. A bookmark already there is left (each job reads first).
    /// Each waits for room in the queue (this runs in a task of its own):
    /// all the users' rooms at once would overflow it.
    pub(super) async fn bookmark_stored_rooms(&self, domain: &str) {
        let users = match self.users().await {
            Ok(users) => users,
            Err(e) => return warn!(error = %e, "cannot list users to bookmark their rooms"),
        };
        let users = users
            .iter()
            .filter_map(|u| u.parse::<BareJid>().ok())
            .filter(|u| u.domain().as_str() == domain);
        for user in users {
            let stored = match self.store.stored_rooms(user.as_str(), &self.network).await {
                Ok(stored) => stored,
                Err(e) => return warn!(error = %e, "cannot read the stored rooms"),
            };
            for s in stored {
                let room = RoomId(s.room);
                let name = self
                    .room_name(&user, &room)
                    .unwrap_or_else(|| room.0.clone());
                let Some(job) = self.keep_job(&user, &room, &name, &s.nick) else {
                    continue;
                };
                if self.bookmark_jobs().send(job).await.is_err() {
                    return;
                }
            }
        }
    }

    fn queue_bookmark(&self, job: Job) {
        if let Err(e) = self.bookmark_jobs().try_send(job) {
            warn!(error = %e, "too many bookmark changes waiting; one dropped");
        }
    }

    /// The bookmark task's queue, the task started at the first use.
    fn bookmark_jobs(&self) -> &mpsc::Sender<Job> {
        self.bookmarks.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let worker = Worker {
                domain: self.domain.clone(),
                out: self.out.clone(),
                waiting: Arc::clone(&self.bookmarks.waiting),
            };
            tokio::spawn(worker.run(rx));
            tx
        })
    }
}

/// Why a privileged iq got no usable answer.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error("no answer")]
    NoAnswer,
    #[error("refused: {0}")]
    Refused(String),
}

/// What the bookmark task needs of the gateway.
struct Worker {
    domain: BareJid,
    out: mpsc::Sender<Outgoing>,
    waiting: Waiting,
}

impl Worker {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        while let Some(job) = jobs.recv().await {
            let next = || format!("{ID_PREFIX}{}", NEXT.fetch_add(1, Ordering::Relaxed));
            match job {
                Job::Keep {
                    user,
                    room,
                    name,
                    nick,
                    namespace,
                } => self.keep(namespace, &user, &room, &name, &nick, next).await,
                Job::Drop {
                    user,
                    room,
                    namespace,
                } => self.drop_ours(namespace, &user, &room, next).await,
            }
        }
    }

    /// Bookmarks the room unless the user has a bookmark of theirs for it,
    /// or the gateway's has this nick already.
    async fn keep(
        &self,
        namespace: &'static str,
        user: &BareJid,
        room: &BareJid,
        name: &str,
        nick: &str,
        next: impl Fn() -> String,
    ) {
        let query = bookmarks::query(room);
        match self.ask(namespace, user, false, &next(), query).await {
            Ok(answer) => match bookmarks::found(answer.as_ref(), room) {
                Some(b) if !b.ours => {
                    return debug!(room = %room, "the user's own bookmark kept");
                }
                Some(b) if b.nick.as_deref() == Some(nick) => return,
                _ => {}
            },
            // Prosody's mod_privilege answers every failure of the inner
            // iq, among them the missing node of a user with no bookmarks
            // yet, with internal-server-error: read as "no bookmark".
            Err(AskError::Refused(e)) => debug!(error = %e, "no bookmarks read; publishing"),
            Err(e) => return warn!(error = %e, room = %room, "cannot read the bookmarks"),
        }
        let publish = bookmarks::publish(room, name, nick);
        match self.ask(namespace, user, true, &next(), publish).await {
            Ok(_) => info!(room = %room, "room bookmarked"),
            Err(e) => warn!(error = %e, room = %room, "cannot bookmark a room"),
        }
    }

    /// Retracts the room's bookmark if the gateway made it.
    async fn drop_ours(
        &self,
        namespace: &'static str,
        user: &BareJid,
        room: &BareJid,
        next: impl Fn() -> String,
    ) {
        let query = bookmarks::query(room);
        let ours = match self.ask(namespace, user, false, &next(), query).await {
            Ok(answer) => bookmarks::found(answer.as_ref(), room).is_some_and(|b| b.ours),
            // No node, no bookmark (see `keep`).
            Err(_) => false,
        };
        if !ours {
            return;
        }
        let retract = bookmarks::retract(room);
        match self.ask(namespace, user, true, &next(), retract).await {
            Ok(_) => info!(room = %room, "room bookmark retracted"),
            Err(e) => warn!(error = %e, room = %room, "cannot retract a room bookmark"),
        }
    }

    /// Sends `inner` as the user through a privileged iq and waits for
    /// the inner answer's payload.
    async fn ask(
        &self,
        namespace: &'static str,
        user: &BareJid,
        set: bool,
        id: &str,
        inner: Element,
    ) -> Result<Option<Element>, AskError> {
        let type_ = if set { "set" } else { "get" };
        let payload = privilege::privileged_iq(namespace, user, type_, id, inner);
        let (from, to, id) = (
            Some(Jid::from(self.domain.clone())),
            Some(Jid::from(user.clone())),
            id.to_owned(),
        );
        let iq = if set {
            Iq::Set {
                from,
                to,
                id: id.clone(),
                payload,
            }
        } else {
            Iq::Get {
                from,
                to,
                id: id.clone(),
                payload,
            }
        };
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().unwrap().insert(id.clone(), tx);
        if self.out.send(iq.into()).await.is_err() {
            self.waiting.lock().unwrap().remove(&id);
            return Err(AskError::NoAnswer);
        }
        let answer = match tokio::time::timeout(ANSWER, rx).await {
            Ok(Ok(answer)) => answer,
            _ => {
                self.waiting.lock().unwrap().remove(&id);
                return Err(AskError::NoAnswer);
            }
        };
        match answer {
            Iq::Result {
                payload: Some(p), ..
            } => {
                let inner = privilege::privileged_answer(&p)
                    .ok_or_else(|| AskError::Refused("no forwarded answer".into()))?;
                if inner.attr("type") == Some("error") {
                    return Err(AskError::Refused("the inner iq failed".into()));
                }
                Ok(inner.children().find(|c| c.ns() != NS_CLIENT).cloned())
            }
            Iq::Result { payload: None, .. } => Ok(None),
            Iq::Error { error, .. } => {
                Err(AskError::Refused(format!("{:?}", error.defined_condition)))
            }
            _ => Err(AskError::NoAnswer),
        }
    }
}
