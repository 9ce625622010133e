//! Shared-bot mode against the Discord double: linking a Discord account
//! with a one-time code sent to the bot, one gateway connection for every
//! linked user, and each seeing only the channels their account may see
//! (`#staff` is hidden from @everyone and shown to the Mods role: alice
//! has it, carol does not).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::shared::{
    ask_code, bot_answered, code_step, linked_session, linked_session_with, rooms, shared_bridge,
    shared_bridge_with,
};
use common::{join, logs, say, until};
use switchboard_bridge_api::{
    Bridge, Credentials, ErrorContext, ErrorKind, Event, Registered, RegistrationStep, Target,
};
use switchboard_discord_double::{self as double, Double};

/// The code links the Discord account that sends it, once; a wrong code
/// links nobody (the bot says so), and a used code does not link again.
#[tokio::test]
async fn a_code_sent_to_the_bot_links_that_account_once() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let (code, next) = ask_code(&bridge, "carol@example.org").await;
    // Alice sends a wrong code: not linked, and told.
    let wrong = if code == "ABCD-EFGH" {
        "ABCD-EFGJ"
    } else {
        "ABCD-EFGH"
    };
    double.say_directly(double::ALICE_ID, wrong);
    bot_answered(&double, double::ALICE_ID, "unknown").await;
    // Carol sends the right one, as a person types it.
    double.say_directly(double::CAROL_ID, &code.to_lowercase());
    bot_answered(&double, double::CAROL_ID, "Linked").await;
    let Registered::Done { store } = bridge.register(next).await.unwrap() else {
        panic!("linked")
    };
    assert_eq!(store.get("discord_user"), Some(double::CAROL_ID));
    assert_eq!(
        store.get("token"),
        None,
        "no token of the shared bot is stored"
    );
    // The same code again (alice): used up.
    double.say_directly(double::ALICE_ID, &code);
    let answers = |d: &Double| {
        d.requests()
            .iter()
            .filter(|r| {
                r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.contains("unknown"))
            })
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while answers(&double) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer to the used code"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shared bot chosen with a token too (the chat command repeats the
/// stored token of an earlier registration) is the shared bot; a token
/// alone is the user's own bot, checked as ever.
#[tokio::test]
async fn the_shared_bot_when_chosen_else_the_token() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let step = |shared: &str, token: &str| {
        let mut answers = Credentials::new();
        answers.set("shared", shared);
        answers.set("token", token);
        RegistrationStep {
            account: "erin@example.org".into(),
            answers,
            state: None,
        }
    };
    let chosen = bridge.register(step("1", double::BOT_TOKEN)).await.unwrap();
    assert!(matches!(chosen, Registered::NextStep { .. }), "{chosen:?}");
    let Registered::Done { store } = bridge.register(step("0", double::BOT_TOKEN)).await.unwrap()
    else {
        panic!("one step with a token")
    };
    assert_eq!(store.get("token"), Some(double::BOT_TOKEN));
    assert_eq!(store.get("discord_user"), None);
}

