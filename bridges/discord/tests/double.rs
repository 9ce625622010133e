//! The bridge against the Discord double: registration, the guild's rooms,
//! a join, messages both ways, a resumed gateway, direct messages, catching up.

mod common;

use std::time::Duration;

use common::{bridge, join, login, logs, next, say, session, token_form, until};
use switchboard_bridge_api::{Bridge, Command, Event, Registered, RegistrationStep, Role, Target};
use switchboard_discord_double::{self as double, Double};

#[tokio::test]
async fn a_good_token_is_stored_and_a_bad_one_named() {
    logs();
    let double = Double::start().await.unwrap();
    let bridge = bridge(&double);
    let step = |token: &str| RegistrationStep {
        account: "tester".into(),
        answers: token_form(token),
        state: None,
    };
    match bridge.register(step(double::BOT_TOKEN)).await {
        Ok(Registered::Done { store }) => assert_eq!(store.get("token"), Some(double::BOT_TOKEN)),
        other => panic!("{other:?}"),
    }
    let refused = bridge.register(step("not-a-token")).await.unwrap_err();
    assert_eq!(refused.field, "token");
    assert!(refused.reason.contains("refused"), "{refused}");
    assert!(double
        .requests()
        .iter()
        .any(|r| r.method == "GET" && r.path.ends_with("/users/@me")));
}

#[tokio::test]
async fn rooms_join_and_messages_both_ways() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    s.commands
        .send(Command::ListRooms {
            token: "list".into(),
            server: Some("guild-2000".into()),
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
    let names: Vec<_> = rooms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Ferris Guild / #general",
            "Ferris Guild / #general / ideas",
            "Ferris Guild / #announcements",
            "Ferris Guild / #random"
        ],
        "text and announcement channels, each thread after its channel, no voice"
    );
    assert_eq!(rooms[0].room.as_str(), double::GENERAL_ID);
    assert_eq!(rooms[0].topic.as_deref(), Some("Talk about Ferris"));

    join(&mut s, double::GENERAL_ID, "me").await;
    let name = until(&mut s, |e| match e {
        Event::RoomJoined { name, .. } => Some(name.clone()),
        _ => None,
    })
    .await;
    assert_eq!(name, "Ferris Guild / #general");
    let members = until(&mut s, |e| match e {
        Event::Members { members, .. } => Some(members.clone()),
        _ => None,
    })
    .await;
    let nicks: Vec<_> = members.iter().map(|m| (m.nick.as_str(), m.role)).collect();
    assert_eq!(
        nicks,
        [
            ("Alice Liddell", Role::Operator),
            ("switchbot", Role::Member)
        ],
        "a role that manages messages makes a moderator"
    );
    let topic = until(&mut s, |e| match e {
        Event::Topic { topic, .. } => Some(topic.clone()),
        _ => None,
    })
    .await;
    assert_eq!(topic, "Talk about Ferris");

    double.say(
        double::GENERAL_ID,
        double::ALICE_ID,
        "**hi** <@1000>, see <#3004> <:ferris:123456> <a:wave:42> <b:x>",
    );
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        message.text,
        "*hi* @switchbot, see #random :ferris: :wave: <b:x>"
    );
    assert_eq!(message.author.as_str(), double::ALICE_ID);
    assert_eq!(message.author_nick, "Alice Liddell");
    assert!(!message.own);

    // A member the guild did not list appears as she speaks, before her words.
    double.say(double::GENERAL_ID, double::CAROL_ID, "hello all");
    let event = next(&mut s).await;
    let Event::MemberJoined { member, .. } = event else {
        panic!("{event:?}")
    };
    assert_eq!(
        (member.user.as_str(), member.nick.as_str()),
        (double::CAROL_ID, "carol")
    );
    let event = next(&mut s).await;
    assert!(
        matches!(&event, Event::Message(m) if m.text == "hello all"),
        "{event:?}"
    );

    say(
        &mut s,
        Target::Room(double::GENERAL_ID.into()),
        "@everyone _look_",
        "xmpp-id-1",
    )
    .await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(echo.token.as_deref(), Some("xmpp-id-1"));
    assert_eq!(echo.text, "@everyone _look_");
    assert_eq!(echo.parts, std::slice::from_ref(&echo.id));
    // Through a webhook the bot made, under the nick the user joined with.
    let made = double
        .wait_request(|r| r.method == "POST" && r.path.ends_with("/channels/3001/webhooks"))
        .await;
    assert_eq!(made.body["name"], "Switchboard");
    let post = double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert!(post.path.contains("wait=true"), "{}", post.path);
    assert_eq!(post.body["username"], "me");
    assert_eq!(post.body["content"], "@everyone *look*");
    assert_eq!(
        post.body["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    assert_eq!(
        echo.author.as_str(),
        double::BOT_ID,
        "the echo is the user's"
    );
}

