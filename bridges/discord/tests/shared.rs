//! Shared-bot mode against the Discord double: linking a Discord account
//! with a one-time code sent to the bot, one gateway connection for every
//! linked user, and each seeing only the channels their account may see
//! (`#staff` is hidden from @everyone and shown to the Mods role: alice
//! has it, carol does not).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{join, logs, say, until};
use switchboard_bridge_api::{
    Bridge, Credentials, ErrorContext, ErrorKind, Event, Login, Registered, RegistrationStep,
    SessionHandle, Target,
};
use switchboard_discord::{DiscordBridge, Secret, Settings};
use switchboard_discord_double::{self as double, Double};

fn shared_bridge(double: &Double) -> DiscordBridge {
    shared_bridge_with(double, None)
}

/// The shared bot, linked accounts' roles read again every `roles_every`
/// seconds (default 300).
fn shared_bridge_with(double: &Double, roles_every: Option<u64>) -> DiscordBridge {
    DiscordBridge::new(Settings {
        api: Some(double.api_url()),
        shared_bot_token: Some(Secret(double::BOT_TOKEN.to_owned())),
        linked_roles_every: roles_every,
    })
    .unwrap()
}

/// The first step with "use the shared bot": the code in the instructions
/// (`XXXX-XXXX`), and the state for the next step.
async fn ask_code(bridge: &DiscordBridge, account: &str) -> (String, RegistrationStep) {
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
fn code_step(step: Registered, account: &str) -> (String, RegistrationStep) {
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
async fn bot_answered(double: &Double, user: &str, words: &str) {
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
async fn linked_session(bridge: &DiscordBridge, user: &str) -> SessionHandle {
    linked_session_with(bridge, user, BTreeMap::new()).await
}

/// A linked user's session with this saved state (after a restart).
async fn linked_session_with(
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
async fn rooms(session: &mut SessionHandle) -> Vec<String> {
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
