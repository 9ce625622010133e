//! Who wrote the recent messages: Discord's MESSAGE_DELETE names only the
//! message, and the core tells a retraction with who made it.

use std::collections::VecDeque;

/// How many messages' authors a session keeps (16 bytes each): a delete of
/// an older message, or of one from before the session, is not told.
pub(crate) const KEPT: usize = 1024;

/// The authors of the last [`KEPT`] messages passed on, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Authors {
    recent: VecDeque<(u64, u64)>,
}

impl Authors {
    /// Notes that `author` wrote `message`, forgetting the oldest beyond
    /// [`KEPT`].
    pub fn note(&mut self, message: u64, author: u64) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back((message, author));
    }

    /// Whether `message` was passed on lately.
    pub fn knows(&self, message: u64) -> bool {
        self.recent.iter().rev().any(|(m, _)| *m == message)
    }

    /// The author of `message`, forgotten from now on (it was deleted).
    pub fn take(&mut self, message: u64) -> Option<u64> {
        let at = self.recent.iter().rposition(|(m, _)| *m == message)?;
        self.recent.remove(at).map(|(_, author)| author)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_ones_and_forgets_a_taken_one() {
        let mut authors = Authors::default();
        for m in 0..(KEPT as u64 + 1) {
            authors.note(m, m + 100);
        }
        assert!(!authors.knows(0) && authors.knows(1));
        assert_eq!(authors.take(0), None, "the oldest is forgotten");
        assert_eq!(authors.take(1), Some(101));
        assert_eq!(authors.take(1), None, "taken once");
        assert_eq!(authors.take(KEPT as u64), Some(KEPT as u64 + 100));
    }
}
