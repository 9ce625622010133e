//! Leaves on their way to the network, so that the network's answer to one
//! (`Event::RoomLeft`) is not taken for the end of a join made after it.
//!
//! A client that leaves a room and joins it again at once (a rejoin, a
//! client restart) has its join reach the core before the network answers
//! the leave: IRC parts, then joins, and tells both in that order. The
//! answer to the part must not undo the new join.

use std::collections::HashMap;
use switchboard_bridge_api::RoomId;
use xmpp_parsers::jid::BareJid;

/// How many (user, room) pairs are kept; past it the table starts over
/// (a leave the network never answered is forgotten).
const KEPT: usize = 4096;

/// The leaves sent and not yet answered, by user and room.
#[derive(Debug, Default)]
pub(in crate::gateway) struct LeavesInFlight(HashMap<(BareJid, RoomId), u32>);

impl LeavesInFlight {
    /// A leave of `room` went to the user's session.
    pub(in crate::gateway) fn sent(&mut self, user: &BareJid, room: &RoomId) {
        let key = (user.clone(), room.clone());
        if self.0.len() >= KEPT && !self.0.contains_key(&key) {
            self.0.clear();
        }
        *self.0.entry(key).or_default() += 1;
    }

    /// The network said the user left `room`: whether that answers a leave
    /// in flight (which it then no longer is).
    pub(in crate::gateway) fn answered(&mut self, user: &BareJid, room: &RoomId) -> bool {
        let key = (user.clone(), room.clone());
        let Some(n) = self.0.get_mut(&key) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            self.0.remove(&key);
        }
        true
    }

    /// The user's session is new: no earlier leave will be answered.
    pub(in crate::gateway) fn forget_user(&mut self, user: &BareJid) {
        self.0.retain(|(u, _), _| u != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_leave_is_answered_once() {
        let mut l = LeavesInFlight::default();
        let (u, r): (BareJid, RoomId) = ("a@b".parse().unwrap(), "#x".into());
        assert!(!l.answered(&u, &r));
        l.sent(&u, &r);
        l.sent(&u, &r);
        assert!(l.answered(&u, &r));
        assert!(l.answered(&u, &r));
        assert!(!l.answered(&u, &r));
        l.sent(&u, &r);
        l.forget_user(&u);
        assert!(!l.answered(&u, &r));
    }
}