/// Carol, linked, sees `#general` but not `#staff`: it is not listed, a
/// join is refused as for a channel that is not there, and its messages
/// never reach her; alice (Mods) sees it; both through one connection.
#[tokio::test]
async fn a_linked_user_sees_only_what_their_account_may_see() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    let mut alice = linked_session(&bridge, double::ALICE_ID).await;
    let listed = rooms(&mut carol).await;
    assert!(listed.iter().any(|r| r == double::GENERAL_ID), "{listed:?}");
    assert!(!listed.iter().any(|r| r == double::STAFF_ID), "{listed:?}");
    let listed = rooms(&mut alice).await;
    assert!(listed.iter().any(|r| r == double::STAFF_ID), "{listed:?}");

    join(&mut carol, double::STAFF_ID, "carol").await;
    let (kind, text) = until(&mut carol, |e| match e {
        Event::Error {
            context: ErrorContext::Room(room),
            kind,
            text,
        } if room.as_str() == double::STAFF_ID => Some((*kind, text.clone())),
        Event::RoomJoined { room, .. } if room.as_str() == double::STAFF_ID => {
            panic!("joined a hidden channel")
        }
        _ => None,
    })
    .await;
    assert_eq!(kind, ErrorKind::NotFound);
    assert_eq!(text, "no such channel in the bot's guilds");
    join(&mut carol, double::GENERAL_ID, "carol").await;
    join(&mut alice, double::STAFF_ID, "alice").await;
    for session in [&mut carol, &mut alice] {
        until(session, |e| {
            matches!(e, Event::RoomJoined { .. }).then_some(())
        })
        .await;
    }

    double.say(double::STAFF_ID, double::ALICE_ID, "staff only");
    double.say(double::GENERAL_ID, double::DAVE_ID, "hello all");
    let seen = until(&mut carol, |e| match e {
        Event::Message(m) => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        seen, "hello all",
        "the hidden channel's message reached carol"
    );
    let seen = until(&mut alice, |e| match e {
        Event::Message(m) if m.target == Target::Room(double::STAFF_ID.into()) => {
            Some(m.text.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(seen, "staff only");
    assert_eq!(double.identifies(), 1, "one gateway connection for both");

    // Carol writes in #general through the webhook, under her nick.
    say(
        &mut carol,
        Target::Room(double::GENERAL_ID.into()),
        "hi",
        "t1",
    )
    .await;
    let sent = double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert_eq!(sent.body["username"], "carol");
    let echo = until(&mut carol, |e| match e {
        Event::Message(m) if m.text == "hi" => Some(m.clone()),
        _ => None,
    })
    .await;
    assert!(
        echo.own && echo.author.as_str() == double::CAROL_ID,
        "{echo:?}"
    );
}

/// A channel hidden from carol's account after she joined it (its
/// overwrites changed): she leaves the room, and its messages no longer
/// reach her while #random's do; alice (Mods) stays.
#[tokio::test]
async fn a_channel_hidden_after_the_join_is_left() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    let mut alice = linked_session(&bridge, double::ALICE_ID).await;
    join(&mut carol, double::GENERAL_ID, "carol").await;
    join(&mut carol, double::RANDOM_ID, "carol").await;
    join(&mut alice, double::GENERAL_ID, "alice").await;
    for _ in 0..2 {
        until(&mut carol, |e| {
            matches!(e, Event::RoomJoined { .. }).then_some(())
        })
        .await;
    }
    until(&mut alice, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    double.hide_general();
    until(&mut carol, |e| match e {
        Event::RoomLeft { room, .. } if room.as_str() == double::GENERAL_ID => Some(()),
        Event::Message(m) => panic!("a message before the leave: {m:?}"),
        _ => None,
    })
    .await;
    double.say(double::GENERAL_ID, double::DAVE_ID, "mods now");
    double.say(double::RANDOM_ID, double::DAVE_ID, "in random");
    let seen = until(&mut alice, |e| match e {
        Event::Message(m) => Some(m.text.clone()),
        Event::RoomLeft { .. } => panic!("alice left"),
        _ => None,
    })
    .await;
    assert_eq!(seen, "mods now");
    let seen = until(&mut carol, |e| match e {
        Event::Message(m) => Some(m.text.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        seen, "in random",
        "the hidden channel's message reached carol"
    );
}

/// Other XMPP users write through the shared bot's one webhook, each under
/// their nick: after a restart (caught up) and live, each name is a person
/// of their own (a stable id from the webhook and the name), and carol's
/// own earlier message under her nick is still hers.
#[tokio::test]
async fn each_name_through_the_shared_webhook_is_a_person_of_its_own() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let before = double.say(double::GENERAL_ID, double::DAVE_ID, "seen before");
    double.say_through_bot_webhook(double::GENERAL_ID, "erin", "from erin");
    double.say_through_bot_webhook(double::GENERAL_ID, "frank", "from frank");
    double.say_through_bot_webhook(double::GENERAL_ID, "carol", "mine, before the restart");
    double.say_through_bot_webhook(double::GENERAL_ID, "erin", "erin again");
    let saved = [(format!("last:{}", double::GENERAL_ID), before)].into();
    let mut carol = linked_session_with(&bridge, double::CAROL_ID, saved).await;
    join(&mut carol, double::GENERAL_ID, "carol").await;
    let mut joined = BTreeMap::new();
    let mut said = Vec::new();
    while said.len() < 4 {
        match common::next(&mut carol).await {
            Event::MemberJoined { member, .. } => {
                joined.insert(member.nick.clone(), member.user.as_str().to_owned());
            }
            Event::Message(m) => said.push((m.text.clone(), m.author.as_str().to_owned(), m.own)),
            _ => {}
        }
    }
    let (erin, frank) = (joined["erin"].clone(), joined["frank"].clone());
    assert_ne!(erin, frank, "two people, not one webhook");
    assert_eq!(
        said,
        [
            ("from erin".to_owned(), erin.clone(), false),
            ("from frank".to_owned(), frank.clone(), false),
            (
                "mine, before the restart".to_owned(),
                double::CAROL_ID.to_owned(),
                true
            ),
            ("erin again".to_owned(), erin.clone(), false),
        ]
    );
    assert!(
        !joined.contains_key("carol"),
        "carol is no stranger: {joined:?}"
    );
    // Live, frank again: the same person.
    double.say_through_bot_webhook(double::GENERAL_ID, "frank", "live frank");
    let author = until(&mut carol, |e| match e {
        Event::Message(m) if m.text == "live frank" => Some(m.author.as_str().to_owned()),
        Event::MemberJoined { member, .. } => panic!("a new member {member:?}"),
        _ => None,
    })
    .await;
    assert_eq!(author, frank);
}

/// A linked account's roles are read again every `linked_roles_every`
/// (5 minutes by default; 1 s here): Discord tells the bot nothing when
/// alice loses the Mods role (no members intent), and she leaves `#staff`
/// once her roles are read again; carol, given Mods, then sees it listed.
#[tokio::test]
async fn a_role_change_on_discord_reaches_the_view_when_roles_are_read_again() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge_with(&double, Some(1));
    let mut alice = linked_session(&bridge, double::ALICE_ID).await;
    let mut carol = linked_session(&bridge, double::CAROL_ID).await;
    join(&mut alice, double::STAFF_ID, "alice").await;
    until(&mut alice, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    let listed = rooms(&mut carol).await;
    assert!(!listed.iter().any(|r| r == double::STAFF_ID), "{listed:?}");
    double.set_member_roles(double::ALICE_ID, &[]);
    double.set_member_roles(double::CAROL_ID, &[double::fixture::MODS_ROLE_ID]);
    let reason = until(&mut alice, |e| match e {
        Event::RoomLeft { room, reason } if room.as_str() == double::STAFF_ID => {
            Some(format!("{reason:?}"))
        }
        _ => None,
    })
    .await;
    assert!(reason.contains("may no longer see"), "{reason}");
    let mut tries = 0;
    while !rooms(&mut carol)
        .await
        .iter()
        .any(|r| r == double::STAFF_ID)
    {
        tries += 1;
        assert!(tries < 100, "#staff never listed for carol");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Step 2 with a code no longer valid (the account asked for a newer one,
/// as an expired code would be) asks again with a new code, which then
/// links.
#[tokio::test]
async fn a_stale_code_at_step_two_is_replaced_by_a_new_one() {
    logs();
    let double = Double::start_shared().await.unwrap();
    let bridge = shared_bridge(&double);
    let (first, stale) = ask_code(&bridge, "carol@example.org").await;
    let (second, _) = ask_code(&bridge, "carol@example.org").await;
    let again = bridge
        .register(stale)
        .await
        .expect("asked again, not refused");
    if let Registered::NextStep { instructions, .. } = &again {
        assert!(instructions.contains("no longer valid"), "{instructions}");
    }
    let (code, next) = code_step(again, "carol@example.org");
    assert!(code != first && code != second, "a new code: {code}");
    double.say_directly(double::CAROL_ID, &code);
    bot_answered(&double, double::CAROL_ID, "Linked").await;
    let Registered::Done { store } = bridge.register(next).await.unwrap() else {
        panic!("linked")
    };
    assert_eq!(store.get("discord_user"), Some(double::CAROL_ID));
}
