//! Shared-bot mode's traffic against the Discord double: reactions
//! counted per linked user, a slow session that neither holds the others
//! back nor loses messages, and direct messages with their answers routed
//! to their writer.

mod common;

use common::shared::{bot_answered, linked_session, shared_bridge};
use common::{join, logs, say, until};
use switchboard_bridge_api::{Event, SessionHandle, Target};
use switchboard_discord_double::{self as double, Double};

/// Asks `session` to set its reactions on `message` in `#general`.
async fn react(session: &mut SessionHandle, message: &str, reactions: &[&str], token: &str) {
    session
        .commands
        .send(switchboard_bridge_api::Command::React {
            target: Target::Room(double::GENERAL_ID.into()),
            message: message.into(),
            reactions: reactions.iter().map(|r| r.to_string()).collect(),
            token: token.into(),
        })
        .await
        .unwrap();
}

/// The user's own reactions on `message` as the session tells them back.
async fn own_reactions(session: &mut SessionHandle, user: &str, message: &str) -> Vec<String> {
    until(session, |e| match e {
        Event::Reacted {
            message: m,
            author,
            reactions,
            ..
        } if m.as_str() == message && author.as_str() == user => Some(reactions.clone()),
        _ => None,
    })
    .await
}

/// The shared bot's one 👍 stands for every linked user who wants it:
/// alice and carol both react 👍; carol taking hers back leaves the bot's
/// reaction (alice still wants it), alice taking hers back removes it.
/// Each sees their own reactions as theirs.
#[tokio::test]
async fn one_linked_user_taking_back_a_reaction_leaves_anothers() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let mut alice = linked_session(&bridge, double::ALICE_ID).await;
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    for (session, nick) in [(&mut alice, "alice"), (&mut carol, "carol")] {
        join(session, double::GENERAL_ID, nick).await;
        until(session, |e| {
            matches!(e, Event::RoomJoined { .. }).then_some(())
        })
        .await;
    }
    let hi = double.say(double::GENERAL_ID, double::DAVE_ID, "hi");
    for session in [&mut alice, &mut carol] {
        until(session, |e| match e {
            Event::Message(m) if m.text == "hi" => Some(()),
            _ => None,
        })
        .await;
    }
    let thumbs = |r: &switchboard_discord_double::Request, method: &str| {
        r.method == method && r.path.contains(&format!("/messages/{hi}/reactions/"))
    };
    react(&mut alice, &hi, &["👍"], "r1").await;
    assert_eq!(
        own_reactions(&mut alice, double::ALICE_ID, &hi).await,
        ["👍"]
    );
    double.wait_request(|r| thumbs(r, "PUT")).await;
    react(&mut carol, &hi, &["👍"], "r2").await;
    assert_eq!(
        own_reactions(&mut carol, double::CAROL_ID, &hi).await,
        ["👍"]
    );
    react(&mut carol, &hi, &[], "r3").await;
    assert!(own_reactions(&mut carol, double::CAROL_ID, &hi)
        .await
        .is_empty());
    assert!(
        !double.requests().iter().any(|r| thumbs(r, "DELETE")),
        "carol took alice's 👍 off"
    );
    react(&mut alice, &hi, &[], "r4").await;
    assert!(own_reactions(&mut alice, double::ALICE_ID, &hi)
        .await
        .is_empty());
    double.wait_request(|r| thumbs(r, "DELETE")).await;
}

/// Carol's session is subscribed first and her client reads nothing while
/// 3,000 messages come: alice still gets every one as it comes (the shared
/// connection does not wait for carol); carol, once she reads, is told
/// she fell behind and gets every message too, each once, in order (the
/// ones dropped from her queue fetched from the channel's history).
#[tokio::test]
async fn a_slow_session_holds_nobody_back_and_catches_up() {
    const COUNT: usize = 3000;
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    let mut alice = linked_session(&bridge, double::ALICE_ID).await;
    for (session, nick) in [(&mut carol, "carol"), (&mut alice, "alice")] {
        join(session, double::GENERAL_ID, nick).await;
        until(session, |e| {
            matches!(e, Event::RoomJoined { .. }).then_some(())
        })
        .await;
    }
    let texts: Vec<String> = (0..COUNT).map(|i| format!("m{i}")).collect();
    // In rounds of 100 that alice reads as they come, as a client does.
    let mut alice_notices = Vec::new();
    for round in texts.chunks(100) {
        for text in round {
            double.say(double::GENERAL_ID, double::DAVE_ID, text);
        }
        let got = read_messages(&mut alice, &mut alice_notices, round.len()).await;
        assert!(got == round, "alice's messages are not every one in order");
    }
    assert!(alice_notices.is_empty(), "{alice_notices:?}");
    let mut carol_notices = Vec::new();
    let got = read_messages(&mut carol, &mut carol_notices, COUNT).await;
    assert_eq!(carol_notices.len(), 1, "{carol_notices:?}");
    assert!(
        carol_notices[0].contains("fell behind"),
        "{carol_notices:?}"
    );
    let missing: Vec<&String> = texts.iter().filter(|t| !got.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "carol lost {} messages: {missing:?}",
        missing.len()
    );
    assert!(got == texts, "carol's messages are not in order, or twice");
}

