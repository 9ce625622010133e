//! Reactions as the contract wants them: Matrix sends one `m.reaction`
//! event per key (and a redaction to take one back), the contract a
//! person's full set on a message. This keeps, per (message, author), the
//! keys and the reaction event that put each there, for the most recent
//! [`KEPT`] pairs; a reaction event's id finds its pair again when it is
//! redacted.

use std::collections::{HashMap, VecDeque};

/// How many (message, author) sets are kept; the oldest go first.
pub(crate) const KEPT: usize = 2048;

/// The most keys kept in one person's set on one message.
const MAX_KEYS: usize = 64;

/// How many of the session's own redactions of reactions are remembered
/// until their echo.
const SENT_KEPT: usize = 64;

/// (message event id, author)
type Pair = (String, String);

/// Reaction sets by (message, author), bounded.
#[derive(Debug, Default)]
pub(crate) struct Reactions {
    /// Each pair's keys with their reaction event ids, in the order added.
    sets: HashMap<Pair, Vec<(String, String)>>,
    /// The pairs, oldest first (for the bound).
    order: VecDeque<Pair>,
    /// A reaction event id → its pair.
    by_event: HashMap<String, Pair>,
    /// The redactions of reactions this session sent, newest last, so
    /// that their echoes are not told again.
    sent_redactions: VecDeque<String>,
}

impl Reactions {
    /// The keys `author` has on `message`, in the order added.
    pub(crate) fn keys(&self, message: &str, author: &str) -> Vec<String> {
        self.sets
            .get(&(message.to_owned(), author.to_owned()))
            .map(|set| set.iter().map(|(key, _)| key.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether a set of `author`'s on `message` is kept (it may be empty).
    pub(crate) fn has_set(&self, message: &str, author: &str) -> bool {
        self.sets
            .contains_key(&(message.to_owned(), author.to_owned()))
    }

    /// Whether this reaction event is known (added here already).
    pub(crate) fn knows(&self, reaction: &str) -> bool {
        self.by_event.contains_key(reaction)
    }

    /// The reaction event that put `key` on `message` for `author`.
    pub(crate) fn event_of(&self, message: &str, author: &str, key: &str) -> Option<String> {
        self.sets
            .get(&(message.to_owned(), author.to_owned()))?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, event)| event.clone())
    }

    /// `author` reacted to `message` with `key` in event `reaction`; the
    /// set now. A key already there keeps its first event.
    pub(crate) fn add(
        &mut self,
        message: &str,
        author: &str,
        key: &str,
        reaction: &str,
    ) -> Vec<String> {
        let pair = (message.to_owned(), author.to_owned());
        if !self.sets.contains_key(&pair) {
            if self.order.len() >= KEPT {
                if let Some(old) = self.order.pop_front() {
                    for (_, event) in self.sets.remove(&old).unwrap_or_default() {
                        self.by_event.remove(&event);
                    }
                }
            }
            self.order.push_back(pair.clone());
        }
        let set = self.sets.entry(pair.clone()).or_default();
        if !set.iter().any(|(k, _)| k == key) && set.len() < MAX_KEYS {
            set.push((key.to_owned(), reaction.to_owned()));
            self.by_event.insert(reaction.to_owned(), pair.clone());
        }
        self.keys(&pair.0, &pair.1)
    }

    /// This session redacted a reaction with the event `redaction`.
    pub(crate) fn redaction_sent(&mut self, redaction: &str) {
        if self.sent_redactions.len() >= SENT_KEPT {
            self.sent_redactions.pop_front();
        }
        self.sent_redactions.push_back(redaction.to_owned());
    }

    /// Whether `redaction` is one this session sent (its echo).
    pub(crate) fn sent_redaction(&self, redaction: &str) -> bool {
        self.sent_redactions.iter().any(|r| r == redaction)
    }

    /// The reaction event `reaction` was redacted: (message, author, the
    /// set now), if it was a known reaction.
    pub(crate) fn remove(&mut self, reaction: &str) -> Option<(String, String, Vec<String>)> {
        let pair = self.by_event.remove(reaction)?;
        if let Some(set) = self.sets.get_mut(&pair) {
            set.retain(|(_, event)| event != reaction);
        }
        let keys = self.keys(&pair.0, &pair.1);
        Some((pair.0, pair.1, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_grow_per_key_and_shrink_by_redaction() {
        let mut r = Reactions::default();
        assert_eq!(r.add("$m", "@b:hs", "👍", "$r1"), vec!["👍"]);
        assert_eq!(r.add("$m", "@b:hs", "🎉", "$r2"), vec!["👍", "🎉"]);
        assert_eq!(r.add("$m", "@b:hs", "👍", "$r3"), vec!["👍", "🎉"]);
        assert_eq!(r.add("$m", "@c:hs", "👍", "$r4"), vec!["👍"]);
        assert_eq!(r.event_of("$m", "@b:hs", "🎉").as_deref(), Some("$r2"));
        assert!(r.knows("$r1") && !r.knows("$r3"));
        assert_eq!(
            r.remove("$r1"),
            Some(("$m".into(), "@b:hs".into(), vec!["🎉".into()]))
        );
        assert_eq!(r.remove("$r1"), None);
        assert_eq!(r.remove("$message"), None);
        assert_eq!(r.keys("$m", "@c:hs"), vec!["👍"]);
    }

    #[test]
    fn the_oldest_sets_go_past_the_bound() {
        let mut r = Reactions::default();
        for i in 0..=KEPT {
            r.add(&format!("$m{i}"), "@b:hs", "👍", &format!("$r{i}"));
        }
        assert!(r.keys("$m0", "@b:hs").is_empty());
        assert!(!r.knows("$r0"));
        assert_eq!(r.keys(&format!("$m{KEPT}"), "@b:hs"), vec!["👍"]);
        assert_eq!(r.sets.len(), KEPT);
        assert_eq!(r.by_event.len(), KEPT);
    }
}
