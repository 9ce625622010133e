//! One step of a registration: the bridge's answer (it may talk to the
//! network), then storing what it returned, or keeping its next step for
//! the user's answers. Callers run it off the router.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_bridge_api::{
    check_required, Credentials, LoginField, Registered, RegistrationStep,
};
use xmpp_parsers::jid::Jid;

use super::pending::Waiting;
use super::RegisterError;
use crate::gateway::Gateway;

/// How long the bridge may take over one step before the user is told the
/// network did not answer.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(120);

/// What the user submitted.
pub(in crate::gateway) enum StepInput {
    /// The login form (the bridge's [`fields`](switchboard_bridge_api::BridgeInfo::fields)):
    /// a new registration, in place of any that waited.
    First(Credentials),
    /// Answers to the step that waits for the user; `session` names it
    /// (XEP-0050), or `None` for whichever waits.
    Next {
        /// The answers.
        answers: Credentials,
        /// The session of the waiting step.
        session: Option<String>,
    },
}

/// What a step came to.
#[derive(Debug)]
pub(in crate::gateway) enum StepOutcome {
    /// Stored; the session (re)started.
    Registered,
    /// The bridge asks for more; the step waits for the user's answers.
    NextStep {
        /// The exchange's session id.
        session: String,
        /// What to tell the user.
        instructions: String,
        /// The fields to ask for.
        fields: Vec<LoginField>,
    },
}

/// A session id for an exchange that came without one (chat, XEP-0077).
fn new_session_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("register-step-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Gateway {
    /// Runs one step of the user's registration. `session` names the
    /// exchange if the bridge asks for another step (the XEP-0050 session
    /// id); a new one is made when `None`.
    pub(in crate::gateway) async fn registration_step(
        self: &Arc<Self>,
        user: &Jid,
        input: StepInput,
        session: Option<String>,
    ) -> Result<StepOutcome, RegisterError> {
        if !self.may_register(user) {
            return Err(RegisterError::Forbidden(user.domain().to_string()));
        }
        let bare = user.to_bare();
        let now = Instant::now();
        let (ticket, answers, state, session) = match input {
            StepInput::First(answers) => {
                check_required(&self.bridge.info().fields, &answers)?;
                let ticket = self.pending.lock().unwrap().begin(&bare, now)?;
                (ticket, answers, None, session)
            }
            StepInput::Next { answers, session } => {
                let (ticket, waiting) =
                    self.pending
                        .lock()
                        .unwrap()
                        .resume(&bare, session.as_deref(), now)?;
                // A required answer missing: the step keeps waiting, with its state.
                if let Err(e) = check_required(&waiting.fields, &answers) {
                    self.pending
                        .lock()
                        .unwrap()
                        .park(&bare, ticket, waiting, Instant::now());
                    return Err(e.into());
                }
                (ticket, answers, Some(waiting.state), Some(waiting.session))
            }
        };
        let step = RegistrationStep {
            account: bare.to_string(),
            answers,
            state,
        };
        let answer = tokio::time::timeout(NETWORK_TIMEOUT, self.bridge.register(step)).await;
        match answer {
            Ok(Ok(Registered::NextStep {
                instructions,
                fields,
                state,
            })) => {
                let session = session.unwrap_or_else(new_session_id);
                let waiting = Waiting {
                    session: session.clone(),
                    instructions: instructions.clone(),
                    fields: fields.clone(),
                    state,
                };
                self.pending
                    .lock()
                    .unwrap()
                    .park(&bare, ticket, waiting, Instant::now());
                Ok(StepOutcome::NextStep {
                    session,
                    instructions,
                    fields,
                })
            }
            Ok(Ok(Registered::Done { store })) => {
                self.pending.lock().unwrap().finish(&bare, ticket);
                self.complete_registration(&bare, store).await?;
                Ok(StepOutcome::Registered)
            }
            Ok(Err(e)) => {
                self.pending.lock().unwrap().finish(&bare, ticket);
                Err(e.into())
            }
            Err(_) => {
                self.pending.lock().unwrap().finish(&bare, ticket);
                Err(RegisterError::Timeout)
            }
        }
    }

    /// The fields of the step that waits for the user's answers, if one does.
    pub(in crate::gateway) fn waiting_step(
        &self,
        user: &Jid,
    ) -> Option<(String, String, Vec<LoginField>)> {
        let mut pending = self.pending.lock().unwrap();
        pending
            .waiting(&user.to_bare(), Instant::now())
            .map(|w| (w.session.clone(), w.instructions.clone(), w.fields.clone()))
    }

    /// Drops the step that waits for the user (in `session`, or any).
    pub(in crate::gateway) fn cancel_registration(
        &self,
        user: &Jid,
        session: Option<&str>,
    ) -> bool {
        self.pending
            .lock()
            .unwrap()
            .cancel(&user.to_bare(), session)
    }

    /// Whether submitted field names answer the step that waits for the user
    /// (every name is one of its fields) rather than the login form.
    pub(in crate::gateway) fn answers_waiting_step(&self, user: &Jid, names: &[&str]) -> bool {
        !names.is_empty()
            && self.waiting_step(user).is_some_and(|(_, _, fields)| {
                names.iter().all(|n| fields.iter().any(|f| f.name == *n))
            })
    }
}
