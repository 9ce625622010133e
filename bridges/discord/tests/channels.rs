//! The bridge against the Discord double, in a channel: the bot speaking
//! without webhooks, rate limits, threads, edits through an earlier
//! message's webhook, authors' avatars.

mod common;

use common::{join, logs, next, say, session, until};
use switchboard_bridge_api::{Command, ErrorKind, Event, MessageKind, Role, Target};
use switchboard_discord_double::{self as double, Double};

/// Without the Manage Webhooks permission, a message goes through the bot
/// with the nick in bold in front; the webhook is not asked for again.
#[tokio::test]
async fn without_webhooks_the_bot_speaks_with_the_nick_in_front() {
    logs();
    let double = Double::start().await.unwrap();
    double.forbid_webhooks(true);
    let mut s = session(&double).await;
    join(&mut s, double::RANDOM_ID, "x_men").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    for (n, text) in ["one", "two"].into_iter().enumerate() {
        s.commands
            .send(Command::SendText {
                target: Target::Room(double::RANDOM_ID.into()),
                text: text.into(),
                kind: MessageKind::Normal,
                reply_to: None,
                attachments: vec![],
                token: format!("t{n}"),
            })
            .await
            .unwrap();
        let echo = until(&mut s, |e| match e {
            Event::Message(m) if m.own => Some(m.clone()),
            _ => None,
        })
        .await;
        assert_eq!(echo.token, Some(format!("t{n}")));
        assert_eq!(echo.text, text, "the echo without the nick");
    }
    let sent: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/channels/3004/messages"))
        .map(|r| r.body["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent, ["**x\\_men**: one", "**x\\_men**: two"]);
    let asked = double
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/webhooks"))
        .count();
    assert_eq!(asked, 1, "the refusal is remembered");
}

/// A 429 is waited out: the message is sent again and echoed, once.
#[tokio::test]
async fn a_rate_limited_message_is_sent_after_the_wait() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    double.rate_limit_next(2);
    say(
        &mut s,
        Target::Room(double::GENERAL_ID.into()),
        "patience",
        "t429",
    )
    .await;
    let event = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(Ok(m.clone())),
        Event::Error { text, .. } => Some(Err(text.clone())),
        _ => None,
    })
    .await;
    let echo = event.expect("sent after the waits, no error");
    assert_eq!(
        (echo.text.as_str(), echo.token.as_deref()),
        ("patience", Some("t429"))
    );
    let tries = double
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .count();
    assert_eq!(tries, 3, "two refused, the third taken");
}

/// A thread is a room of its own: joining it joins the bot to the thread
/// (PUT thread-members/@me), its messages come in, and the user's go
/// through the channel's webhook into the thread.
#[tokio::test]
async fn a_thread_is_a_room() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::THREAD_ID, "me").await;
    let name = until(&mut s, |e| match e {
        Event::RoomJoined { name, .. } => Some(name.clone()),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await;
    assert_eq!(name, "Ferris Guild / #general / ideas");
    double
        .wait_request(|r| {
            r.method == "PUT" && r.path.ends_with("/channels/3101/thread-members/@me")
        })
        .await;
    double.say(double::THREAD_ID, double::ALICE_ID, "in the thread");
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.target, Target::Room(double::THREAD_ID.into()));
    say(
        &mut s,
        Target::Room(double::THREAD_ID.into()),
        "me too",
        "th-1",
    )
    .await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(echo.target, Target::Room(double::THREAD_ID.into()));
    assert_eq!(echo.token.as_deref(), Some("th-1"));
    let made = double
        .wait_request(|r| r.method == "POST" && r.path.ends_with("/webhooks"))
        .await;
    assert!(
        made.path.ends_with("/channels/3001/webhooks"),
        "the channel's webhook"
    );
    let post = double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert!(post.path.contains("thread_id=3101"), "{}", post.path);

    // Deleted: the room is left, and no longer listed.
    double.delete_thread();
    let left = until(&mut s, |e| match e {
        Event::RoomLeft { room, .. } => Some(room.clone()),
        _ => None,
    })
    .await;
    assert_eq!(left.as_str(), double::THREAD_ID);
    s.commands
        .send(Command::ListRooms {
            token: "l".into(),
            server: None,
            after: None,
            limit: 50,
            within: None,
        })
        .await
        .unwrap();
    let rooms = until(&mut s, |e| match e {
        Event::RoomList { rooms, .. } => Some(rooms.clone()),
        _ => None,
    })
    .await;
    assert!(!rooms.iter().any(|r| r.room.as_str() == double::THREAD_ID));
}

