//! Registering and unregistering a user, shared by XEP-0050, XEP-0077 and
//! the chat commands. A registration is an exchange with the bridge
//! ([`steps`]): one or more steps, the ones under way kept in [`pending`].

mod forms;
pub(super) mod pending;
mod steps;

use std::sync::Arc;
use switchboard_bridge_api::{Credentials, FieldError};
use tracing::info;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::Presence;

use super::Gateway;
pub(super) use steps::{StepInput, StepOutcome};

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The user's domain may not register.
    #[error("users of {0} may not register here")]
    Forbidden(String),
    /// A field was refused.
    #[error("{0}")]
    Field(#[from] FieldError),
    /// A step of the user's registration runs on the network already.
    #[error("a registration of yours is already under way; wait for its answer")]
    Busy,
    /// Too many registrations are under way on this gateway.
    #[error("too many registrations are under way; try again in a few minutes")]
    Full,
    /// No step waits for the user's answers.
    #[error(
        "no registration step waits for your answers (it expired or was cancelled); start again"
    )]
    Expired,
    /// The network did not answer in time.
    #[error("the network did not answer in time; try again")]
    Timeout,
    /// Storage failed.
    #[error("could not save the registration: {0}")]
    Internal(String),
}

impl From<pending::Refusal> for RegisterError {
    fn from(r: pending::Refusal) -> Self {
        match r {
            pending::Refusal::Busy => Self::Busy,
            pending::Refusal::Full => Self::Full,
            pending::Refusal::Expired => Self::Expired,
        }
    }
}

/// Credentials as text for sealing: `name NUL value NUL …` (XML text can hold no NUL).
pub(super) fn encode(creds: &Credentials) -> String {
    let mut out = String::new();
    for (k, v) in creds.iter() {
        out.push_str(k);
        out.push('\0');
        out.push_str(v);
        out.push('\0');
    }
    out
}

fn decode(text: &str) -> Credentials {
    let parts: Vec<&str> = text.split('\0').collect();
    parts
        .chunks_exact(2)
        .map(|kv| (kv[0].to_owned(), kv[1].to_owned()))
        .collect()
}

impl Gateway {
    /// Whether the user may register.
    pub(super) fn may_register(&self, user: &Jid) -> bool {
        self.config.may_register(user)
    }

    /// The user's stored credentials, if registered.
    pub(super) async fn registered(&self, user: &BareJid) -> Option<Credentials> {
        let sealed = self
            .store
            .registration(&user.to_string(), &self.network)
            .await
            .ok()??;
        self.open_credentials(&sealed).ok()
    }

    pub(super) fn open_credentials(&self, sealed: &str) -> anyhow::Result<Credentials> {
        let plain = self.vault.open(sealed)?;
        Ok(decode(&String::from_utf8(plain)?))
    }

    /// Stores what the bridge said to store (sealed) and (re)starts the
    /// user's session with it.
    async fn complete_registration(
        self: &Arc<Self>,
        bare: &BareJid,
        credentials: Credentials,
    ) -> Result<(), RegisterError> {
        let sealed = self
            .vault
            .seal(encode(&credentials).as_bytes())
            .map_err(|e| RegisterError::Internal(e.to_string()))?;
        self.store
            .save_registration(&bare.to_string(), &self.network, &sealed)
            .await
            .map_err(|e| RegisterError::Internal(e.to_string()))?;
        info!(user = %bare, network = %self.network, "registered");
        if let Some(old) = self.sessions.lock().unwrap().remove(bare) {
            tokio::spawn(old.stop());
        }
        self.start_session(bare, credentials).await;
        // XEP-0100 §4.1.1: the gateway asks to be in the user's roster.
        let domain = Jid::from(self.domain.clone());
        self.send(
            Presence::subscribe()
                .with_from(domain.clone())
                .with_to(bare.clone()),
        )
        .await;
        self.send(self.own_presence().with_to(bare.clone())).await;
        Ok(())
    }

    /// Removes a user's registration and ends their session. Returns whether
    /// they were registered.
    pub(super) async fn unregister(&self, user: &BareJid) -> anyhow::Result<bool> {
        self.pending.lock().unwrap().cancel(user, None);
        // What the bridge set up at the network is undone with it (a
        // Matrix device logged out), once the session has ended.
        let stored = self.registered(user).await;
        let session = self.sessions.lock().unwrap().remove(user);
        let bridge = Arc::clone(&self.bridge);
        // Not awaited: this runs on the router, which serves every user,
        // and a stuck session may take seconds to end.
        tokio::spawn(async move {
            if let Some(s) = session {
                s.stop().await;
            }
            if let Some(stored) = stored {
                bridge.unregistered(stored).await;
            }
        });
        self.online.lock().unwrap().remove(user);
        self.rooms.lock().unwrap().remove(user);
        self.contact_caps.lock().unwrap().remove(user);
        self.own_avatars.forget(user);
        let existed = self
            .store
            .delete_registration(&user.to_string(), &self.network)
            .await?;
        crate::memory::release_soon();
        if existed {
            info!(user = %user, network = %self.network, "unregistered");
            // XEP-0100 §4.3: cancel both subscriptions and go offline.
            let domain = Jid::from(self.domain.clone());
            for p in [
                Presence::unsubscribe(),
                Presence::new(xmpp_parsers::presence::Type::Unsubscribed),
                Presence::unavailable(),
            ] {
                self.send(p.with_from(domain.clone()).with_to(user.clone()))
                    .await;
            }
        }
        self.forget_contacts(user).await;
        Ok(existed)
    }

    /// The registered users of this network.
    pub(super) async fn users(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .store
            .registrations(&self.network)
            .await?
            .into_iter()
            .map(|r| r.user)
            .collect())
    }

    /// A status line for the user.
    pub(super) async fn status_text(&self, user: &BareJid) -> String {
        if self.registered(user).await.is_none() {
            return format!(
                "You are not registered with this {} gateway. Send \"register\" or use the Register command.",
                self.bridge.info().display_name
            );
        }
        let status = self
            .sessions
            .lock()
            .unwrap()
            .get(user)
            .map(|s| s.status())
            .unwrap_or(super::SessionStatus::Idle);
        format!(
            "Registered with the {} gateway. Session: {status}.",
            self.bridge.info().display_name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_encoding_round_trips() {
        let mut c = Credentials::new();
        c.set("nick", "ferris");
        c.set("password", "a=b c\nd");
        c.set("empty", "");
        assert_eq!(decode(&encode(&c)), c);
    }
}
