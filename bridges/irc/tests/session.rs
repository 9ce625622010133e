//! One user's IRC session against a real ngircd, through the bridge
//! contract alone: what a burst of messages from the user becomes.

#[path = "../../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::ircd::{Ircd, IRC_HOST};
use switchboard_bridge_api::{
    Bridge, Command, Credentials, Event, Login, MessageKind, RoomId, SessionHandle, Target,
};
use switchboard_irc::{IrcBridge, IrcConfig, ServerAddress};

fn session(ircd: &Ircd, nick: &str) -> SessionHandle {
    let mut servers = BTreeMap::new();
    servers.insert(
        IRC_HOST.to_owned(),
        ServerAddress {
            address: format!("127.0.0.1:{}", ircd.port),
            tls: false,
        },
    );
    let bridge = IrcBridge::new(IrcConfig {
        servers,
        flood_control: false,
        ..IrcConfig::default()
    });
    let mut credentials = Credentials::new();
    credentials.set("nick", nick);
    bridge.start(Login {
        account: nick.to_owned(),
        credentials,
        state: BTreeMap::new(),
        server_settings: BTreeMap::new(),
        files: Default::default(),
    })
}

/// The next event that `pick` accepts, skipping others (10 s at most).
async fn next<T>(s: &mut SessionHandle, pick: impl Fn(Event) -> Option<T>) -> Option<T> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), s.events.recv())
            .await
            .ok()??;
        if let Some(t) = pick(event) {
            return Some(t);
        }
    }
}

#[tokio::test]
async fn a_burst_of_messages_is_sent_whole_and_in_order() {
    let ircd = Ircd::start();
    let mut s = session(&ircd, "burster");
    let room = RoomId(format!("#burst%{IRC_HOST}"));
    s.commands
        .send(Command::Join {
            room: room.clone(),
            nick: "burster".to_owned(),
            password: None,
        })
        .await
        .unwrap();
    let joined = next(&mut s, |e| match e {
        Event::RoomJoined { room, .. } => Some(room),
        _ => None,
    })
    .await;
    assert_eq!(
        joined.as_ref(),
        Some(&room),
        "the session joins the channel"
    );

    // Queued faster than the session takes them: it passes them on in
    // batches, and each message is echoed once it is on its way.
    const MESSAGES: usize = 300;
    for i in 0..MESSAGES {
        s.commands
            .send(Command::SendText {
                target: Target::Room(room.clone()),
                text: format!("line {i}"),
                kind: MessageKind::Normal,
                reply_to: None,
                attachments: vec![],
                token: format!("t{i}"),
            })
            .await
            .unwrap();
    }
    let mut echoed = Vec::new();
    while echoed.len() < MESSAGES {
        let Some(token) = next(&mut s, |e| match e {
            Event::Message(m) if m.own => m.token,
            _ => None,
        })
        .await
        else {
            break;
        };
        echoed.push(token);
    }
    let sent: Vec<String> = (0..MESSAGES).map(|i| format!("t{i}")).collect();
    assert_eq!(echoed, sent, "every message is sent once, in order");
    s.commands.send(Command::Shutdown).await.unwrap();
}
