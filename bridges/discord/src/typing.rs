//! Typing both ways. Discord has no "stopped typing": a TYPING_START shows
//! for about [`SHOWN`], and a client repeats it while the person types.
//!
//! - Discord → XMPP: TYPING_START is `Typing` active; when no new one
//!   came for [`SHOWN`] (and no message from them), `Typing` inactive.
//!   A message from them ends it without an event (the message says it).
//! - XMPP → Discord: `Typing` active is `POST /channels/{id}/typing`, at
//!   most once per [`REPEAT`] per channel, and again every [`REPEAT`]
//!   while the user stays composing (the core tells only changes), for at
//!   most [`KEEP`]; paused, inactive or a message stop it (Discord's
//!   indicator then ends by itself, or at the message).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How long Discord shows a TYPING_START.
pub(crate) const SHOWN: Duration = Duration::from_secs(10);

/// The least time between two typing posts to one channel.
pub(crate) const REPEAT: Duration = Duration::from_secs(8);

/// How long the user's typing is repeated to Discord without a new
/// composing state from their client.
pub(crate) const KEEP: Duration = Duration::from_secs(60);

/// Who is typing where (until when), and when the user last told each
/// channel they type.
#[derive(Debug, Default)]
pub(crate) struct Typing {
    /// (channel, user) → when their indicator ends.
    typing: HashMap<(u64, u64), Instant>,
    /// channel → the user's last typing post.
    posted: HashMap<u64, Instant>,
    /// channel → since when the user composes there.
    composing: HashMap<u64, Instant>,
}

impl Typing {
    /// `user` started typing in `channel` at `now`; whether it is news
    /// (they were not typing).
    pub fn started(&mut self, channel: u64, user: u64, now: Instant) -> bool {
        self.typing.insert((channel, user), now + SHOWN).is_none()
    }

    /// `user` sent a message in `channel`: they stopped typing.
    pub fn stopped(&mut self, channel: u64, user: u64) {
        self.typing.remove(&(channel, user));
    }

    /// When the next indicator ends, if anyone is typing.
    pub fn next_end(&self) -> Option<Instant> {
        self.typing.values().min().copied()
    }

    /// The (channel, user) whose indicators ended by `now`, forgotten.
    pub fn ended(&mut self, now: Instant) -> Vec<(u64, u64)> {
        let ended: Vec<(u64, u64)> = self
            .typing
            .iter()
            .filter(|(_, end)| **end <= now)
            .map(|(key, _)| *key)
            .collect();
        for key in &ended {
            self.typing.remove(key);
        }
        ended
    }

    /// The user composes in `channel` from `now`: whether to post now
    /// (noted as posted when so).
    pub fn composing(&mut self, channel: u64, now: Instant) -> bool {
        self.composing.insert(channel, now);
        self.should_post(channel, now)
    }

    /// The user stopped composing in `channel` (paused, inactive, sent).
    pub fn idle(&mut self, channel: u64) {
        self.composing.remove(&channel);
    }

    /// When the next repeated post is due, if the user composes anywhere.
    pub fn next_repeat(&self) -> Option<Instant> {
        self.composing
            .keys()
            .filter_map(|c| self.posted.get(c).map(|at| *at + REPEAT))
            .min()
    }

    /// The channels whose typing is to be posted again at `now` (noted as
    /// posted); composing longer than [`KEEP`] is let go.
    pub fn repeats(&mut self, now: Instant) -> Vec<u64> {
        self.composing
            .retain(|_, since| now.duration_since(*since) < KEEP);
        let due: Vec<u64> = self.composing.keys().copied().collect();
        due.into_iter()
            .filter(|c| self.should_post(*c, now))
            .collect()
    }

    /// Whether the user's typing in `channel` should be posted at `now`
    /// (noted as posted when it should).
    fn should_post(&mut self, channel: u64, now: Instant) -> bool {
        self.posted.retain(|_, at| now.duration_since(*at) < REPEAT);
        if self.posted.contains_key(&channel) {
            return false;
        }
        self.posted.insert(channel, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_indicator_ends_after_it_is_shown_unless_renewed() {
        let mut t = Typing::default();
        let start = Instant::now();
        assert!(t.started(1, 7, start));
        assert!(!t.started(1, 7, start + Duration::from_secs(5)), "renewed");
        assert!(t.started(1, 8, start));
        assert_eq!(t.next_end(), Some(start + SHOWN));
        assert_eq!(t.ended(start + SHOWN), [(1, 8)]);
        assert_eq!(t.next_end(), Some(start + Duration::from_secs(5) + SHOWN));
        t.stopped(1, 7);
        assert_eq!(t.next_end(), None);
    }

    #[test]
    fn posts_are_throttled_per_channel_and_repeated_while_composing() {
        let mut t = Typing::default();
        let start = Instant::now();
        assert!(t.composing(1, start));
        assert!(t.composing(2, start));
        assert!(!t.composing(1, start + Duration::from_secs(3)));
        t.idle(2);
        assert_eq!(t.next_repeat(), Some(start + REPEAT));
        assert_eq!(t.repeats(start + Duration::from_secs(5)), [] as [u64; 0]);
        assert_eq!(t.repeats(start + REPEAT), [1], "still composing in 1 only");
        assert_eq!(t.next_repeat(), Some(start + REPEAT * 2));
        // Composing since start + 3 s: let go after KEEP.
        assert_eq!(
            t.repeats(start + Duration::from_secs(3) + KEEP),
            [] as [u64; 0]
        );
        assert_eq!(t.next_repeat(), None);
    }
}
