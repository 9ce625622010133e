//! A room's errors from the user's session: a refused join answers each
//! joining resource as XEP-0045 §7.2 shows; any other error is said in the
//! room, or from it.

use switchboard_bridge_api::{ErrorKind, RoomId};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::join_error;
use crate::gateway::session::condition_for;
use crate::gateway::Gateway;

impl Gateway {
    /// An error the network reported about a room.
    pub(super) async fn room_error(
        &self,
        user: &BareJid,
        room: RoomId,
        kind: ErrorKind,
        text: String,
    ) {
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
            let mut m = Message::chat(Some(Jid::from(user.clone()))).with_body(Lang::new(), text);
            m.from = Some(Jid::from(room_jid));
            return self.send(m).await;
        }
        let condition = if kind == ErrorKind::Conflict {
            DefinedCondition::Conflict
        } else {
            condition_for(kind)
        };
        self.refuse_joins(&room, pending, condition, &text).await;
    }

    /// A join of a room the user is in under another id (a Matrix alias
    /// and its room id): refused with a redirect (RFC 6120 §8.3.3.14) to
    /// the JID the room has, the one room's one address, so that its
    /// messages never arrive twice.
    pub(super) async fn join_redirected(&self, user: &BareJid, asked: RoomId, room: &RoomId) {
        let pending: Vec<FullJid> = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(user_rooms) = rooms.get_mut(user) else {
                return;
            };
            match user_rooms.get(&asked) {
                Some(r) if !r.complete => {
                    let r = user_rooms.remove(&asked).unwrap();
                    r.resources.into_keys().collect()
                }
                _ => return,
            }
        };
        // Stored under the other name (an earlier session's join): no more.
        self.forget_stored_room(user, &asked).await;
        let Some(to) = self.room_jid(room) else {
            return;
        };
        let text = format!("You are in this room as {to}: join it there.");
        let condition = DefinedCondition::Redirect {
            new_address: Some(format!("xmpp:{to}?join")),
        };
        self.refuse_joins(&asked, pending, condition, &text).await;
    }

    /// Each joining resource's refused join (XEP-0045 §7.2).
    async fn refuse_joins(
        &self,
        room: &RoomId,
        pending: Vec<FullJid>,
        condition: DefinedCondition,
        text: &str,
    ) {
        let Some(room_jid) = self.room_jid(room) else {
            return;
        };
        for res in pending {
            let p = join_error(
                Jid::from(room_jid.clone()),
                Jid::from(res),
                None,
                condition.clone(),
                text,
            );
            self.send(p).await;
        }
    }
}
