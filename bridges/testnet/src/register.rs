//! The test network's registration: one step with `username` alone; two
//! with a `password`, which the network swaps for a token after a code, as
//! a Matrix homeserver with a second factor would.

use switchboard_bridge_api::{
    check_required, BoxFuture, Credentials, FieldError, FieldKind, LoginField, Registered,
    RegistrationStep, StepState,
};

/// The code the network "sends" for the second step (the test knows it).
pub const CODE: &str = "424242";

/// The access token the network gives `username` for a password and the
/// right code; stored in place of the password.
pub fn token(username: &str) -> String {
    format!("tok-{username}-0001")
}

/// The secret a session with a token saves as state (`refresh`), as a
/// Matrix session saves its refresh token.
pub fn refresh(username: &str) -> String {
    format!("refresh-{username}-0001")
}

/// Between the password and the code: whose login it is.
struct AwaitingCode {
    username: String,
}

/// The second step's form: the code.
fn code_form(username: &str, instructions: String) -> Registered {
    Registered::NextStep {
        instructions,
        fields: vec![LoginField {
            name: "code",
            label: "Code",
            description: "",
            kind: FieldKind::Text,
            required: true,
            default: None,
        }],
        state: StepState::new(AwaitingCode {
            username: username.to_owned(),
        }),
    }
}

/// One step: `username` alone is done at once; a password asks for the
/// code; the right code gives `username` and a token to store (never the
/// password); a wrong one asks again, naming the field.
pub(crate) fn step(
    fields: &[LoginField],
    step: RegistrationStep,
) -> BoxFuture<'static, Result<Registered, FieldError>> {
    let outcome = match step.state {
        None => check_required(fields, &step.answers).map(|()| {
            let username = step.answers.get("username").unwrap_or_default().to_owned();
            match step.answers.get("password") {
                Some(p) if !p.is_empty() => code_form(
                    &username,
                    format!("A code was sent to {username} by text message."),
                ),
                _ => Registered::Done {
                    store: step.answers,
                },
            }
        }),
        Some(state) => match state.downcast::<AwaitingCode>() {
            None => Err(FieldError::new("code", "no login is waiting for a code")),
            Some(AwaitingCode { username }) if step.answers.get("code") == Some(CODE) => {
                let mut store = Credentials::new();
                store.set("username", &username);
                store.set("token", token(&username));
                Ok(Registered::Done { store })
            }
            Some(AwaitingCode { username }) => Ok(code_form(
                &username,
                "code: that code is wrong; enter the code again.".to_owned(),
            )),
        },
    };
    Box::pin(std::future::ready(outcome))
}
