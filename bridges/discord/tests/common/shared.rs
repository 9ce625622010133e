//! Shared-bot mode's test set-up: the bridge with the double's bot as the
//! shared bot, link codes, linked users' sessions, listings.

use std::collections::BTreeMap;

use switchboard_bridge_api::{
    Bridge, Credentials, Event, Login, Registered, RegistrationStep, SessionHandle,
};
use switchboard_discord::{DiscordBridge, Secret, Settings};
use switchboard_discord_double::{self as double, Double};

use super::until;

pub fn shared_bridge(double: &Double) -> DiscordBridge {
    shared_bridge_with(double, None)
}

/// The shared bot, linked accounts' roles read again every `roles_every`
/// seconds (default 300).
pub fn shared_bridge_with(double: &Double, roles_every: Option<u64>) -> DiscordBridge {
    DiscordBridge::new(Settings {
        api: Some(double.api_url()),
        shared_bot_token: Some(Secret(double::BOT_TOKEN.to_owned())),
        linked_roles_every: roles_every,
    })
    .unwrap()
}

/// The first step with "use the shared bot": the code in the instructions
/// (`XXXX-XXXX`), and the state for the next step.
pub async fn ask_code(bridge: &DiscordBridge, account: &str) -> (String, RegistrationStep) {
    let mut answers = Credentials::new();
    answers.set("shared", "1");
    let first = RegistrationStep {
        account: account.into(),
        answers,
        state: None,
    };
    code_step(bridge.register(first).await.unwrap(), account)
}

/// The code a step shows (`XXXX-XXXX`, with the bot's name), and the next
/// step's answer: "sent".
pub fn code_step(step: Registered, account: &str) -> (String, RegistrationStep) {
    let Registered::NextStep {
        instructions,
        fields,
        state,
    } = step
    else {
        panic!("a step with a code: {step:?}")
    };
    assert!(instructions.contains("switchbot"), "{instructions}");
    assert_eq!(fields[0].name, "sent");
    let code = instructions
        .split(|c: char| c.is_whitespace() || c == ':' || c == '.' || c == '(' || c == ')')
        .find(|w| w.len() == 9 && w.as_bytes()[4] == b'-')
        .expect("a code in the instructions")
        .to_owned();
    let mut answers = Credentials::new();
    answers.set("sent", "1");
    let next = RegistrationStep {
        account: account.into(),
        answers,
        state: Some(state),
    };
    (code, next)
}

/// The bot's answer in the DM channel with `user`, containing `words`.
pub async fn bot_answered(double: &Double, user: &str, words: &str) {
    let path = format!(
        "/api/v10/channels/{}/messages",
        double::fixture::dm_channel_id(user)
    );
    double
        .wait_request(|r| {
            r.method == "POST"
                && r.path == path
                && r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.contains(words))
        })
        .await;
}

/// A linked user's session, connected as their Discord account.
pub async fn linked_session(bridge: &DiscordBridge, user: &str) -> SessionHandle {
    linked_session_with(bridge, user, BTreeMap::new()).await
}

/// A linked user's session with this saved state (after a restart).
pub async fn linked_session_with(
    bridge: &DiscordBridge,
    user: &str,
    state: BTreeMap<String, String>,
) -> SessionHandle {
    let mut credentials = Credentials::new();
    credentials.set("discord_user", user);
    let mut session = bridge.start(Login {
        account: format!("xmpp-{user}"),
        credentials,
        state,
        server_settings: Default::default(),
        files: Default::default(),
    });
    let own = until(&mut session, |e| match e {
        Event::Connected { own_id, .. } => Some(own_id.as_str().to_owned()),
        _ => None,
    })
    .await;
    assert_eq!(own, user, "connected as the linked account");
    session
}

/// The rooms a session lists.
pub async fn rooms(session: &mut SessionHandle) -> Vec<String> {
    session
        .commands
        .send(switchboard_bridge_api::Command::ListRooms {
            token: "list".into(),
            server: None,
            after: None,
            limit: 100,
            within: None,
        })
        .await
        .unwrap();
    until(session, |e| match e {
        Event::RoomList { rooms, .. } => {
            Some(rooms.iter().map(|r| r.room.as_str().to_owned()).collect())
        }
        _ => None,
    })
    .await
}
