//! The user's own bot within its channel permission overwrites
//! ([`Double::start_with_limited_bot`]: a moderator guild-wide, denied
//! Manage Messages and Manage Webhooks in `#random`, `#staff` hidden from
//! it): it moderates only where it may, is not shown a channel it cannot
//! see, and speaks through itself at once where it may not make webhooks.

mod common;

use common::{join, logs, say, session, until};
use switchboard_bridge_api::{Command, ErrorKind, Event, Role, SessionHandle, Target};
use switchboard_discord_double::{self as double, Double};

/// Joins `room` and returns the role the bot (the user) has there.
async fn own_role(s: &mut SessionHandle, room: &str) -> Role {
    join(s, room, "me").await;
    until(s, |e| match e {
        Event::Members {
            room: r, members, ..
        } if r.as_str() == room => members
            .iter()
            .find(|m| m.user.as_str() == double::BOT_ID)
            .map(|m| m.role),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await
}

/// Moderator where the bot has Manage Messages, a plain member where an
/// overwrite denies it (the core then offers no XEP-0425 moderation there).
#[tokio::test]
async fn the_bot_moderates_only_where_its_overwrites_allow() {
    logs();
    let double = Double::start_with_limited_bot().await.unwrap();
    let mut s = session(&double).await;
    assert_eq!(own_role(&mut s, double::GENERAL_ID).await, Role::Operator);
    assert_eq!(own_role(&mut s, double::RANDOM_ID).await, Role::Member);
}

/// A channel the bot may not view is not listed, and joining it is
/// refused as a channel that is not there.
#[tokio::test]
async fn a_channel_hidden_from_the_bot_is_neither_listed_nor_joined() {
    logs();
    let double = Double::start_with_limited_bot().await.unwrap();
    let mut s = session(&double).await;
    s.commands
        .send(Command::ListRooms {
            token: "list".into(),
            server: None,
            after: None,
            limit: 100,
            within: None,
        })
        .await
        .unwrap();
    let rooms: Vec<String> = until(&mut s, |e| match e {
        Event::RoomList { rooms, .. } => {
            Some(rooms.iter().map(|r| r.room.as_str().to_owned()).collect())
        }
        _ => None,
    })
    .await;
    assert!(rooms.contains(&double::GENERAL_ID.to_owned()), "{rooms:?}");
    assert!(rooms.contains(&double::RANDOM_ID.to_owned()), "{rooms:?}");
    assert!(!rooms.contains(&double::STAFF_ID.to_owned()), "{rooms:?}");
    join(&mut s, double::STAFF_ID, "me").await;
    let kind = until(&mut s, |e| match e {
        Event::Error { kind, .. } => Some(*kind),
        Event::RoomJoined { .. } => panic!("joined a channel hidden from the bot"),
        _ => None,
    })
    .await;
    assert_eq!(kind, ErrorKind::NotFound);
}

/// Where an overwrite denies the bot Manage Webhooks, a message goes
/// through the bot with the nick in front, no webhook asked for; where it
/// may, through a webhook under the nick.
#[tokio::test]
async fn without_manage_webhooks_in_a_channel_the_bot_speaks_at_once() {
    logs();
    let double = Double::start_with_limited_bot().await.unwrap();
    let mut s = session(&double).await;
    for room in [double::RANDOM_ID, double::GENERAL_ID] {
        own_role(&mut s, room).await;
        say(&mut s, Target::Room(room.into()), "hello", room).await;
        until(&mut s, |e| match e {
            Event::Message(m) if m.own && m.token.as_deref() == Some(room) => Some(()),
            Event::Error { text, .. } => panic!("{text}"),
            _ => None,
        })
        .await;
    }
    let requests = double.requests();
    let hooks_asked: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/webhooks"))
        .map(|r| r.path.as_str())
        .collect();
    assert!(
        hooks_asked
            .iter()
            .all(|p| p.ends_with(&format!("/channels/{}/webhooks", double::GENERAL_ID))),
        "{hooks_asked:?}"
    );
    assert!(!hooks_asked.is_empty(), "#general's webhook is used");
    let through_bot: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/channels/3004/messages"))
        .map(|r| r.body["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(through_bot, ["**me**: hello"]);
}

/// An overwrite that takes Manage Messages from the bot in a joined
/// channel makes the user a plain member there at once.
#[tokio::test]
async fn a_new_overwrite_takes_the_moderator_role_in_a_joined_room() {
    logs();
    let double = Double::start_with_limited_bot().await.unwrap();
    let mut s = session(&double).await;
    assert_eq!(own_role(&mut s, double::GENERAL_ID).await, Role::Operator);
    double.deny_bot_moderation_in_general();
    let role = until(&mut s, |e| match e {
        Event::MemberChanged { room, member }
            if room.as_str() == double::GENERAL_ID && member.user.as_str() == double::BOT_ID =>
        {
            Some(member.role)
        }
        _ => None,
    })
    .await;
    assert_eq!(role, Role::Member);
}

/// A joined channel hidden from the bot afterwards is left.
#[tokio::test]
async fn a_channel_hidden_from_the_bot_after_the_join_is_left() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    own_role(&mut s, double::GENERAL_ID).await;
    double.hide_general();
    let left = until(&mut s, |e| match e {
        Event::RoomLeft { room, .. } => Some(room.as_str().to_owned()),
        _ => None,
    })
    .await;
    assert_eq!(left, double::GENERAL_ID);
}
