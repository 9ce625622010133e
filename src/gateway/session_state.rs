//! Session state at rest: what a bridge saves with `Event::SaveState`,
//! sealed by the vault when the bridge says it is secret (an access token),
//! and handed back opened in `Login::state`.

use std::collections::BTreeMap;
use tracing::warn;
use xmpp_parsers::jid::BareJid;

use super::Gateway;

/// How a sealed value starts in the store: what follows is sealed by the
/// vault. A plain value that starts so is sealed too, so that every stored
/// value that starts so is sealed.
const SEALED: &str = "sealed:";

impl Gateway {
    /// Saves a piece of the user's session state (sealed if `secret`).
    pub(super) async fn save_session_state(
        &self,
        user: &BareJid,
        key: &str,
        value: &str,
        secret: bool,
    ) {
        let saved = match self.state_for_store(value, secret) {
            Ok(stored) => self
                .store
                .save_state(&user.to_string(), &self.network, key, &stored)
                .await
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        if let Err(e) = saved {
            warn!(key = %key, error = %e, "cannot save session state");
        }
    }

    /// A value as the store keeps it.
    fn state_for_store(&self, value: &str, secret: bool) -> anyhow::Result<String> {
        if secret || value.starts_with(SEALED) {
            Ok(format!("{SEALED}{}", self.vault.seal(value.as_bytes())?))
        } else {
            Ok(value.to_owned())
        }
    }

    /// Session state as the store keeps it, opened for the bridge. A value
    /// that cannot be opened is left out (its key named in the log).
    pub(super) fn open_state(&self, stored: BTreeMap<String, String>) -> BTreeMap<String, String> {
        stored
            .into_iter()
            .filter_map(|(key, value)| match value.strip_prefix(SEALED) {
                None => Some((key, value)),
                Some(sealed) => match self
                    .vault
                    .open(sealed)
                    .map_err(anyhow::Error::from)
                    .and_then(|plain| Ok(String::from_utf8(plain)?))
                {
                    Ok(plain) => Some((key, plain)),
                    Err(e) => {
                        warn!(key = %key, error = %e, "cannot open sealed session state");
                        None
                    }
                },
            })
            .collect()
    }
}
