//! Registration as an exchange with the network: the bridge may log in,
//! hand back what the core stores instead of what the user typed (a token
//! instead of a password), or ask for another step (a code).

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::{Credentials, LoginField};

/// A boxed future a bridge returns from [`Bridge::register`](crate::Bridge::register).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One step of a user's registration, as the core hands it to the bridge.
#[derive(Debug)]
pub struct RegistrationStep {
    /// The user's opaque, stable tag (as in [`Login::account`](crate::Login::account)).
    pub account: String,
    /// What the user filled in at this step: on the first step the login form
    /// ([`BridgeInfo::fields`](crate::BridgeInfo::fields); its required
    /// fields are filled, the core checked), where the chat command keeps
    /// the stored values the user did not repeat; on a later step the
    /// fields the previous [`Registered::NextStep`] asked for (required
    /// ones filled).
    pub answers: Credentials,
    /// `None` on the first step; on a later one, the state the previous
    /// [`Registered::NextStep`] returned.
    pub state: Option<StepState>,
}

impl RegistrationStep {
    /// Whether this is the first step (the login form).
    pub fn is_first(&self) -> bool {
        self.state.is_none()
    }
}

/// What one step of a registration came to.
#[derive(Debug)]
pub enum Registered {
    /// The registration is complete: the core stores `store` (sealed) and
    /// starts a session with it. It may differ from what the user typed (an
    /// access token instead of the password); what the user typed is never
    /// stored unless it is in `store`.
    Done {
        /// The credentials to store and to start sessions with.
        store: Credentials,
    },
    /// The network wants more: the core shows `fields` with `instructions`
    /// (an XEP-0050 stage, a chat reply) and hands the answers back with
    /// `state` in the next [`RegistrationStep`]. To let the user retry a
    /// step (a wrong code), return `NextStep` again.
    NextStep {
        /// What to tell the user (where the code was sent, for instance).
        instructions: String,
        /// The fields of the next form.
        fields: Vec<LoginField>,
        /// The exchange so far. The core keeps it in memory only, for a
        /// bounded time, and never logs it.
        state: StepState,
    },
}

/// The opaque state of a multi-step registration, owned by the bridge that
/// made it. `Debug` never shows it.
pub struct StepState(Box<dyn Any + Send>);

impl StepState {
    /// Wraps the bridge's state.
    pub fn new<T: Any + Send>(state: T) -> Self {
        Self(Box::new(state))
    }

    /// Takes the bridge's state back; `None` if it is of another type.
    pub fn downcast<T: Any>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }
}

impl fmt::Debug for StepState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StepState(<opaque>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_is_never_shown() {
        let state = StepState::new(("session", String::from("s3cr3t")));
        assert_eq!(format!("{state:?}"), "StepState(<opaque>)");
        assert_eq!(
            state.downcast::<(&str, String)>(),
            Some(("session", "s3cr3t".to_owned()))
        );
        assert!(StepState::new(1u8).downcast::<String>().is_none());
    }
}
