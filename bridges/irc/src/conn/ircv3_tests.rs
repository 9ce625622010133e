//! IRCv3 on a connection without a socket: the negotiation as written to
//! the server, tags on messages, the echo of the user's own lines, away.

use std::time::{Duration, SystemTime};

use irc_proto::Message as IrcMessage;
use switchboard_bridge_api::{channel, Command, Event, MessageKind, RoomId, Target};

use super::feed::offline_settings;
use super::{Caps, Conn, Wanted};

/// A connection that wants `#a`, and what it tells the core.
pub(super) fn conn() -> (Conn, channel::Receiver<Event>) {
    let (tx, rx) = channel::channel(switchboard_bridge_api::CHANNEL_BOUND);
    let mut c = Conn::new("irc.x".into(), offline_settings("irc.x"), tx);
    c.caps = Caps::new(false);
    c.wanted.insert(
        "#a".into(),
        Wanted {
            name: "#a".into(),
            nick: "me".into(),
            key: None,
        },
    );
    (c, rx)
}

/// Feeds server lines; returns the lines the connection wrote.
pub(super) async fn feed(c: &mut Conn, lines: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut registered = c.welcomed;
    for line in lines {
        let msg: IrcMessage = line.parse().unwrap();
        assert!(Box::pin(c.on_message(msg, &mut out, &mut registered))
            .await
            .is_ok());
    }
    c.welcomed = registered;
    out.extend(std::mem::take(&mut c.out));
    written(out)
}

/// Runs a command; returns the lines the connection wrote.
pub(super) async fn command(c: &mut Conn, command: Command) -> Vec<String> {
    let mut out = Vec::new();
    c.on_command(command, &mut out).await.unwrap();
    out.extend(std::mem::take(&mut c.out));
    written(out)
}

fn written(out: Vec<u8>) -> Vec<String> {
    String::from_utf8(out)
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The events told so far.
pub(super) async fn events(rx: &mut channel::Receiver<Event>) -> Vec<Event> {
    let mut all = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::ZERO, rx.recv()).await {
        all.push(e);
    }
    all
}

/// Registered with `caps` acknowledged, and in `#a` with bob.
pub(super) async fn in_channel(caps: &str) -> (Conn, channel::Receiver<Event>) {
    let (mut c, mut rx) = conn();
    let wrote = feed(
        &mut c,
        &[
            &format!(":irc.x CAP * LS :{caps}"),
            &format!(":irc.x CAP me ACK :{caps}"),
            ":irc.x 001 me :welcome",
            ":me!u@h JOIN #a",
            ":irc.x 353 me = #a :me bob",
            ":irc.x 366 me #a :end",
        ],
    )
    .await;
    assert_eq!(wrote[0], format!("CAP REQ :{caps}"));
    events(&mut rx).await;
    (c, rx)
}

pub(super) fn send_text(text: &str, token: &str) -> Command {
    Command::SendText {
        target: Target::Room(RoomId("#a%irc.x".into())),
        text: text.into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        token: token.into(),
    }
}