#[tokio::test]
async fn a_dropped_gateway_resumes_and_replays() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    double.drop_connections();
    double.say(double::GENERAL_ID, double::ALICE_ID, "while you were away");
    tokio::time::sleep(Duration::from_millis(300)).await;
    double.release();
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.text, "while you were away");
    assert_eq!(double.resumes(), 1);
    assert_eq!(double.identifies(), 1, "resumed, not identified again");
    double.say(double::GENERAL_ID, double::ALICE_ID, "and now");
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.text, "and now", "the missed message came once");
}

/// The double's payloads are ones serenity reads (a field it lacks or
/// mistypes would make serenity drop the whole dispatch as unknown).
#[test]
fn the_doubles_payloads_are_read_by_serenity() {
    use serenity::model::prelude::{CurrentUser, Guild, Message, Ready};
    let fixture = double::fixture::guild();
    serde_json::from_value::<Guild>(fixture).unwrap();
    let large = double::fixture::large_guild(2, 2, 5000);
    serde_json::from_value::<Guild>(large).unwrap();
    serde_json::from_value::<Ready>(double::fixture::ready("s", "ws://x")).unwrap();
    serde_json::from_value::<CurrentUser>(double::fixture::user(double::BOT_ID)).unwrap();
    let alice = double::fixture::user(double::ALICE_ID);
    serde_json::from_value::<Message>(double::fixture::message("1", "3001", &alice, "hi", None))
        .unwrap();
}

/// serenity 0.12 reads MESSAGE_REACTION_REMOVE_EMOJI with its full
/// reaction model, which wants `burst` and `type`; Discord's documented
/// payload has neither, and the dispatch reaches the handler as an unknown
/// event with its raw fields (which the bridge reads). The other reaction
/// and typing dispatches, and a reply, read as themselves.
#[test]
fn reaction_and_typing_dispatches_as_serenity_reads_them() {
    use serenity::model::event::Event as Dispatch;
    let read = |t: &str, d: serde_json::Value| -> Dispatch {
        serde_json::from_value(serde_json::json!({ "t": t, "d": d })).unwrap()
    };
    let emoji = serde_json::json!({ "id": null, "name": "👍" });
    let removed = read(
        "MESSAGE_REACTION_REMOVE_EMOJI",
        serde_json::json!({ "channel_id": "3001", "guild_id": "2000", "message_id": "9", "emoji": emoji }),
    );
    match removed {
        Dispatch::Unknown(u) => assert_eq!(u.value["emoji"]["name"], "👍"),
        other => panic!("serenity reads it now: {other:?}"),
    }
    let added = read(
        "MESSAGE_REACTION_ADD",
        serde_json::json!({ "user_id": "4001", "channel_id": "3001", "message_id": "9",
            "guild_id": "2000", "emoji": emoji, "message_author_id": "4001", "burst": false,
            "burst_colors": [], "type": 0 }),
    );
    assert!(matches!(added, Dispatch::ReactionAdd(_)), "{added:?}");
    let typing = read(
        "TYPING_START",
        serde_json::json!({ "channel_id": "3001", "guild_id": "2000", "user_id": "4001", "timestamp": 1 }),
    );
    assert!(matches!(typing, Dispatch::TypingStart(_)), "{typing:?}");
}

/// Waits up to 10 s for `done`.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The gateway's own heartbeat request (op 1 with `s: null`) is answered
/// at once, not at the next interval (41 s here).
#[tokio::test]
async fn a_heartbeat_the_gateway_asks_for_is_sent_at_once() {
    logs();
    let double = Double::start().await.unwrap();
    let _s = session(&double).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = double.heartbeats();
    double.request_heartbeat();
    eventually("a heartbeat after the request", || {
        double.heartbeats() > before
    })
    .await;
}

/// RECONNECT (op 7): the session reconnects and resumes; messages go on.
#[tokio::test]
async fn reconnect_resumes() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    double.ask_reconnect();
    eventually("a RESUME after op 7", || double.resumes() == 1).await;
    double.say(double::GENERAL_ID, double::ALICE_ID, "after the reconnect");
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message, "after the reconnect");
    assert_eq!(double.identifies(), 1);
}

