//! Registrations under way, per user: at most one step runs at a time, and
//! a step that waits for the user's answers keeps the bridge's opaque state
//! here — in memory only, bounded in count and in time, never logged.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use switchboard_bridge_api::{LoginField, StepState};
use xmpp_parsers::jid::BareJid;

/// How many users may have a registration under way at once, per network.
pub(crate) const MAX_PENDING: usize = 256;

/// How long a step may wait for the user's answers, or run on the network,
/// before it is dropped.
pub(crate) const STEP_TTL: Duration = Duration::from_secs(600);

/// A step that waits for the user's answers.
pub(crate) struct Waiting {
    /// The exchange's id: the XEP-0050 session id, or one the core made.
    pub session: String,
    /// What the bridge asks the user.
    pub instructions: String,
    /// The fields it asks for.
    pub fields: Vec<LoginField>,
    /// The bridge's state of the exchange.
    pub state: StepState,
}

/// Why a step cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A step of the user's runs on the network already.
    Busy,
    /// Too many users have a registration under way.
    Full,
    /// No step waits for the user (under that session id): it expired,
    /// was cancelled, or never was.
    Expired,
}

/// The hold a running step has on its user's entry: a stale step (one that
/// outlived [`STEP_TTL`] and was replaced) changes nothing when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

enum Entry {
    Running { ticket: Ticket, since: Instant },
    Waiting { step: Waiting, since: Instant },
}

impl Entry {
    fn since(&self) -> Instant {
        match self {
            Self::Running { since, .. } | Self::Waiting { since, .. } => *since,
        }
    }
}

/// Every user's registration under way on one network.
pub(crate) struct Pending {
    entries: HashMap<BareJid, Entry>,
    max: usize,
    ttl: Duration,
    next_ticket: u64,
}

impl Default for Pending {
    fn default() -> Self {
        Self::new(MAX_PENDING, STEP_TTL)
    }
}

impl Pending {
    /// At most `max` users at once, each step for at most `ttl`.
    pub(crate) fn new(max: usize, ttl: Duration) -> Self {
        Self {
            entries: HashMap::new(),
            max,
            ttl,
            next_ticket: 0,
        }
    }

