//! The last message seen in each joined channel, kept as session state
//! (`Event::SaveState`, key `last:<channel id>`), so that a new session
//! (after a restart) fetches what it missed: at most [`CATCH_UP`] messages
//! per channel, the oldest missed first, each once.
//!
//! Positions are saved in batches ([`SAVE_EVERY`] and at shutdown), not at
//! every message: after a crash, up to that much is fetched again, and the
//! core's archive keeps them once by id.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// How many missed messages a channel's catch-up fetches (one REST page).
pub(crate) const CATCH_UP: u8 = 100;

/// How often changed positions are saved.
pub(crate) const SAVE_EVERY: Duration = Duration::from_secs(5);

const PREFIX: &str = "last:";

/// Each channel's last seen message id.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    last: HashMap<u64, u64>,
    dirty: HashSet<u64>,
}

impl Positions {
    /// The positions a session saved before.
    pub fn from_state(state: &BTreeMap<String, String>) -> Self {
        let last = state
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.parse().ok()?, v.parse().ok()?)))
            .collect();
        Self {
            last,
            dirty: HashSet::new(),
        }
    }

    /// The last message seen in a channel.
    pub fn last(&self, channel: u64) -> Option<u64> {
        self.last.get(&channel).copied()
    }

    /// A message was passed on; `false` if it is not newer than the last
    /// one (already passed on: a replay or a caught-up one).
    pub fn advance(&mut self, channel: u64, message: u64) -> bool {
        let last = self.last.entry(channel).or_default();
        if message <= *last {
            return false;
        }
        *last = message;
        self.dirty.insert(channel);
        true
    }

    /// The positions changed since the last call, as state to save.
    pub fn take_changed(&mut self) -> Vec<(String, String)> {
        let mut changed: Vec<(String, String)> = self
            .dirty
            .drain()
            .filter_map(|c| Some((format!("{PREFIX}{c}"), self.last.get(&c)?.to_string())))
            .collect();
        changed.sort();
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_only_move_forward_and_are_saved_once() {
        let state = BTreeMap::from([("last:3001".to_owned(), "10".to_owned())]);
        let mut p = Positions::from_state(&state);
        assert_eq!(p.last(3001), Some(10));
        assert!(!p.advance(3001, 9));
        assert!(!p.advance(3001, 10));
        assert!(p.advance(3001, 11));
        assert!(p.advance(3004, 5));
        assert_eq!(
            p.take_changed(),
            [
                ("last:3001".into(), "11".into()),
                ("last:3004".into(), "5".into())
            ]
        );
        assert!(p.take_changed().is_empty());
    }
}