/// INVALID_SESSION (op 9, not resumable): the session identifies again and
/// says it is connected again; its joined rooms still get messages.
#[tokio::test]
async fn an_invalidated_session_identifies_again() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    join(&mut s, double::GENERAL_ID, "me").await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    double.invalidate_sessions();
    until(&mut s, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    })
    .await;
    assert_eq!(double.identifies(), 2);
    double.say(double::GENERAL_ID, double::ALICE_ID, "in the new session");
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message, "in the new session");
}

/// A direct message to the bot makes its author a contact; the answer
/// opens the DM channel and comes back as the user's own, with its token.
#[tokio::test]
async fn direct_messages_both_ways() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = session(&double).await;
    double.say_directly(double::ALICE_ID, "psst *here*");
    let event = next(&mut s).await;
    let Event::ContactAdded { user, name } = event else {
        panic!("{event:?}")
    };
    assert_eq!(
        (user.as_str(), name.as_str()),
        (double::ALICE_ID, "Alice Liddell")
    );
    let message = until(&mut s, |e| match e {
        Event::Message(m) => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(message.target, Target::User(double::ALICE_ID.into()));
    assert_eq!(message.text, "psst _here_");

    // To carol, who never wrote: the DM channel is opened first.
    say(
        &mut s,
        Target::User(double::CAROL_ID.into()),
        "hi carol",
        "dm-1",
    )
    .await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        _ => None,
    })
    .await;
    assert_eq!(echo.target, Target::User(double::CAROL_ID.into()));
    assert_eq!(echo.token.as_deref(), Some("dm-1"));
    let opened = double
        .wait_request(|r| r.method == "POST" && r.path.ends_with("/users/@me/channels"))
        .await;
    assert_eq!(opened.body["recipient_id"], double::CAROL_ID);
    let sent = double
        .wait_request(|r| r.method == "POST" && r.path.ends_with("/channels/54002/messages"))
        .await;
    assert_eq!(sent.body["content"], "hi carol");
}

/// A new session with a saved position in a channel fetches what was said
/// after it when it joins: oldest first, each once, live ones after; and
/// it saves its new position.
#[tokio::test]
async fn a_new_session_catches_up_from_its_saved_position() {
    logs();
    let double = Double::start().await.unwrap();
    let before = double.say(double::GENERAL_ID, double::ALICE_ID, "seen before");
    for i in 1..=120 {
        if i == 50 {
            // The user's own, through the bot's webhook, before the restart.
            double.say_through_bot_webhook(double::GENERAL_ID, "me", "missed 50");
            continue;
        }
        double.say(double::GENERAL_ID, double::ALICE_ID, &format!("missed {i}"));
    }
    let saved = [(format!("last:{}", double::GENERAL_ID), before)].into();
    let mut s = bridge(&double).start(login(saved));
    join(&mut s, double::GENERAL_ID, "me").await;
    let mut texts = Vec::new();
    while texts.len() < 100 {
        match next(&mut s).await {
            Event::Message(m) => {
                let own = m.text == "missed 50";
                assert_eq!(m.own, own, "{}", m.text);
                if own {
                    assert_eq!(m.author.as_str(), double::BOT_ID);
                }
                texts.push(m.text);
            }
            Event::MemberJoined { member, .. } => {
                assert_ne!(member.nick, "me", "the user's webhook is not a member")
            }
            _ => {}
        }
    }
    let expected: Vec<String> = (1..=100).map(|i| format!("missed {i}")).collect();
    assert_eq!(texts, expected, "the oldest 100 missed, in order");
    double.say(double::GENERAL_ID, double::ALICE_ID, "live");
    let (next_text, saved) = loop {
        match next(&mut s).await {
            Event::Message(m) => break (m.text, None),
            Event::SaveState { key, value, secret } => {
                assert!(!secret);
                assert_eq!(key, format!("last:{}", double::GENERAL_ID));
                break (String::new(), Some(value));
            }
            _ => {}
        }
    };
    // Whichever came first, the live message comes once, and a position is saved.
    let mut live_seen = next_text == "live";
    let mut saved = saved;
    while !(live_seen && saved.is_some()) {
        match next(&mut s).await {
            Event::Message(m) => {
                assert!(!live_seen, "the live message came twice");
                assert_eq!(m.text, "live");
                live_seen = true;
            }
            Event::SaveState { value, .. } => saved = Some(value),
            _ => {}
        }
    }
    let history = double
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/channels/3001/messages"))
        .count();
    assert_eq!(history, 1, "one page fetched");
}
