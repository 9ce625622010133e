//! Corrections, reactions, replies, typing and redaction on a connection
//! without a socket: the lines written for the core's commands, and the
//! events told for the server's lines.

use switchboard_bridge_api::{Command, Event, MessageId, RoomId, Target, TypingState, UserId};

use super::ircv3_tests::{command, events, feed, in_channel, send_text};

fn room() -> Target {
    Target::Room(RoomId("#a%irc.x".into()))
}

fn edit(message: &str, text: &str) -> Command {
    Command::Edit {
        target: room(),
        message: MessageId(message.into()),
        text: text.into(),
        token: "e1".into(),
    }
}

fn react(message: &str, reactions: &[&str]) -> Command {
    Command::React {
        target: room(),
        message: MessageId(message.into()),
        reactions: reactions.iter().map(|r| (*r).to_owned()).collect(),
        token: "x1".into(),
    }
}

/// The room capabilities told at the join.
async fn joined_capabilities(caps: &str) -> switchboard_bridge_api::Capabilities {
    let (mut c, mut rx) = super::ircv3_tests::conn();
    feed(
        &mut c,
        &[
            &format!(":irc.x CAP * LS :{caps}"),
            &format!(":irc.x CAP me ACK :{caps}"),
            ":irc.x 001 me :welcome",
            ":me!u@h JOIN #a",
        ],
    )
    .await;
    let got = events(&mut rx).await;
    got.iter()
        .find_map(|e| match e {
            Event::Capabilities {
                target: Target::Room(room),
                capabilities,
            } if room.0 == "#a%irc.x" => Some(*capabilities),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no room capabilities: {got:?}"))
}

#[tokio::test]
async fn room_capabilities_follow_what_the_server_acked() {
    let plain = joined_capabilities("server-time").await;
    assert!(plain.edits, "corrections go as lines everywhere");
    assert!(!plain.reactions && !plain.replies && !plain.typing && !plain.retractions);
    let tags = joined_capabilities("message-tags").await;
    assert!(tags.edits && tags.reactions && tags.replies && tags.typing);
    assert!(!tags.retractions, "no draft/message-redaction");
    let redaction = joined_capabilities("message-tags draft/message-redaction").await;
    assert!(redaction.retractions);
}

#[tokio::test]
async fn a_correction_is_a_line_as_irc_users_write_it_and_an_edit_for_the_core() {
    let (mut c, mut rx) = in_channel("server-time").await;
    command(&mut c, send_text("hello wrold", "m1")).await;
    events(&mut rx).await;
    // Named by the client's id (no msgid without echo-message): found.
    let wrote = command(&mut c, edit("m1", "hello world")).await;
    assert_eq!(wrote, ["PRIVMSG #a :s/wrold/world/"]);
    let got = events(&mut rx).await;
    let [Event::Edited {
        message,
        text,
        author,
        ..
    }] = got.as_slice()
    else {
        panic!("{got:?}")
    };
    assert_eq!((message.0.as_str(), text.as_str()), ("m1", "hello world"));
    assert_eq!(author, &UserId("me%irc.x".into()));
    // A second correction is against the corrected text.
    let wrote = command(&mut c, edit("m1", "hello big world")).await;
    assert_eq!(wrote, ["PRIVMSG #a :s/world/big world/"]);
    // A message the connection never sent: the whole text.
    let wrote = command(&mut c, edit("elsewhere", "all new")).await;
    assert_eq!(wrote, ["PRIVMSG #a :* all new"]);
}

#[tokio::test]
async fn with_echo_message_a_corrections_echo_is_not_a_new_message() {
    let (mut c, mut rx) = in_channel("echo-message message-tags").await;
    command(&mut c, send_text("helo there", "m1")).await;
    feed(&mut c, &["@msgid=id1 :me!u@h PRIVMSG #a :helo there"]).await;
    events(&mut rx).await;
    // The core names the message by its network id.
    let wrote = command(&mut c, edit("id1", "hello there")).await;
    assert_eq!(wrote, ["PRIVMSG #a :s/helo/hello/"]);
    feed(&mut c, &["@msgid=id2 :me!u@h PRIVMSG #a :s/helo/hello/"]).await;
    let got = events(&mut rx).await;
    assert!(
        got.iter().all(|e| !matches!(e, Event::Message(_))),
        "{got:?}"
    );
    assert!(matches!(got.as_slice(), [Event::Edited { .. }]), "{got:?}");
}

#[tokio::test]
async fn reactions_are_tagmsgs_of_the_emoji_added() {
    let (mut c, mut rx) = in_channel("message-tags").await;
    let wrote = command(&mut c, react("abc", &["👍"])).await;
    assert_eq!(wrote, ["@+draft/reply=abc;+draft/react=👍 TAGMSG #a"]);
    // The full set again with one more: only the new one goes.
    let wrote = command(&mut c, react("abc", &["👍", "🎉"])).await;
    assert_eq!(wrote, ["@+draft/reply=abc;+draft/react=🎉 TAGMSG #a"]);
    // One taken off: IRC cannot say so; nothing is sent.
    let wrote = command(&mut c, react("abc", &["🎉"])).await;
    assert!(wrote.is_empty(), "{wrote:?}");
    let got = events(&mut rx).await;
    let sets: Vec<Vec<String>> = got
        .iter()
        .filter_map(|e| match e {
            Event::Reacted { reactions, .. } => Some(reactions.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sets, [vec!["👍"], vec!["👍", "🎉"], vec!["🎉"]]);
}

#[tokio::test]
async fn hostile_reactions_and_replies_cannot_break_the_line() {
    let (mut c, mut rx) = in_channel("message-tags").await;
    let wrote = command(&mut c, react("abc", &["a b;c\\", "x\r\nQUIT :bye"])).await;
    // The one with a line break is no reaction; the other is escaped.
    assert_eq!(
        wrote,
        ["@+draft/reply=abc;+draft/react=a\\sb\\:c\\\\ TAGMSG #a"]
    );
    // A message id with a space (never a server's) is not sent as one.
    let wrote = command(&mut c, react("a b\r\nQUIT", &["👍"])).await;
    assert!(wrote.is_empty(), "{wrote:?}");
    let mut reply = send_text("re", "m9");
    if let Command::SendText { reply_to, .. } = &mut reply {
        *reply_to = Some(MessageId("x;y\r\nQUIT".into()));
    }
    let wrote = command(&mut c, reply).await;
    assert_eq!(wrote, ["PRIVMSG #a :re"], "no reply tag for a bad id");
    events(&mut rx).await;
}

#[tokio::test]
async fn without_message_tags_reactions_are_refused_and_typing_dropped() {
    let (mut c, mut rx) = in_channel("server-time").await;
    assert!(command(&mut c, react("abc", &["👍"])).await.is_empty());
    let typing = Command::Typing {
        target: room(),
        state: TypingState::Active,
    };
    assert!(command(&mut c, typing).await.is_empty());
    let got = events(&mut rx).await;
    let [Event::Error { text, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(text, "irc.x cannot carry reactions (no message-tags)");
    // Retraction without draft/message-redaction: refused too.
    let retract = Command::Retract {
        target: room(),
        message: MessageId("abc".into()),
        reason: None,
        token: "r1".into(),
    };
    assert!(command(&mut c, retract).await.is_empty());
    let got = events(&mut rx).await;
    assert!(
        matches!(got.as_slice(), [Event::Error { text, .. }] if text.contains("draft/message-redaction")),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_reply_carries_its_tag_on_the_first_line_and_its_reflection_names_it() {
    let (mut c, mut rx) = in_channel("echo-message message-tags").await;
    let mut reply = send_text("one\ntwo", "m2");
    if let Command::SendText { reply_to, .. } = &mut reply {
        *reply_to = Some(MessageId("orig1".into()));
    }
    let wrote = command(&mut c, reply).await;
    assert_eq!(
        wrote,
        ["@+draft/reply=orig1 PRIVMSG #a :one", "PRIVMSG #a :two"]
    );
    feed(
        &mut c,
        &[
            "@msgid=p1;+draft/reply=orig1 :me!u@h PRIVMSG #a :one",
            "@msgid=p2 :me!u@h PRIVMSG #a :two",
        ],
    )
    .await;
    let got = events(&mut rx).await;
    let [Event::Message(m)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(m.reply_to, Some(MessageId("orig1".into())));
}

#[tokio::test]
async fn typing_is_a_tagmsg_at_most_every_three_seconds() {
    let (mut c, _rx) = in_channel("message-tags").await;
    let typing = |state| Command::Typing {
        target: room(),
        state,
    };
    let wrote = command(&mut c, typing(TypingState::Active)).await;
    assert_eq!(wrote, ["@+typing=active TAGMSG #a"]);
    let wrote = command(&mut c, typing(TypingState::Paused)).await;
    assert!(wrote.is_empty(), "within 3 s: {wrote:?}");
}

#[tokio::test]
async fn others_tags_become_reactions_replies_and_typing() {
    let (mut c, mut rx) = in_channel("draft/message-redaction message-tags").await;
    feed(
        &mut c,
        &[
            "@+draft/reply=abc;+draft/react=👍 :bob!u@h TAGMSG #a",
            "@+draft/reply=abc;+draft/react=🎉 :bob!u@h TAGMSG #a",
            "@+draft/reply=abc;+draft/react=🎉 :bob!u@h TAGMSG #a",
            "@+typing=active :bob!u@h TAGMSG #a",
            "@+typing=done :bob!u@h TAGMSG #a",
            "@+typing=bogus :bob!u@h TAGMSG #a",
            "@msgid=r2;+draft/reply=abc :bob!u@h PRIVMSG #a :indeed",
            ":bob!u@h REDACT #a abc",
            // Not a channel the user is in.
            "@+typing=active :bob!u@h TAGMSG #elsewhere",
            // The user's own, echoed.
            "@+draft/reply=abc;+draft/react=👍 :me!u@h TAGMSG #a",
        ],
    )
    .await;
    let got = events(&mut rx).await;
    let mut seen = got.iter();
    let bob = UserId("bob%irc.x".into());
    for want in [vec!["👍"], vec!["👍", "🎉"]] {
        match seen.next() {
            Some(Event::Reacted {
                message,
                author,
                reactions,
                ..
            }) => {
                assert_eq!((message.0.as_str(), author), ("abc", &bob));
                assert_eq!(reactions, &want);
            }
            other => panic!("{other:?} in {got:?}"),
        }
    }
    for want in [TypingState::Active, TypingState::Inactive] {
        assert!(
            matches!(seen.next(), Some(Event::Typing { state, author, .. }) if *state == want && author == &bob),
            "{got:?}"
        );
    }
    assert!(
        matches!(seen.next(), Some(Event::Message(m)) if m.reply_to == Some(MessageId("abc".into()))),
        "{got:?}"
    );
    assert!(
        matches!(seen.next(), Some(Event::Retracted { message, by, .. }) if message.0 == "abc" && by == &bob),
        "{got:?}"
    );
    assert!(seen.next().is_none(), "{got:?}");
}

#[tokio::test]
async fn others_typing_runs_out_as_the_spec_says_or_ends_with_their_message() {
    use tokio::time::Instant;
    let (mut c, mut rx) = in_channel("message-tags").await;
    assert_eq!(c.typing_deadline(), None, "nobody typing, no timer");
    feed(
        &mut c,
        &[
            "@+typing=active :bob!u@h TAGMSG #a",
            "@+typing=paused :carol!u@h TAGMSG #a",
            "@+typing=active :dave!u@h TAGMSG #a",
            ":dave!u@h PRIVMSG #a :done typing",
        ],
    )
    .await;
    events(&mut rx).await;
    let start = Instant::now();
    let deadline = c.typing_deadline().expect("bob's");
    assert!(deadline <= start + super::rich::ACTIVE_FOR);
    // 7 s on: bob's active ran out; carol's paused holds (30 s).
    c.expire_typing(start + std::time::Duration::from_secs(7))
        .await;
    let got = events(&mut rx).await;
    let [Event::Typing { author, state, .. }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        (author, *state),
        (&UserId("bob%irc.x".into()), TypingState::Inactive)
    );
    c.expire_typing(start + std::time::Duration::from_secs(31))
        .await;
    let got = events(&mut rx).await;
    assert!(
        matches!(got.as_slice(), [Event::Typing { author, .. }] if author.0 == "carol%irc.x"),
        "dave's ended with his message: {got:?}"
    );
    assert_eq!(c.typing_deadline(), None);
}

#[tokio::test]
async fn a_direct_chat_is_told_its_capabilities_once_before_its_first_message() {
    let (mut c, mut rx) = in_channel("message-tags").await;
    feed(
        &mut c,
        &[
            ":bob!u@h PRIVMSG me :psst",
            "@+draft/reply=x1;+draft/react=👍 :bob!u@h TAGMSG me",
            ":bob!u@h PRIVMSG me :again",
        ],
    )
    .await;
    let got = events(&mut rx).await;
    let told: Vec<_> = got
        .iter()
        .filter_map(|e| match e {
            Event::Capabilities {
                target: Target::User(u),
                capabilities,
            } => Some((u.0.clone(), capabilities.reactions)),
            _ => None,
        })
        .collect();
    assert_eq!(told, [("bob%irc.x".to_owned(), true)], "{got:?}");
    assert!(
        matches!(got[0], Event::Capabilities { .. }),
        "first: {got:?}"
    );
    assert!(
        got.iter().any(
            |e| matches!(e, Event::Reacted { target: Target::User(u), .. } if u.0 == "bob%irc.x")
        ),
        "{got:?}"
    );
    // Sending to someone new tells theirs first too.
    let mut dm = send_text("hi", "d1");
    if let Command::SendText { target, .. } = &mut dm {
        *target = Target::User(UserId("carol%irc.x".into()));
    }
    command(&mut c, dm).await;
    let got = events(&mut rx).await;
    assert!(
        matches!(&got[0], Event::Capabilities { target: Target::User(u), .. } if u.0 == "carol%irc.x"),
        "{got:?}"
    );
}
