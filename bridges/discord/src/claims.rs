//! Shared-bot mode's reactions: on Discord the shared bot has at most one
//! reaction of each emoji on a message, whichever linked users asked for
//! it. Each user's claim on (message, emoji) is kept here, so that the
//! bot's reaction is added by the first claim and taken off only when the
//! last claim goes: one user taking back their 👍 does not take another's.
//! The last [`KEPT`] claims are kept (some 60 bytes each); an older one
//! is forgotten, and its release then takes the reaction off.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many claims are kept, for every linked user together.
pub(crate) const KEPT: usize = 4096;

/// One claim: (message, emoji as the user gave it, the XMPP account).
type Claim = (u64, Box<str>, Arc<str>);

/// The linked users' claims on the shared bot's reactions.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// Oldest first.
    held: Mutex<VecDeque<Claim>>,
}

impl Claims {
    /// `account` wants `emoji` on `message`: whether it is the first to
    /// (the bot's reaction is then to be added).
    pub fn claim(&self, message: u64, emoji: &str, account: &Arc<str>) -> bool {
        let mut held = self.held.lock().unwrap();
        let mut first = true;
        for (m, e, a) in held.iter() {
            if *m == message && **e == *emoji {
                if a == account {
                    return false;
                }
                first = false;
            }
        }
        if held.len() == KEPT {
            held.pop_front();
        }
        held.push_back((message, emoji.into(), Arc::clone(account)));
        first
    }

    /// `account` no longer wants `emoji` on `message`: whether nobody does
    /// now (the bot's reaction is then to be taken off).
    pub fn release(&self, message: u64, emoji: &str, account: &Arc<str>) -> bool {
        let mut held = self.held.lock().unwrap();
        held.retain(|(m, e, a)| !(*m == message && **e == *emoji && a == account));
        !held.iter().any(|(m, e, _)| *m == message && **e == *emoji)
    }

    /// Discord took the bot's reactions off `message` (a moderator: every
    /// one, or those of one `emoji`): the claims on them go too.
    pub fn clear(&self, message: u64, emoji: Option<&str>) {
        let mut held = self.held.lock().unwrap();
        held.retain(|(m, e, _)| !(*m == message && emoji.is_none_or(|only| **e == *only)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reaction_stays_while_anyone_claims_it() {
        let claims = Claims::default();
        let (alice, carol): (Arc<str>, Arc<str>) = ("alice".into(), "carol".into());
        assert!(claims.claim(1, "👍", &alice), "the first adds it");
        assert!(!claims.claim(1, "👍", &carol), "the second does not");
        assert!(!claims.claim(1, "👍", &alice), "nor a repeat");
        assert!(claims.claim(1, "🎉", &carol), "another emoji is its own");
        assert!(!claims.release(1, "👍", &carol), "alice still wants it");
        assert!(claims.release(1, "👍", &alice), "the last one takes it off");
        claims.clear(1, None);
        assert!(claims.claim(1, "🎉", &alice), "cleared by Discord");
    }
}
