//! The connection's handling without a socket: every line it writes is one
//! line, and what a hostile server sends is contained.

use switchboard_bridge_api::{
    channel, Command, Credentials, ErrorContext, Event, MessageKind, RoomId, Target, TypingState,
    UserId,
};

use super::feed::offline_settings;
use super::{feed_server_lines, Conn, ConnSettings, Wanted};
use crate::limits::MAX_MEMBERS;

/// CR, LF and NUL, with the commands they would smuggle in.
const EVIL: &str = "x\r\nQUIT :pwned\0\nPRIVMSG #a :injected\r";

fn settings() -> ConnSettings {
    ConnSettings {
        password: Some(format!("pass{EVIL}")),
        after_connect: vec![format!("PRIVMSG NickServ :IDENTIFY {EVIL}")],
        ..offline_settings("irc.x")
    }
}

fn every_command() -> Vec<Command> {
    let room = RoomId("#a%irc.x".into());
    let user = UserId("bob%irc.x".into());
    let text = |target: Target| Command::SendText {
        target,
        text: EVIL.into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        token: EVIL.into(),
    };
    vec![
        Command::Join {
            room: room.clone(),
            nick: EVIL.into(),
            password: Some(EVIL.into()),
        },
        Command::Join {
            room: RoomId(format!("#b{EVIL}%irc.x")),
            nick: EVIL.into(),
            password: None,
        },
        text(Target::Room(room.clone())),
        text(Target::User(user.clone())),
        text(Target::User(UserId(format!("bob{EVIL}%irc.x")))),
        Command::SendText {
            target: Target::Room(room.clone()),
            text: EVIL.into(),
            kind: MessageKind::Action,
            reply_to: None,
            attachments: vec![],
            token: "t".into(),
        },
        Command::Edit {
            target: Target::Room(room.clone()),
            message: switchboard_bridge_api::MessageId(EVIL.into()),
            text: EVIL.into(),
            token: EVIL.into(),
        },
        Command::Retract {
            target: Target::Room(room.clone()),
            message: switchboard_bridge_api::MessageId(EVIL.into()),
            reason: Some(EVIL.into()),
            token: EVIL.into(),
        },
        Command::React {
            target: Target::Room(room.clone()),
            message: switchboard_bridge_api::MessageId(EVIL.into()),
            reactions: vec![EVIL.into()],
            token: EVIL.into(),
        },
        Command::SetNick {
            room: None,
            nick: EVIL.into(),
        },
        Command::SetTopic {
            room: room.clone(),
            topic: EVIL.into(),
        },
        Command::Typing {
            target: Target::Room(room.clone()),
            state: TypingState::Active,
        },
        Command::MarkRead {
            target: Target::Room(room.clone()),
            message: switchboard_bridge_api::MessageId(EVIL.into()),
        },
        Command::ListRooms {
            token: EVIL.into(),
            server: Some(EVIL.into()),
            after: Some(EVIL.into()),
            limit: 10,
            within: None,
        },
        Command::FetchHistory {
            token: EVIL.into(),
            room: room.clone(),
            before: None,
            limit: 10,
        },
        Command::ConfigureServer {
            server: "irc.x".into(),
            settings: Credentials::default(),
        },
        Command::Leave {
            room,
            reason: Some(EVIL.into()),
        },
    ]
}

/// The lines written, checked to be whole lines with no CR, LF or NUL inside.
fn lines(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.ends_with("\r\n"), "{text:?}");
    text.trim_end_matches("\r\n")
        .split("\r\n")
        .map(|l| {
            assert!(!l.contains(['\r', '\n', '\0']), "unsafe line {l:?}");
            l.to_owned()
        })
        .collect()
}

