//! Registration: the bot token, checked with `GET /users/@me` and stored
//! (the core seals it).

use std::sync::Arc;

use serenity::http::{Http, HttpBuilder};
use switchboard_bridge_api::{Credentials, FieldError, Registered, RegistrationStep};

use crate::Config;

/// The login form's one field.
pub(crate) const TOKEN: &str = "token";

/// A REST client for `token`, at the configured API base. serenity's
/// rate limiter sends its requests to discord.com whatever the proxy, so
/// with another API base it is off: that base is a proxy that keeps the
/// limits itself, or the tests' double.
pub(crate) fn http(config: &Config, token: &str) -> Http {
    let builder = HttpBuilder::new(token).client(config.client());
    match &config.api {
        Some(api) => builder
            .proxy(api.as_str())
            .ratelimiter_disabled(true)
            .build(),
        None => builder.build(),
    }
}

/// The one step: the token works (Discord says who the bot is) and is
/// stored, trimmed; a refused token is named on the token field.
pub(crate) async fn step(
    config: Arc<Config>,
    step: RegistrationStep,
) -> Result<Registered, FieldError> {
    let token = step
        .answers
        .get(TOKEN)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FieldError::new(TOKEN, "this field is required"))?
        .trim_start_matches("Bot ")
        .to_owned();
    let http = http(&config, &token);
    match http.get_current_user().await {
        Ok(user) => {
            tracing::info!(account = %step.account, bot = %user.id, "Discord bot token accepted");
            let mut store = Credentials::new();
            store.set(TOKEN, token);
            Ok(Registered::Done { store })
        }
        Err(e) if crate::errors::status(&e) == Some(401) => {
            Err(FieldError::new(TOKEN, "Discord refused this bot token"))
        }
        Err(e) => {
            let error = crate::errors::describe(&e);
            tracing::warn!(account = %step.account, %error, "Discord token check failed");
            Err(FieldError::new(
                TOKEN,
                "the token could not be checked: Discord did not answer; try again later",
            ))
        }
    }
}