/// Own messages told to the core: (token, text).
fn reflections(events: &[Event]) -> Vec<(Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) if m.own => Some((m.token.clone(), m.text.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_multi_line_ls_gets_one_request_after_its_last_line() {
    let (mut c, _rx) = conn();
    let wrote = feed(
        &mut c,
        &[
            ":irc.x CAP * LS * :multi-prefix sts=port=6697 echo-message",
            ":irc.x CAP * LS :server-time away-notify",
        ],
    )
    .await;
    assert_eq!(
        wrote,
        ["CAP REQ :away-notify echo-message multi-prefix server-time"]
    );
    let wrote = feed(
        &mut c,
        &[":irc.x CAP me ACK :away-notify echo-message multi-prefix server-time"],
    )
    .await;
    assert_eq!(wrote, ["CAP END"]);
}

#[tokio::test]
async fn msgid_and_server_time_become_the_message_id_and_timestamp() {
    let (mut c, mut rx) = in_channel("message-tags server-time").await;
    feed(
        &mut c,
        &["@time=2021-01-02T03:04:05.678Z;msgid=abc123 :bob!u@h PRIVMSG #a :hi"],
    )
    .await;
    let got = events(&mut rx).await;
    let [Event::Message(m)] = got.as_slice() else {
        panic!("one message: {got:?}")
    };
    assert_eq!(m.id.0, "abc123");
    let at = m.timestamp.unwrap().duration_since(SystemTime::UNIX_EPOCH);
    assert_eq!(at.unwrap().as_millis(), 1_609_556_645_678);
}

#[tokio::test]
async fn with_echo_message_a_split_message_is_reflected_once_from_the_echo() {
    let (mut c, mut rx) = in_channel("echo-message").await;
    let wrote = command(&mut c, send_text("one\ntwo", "t1")).await;
    assert_eq!(wrote, ["PRIVMSG #a :one", "PRIVMSG #a :two"]);
    assert!(
        reflections(&events(&mut rx).await).is_empty(),
        "not before the echo"
    );
    feed(&mut c, &["@msgid=x8 :me!u@h PRIVMSG #a :one"]).await;
    assert!(
        reflections(&events(&mut rx).await).is_empty(),
        "not at the first part"
    );
    feed(&mut c, &["@msgid=x9 :me!u@h PRIVMSG #a :two"]).await;
    let got = events(&mut rx).await;
    assert_eq!(
        reflections(&got),
        [(Some("t1".to_owned()), "one\ntwo".to_owned())]
    );
    let Event::Message(m) = &got[0] else { panic!() };
    assert_eq!(m.id.0, "x9");
    // Every line's network id, in order, for the core's id map.
    let parts: Vec<&str> = m.parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(parts, ["x8", "x9"]);
}

#[tokio::test]
async fn with_labeled_response_each_line_is_labelled_and_a_refusal_reflects_nothing() {
    let (mut c, mut rx) = in_channel("echo-message labeled-response").await;
    let wrote = command(&mut c, send_text("refused", "t1")).await;
    let [line] = wrote.as_slice() else {
        panic!("{wrote:?}")
    };
    let (label, rest) = line.split_once(' ').unwrap();
    assert!(label.starts_with("@label="), "{line}");
    assert_eq!(rest, "PRIVMSG #a :refused");
    let label = &label["@label=".len()..];
    feed(
        &mut c,
        &[&format!(
            "@label={label} :irc.x 404 me #a :Cannot send to channel"
        )],
    )
    .await;
    let got = events(&mut rx).await;
    assert!(reflections(&got).is_empty(), "{got:?}");
    // The same text sent again and echoed under its own label.
    let wrote = command(&mut c, send_text("refused", "t2")).await;
    let label2 = wrote[0].split_once(' ').unwrap().0;
    feed(&mut c, &[&format!("{label2} :me!u@h PRIVMSG #a :refused")]).await;
    assert_eq!(
        reflections(&events(&mut rx).await),
        [(Some("t2".to_owned()), "refused".to_owned())]
    );
}

#[tokio::test]
async fn without_echo_message_the_reflection_is_made_at_once() {
    let (mut c, mut rx) = in_channel("server-time").await;
    command(&mut c, send_text("hi", "t1")).await;
    let got = events(&mut rx).await;
    assert_eq!(
        reflections(&got),
        [(Some("t1".to_owned()), "hi".to_owned())]
    );
    // No id from the server: none for the core to map.
    let Event::Message(m) = &got[0] else { panic!() };
    assert!(m.parts.is_empty());
}

#[tokio::test]
async fn an_echo_without_msgid_names_no_network_ids() {
    let (mut c, mut rx) = in_channel("echo-message").await;
    command(&mut c, send_text("one\ntwo", "t1")).await;
    feed(
        &mut c,
        &[":me!u@h PRIVMSG #a :one", ":me!u@h PRIVMSG #a :two"],
    )
    .await;
    let got = events(&mut rx).await;
    let [Event::Message(m)] = got.as_slice() else {
        panic!("one reflection: {got:?}")
    };
    assert_eq!(m.token.as_deref(), Some("t1"));
    assert!(m.parts.is_empty(), "{:?}", m.parts);
}

#[tokio::test]
async fn away_notify_marks_a_member_away_and_back_and_a_mode_keeps_it() {
    let (mut c, mut rx) = in_channel("away-notify").await;
    feed(&mut c, &[":bob!u@h AWAY :lunch"]).await;
    feed(&mut c, &[":irc.x MODE #a +v bob"]).await;
    feed(&mut c, &[":bob!u@h AWAY"]).await;
    let aways: Vec<_> = events(&mut rx)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::MemberChanged { member, .. } if member.nick == "bob" => Some(member.away),
            _ => None,
        })
        .collect();
    assert_eq!(
        aways,
        [Some("lunch".to_owned()), Some("lunch".to_owned()), None]
    );
}

