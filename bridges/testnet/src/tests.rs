//! The test network through the contract alone, with a control listener on
//! loopback as the end-to-end tests use it.

use super::*;
use crate::wire::{from_line, to_line, Order, Report};
use std::collections::BTreeMap;
use switchboard_bridge_api::{
    Command, Credentials, Event, Message, MessageKind, RoomId, Target, UserId,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;

fn login(user: &str) -> Login {
    let mut credentials = Credentials::new();
    credentials.set("username", user);
    Login {
        account: format!("{user}@localhost"),
        credentials,
        state: BTreeMap::new(),
        server_settings: BTreeMap::new(),
        files: Default::default(),
    }
}

async fn bridge() -> (TestnetBridge, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = Settings {
        control: Some(listener.local_addr().unwrap().to_string()),
        ..Settings::default()
    };
    (TestnetBridge::new(settings).unwrap(), listener)
}

async fn accept(listener: &TcpListener) -> (Lines<BufReader<OwnedReadHalf>>, OwnedWriteHalf) {
    let (stream, _) = listener.accept().await.unwrap();
    let (read, write) = stream.into_split();
    (BufReader::new(read).lines(), write)
}

async fn report(lines: &mut Lines<BufReader<OwnedReadHalf>>) -> Report {
    from_line(&lines.next_line().await.unwrap().unwrap()).unwrap()
}

fn bob_says(text: &str) -> Event {
    Event::Message(Message {
        id: "net-1".into(),
        target: Target::Room(RoomId::from("lobby")),
        author: UserId::from("bob"),
        author_nick: "bob".into(),
        text: text.into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        timestamp: None,
        own: false,
        token: None,
        parts: vec![],
    })
}

#[tokio::test]
async fn a_session_answers_by_itself_reports_commands_and_emits_what_is_injected() {
    let (bridge, listener) = bridge().await;
    let mut session = bridge.start(login("alice"));
    let (mut reports, mut orders) = accept(&listener).await;
    assert!(matches!(report(&mut reports).await, Report::Started { user, .. } if user == "alice"));
    assert!(matches!(
        session.events.recv().await,
        Some(Event::Connected { own_id, nick }) if own_id.as_str() == "alice" && nick == "alice"
    ));

    session
        .commands
        .send(Command::Join {
            room: "lobby".into(),
            nick: "Alice".into(),
            password: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        session.events.recv().await,
        Some(Event::RoomJoined { room, own_nick, nick_changed: false, .. })
            if room.as_str() == "lobby" && own_nick == "Alice"
    ));
    let Some(Event::Members {
        members, complete, ..
    }) = session.events.recv().await
    else {
        panic!("no members")
    };
    assert!(complete);
    assert_eq!(members.len(), 1);
    assert_eq!(
        (members[0].user.as_str(), members[0].nick.as_str()),
        ("alice", "Alice")
    );
    assert!(matches!(
        report(&mut reports).await,
        Report::Command { user, command: Command::Join { room, .. } } if user == "alice" && room.as_str() == "lobby"
    ));

    session
        .commands
        .send(Command::SendText {
            target: Target::Room("lobby".into()),
            text: "hi".into(),
            kind: MessageKind::Normal,
            reply_to: None,
            attachments: vec![],
            token: "c1".into(),
        })
        .await
        .unwrap();
    let Some(Event::Message(echo)) = session.events.recv().await else {
        panic!("no echo")
    };
    assert!(echo.own);
    assert_eq!(echo.token.as_deref(), Some("c1"));
    assert_eq!(
        (echo.author_nick.as_str(), echo.text.as_str()),
        ("Alice", "hi")
    );

    orders
        .write_all(
            to_line(&Order::Inject {
                user: "alice".into(),
                event: bob_says("hello"),
            })
            .as_bytes(),
        )
        .await
        .unwrap();
    let Some(Event::Message(m)) = session.events.recv().await else {
        panic!("nothing injected")
    };
    assert_eq!(
        (m.id.as_str(), m.text.as_str(), m.own),
        ("net-1", "hello", false)
    );

    session
        .commands
        .send(Command::ListRooms {
            token: "l1".into(),
            server: None,
            after: None,
            limit: 10,
            within: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        session.events.recv().await,
        Some(Event::RoomList { rooms, next: None, .. })
            if rooms.len() == 1 && rooms[0].room.as_str() == "lobby" && rooms[0].members == Some(1)
    ));

    session.commands.send(Command::Shutdown).await.unwrap();
    assert!(session.events.recv().await.is_none(), "the session ends");
    let mut last = report(&mut reports).await;
    while matches!(last, Report::Command { .. }) {
        last = report(&mut reports).await;
    }
    assert!(matches!(last, Report::Ended { user } if user == "alice"));
}

#[tokio::test]
async fn events_injected_before_a_session_starts_wait_for_it() {
    let (bridge, listener) = bridge().await;
    let mut carol = bridge.start(login("carol"));
    let (mut reports, mut orders) = accept(&listener).await;
    assert!(matches!(report(&mut reports).await, Report::Started { .. }));
    assert!(matches!(
        carol.events.recv().await,
        Some(Event::Connected { .. })
    ));

    for (user, text) in [("dave", "early"), ("carol", "sync")] {
        let order = Order::Inject {
            user: user.into(),
            event: bob_says(text),
        };
        orders.write_all(to_line(&order).as_bytes()).await.unwrap();
    }
    // Orders are read in turn: once carol has hers, dave's is held.
    assert!(matches!(carol.events.recv().await, Some(Event::Message(m)) if m.text == "sync"));

    let mut dave = bridge.start(login("dave"));
    assert!(matches!(
        dave.events.recv().await,
        Some(Event::Connected { .. })
    ));
    assert!(matches!(
        dave.events.recv().await,
        Some(Event::Message(m)) if m.text == "early"
    ));
}

#[test]
fn control_must_be_a_loopback_address() {
    for (bad, says) in [
        ("example.org:1", "not an address"),
        ("10.0.0.1:5", "not a loopback"),
    ] {
        let e = TestnetBridge::new(Settings {
            control: Some(bad.into()),
            ..Settings::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
    assert!(TestnetBridge::new(Settings::default()).is_ok());
}

/// The settings turn capabilities off and limit reactions; a name that is
/// no capability is refused.
#[test]
fn capabilities_follow_the_settings() {
    let all = TestnetBridge::new(Settings::default()).unwrap();
    let caps = all.info().capabilities;
    assert!(caps.reactions && caps.retractions && caps.read_markers);
    assert!(!caps.reaction_limits.any());
    let bridge = TestnetBridge::new(Settings {
        without: vec!["reactions".into(), "read_markers".into()],
        max_reactions_per_user: Some(1),
        reaction_allowlist: Some(vec!["👍".into(), "❤️".into()]),
        ..Settings::default()
    })
    .unwrap();
    let caps = bridge.info().capabilities;
    assert!(!caps.reactions && !caps.read_markers && caps.retractions && caps.edits);
    assert_eq!(caps.reaction_limits.per_user, Some(1));
    assert_eq!(caps.reaction_limits.allowlist, Some(&["👍", "❤️"][..]));
    let e = TestnetBridge::new(Settings {
        without: vec!["telepathy".into()],
        ..Settings::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("telepathy"), "{e}");
}

/// Registration: a username alone is done at once; with a password the
/// network asks for the code, asks again for a wrong one, and stores a
/// token for the right one, never the password.
#[tokio::test]
async fn a_password_login_takes_a_code_and_stores_a_token() {
    use switchboard_bridge_api::{Registered, RegistrationStep};
    let bridge = TestnetBridge::new(Settings::default()).unwrap();
    let step = |answers: &[(&str, &str)], state| {
        let mut credentials = Credentials::new();
        for (k, v) in answers {
            credentials.set(*k, *v);
        }
        RegistrationStep {
            account: "alice@localhost".into(),
            answers: credentials,
            state,
        }
    };
    let Registered::Done { store } = bridge
        .register(step(&[("username", "alice")], None))
        .await
        .unwrap()
    else {
        panic!("one step without a password")
    };
    assert_eq!(store.get("username"), Some("alice"));

    let first = step(&[("username", "alice"), ("password", "pw")], None);
    let Registered::NextStep { fields, state, .. } = bridge.register(first).await.unwrap() else {
        panic!("a password asks for a code")
    };
    assert_eq!(fields.iter().map(|f| f.name).collect::<Vec<_>>(), ["code"]);
    let wrong = step(&[("code", "0")], Some(state));
    let Registered::NextStep {
        instructions,
        state,
        ..
    } = bridge.register(wrong).await.unwrap()
    else {
        panic!("a wrong code asks again")
    };
    assert!(instructions.starts_with("code: "), "{instructions}");
    let right = step(&[("code", crate::register::CODE)], Some(state));
    let Registered::Done { store } = bridge.register(right).await.unwrap() else {
        panic!("the right code registers")
    };
    let stored: Vec<(&str, &str)> = store.iter().collect();
    assert_eq!(stored, [("token", "tok-alice-0001"), ("username", "alice")]);
}

/// A join lists the room's members as the injected member events left
/// them (joined in order, renamed, gone), then the user.
#[tokio::test]
async fn a_join_lists_the_members_the_test_put_in_the_room() {
    use switchboard_bridge_api::{LeaveReason, Member, Role};
    let (bridge, listener) = bridge().await;
    let mut erin = bridge.start(login("erin"));
    let (_reports, mut orders) = accept(&listener).await;
    assert!(matches!(
        erin.events.recv().await,
        Some(Event::Connected { .. })
    ));
    let lobby = RoomId::from("lobby");
    let joined = |user: &str| Event::MemberJoined {
        room: lobby.clone(),
        member: Member {
            user: UserId::from(user),
            nick: "Alex".into(),
            role: Role::Member,
            away: None,
        },
    };
    for event in [
        joined("alex-1"),
        joined("alex-2"),
        joined("gone"),
        Event::MemberLeft {
            room: lobby.clone(),
            user: UserId::from("gone"),
            reason: LeaveReason::Part(None),
        },
        Event::MemberRenamed {
            room: Some(lobby.clone()),
            user: UserId::from("alex-1"),
            new_user: None,
            new_nick: "Al".into(),
            own: false,
        },
    ] {
        let order = Order::Inject {
            user: "erin".into(),
            event,
        };
        orders.write_all(to_line(&order).as_bytes()).await.unwrap();
        erin.events.recv().await.unwrap();
    }
    erin.commands
        .send(Command::Join {
            room: lobby.clone(),
            nick: "Erin".into(),
            password: None,
        })
        .await
        .unwrap();
    assert!(matches!(
        erin.events.recv().await,
        Some(Event::RoomJoined { .. })
    ));
    let Some(Event::Members {
        members,
        complete: true,
        ..
    }) = erin.events.recv().await
    else {
        panic!("a complete member list")
    };
    let listed: Vec<(&str, &str)> = members
        .iter()
        .map(|m| (m.user.as_str(), m.nick.as_str()))
        .collect();
    assert_eq!(
        listed,
        [("alex-1", "Al"), ("alex-2", "Alex"), ("erin", "Erin")]
    );
}