#[tokio::test]
async fn no_field_of_any_command_adds_a_line() {
    let (events, mut told) = channel::channel(1024);
    let mut conn = Conn::new("irc.x".into(), settings(), events);
    // A key kept by an older version, sent again on the rejoin below.
    conn.wanted.insert(
        "#old".into(),
        Wanted {
            name: "#old".into(),
            nick: "me".into(),
            key: Some(EVIL.into()),
        },
    );
    let mut out = Vec::new();
    let mut registered = false;
    // Registration: the after-connect command and the rejoin.
    let welcome = ":irc.x 001 me :hi".parse().unwrap();
    conn.on_message(welcome, &mut out, &mut registered)
        .await
        .ok()
        .unwrap();
    // A CTCP VERSION answer goes to the asker's nick.
    let version = ":bob!u@h PRIVMSG me :\x01VERSION\x01".parse().unwrap();
    conn.on_message(version, &mut out, &mut registered)
        .await
        .ok()
        .unwrap();
    for command in every_command() {
        conn.on_command(command, &mut out).await.unwrap();
    }
    conn.flush_out(&mut out).await.unwrap();
    let sent = lines(&out);
    assert!(sent.len() >= 8, "{sent:?}");
    for l in &sent {
        assert!(
            !l.starts_with("QUIT") && !l.starts_with("PRIVMSG #a :injected"),
            "injected: {l:?} in {sent:?}"
        );
    }
    assert!(
        sent.contains(&"JOIN #a".to_owned()),
        "a bad key is not sent: {sent:?}"
    );
    drop(conn);
    while told.recv().await.is_some() {}
}

#[tokio::test]
async fn joins_to_channels_never_asked_for_are_ignored() {
    let mut input = String::from(":irc.fuzz 001 me :hi\r\n");
    for i in 0..1000 {
        input.push_str(&format!(":me!u@h JOIN #other{i}\r\n"));
    }
    input.push_str(":me!u@h JOIN #fuzz\r\n");
    let events = feed_server_lines(input.as_bytes()).await;
    let joined: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::RoomJoined { room, .. } => Some(room.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(joined, ["#fuzz%irc.fuzz"]);
}

#[tokio::test]
async fn modes_and_parts_for_strangers_are_ignored() {
    let input = ":irc.fuzz 001 me :hi\r\n:me!u@h JOIN #fuzz\r\n\
                 :irc.fuzz 353 me = #fuzz :me @op bob\r\n\
                 :op!u@h MODE #fuzz +v stranger\r\n:stranger!u@h PART #fuzz\r\n\
                 :stranger!u@h QUIT :bye\r\n:op!u@h MODE #fuzz +v bob\r\n";
    let events = feed_server_lines(input.as_bytes()).await;
    let about: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::MemberChanged { member, .. } => Some(member.nick.clone()),
            Event::MemberLeft { user, .. } => crate::ids::parse_user(user).map(|(n, _)| n.into()),
            _ => None,
        })
        .collect();
    assert_eq!(about, ["bob"]);
}

#[tokio::test]
async fn too_many_members_end_the_connection_with_a_notice() {
    let mut input = String::from(":irc.fuzz 001 me :hi\r\n:me!u@h JOIN #fuzz\r\n");
    for line in 0..=MAX_MEMBERS / 500 {
        let names: Vec<String> = (0..500).map(|i| format!("n{line}x{i}")).collect();
        input.push_str(&format!(
            ":irc.fuzz 353 me = #fuzz :{}\r\n",
            names.join(" ")
        ));
    }
    input.push_str(":op!u@h PRIVMSG #fuzz :not read\r\n");
    let events = feed_server_lines(input.as_bytes()).await;
    let tail: Vec<&Event> = events.iter().rev().take(3).collect();
    assert!(matches!(tail[0], Event::RoomLeft { .. }), "{:?}", tail[0]);
    assert!(matches!(
        tail[1],
        Event::Disconnected {
            retrying: false,
            ..
        }
    ));
    assert!(
        matches!(tail[2], Event::Notice { text, server: None } if text.contains("too much")),
        "{:?}",
        tail[2]
    );
    assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
}

#[tokio::test]
async fn the_servers_words_are_the_servers_and_bad_nicks_are_dropped() {
    let input = ":irc.fuzz 001 me :hi\r\n\
                 :irc.fuzz NOTICE me :*** maintenance\r\n\
                 :irc.fuzz 404 me #x :Cannot send\r\n\
                 :bad\x07nick!u@h PRIVMSG me :I am the gateway\r\n\
                 :friend!u@h PRIVMSG me :hi\r\n";
    let events = feed_server_lines(input.as_bytes()).await;
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Notice { text, server: Some(s) } if s == "irc.fuzz" && text.contains("maintenance")
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Error { context: ErrorContext::Server(s), text, .. } if s == "irc.fuzz" && text.contains("Cannot send")
    )));
    let authors: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.author_nick.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(authors, ["friend"]);
}
