//! Registration: the bot token, checked with `GET /users/@me` and stored
//! (the core seals it); or, in shared-bot mode, two steps: a one-time
//! code to send to the shared bot, then the Discord account that sent it
//! is stored as the user's.

use std::sync::Arc;
use std::time::Duration;

use serenity::http::{Http, HttpBuilder};
use switchboard_bridge_api::{
    Credentials, FieldError, FieldKind, LoginField, Registered, RegistrationStep, StepState,
};

use crate::links::{Status, CODE_LIFETIME};
use crate::shared::SharedBot;
use crate::Config;

/// The login form's token field.
pub(crate) const TOKEN: &str = "token";
/// The login form's "use the shared bot" field (shared-bot mode only).
pub(crate) const SHARED: &str = "shared";
/// The second step's one field.
pub(crate) const SENT: &str = "sent";
/// What a linked user's registration stores: their Discord user id.
pub(crate) const LINKED: &str = "discord_user";
/// How long the first step waits for the shared bot's gateway connection.
const CONNECT_WAIT: Duration = Duration::from_secs(20);
/// How long the second step waits for the code to reach the bot.
const LINK_WAIT: Duration = Duration::from_secs(60);

/// Whether a step is shared-bot mode's: the first when the user chose the
/// shared bot (a token is then ignored: the chat command repeats a stored
/// one) or gave no token, any later one (a token registration has one
/// step).
pub(crate) fn wants_shared(step: &RegistrationStep) -> bool {
    let chosen = matches!(step.answers.get(SHARED), Some("1" | "true"));
    !step.is_first() || chosen || step.answers.get(TOKEN).is_none_or(|t| t.trim().is_empty())
}

/// Between the code and the link.
struct AwaitingLink {
    code: String,
}

/// The second step's form.
fn code_form(code: String, instructions: String) -> Registered {
    Registered::NextStep {
        instructions,
        fields: vec![LoginField {
            name: SENT,
            label: "I sent the code",
            description: "Submit once the bot has answered your direct message.",
            kind: FieldKind::Boolean,
            required: false,
            default: Some("1"),
        }],
        state: StepState::new(AwaitingLink { code }),
    }
}

/// A shared-bot registration's step: the first shows a fresh code; a later
/// one waits (up to a minute) for the code to reach the bot, then stores
/// the Discord account that sent it, or asks again while the code is
/// valid; an expired or unknown code is replaced by a new one.
pub(crate) async fn shared_step(
    bot: Arc<SharedBot>,
    step: RegistrationStep,
) -> Result<Registered, FieldError> {
    let Some(state) = step.state else {
        return fresh_code(&bot, &step.account, SHARED, "").await;
    };
    let Some(AwaitingLink { code }) = state.downcast() else {
        return Err(FieldError::new(SENT, "no link is waiting"));
    };
    match bot.links.wait(&code, &step.account, LINK_WAIT).await {
        Status::Linked(user) => {
            tracing::info!(account = %step.account, %user, "Discord account linked to the shared bot");
            let mut store = Credentials::new();
            store.set(LINKED, user.to_string());
            Ok(Registered::Done { store })
        }
        Status::Waiting => {
            let instructions = format!(
                "The bot has not received the code yet. Send it {code} in a direct message \
                 from your Discord account, then submit this form again."
            );
            Ok(code_form(code, instructions))
        }
        Status::Gone => {
            let intro = "That code expired or is no longer valid (a newer one was asked for). ";
            fresh_code(&bot, &step.account, SENT, intro).await
        }
    }
}

/// A new code for `account` and the step that shows it (after `intro`),
/// once the shared bot is connected; a refusal is named on `field`.
async fn fresh_code(
    bot: &Arc<SharedBot>,
    account: &str,
    field: &'static str,
    intro: &str,
) -> Result<Registered, FieldError> {
    let connected = bot.connected(CONNECT_WAIT).await;
    let unavailable = || {
        FieldError::new(
            field,
            "the shared bot is not available now; try again later",
        )
    };
    let name = match bot.http().get_current_user().await {
        Ok(user) if connected => user.tag(),
        Ok(_) => {
            tracing::warn!(%account, "the Discord shared bot's gateway is not connected");
            return Err(unavailable());
        }
        Err(e) => {
            tracing::warn!(%account, error = %crate::errors::describe(&e), "the Discord shared bot is not available");
            return Err(unavailable());
        }
    };
    let code = bot.links.new_code(account).map_err(|_| {
        FieldError::new(
            field,
            "too many registrations are waiting for their codes; try again in a few minutes",
        )
    })?;
    let minutes = CODE_LIFETIME.as_secs() / 60;
    let instructions = format!(
        "{intro}From your Discord account, send the bot {name} this code in a direct message \
         (find the bot in the member list of a server you share with it): {code}\n\
         The code is valid once, for {minutes} minutes. Then submit this form."
    );
    Ok(code_form(code, instructions))
}

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