/// The texts of the next `count` messages, the notices on the way noted.
async fn read_messages(
    session: &mut SessionHandle,
    notices: &mut Vec<String>,
    count: usize,
) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < count {
        match common::next(session).await {
            Event::Message(m) => got.push(m.text),
            Event::Notice { text, .. } => notices.push(text),
            _ => {}
        }
    }
    got
}

/// Asks `session` to send `text` to the Discord user `user` (a DM).
async fn say_to(session: &mut SessionHandle, user: &str, text: &str, token: &str) {
    say(session, Target::User(user.into()), text, token).await;
}

/// The next message from (or to) the Discord user `user`, in a DM.
async fn direct(session: &mut SessionHandle, user: &str) -> switchboard_bridge_api::Message {
    until(session, |e| match e {
        Event::Message(m) if m.target == Target::User(user.into()) => Some(m.clone()),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await
}

/// Linked users write to a Discord user through the shared bot's DM with
/// them, each with their name in bold in front; an answer that replies to
/// one of their messages goes to that user, any other to the last who
/// wrote; an answer to nobody gets the bot's word.
#[tokio::test]
async fn linked_users_write_dms_and_answers_find_their_writer() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    let mut dave = linked_session(&bridge, double::DAVE_ID).await;
    join(&mut carol, double::GENERAL_ID, "carol").await;
    join(&mut dave, double::GENERAL_ID, "dave").await;
    for session in [&mut carol, &mut dave] {
        until(session, |e| {
            matches!(e, Event::RoomJoined { .. }).then_some(())
        })
        .await;
    }
    let dm = format!(
        "/api/v10/channels/{}/messages",
        double::fixture::dm_channel_id(double::ALICE_ID)
    );
    say_to(&mut carol, double::ALICE_ID, "hi alice", "d1").await;
    let posted = double
        .wait_request(|r| r.method == "POST" && r.path == dm)
        .await;
    assert_eq!(posted.body["content"], "**carol**: hi alice");
    let echo = direct(&mut carol, double::ALICE_ID).await;
    assert!(echo.own, "{echo:?}");
    assert_eq!(echo.token.as_deref(), Some("d1"));
    assert_eq!(echo.text, "hi alice");
    assert_eq!(echo.author.as_str(), double::CAROL_ID);
    let carols = echo.id.as_str().to_owned();
    // A correction keeps her name in front.
    carol
        .commands
        .send(switchboard_bridge_api::Command::Edit {
            target: Target::User(double::ALICE_ID.into()),
            message: carols.as_str().into(),
            text: "hi alice!".into(),
            token: "e1".into(),
        })
        .await
        .unwrap();
    let edited = format!("{dm}/{carols}");
    let patch = double
        .wait_request(|r| r.method == "PATCH" && r.path == edited)
        .await;
    assert_eq!(patch.body["content"], "**carol**: hi alice!");

    say_to(&mut dave, double::ALICE_ID, "alice, dave here", "d2").await;
    let echo = direct(&mut dave, double::ALICE_ID).await;
    assert_eq!(echo.token.as_deref(), Some("d2"));

    // Not replying to anyone's: dave wrote last.
    double.say_directly(double::ALICE_ID, "hello whoever");
    let answer = direct(&mut dave, double::ALICE_ID).await;
    assert_eq!(answer.text, "hello whoever");
    assert!(!answer.own && answer.author.as_str() == double::ALICE_ID);
    // Replying to carol's: carol.
    let channel = double::fixture::dm_channel_id(double::ALICE_ID);
    double.reply(&channel, double::ALICE_ID, "hi carol", &carols);
    let answer = direct(&mut carol, double::ALICE_ID).await;
    assert_eq!(answer.text, "hi carol");
    assert_eq!(
        answer.reply_to.as_ref().map(|m| m.as_str()),
        Some(carols.as_str())
    );
    // Neither got the other's answer.
    double.say_directly(double::ALICE_ID, "and to dave");
    assert_eq!(
        direct(&mut dave, double::ALICE_ID).await.text,
        "and to dave"
    );

    // Someone nobody wrote to: the bot says so, and nobody is handed it.
    double.say_directly(double::CAROL_ID, "anyone?");
    bot_answered(&double, double::CAROL_ID, "nobody has written to you").await;
}