#[tokio::test]
async fn lines_inside_a_netsplit_batch_are_handled_as_lines() {
    let (mut c, mut rx) = in_channel("batch").await;
    feed(
        &mut c,
        &[
            ":irc.x BATCH +s1 netsplit irc.a irc.b",
            "@batch=s1 :bob!u@h QUIT :irc.a irc.b",
            ":irc.x BATCH -s1",
        ],
    )
    .await;
    let got = events(&mut rx).await;
    assert!(
        matches!(got.as_slice(), [Event::MemberLeft { user, .. }] if user.as_str().starts_with("bob%")),
        "{got:?}"
    );
}

#[tokio::test]
async fn with_away_notify_a_who_after_names_tells_who_is_away_already() {
    let (mut c, mut rx) = conn();
    let wrote = feed(
        &mut c,
        &[
            ":irc.x CAP * LS :away-notify",
            ":irc.x CAP me ACK :away-notify",
            ":irc.x 001 me :welcome",
            ":me!u@h JOIN #a",
            ":irc.x 353 me = #a :me bob carol",
            ":irc.x 366 me #a :end",
        ],
    )
    .await;
    assert_eq!(wrote.last().map(String::as_str), Some("WHO #a"));
    events(&mut rx).await;
    feed(
        &mut c,
        &[
            ":irc.x 352 me #a u h irc.x bob G :0 Bob",
            ":irc.x 352 me #a u h irc.x carol H :0 Carol",
            ":irc.x 352 me #a u h irc.x me H :0 Me",
            ":irc.x 352 me #a u h irc.x stranger G :0 S",
            ":irc.x 315 me #a :end",
        ],
    )
    .await;
    let changed: Vec<_> = events(&mut rx)
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::MemberChanged { member, .. } => Some((member.nick, member.away.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [("bob".to_owned(), true)]);
}

/// What a connection does when its link is lost and it connects again (as
/// `serve` does), then the new registration with `caps` and `isupport`.
async fn reconnect(c: &mut Conn, caps: &str, isupport: &str) -> Vec<String> {
    c.channels.clear();
    c.caps = Caps::new(false);
    let wanted = &c.wanted;
    c.history.reconnected(|k| wanted.contains_key(k));
    let mut lines = Vec::new();
    if !caps.is_empty() {
        lines.push(format!(":irc.x CAP * LS :{caps}"));
        lines.push(format!(":irc.x CAP me ACK :{caps}"));
    }
    lines.push(":irc.x 001 me :welcome".to_owned());
    lines.push(format!(
        ":irc.x 005 me {isupport} :are supported by this server"
    ));
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    feed(c, &lines).await
}

const HISTORY_CAPS: &str = "batch draft/chathistory message-tags server-time";

/// The (id, text, kind, ms since the epoch) of the messages told.
fn told(events: &[Event]) -> Vec<(String, String, MessageKind, u128)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some((
                m.id.0.clone(),
                m.text.clone(),
                m.kind,
                m.timestamp
                    .unwrap()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_millis(),
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_rejoin_after_a_reconnect_asks_for_what_came_after_the_last_message() {
    let (mut c, mut rx) = in_channel(HISTORY_CAPS).await;
    feed(
        &mut c,
        &[
            "@time=2026-12-02T10:00:01.000Z;msgid=m1 :bob!u@h PRIVMSG #a :one",
            "@time=2026-12-02T10:00:02.000Z;msgid=m2 :bob!u@h PRIVMSG #a :two",
        ],
    )
    .await;
    events(&mut rx).await;
    let wrote = reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=50").await;
    assert_eq!(wrote.last().map(String::as_str), Some("JOIN #a"));
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert_eq!(wrote, ["CHATHISTORY AFTER #a msgid=m2 50"]);
    // A third connection: asked after the same message (nothing came since).
    reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=500").await;
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert_eq!(wrote, ["CHATHISTORY AFTER #a msgid=m2 100"], "at most 100");
}

#[tokio::test]
async fn without_a_msgid_or_msgid_references_the_time_is_asked_after() {
    let (mut c, _rx) = in_channel(HISTORY_CAPS).await;
    feed(
        &mut c,
        &["@time=2026-12-02T10:00:01.250Z :bob!u@h PRIVMSG #a :no id"],
    )
    .await;
    reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=0").await;
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert_eq!(
        wrote,
        ["CHATHISTORY AFTER #a timestamp=2026-12-02T10:00:01.250Z 100"]
    );
    feed(
        &mut c,
        &["@time=2026-12-02T10:00:03.000Z;msgid=m3 :bob!u@h PRIVMSG #a :with id"],
    )
    .await;
    reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=20 MSGREFTYPES=timestamp").await;
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert_eq!(
        wrote,
        ["CHATHISTORY AFTER #a timestamp=2026-12-02T10:00:03.000Z 20"]
    );
}

#[tokio::test]
async fn a_first_join_or_a_server_without_the_cap_gets_no_request() {
    let (mut c, _rx) = conn();
    let wrote = feed(
        &mut c,
        &[
            &format!(":irc.x CAP * LS :{HISTORY_CAPS}"),
            &format!(":irc.x CAP me ACK :{HISTORY_CAPS}"),
            ":irc.x 001 me :welcome",
            ":irc.x 005 me CHATHISTORY=50 :are supported",
            ":me!u@h JOIN #a",
        ],
    )
    .await;
    assert!(
        !wrote.iter().any(|l| l.starts_with("CHATHISTORY")),
        "{wrote:?}"
    );
    feed(
        &mut c,
        &["@time=2026-12-02T10:00:01.000Z;msgid=m1 :bob!u@h PRIVMSG #a :one"],
    )
    .await;
    // The server no longer offers it (nor batch): nothing is asked.
    reconnect(&mut c, "server-time message-tags", "CHATHISTORY=50").await;
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert!(wrote.is_empty(), "{wrote:?}");
}

/// In `#a` again after a reconnect, having seen m2 at 10:00:02 and asked
/// for what came after it.
async fn rejoined() -> (Conn, channel::Receiver<Event>) {
    let (mut c, mut rx) = in_channel(HISTORY_CAPS).await;
    feed(
        &mut c,
        &["@time=2026-12-02T10:00:02.000Z;msgid=m2 :bob!u@h PRIVMSG #a :two"],
    )
    .await;
    reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=50").await;
    let wrote = feed(
        &mut c,
        &[
            ":me!u@h JOIN #a",
            ":irc.x 353 me = #a :me bob",
            ":irc.x 366 me #a :end",
        ],
    )
    .await;
    assert_eq!(wrote, ["CHATHISTORY AFTER #a msgid=m2 50"]);
    events(&mut rx).await;
    (c, rx)
}

#[tokio::test]
async fn a_catch_up_batch_becomes_messages_at_their_times_less_those_seen() {
    let (mut c, mut rx) = rejoined().await;
    let wrote = feed(
        &mut c,
        &[
            ":irc.x BATCH +h1 chathistory #a",
            "@batch=h1;time=2026-12-02T10:00:02.000Z;msgid=m2 :bob!u@h PRIVMSG #a :two",
            "@batch=h1;time=2026-12-02T10:00:01.000Z;msgid=m1 :bob!u@h PRIVMSG #a :older",
            "@batch=h1;time=2026-12-02T10:01:00.000Z;msgid=m3 :bob!u@h PRIVMSG #a :three",
            "@batch=h1;time=2026-12-02T10:01:01.000Z :carol!u@h JOIN #a",
            "@batch=h1;time=2026-12-02T10:01:02.000Z;msgid=m4 :carol!u@h PRIVMSG #a :\x01VERSION\x01",
            "@batch=h1;time=2026-12-02T10:01:03.000Z;msgid=m5 :carol!u@h PRIVMSG #b :elsewhere",
            "@batch=h1;msgid=m6 :carol!u@h PRIVMSG #a :no time",
            "@batch=h1;time=2026-12-02T10:01:04.000Z;msgid=m7 :carol!u@h PRIVMSG #a :\x01ACTION waves\x01",
            "@batch=h1;time=2026-12-02T10:01:05.000Z;msgid=m8 :carol!u@h NOTICE #a :note",
            ":irc.x BATCH -h1",
        ],
    )
    .await;
    assert!(wrote.is_empty(), "no CTCP reply to history: {wrote:?}");
    let got = events(&mut rx).await;
    assert_eq!(
        told(&got),
        [
            (
                "m3".into(),
                "three".into(),
                MessageKind::Normal,
                1_796_205_660_000
            ),
            (
                "m7".into(),
                "waves".into(),
                MessageKind::Action,
                1_796_205_664_000
            ),
            (
                "m8".into(),
                "note".into(),
                MessageKind::Notice,
                1_796_205_665_000
            ),
        ]
    );
    assert_eq!(got.len(), 3, "no join from the batch: {got:?}");
    // The mark moved to the last one replayed.
    reconnect(&mut c, HISTORY_CAPS, "CHATHISTORY=50").await;
    let wrote = feed(&mut c, &[":me!u@h JOIN #a"]).await;
    assert_eq!(wrote, ["CHATHISTORY AFTER #a msgid=m8 50"]);
}

#[tokio::test]
async fn a_message_seen_live_after_the_rejoin_is_not_replayed_and_the_count_is_kept() {
    let (mut c, mut rx) = rejoined().await;
    feed(
        &mut c,
        &["@time=2026-12-02T10:05:00.000Z;msgid=live :bob!u@h PRIVMSG #a :live"],
    )
    .await;
    assert_eq!(told(&events(&mut rx).await).len(), 1);
    let mut lines = vec![":irc.x BATCH +h2 chathistory #a".to_owned()];
    lines.push(
        "@batch=h2;time=2026-12-02T10:05:00.000Z;msgid=live :bob!u@h PRIVMSG #a :live".into(),
    );
    for i in 0..60 {
        lines.push(format!(
            "@batch=h2;time=2026-12-02T10:03:{i:02}.000Z;msgid=n{i} :bob!u@h PRIVMSG #a :n{i}"
        ));
    }
    lines.push(":irc.x BATCH -h2".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    feed(&mut c, &lines).await;
    let got = told(&events(&mut rx).await);
    assert_eq!(got.len(), 50, "only the 50 asked for");
    assert_eq!(got[0].0, "n0");
    assert!(got.iter().all(|m| m.0 != "live"));
}

#[tokio::test]
async fn a_chathistory_batch_not_asked_for_is_read_as_live_lines() {
    let (mut c, mut rx) = in_channel(HISTORY_CAPS).await;
    feed(
        &mut c,
        &[
            ":irc.x BATCH +x chathistory #a",
            "@batch=x;time=2026-12-02T10:00:02.000Z;msgid=r1 :bob!u@h PRIVMSG #a :replayed on join",
            ":irc.x BATCH -x",
        ],
    )
    .await;
    assert_eq!(told(&events(&mut rx).await).len(), 1);
}

#[tokio::test]
async fn with_echo_message_a_private_message_is_echoed_with_its_ids_to_the_core_only() {
    let (mut c, mut rx) = in_channel("echo-message message-tags").await;
    let dm = Command::SendText {
        target: Target::User(switchboard_bridge_api::UserId("bob%irc.x".into())),
        text: "one\ntwo".into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        token: "d1".into(),
    };
    assert_eq!(
        command(&mut c, dm).await,
        ["PRIVMSG bob :one", "PRIVMSG bob :two"]
    );
    feed(
        &mut c,
        &[
            "@msgid=p1 :me!u@h PRIVMSG bob :one",
            "@msgid=p2 :me!u@h PRIVMSG Bob :two",
        ],
    )
    .await;
    // (The direct chat's capabilities come first: `rich_tests.rs`.)
    let got: Vec<Event> = events(&mut rx)
        .await
        .into_iter()
        .filter(|e| !matches!(e, Event::Capabilities { .. }))
        .collect();
    let [Event::Message(m)] = got.as_slice() else {
        panic!("one echo: {got:?}")
    };
    assert_eq!(
        m.target,
        Target::User(switchboard_bridge_api::UserId("bob%irc.x".into()))
    );
    assert!(m.own);
    assert_eq!(m.token.as_deref(), Some("d1"));
    let parts: Vec<&str> = m.parts.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(parts, ["p1", "p2"]);
    // A private line the user sent from another client: not told.
    feed(&mut c, &["@msgid=p3 :me!u@h PRIVMSG bob :elsewhere"]).await;
    assert!(events(&mut rx).await.is_empty());
}