/// A message the bot's webhook sent before this session (as after a
/// restart) is edited and deleted through that webhook, found with `GET
/// /channels/{id}/webhooks`: the bot itself may not edit it.
#[tokio::test]
async fn an_earlier_webhook_message_is_edited_through_its_webhook() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    let id = double.say_through_bot_webhook(double::GENERAL_ID, "me", "helo");
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(echo.id.as_str(), id);
    let room = || Target::Room(double::GENERAL_ID.into());
    s.commands
        .send(Command::Edit {
            target: room(),
            message: id.as_str().into(),
            text: "hello".into(),
            token: "e1".into(),
        })
        .await
        .unwrap();
    let edited = until(&mut s, |e| match e {
        Event::Edited { text, author, .. } => Some(Ok((text.clone(), author.clone()))),
        Event::Error { text, .. } => Some(Err(text.clone())),
        _ => None,
    })
    .await
    .expect("no error");
    assert_eq!(
        (edited.0.as_str(), edited.1.as_str()),
        ("hello", double::BOT_ID)
    );
    let patch = double.wait_request(|r| r.method == "PATCH").await;
    assert!(
        patch.path.contains("/webhooks/") && patch.path.ends_with(&format!("/messages/{id}")),
        "{}",
        patch.path
    );
    s.commands
        .send(Command::Retract {
            target: room(),
            message: id.as_str().into(),
            reason: None,
            token: "r1".into(),
        })
        .await
        .unwrap();
    let by = until(&mut s, |e| match e {
        Event::Retracted { message, by, .. } => Some(Ok((message.clone(), by.clone()))),
        Event::Error { text, .. } => Some(Err(text.clone())),
        _ => None,
    })
    .await
    .expect("no error");
    assert_eq!(
        (by.0.as_str(), by.1.as_str()),
        (id.as_str(), double::BOT_ID)
    );
}

/// An author with an avatar, seen as they speak: their avatar is told as
/// the CDN's URL (on the `api` base here), once.
#[tokio::test]
async fn an_authors_avatar_is_told_as_the_cdn_url() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| matches!(e, Event::Members { .. }).then_some(())).await;
    double.say(double::GENERAL_ID, double::DAVE_ID, "hello");
    let (user, avatar) = until(&mut s, |e| match e {
        Event::AvatarChanged { user, avatar } => Some((user.clone(), avatar.clone())),
        Event::Message(_) => panic!("the message came before the avatar"),
        _ => None,
    })
    .await;
    assert_eq!(user.as_str(), double::DAVE_ID);
    let avatar = avatar.expect("an avatar");
    assert_eq!(
        avatar.url,
        format!(
            "{}/avatars/{}/{}.png?size=128",
            double.api_url(),
            double::DAVE_ID,
            double::DAVE_AVATAR
        )
    );
    assert!(!avatar.needs_credentials);
    // Said again: the avatar is not told again.
    double.say(double::GENERAL_ID, double::DAVE_ID, "again");
    let mut texts = 0;
    while texts < 2 {
        match next(&mut s).await {
            Event::AvatarChanged { .. } => panic!("the avatar was told twice"),
            Event::Message(_) => texts += 1,
            _ => {}
        }
    }
}

