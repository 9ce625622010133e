//! What the bridge's tests against the Discord double share: the bridge
//! pointed at the double, the bot's login, waiting for events, joining and
//! saying.
#![allow(dead_code)]

pub mod shared;

use std::collections::BTreeMap;
use std::time::Duration;

use switchboard_bridge_api::{
    Bridge, Command, Credentials, Event, Login, MessageKind, SessionHandle, Target,
};
use switchboard_discord::{DiscordBridge, Settings};
use switchboard_discord_double::{self as double, Double};

pub fn bridge(double: &Double) -> DiscordBridge {
    DiscordBridge::new(Settings {
        api: Some(double.api_url()),
        ..Settings::default()
    })
    .unwrap()
}

pub fn token_form(token: &str) -> Credentials {
    let mut c = Credentials::new();
    c.set("token", token);
    c
}

pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn next(session: &mut SessionHandle) -> Event {
    tokio::time::timeout(Duration::from_secs(20), session.events.recv())
        .await
        .expect("an event within 20 s")
        .expect("the session is running")
}

/// The next event `pick` accepts, skipping others.
pub async fn until<T>(session: &mut SessionHandle, pick: impl Fn(&Event) -> Option<T>) -> T {
    loop {
        let event = next(session).await;
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

/// Asks the session to join `room` with `nick`.
pub async fn join(session: &mut SessionHandle, room: &str, nick: &str) {
    session
        .commands
        .send(Command::Join {
            room: room.into(),
            nick: nick.into(),
            password: None,
        })
        .await
        .unwrap();
}

/// Asks the session to send `text` to `target`, named by `token`.
pub async fn say(session: &mut SessionHandle, target: Target, text: &str, token: &str) {
    session
        .commands
        .send(Command::SendText {
            target,
            text: text.into(),
            kind: MessageKind::Normal,
            reply_to: None,
            attachments: vec![],
            token: token.into(),
        })
        .await
        .unwrap();
}

/// The bot's login, with this saved state.
pub fn login(state: BTreeMap<String, String>) -> Login {
    Login {
        account: "tester".into(),
        credentials: token_form(double::BOT_TOKEN),
        state,
        server_settings: Default::default(),
        files: Default::default(),
    }
}

/// A session of the bot, connected.
pub async fn session(double: &Double) -> SessionHandle {
    let mut session = bridge(double).start(login(BTreeMap::new()));
    let nick = until(&mut session, |e| match e {
        Event::Connected { own_id, nick } if own_id.as_str() == double::BOT_ID => {
            Some(nick.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(nick, "switchbot");
    session
}
