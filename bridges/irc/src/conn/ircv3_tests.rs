//! IRCv3 on a connection without a socket: the negotiation as written to
//! the server, tags on messages, the echo of the user's own lines, away.

use std::time::{Duration, SystemTime};

use irc_proto::Message as IrcMessage;
use switchboard_bridge_api::{channel, Command, Event, MessageKind, RoomId, Target};

use super::feed::offline_settings;
use super::{Caps, Conn, Wanted};

/// A connection that wants `#a`, and what it tells the core.
fn conn() -> (Conn, channel::Receiver<Event>) {
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
async fn feed(c: &mut Conn, lines: &[&str]) -> Vec<String> {
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
async fn command(c: &mut Conn, command: Command) -> Vec<String> {
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
async fn events(rx: &mut channel::Receiver<Event>) -> Vec<Event> {
    let mut all = Vec::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::ZERO, rx.recv()).await {
        all.push(e);
    }
    all
}

/// Registered with `caps` acknowledged, and in `#a` with bob.
async fn in_channel(caps: &str) -> (Conn, channel::Receiver<Event>) {
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

fn send_text(text: &str, token: &str) -> Command {
    Command::SendText {
        target: Target::Room(RoomId("#a%irc.x".into())),
        text: text.into(),
        kind: MessageKind::Normal,
        reply_to: None,
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
        matches!(got.as_slice(), [Event::MemberLeft { nick, .. }] if nick == "bob"),
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

#[tokio::test]
async fn with_echo_message_a_private_message_is_echoed_with_its_ids_to_the_core_only() {
    let (mut c, mut rx) = in_channel("echo-message message-tags").await;
    let dm = Command::SendText {
        target: Target::User(switchboard_bridge_api::UserId("bob%irc.x".into())),
        text: "one\ntwo".into(),
        kind: MessageKind::Normal,
        reply_to: None,
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
    let got = events(&mut rx).await;
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