/// Joins `#general` and returns the role the bot (the user's own member)
/// has there.
async fn own_role_in_general(s: &mut switchboard_bridge_api::SessionHandle) -> Role {
    join(s, double::GENERAL_ID, "me").await;
    until(s, |e| match e {
        Event::Members { members, .. } => members
            .iter()
            .find(|m| m.user.as_str() == double::BOT_ID)
            .map(|m| m.role),
        _ => None,
    })
    .await
}

/// A retraction of someone else's message (XEP-0425 moderation in the
/// core) asks Discord to delete it; with Manage Messages the bot is a
/// moderator and the message goes, for everyone.
#[tokio::test]
async fn a_moderator_bot_deletes_someone_elses_message() {
    logs();
    let double = Double::start_with_moderator_bot().await.unwrap();
    let mut s = session(&double).await;
    assert_eq!(own_role_in_general(&mut s).await, Role::Operator);
    let spam = double.say(double::GENERAL_ID, double::DAVE_ID, "buy now");
    let general = Target::Room(double::GENERAL_ID.into());
    s.commands
        .send(Command::Retract {
            target: general.clone(),
            message: spam.clone().into(),
            reason: None,
            token: "m1".into(),
        })
        .await
        .unwrap();
    let gone = until(&mut s, |e| match e {
        Event::Retracted {
            target, message, ..
        } => Some((target.clone(), message.clone())),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await;
    assert_eq!(gone, (general, spam.clone().into()));
    double
        .wait_request(|r| {
            r.method == "DELETE"
                && r.path
                    .ends_with(&format!("/channels/{}/messages/{spam}", double::GENERAL_ID))
        })
        .await;
}

/// Without Manage Messages the bot is no moderator, and Discord's
/// refusal of someone else's message reaches the user.
#[tokio::test]
async fn without_manage_messages_a_moderation_is_refused() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    assert_eq!(own_role_in_general(&mut s).await, Role::Member);
    let spam = double.say(double::GENERAL_ID, double::DAVE_ID, "buy now");
    s.commands
        .send(Command::Retract {
            target: Target::Room(double::GENERAL_ID.into()),
            message: spam.into(),
            reason: None,
            token: "m2".into(),
        })
        .await
        .unwrap();
    let (kind, text) = until(&mut s, |e| match e {
        Event::Error { kind, text, .. } => Some((*kind, text.clone())),
        Event::Retracted { .. } => panic!("deleted"),
        _ => None,
    })
    .await;
    assert_eq!(kind, ErrorKind::Forbidden);
    assert_eq!(
        text,
        "Discord refused the delete: Missing Permissions (403)"
    );
}

/// A message of only a sticker, or only an embed (fields as Discord's
/// documentation lists them), arrives as readable text, never empty.
#[tokio::test]
async fn stickers_and_embeds_arrive_as_readable_text() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    let sticker = serde_json::json!({
        "sticker_items": [{ "id": "749054660769218631", "name": "Wave", "format_type": 1 }]
    });
    double.say_with(double::GENERAL_ID, double::DAVE_ID, "", sticker);
    let embed = serde_json::json!({
        "embeds": [{
            "title": "Release 1.4", "type": "rich", "description": "Faster joins",
            "url": "https://example.org/releases/1.4", "color": 5814783,
            "footer": { "text": "ci" }, "fields": []
        }]
    });
    double.say_with(double::GENERAL_ID, double::DAVE_ID, "", embed);
    let mut texts = Vec::new();
    while texts.len() < 2 {
        let text = until(&mut s, |e| match e {
            Event::Message(m) if !m.own => Some(m.text.clone()),
            _ => None,
        })
        .await;
        texts.push(text);
    }
    assert_eq!(
        texts,
        [
            "[sticker: Wave]",
            "> Release 1.4\n> Faster joins\n> https://example.org/releases/1.4"
        ]
    );
}
