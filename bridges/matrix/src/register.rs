//! Registration: the homeserver found, then a password exchanged for an
//! access token and a device at once (the password is never stored), or a
//! pasted access token checked with `whoami`. What is stored: the
//! homeserver's URL, the user id, the device id and the token. At
//! unregistration, [`log_out`] ends the session of the device it made (not
//! that of a pasted token, which is another client's).

use std::time::Duration;

use reqwest::Method;
use switchboard_bridge_api::{Credentials, FieldError, Registered};

use crate::api::{LoginRequest, LoginResponse, UserIdentifier, WhoAmI};
use crate::client::{ApiError, Client};
use crate::discover;

/// How long the login request may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The device name the user sees in their list of sessions.
pub const DEVICE_NAME: &str = "Switchboard";

/// The stored keys.
pub mod keys {
    /// The homeserver's base URL.
    pub const HOMESERVER: &str = "homeserver";
    /// The full user id.
    pub const USER_ID: &str = "user_id";
    /// The device the token belongs to.
    pub const DEVICE_ID: &str = "device_id";
    /// The access token.
    pub const ACCESS_TOKEN: &str = "access_token";
    /// `true` when the gateway logged in with the password and so made
    /// the device itself (a pasted token's device is the user's own).
    pub const OWN_DEVICE: &str = "own_device";
}

/// Logs in with the form's answers and says what to store.
pub async fn register(
    http: reqwest::Client,
    answers: Credentials,
    allow_private: bool,
) -> Result<Registered, FieldError> {
    let typed = answers.get("homeserver").unwrap_or_default();
    let base = discover::base_url(&http, typed, allow_private)
        .await
        .map_err(|e| FieldError::new("homeserver", e.to_string()))?;
    let own_device = answers.get("token").is_none();
    let (user_id, device_id, token) = match (answers.get("token"), answers.get("password")) {
        (Some(token), _) => {
            let client = Client::new(http, base.clone(), Some(token.to_owned()));
            let url = client.v3(&["account", "whoami"], &[]);
            let me: WhoAmI = client
                .get(url, TIMEOUT)
                .await
                .map_err(|e| field_error("token", &e))?;
            (
                me.user_id,
                me.device_id.unwrap_or_default(),
                token.to_owned(),
            )
        }
        (None, Some(password)) => {
            let Some(user) = answers.get("user") else {
                return Err(FieldError::new(
                    "user",
                    "give your user name with the password",
                ));
            };
            let client = Client::new(http, base.clone(), None);
            let request = LoginRequest {
                kind: "m.login.password",
                identifier: UserIdentifier {
                    kind: "m.id.user",
                    user,
                },
                password,
                initial_device_display_name: DEVICE_NAME,
            };
            let url = client.v3(&["login"], &[]);
            let done: LoginResponse = client
                .call(Method::POST, url, Some(&request), TIMEOUT)
                .await
                .map_err(|e| field_error("password", &e))?;
            (done.user_id, done.device_id, done.access_token)
        }
        (None, None) => {
            return Err(FieldError::new(
                "password",
                "give a password, or an access token instead",
            ))
        }
    };
    let mut store = Credentials::new();
    store.set(keys::HOMESERVER, base.as_str());
    store.set(keys::USER_ID, user_id);
    store.set(keys::DEVICE_ID, device_id);
    store.set(keys::ACCESS_TOKEN, token);
    if own_device {
        store.set(keys::OWN_DEVICE, "true");
    }
    Ok(Registered::Done { store })
}

/// Logs out the device a password registration made (`POST /logout`):
/// its access token stops working. A pasted token is left alone: its
/// device is the user's own (their other client's session). Failures are
/// logged, not retried (the user may remove the device from another
/// client).
pub async fn log_out(http: reqwest::Client, stored: Credentials) {
    if stored.get(keys::OWN_DEVICE) != Some("true") {
        return tracing::debug!("a pasted Matrix token is not logged out at unregistration");
    }
    let (Some(base), Some(token)) = (stored.get(keys::HOMESERVER), stored.get(keys::ACCESS_TOKEN))
    else {
        return;
    };
    let Ok(base) = reqwest::Url::parse(base) else {
        return;
    };
    let client = Client::new(http, base, Some(token.to_owned()));
    let url = client.v3(&["logout"], &[]);
    let done: Result<serde_json::Value, _> = client
        .call(Method::POST, url, Some(&serde_json::json!({})), TIMEOUT)
        .await;
    match done {
        Ok(_) => tracing::info!("Matrix device logged out at unregistration"),
        // Already logged out elsewhere: nothing left to do.
        Err(e) if e.token_revoked() => {
            tracing::debug!("Matrix device was already logged out")
        }
        Err(e) => tracing::warn!(error = %e, "cannot log out the Matrix device"),
    }
}

/// A failed login as an error on the field at fault.
fn field_error(field: &str, e: &ApiError) -> FieldError {
    if let Some(wait) = e.rate_limited() {
        return FieldError::new(
            field,
            format!(
                "the homeserver limits logins now: try again in {} s",
                wait.as_secs().max(1)
            ),
        );
    }
    match e {
        ApiError::Matrix { errcode, .. } if errcode == "M_FORBIDDEN" => {
            FieldError::new(field, "wrong user name or password")
        }
        ApiError::Matrix { errcode, .. } if errcode == "M_UNKNOWN_TOKEN" => {
            FieldError::new(field, "the homeserver does not know this access token")
        }
        ApiError::Matrix { errcode, .. } if errcode == "M_USER_DEACTIVATED" => {
            FieldError::new("user", "this account is deactivated")
        }
        ApiError::Network(_) => FieldError::new("homeserver", e.to_string()),
        _ => FieldError::new(field, e.to_string()),
    }
}