    /// Drops what is older than the time bound.
    fn purge(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.since()) < ttl);
    }

    fn run(&mut self, user: &BareJid, now: Instant) -> Ticket {
        self.next_ticket += 1;
        let ticket = Ticket(self.next_ticket);
        self.entries
            .insert(user.clone(), Entry::Running { ticket, since: now });
        ticket
    }

    /// Starts a first step: a step that waited for the user is dropped (they
    /// start over); refused while one of theirs runs, or when full.
    pub(crate) fn begin(&mut self, user: &BareJid, now: Instant) -> Result<Ticket, Refusal> {
        self.purge(now);
        match self.entries.get(user) {
            Some(Entry::Running { .. }) => return Err(Refusal::Busy),
            Some(Entry::Waiting { .. }) => {}
            None if self.entries.len() >= self.max => return Err(Refusal::Full),
            None => {}
        }
        Ok(self.run(user, now))
    }

    /// Continues the step that waits for the user, if its session is
    /// `session` (any, when `None`): hands its state over and marks it running.
    pub(crate) fn resume(
        &mut self,
        user: &BareJid,
        session: Option<&str>,
        now: Instant,
    ) -> Result<(Ticket, Waiting), Refusal> {
        self.purge(now);
        match self.entries.remove(user) {
            Some(Entry::Waiting { step, .. }) if session.is_none_or(|s| s == step.session) => {
                Ok((self.run(user, now), step))
            }
            Some(other) => {
                let refusal = match other {
                    Entry::Running { .. } => Refusal::Busy,
                    Entry::Waiting { .. } => Refusal::Expired,
                };
                self.entries.insert(user.clone(), other);
                Err(refusal)
            }
            None => Err(Refusal::Expired),
        }
    }

    /// The running step asks for more: it waits for the user's answers.
    pub(crate) fn park(&mut self, user: &BareJid, ticket: Ticket, step: Waiting, now: Instant) {
        if self.holds(user, ticket) {
            self.entries
                .insert(user.clone(), Entry::Waiting { step, since: now });
        }
    }

    /// The running step ended (registered or refused).
    pub(crate) fn finish(&mut self, user: &BareJid, ticket: Ticket) {
        if self.holds(user, ticket) {
            self.entries.remove(user);
        }
    }

    fn holds(&self, user: &BareJid, ticket: Ticket) -> bool {
        matches!(self.entries.get(user), Some(Entry::Running { ticket: t, .. }) if *t == ticket)
    }

    /// Drops the step that waits for the user (in `session`, or any when
    /// `None`): its state is gone. Returns whether one waited.
    pub(crate) fn cancel(&mut self, user: &BareJid, session: Option<&str>) -> bool {
        let waits = matches!(
            self.entries.get(user),
            Some(Entry::Waiting { step, .. }) if session.is_none_or(|s| s == step.session)
        );
        if waits {
            self.entries.remove(user);
        }
        waits
    }

    /// The step that waits for the user, if any: its session, instructions
    /// and fields.
    pub(crate) fn waiting(&mut self, user: &BareJid, now: Instant) -> Option<&Waiting> {
        self.purge(now);
        match self.entries.get(user) {
            Some(Entry::Waiting { step, .. }) => Some(step),
            _ => None,
        }
    }

    /// How many users have a registration under way.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::FieldKind;

    fn user(name: &str) -> BareJid {
        format!("{name}@localhost").parse().unwrap()
    }

    fn step(session: &str, secret: &str) -> Waiting {
        Waiting {
            session: session.to_owned(),
            instructions: "Enter the code".into(),
            fields: vec![LoginField {
                name: "code",
                label: "Code",
                description: "",
                kind: FieldKind::Text,
                required: true,
                default: None,
            }],
            state: StepState::new(secret.to_owned()),
        }
    }

    #[test]
    fn one_step_at_a_time_per_user() {
        let mut p = Pending::default();
        let now = Instant::now();
        let alice = user("alice");
        let t = p.begin(&alice, now).unwrap();
        assert_eq!(p.begin(&alice, now), Err(Refusal::Busy));
        assert_eq!(p.resume(&alice, None, now).err(), Some(Refusal::Busy));
        // Another user is not held up.
        assert!(p.begin(&user("bob"), now).is_ok());
        p.finish(&alice, t);
        assert!(p.begin(&alice, now).is_ok());
    }

    #[test]
    fn a_parked_step_hands_its_state_back_once() {
        let mut p = Pending::default();
        let now = Instant::now();
        let alice = user("alice");
        let t = p.begin(&alice, now).unwrap();
        p.park(&alice, t, step("s1", "half-logged-in"), now);
        assert_eq!(p.waiting(&alice, now).unwrap().session, "s1");
        // Another session id does not match; the right one does.
        assert_eq!(
            p.resume(&alice, Some("s2"), now).err(),
            Some(Refusal::Expired)
        );
        let (t2, w) = p.resume(&alice, Some("s1"), now).unwrap();
        assert_eq!(w.state.downcast::<String>().unwrap(), "half-logged-in");
        // It runs now: no second resume, no waiting step.
        assert_eq!(p.resume(&alice, None, now).err(), Some(Refusal::Busy));
        p.finish(&alice, t2);
        assert_eq!(p.len(), 0);
        assert_eq!(p.resume(&alice, None, now).err(), Some(Refusal::Expired));
    }

    #[test]
    fn a_new_first_step_replaces_a_waiting_one() {
        let mut p = Pending::default();
        let now = Instant::now();
        let alice = user("alice");
        let t = p.begin(&alice, now).unwrap();
        p.park(&alice, t, step("s1", "x"), now);
        let _ = p.begin(&alice, now).unwrap();
        assert!(p.waiting(&alice, now).is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn cancel_drops_the_state() {
        let mut p = Pending::default();
        let now = Instant::now();
        let alice = user("alice");
        let t = p.begin(&alice, now).unwrap();
        p.park(&alice, t, step("s1", "x"), now);
        assert!(!p.cancel(&alice, Some("other")));
        assert!(p.cancel(&alice, Some("s1")));
        assert_eq!(p.len(), 0);
        assert_eq!(p.resume(&alice, None, now).err(), Some(Refusal::Expired));
        assert!(!p.cancel(&alice, None));
    }

    #[test]
    fn bounded_in_count() {
        let mut p = Pending::new(2, STEP_TTL);
        let now = Instant::now();
        let ta = p.begin(&user("a"), now).unwrap();
        p.begin(&user("b"), now).unwrap();
        assert_eq!(p.begin(&user("c"), now), Err(Refusal::Full));
        // A user already counted may start over.
        p.park(&user("a"), ta, step("s", "x"), now);
        assert!(p.begin(&user("a"), now).is_ok());
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn bounded_in_time() {
        let mut p = Pending::new(1, Duration::from_secs(600));
        let start = Instant::now();
        let alice = user("alice");
        let t = p.begin(&alice, start).unwrap();
        p.park(&alice, t, step("s1", "x"), start);
        let later = start + Duration::from_secs(599);
        assert!(p.waiting(&alice, later).is_some());
        let expired = start + Duration::from_secs(600);
        assert!(p.waiting(&alice, expired).is_none());
        assert_eq!(
            p.resume(&alice, None, expired).err(),
            Some(Refusal::Expired)
        );
        // A step stuck on the network expires too, and its late end changes
        // nothing for the step that replaced it.
        let stale = p.begin(&alice, expired).unwrap();
        let much_later = expired + Duration::from_secs(600);
        let fresh = p.begin(&alice, much_later).unwrap();
        p.finish(&alice, stale);
        assert_eq!(p.begin(&alice, much_later), Err(Refusal::Busy));
        p.park(&alice, stale, step("late", "y"), much_later);
        assert!(p.waiting(&alice, much_later).is_none());
        p.finish(&alice, fresh);
        assert_eq!(p.len(), 0);
    }
}
