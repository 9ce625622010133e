//! Rooms that outlive the client, end to end with a real Prosody, the
//! switchboard process and a real ngircd: IRC's per-channel `persistent`
//! switch (the room's ad-hoc `configure`), detaching when the last
//! resource goes (its stream killed), what was missed in join history and
//! MAM with the ids seen live, the explicit `leave` (ad-hoc and chat), and
//! the stored channels joined again after a restart without any client.

mod common;

use common::history::{self, gateway_caught_up, join_history, mam_all, message_ids};
use common::relay::Relay;
use common::room::{body, groupchat_from, irc_config, muc_info, presence_from, room, GW};
use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client, Switchboard};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const SECRET: &str = "irc-secret";
const COMMANDS: &str = "http://jabber.org/protocol/commands";
const DATA: &str = "jabber:x:data";

fn config(prosody: &Prosody, ircd: &Ircd) -> String {
    irc_config(prosody.component_port, ircd.port, SECRET)
}

/// The room JID of a channel of the test server.
fn room_of(channel: &str) -> String {
    format!("{channel}%{IRC_HOST}@{GW}")
}

/// An occupant JID in a channel of the test server.
fn occupant_of(channel: &str, nick: &str) -> Jid {
    format!("{}/{nick}", room_of(channel)).parse().unwrap()
}

/// Runs an ad-hoc command on `to`, submitting `form` if given.
fn command(node: &str, session: Option<&str>, form: &str) -> Element {
    let session = session
        .map(|s| format!(" sessionid='{s}'"))
        .unwrap_or_default();
    format!("<command xmlns='{COMMANDS}' node='{node}' action='execute'{session}>{form}</command>")
        .parse()
        .unwrap()
}

/// A submitted form with one boolean field.
fn submit(var: &str, value: bool) -> String {
    format!("<x xmlns='{DATA}' type='submit'><field var='{var}'><value>{value}</value></field></x>")
}

/// A field of the form in a command step: its type and values.
fn field(step: &Element, var: &str) -> Option<(String, Vec<String>)> {
    let x = step.get_child("x", DATA)?;
    let f = x.children().find(|f| f.attr("var") == Some(var))?;
    Some((
        f.attr("type").unwrap_or_default().to_owned(),
        f.children()
            .filter(|v| v.is("value", DATA))
            .map(|v| v.text())
            .collect(),
    ))
}

/// The notes of a completed command.
fn notes(step: &Element) -> Vec<(String, String)> {
    step.children()
        .filter(|n| n.is("note", COMMANDS))
        .map(|n| (n.attr("type").unwrap_or_default().to_owned(), n.text()))
        .collect()
}

/// Sets a channel persistent (or not) with the room's `configure` form, in
/// its two steps: the form (the switch is off by default), then the submission.
async fn set_persistent(client: &mut Client, channel: &str, on: bool) {
    let jid = room_of(channel);
    let step = result_payload(client.iq(&jid, true, command("configure", None, "")).await)
        .expect("a form");
    assert_eq!(step.attr("status"), Some("executing"));
    let (kind, _) = field(&step, "persistent").expect("a `persistent` field");
    assert_eq!(kind, "boolean");
    let session = step.attr("sessionid").unwrap().to_owned();
    let done = result_payload(
        client
            .iq(
                &jid,
                true,
                command("configure", Some(&session), &submit("persistent", on)),
            )
            .await,
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
}

/// Joins a channel as `nick`, asking for up to `max` messages of history.
async fn join_with_history(client: &mut Client, channel: &str, nick: &str, max: u32) {
    history::join_with_history(client, occupant_of(channel, nick), max).await
}

/// Leaves a channel cleanly.
async fn leave_cleanly(client: &mut Client, channel: &str, nick: &str) {
    history::leave_cleanly(client, occupant_of(channel, nick)).await
}

/// Reads the IRC side up to the end of a NAMES reply for `channel`, and
/// says whether `nick` is in it.
async fn in_channel(irc: &mut IrcClient, channel: &str, nick: &str) -> bool {
    let mark = irc.seen.len();
    irc.send(&format!("NAMES {channel}")).await;
    irc.expect(|l| l.split(' ').nth(1) == Some("366")).await;
    irc.seen[mark..].iter().any(|l| {
        l.split(' ').nth(1) == Some("353")
            && l.rsplit(':').next().is_some_and(|names| {
                names
                    .split(' ')
                    .any(|n| n.trim_start_matches(['@', '+']) == nick)
            })
    })
}

/// Whether an IRC line is `nick` doing `command` in `channel` (ngircd
/// writes `JOIN :#chan`, `PART #chan`).
fn is(line: &str, nick: &str, command: &str, channel: &str) -> bool {
    let mut words = line.split(' ');
    words
        .next()
        .is_some_and(|w| w.starts_with(&format!(":{nick}!")))
        && words.next() == Some(command)
        && words.next().map(|c| c.trim_start_matches(':')) == Some(channel)
}

/// The lines of `nick` on the IRC side that part or quit.
fn parts_and_quits(irc: &IrcClient, nick: &str) -> Vec<String> {
    let prefix = format!(":{nick}!");
    irc.seen
        .iter()
        .filter(|l| l.starts_with(&prefix) && (l.contains(" PART ") || l.contains(" QUIT ")))
        .cloned()
        .collect()
}

/// The ticket's first test: a channel set persistent with the ad-hoc form,
/// joined by resources A, B and C of one user; B and C leave cleanly, A's
/// TCP stream is killed (the last one: Prosody sends its unavailable). The
/// IRC side never sees the user part or quit; 50 messages posted while no
/// client is in the room come back to A, joining again with
/// `<history maxstanzas='100'/>`, in join history and in MAM, after the ten
/// C saw live, those with the same `id`s and stanza-ids as C saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_channel_outlives_the_client() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;

    let mut c = Client::login(&format!("alice@{DOMAIN}/C"), "pass", prosody.c2s_port).await;
    c.register_by_chat(GW, "nick=alice").await;
    set_persistent(&mut c, "#test", true).await;
    let relay = Relay::start(prosody.c2s_port).await;
    let mut a = Client::login(&format!("alice@{DOMAIN}/A"), "pass", relay.port).await;
    let mut b = Client::login(&format!("alice@{DOMAIN}/B"), "pass", prosody.c2s_port).await;
    for client in [&mut c, &mut a, &mut b] {
        join_with_history(client, "#test", "alice", 0).await;
    }
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;

    // Ten messages that C sees live.
    for i in 1..=10 {
        bob.send(&format!("PRIVMSG #test :live {i}")).await;
    }
    let mut live = Vec::new();
    while live.len() < 10 {
        live.push(message_ids(&groupchat_from(&mut c, "bob").await));
    }

    // B and C leave cleanly (C stays online, out of the room); then A's
    // stream is killed. C sees A go offline, and the gateway has had A's
    // unavailable presence once a ping after that is answered.
    leave_cleanly(&mut b, "#test", "alice").await;
    leave_cleanly(&mut c, "#test", "alice").await;
    relay.cut();
    drop(a);
    let a_jid: Jid = format!("alice@{DOMAIN}/A").parse().unwrap();
    presence_from(&mut c, a_jid, Type::Unavailable).await;
    gateway_caught_up(&mut c, GW).await;

    // 50 messages while no client is in the room; then bob's private
    // message, which the gateway relays after them (one IRC connection, in order).
    for i in 1..=50 {
        bob.send(&format!("PRIVMSG #test :missed {i}")).await;
    }
    bob.send("PRIVMSG alice :that was all").await;
    let bob_jid = format!("bob%{IRC_HOST}@{GW}");
    assert_eq!(c.reply_from(&bob_jid).await, "that was all");

    // The network room was never left.
    assert!(in_channel(&mut bob, "#test", "alice").await);
    assert_eq!(parts_and_quits(&bob, "alice"), Vec::<String>::new());

    // A returns: the join sequence carries all 60, the ten live ones with
    // the ids C saw; MAM has the same 60 with the same ids.
    let mut a = Client::login(&format!("alice@{DOMAIN}/A"), "pass", prosody.c2s_port).await;
    join_with_history(&mut a, "#test", "alice", 100).await;
    let history = join_history(&mut a, &room_of("#test").parse().unwrap()).await;
    let bodies: Vec<String> = history.iter().map(|h| h.0.clone()).collect();
    let expected: Vec<String> = (1..=10)
        .map(|i| format!("live {i}"))
        .chain((1..=50).map(|i| format!("missed {i}")))
        .collect();
    assert_eq!(bodies, expected);
    assert_eq!(&history[..10], &live[..], "history has the ids C saw live");
    for (_, id, stanza_id) in &history {
        assert!(id.as_ref().is_some_and(|i| !i.is_empty()));
        assert_eq!(
            stanza_id.as_ref().map(|s| s.1.as_str()),
            Some(room().as_str())
        );
    }
    let archive = mam_all(&mut a, &room_of("#test"), 100).await;
    assert_eq!(archive, history, "MAM has what the join history had");

    // Still one IRC membership: the return did not join again.
    bob.send("PRIVMSG #test :welcome back").await;
    assert_eq!(body(&groupchat_from(&mut a, "bob").await), "welcome back");
    let joins = bob
        .seen
        .iter()
        .filter(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .count();
    assert_eq!(joins, 1);
    assert_eq!(parts_and_quits(&bob, "alice"), Vec::<String>::new());
}

/// Leaving is an explicit act: the room's ad-hoc `leave` and the chat
/// command `leave ROOM-JID` part the channel (the IRC side sees PART, the
/// joined resource gets its unavailable self-presence), and the room is
/// forgotten: after a restart only the channel still stored is joined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_command_parts_and_forgets_the_room() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let mut gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    // Stored rooms are joined again in the order of their ids.
    let channels = ["#a-adhoc", "#b-chat", "#z-kept"];
    for channel in channels {
        bob.join(channel).await;
    }
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    for channel in channels {
        set_persistent(&mut alice, channel, true).await;
        join_with_history(&mut alice, channel, "alice", 0).await;
        bob.expect(|l| is(l, "alice", "JOIN", channel)).await;
    }

    // The room's commands list `leave`; it leaves at once.
    let items = result_payload(
        alice
            .iq(
                &room_of("#a-adhoc"),
                false,
                format!(
                    "<query xmlns='http://jabber.org/protocol/disco#items' node='{COMMANDS}'/>"
                )
                .parse()
                .unwrap(),
            )
            .await,
    )
    .unwrap();
    let nodes: Vec<&str> = items.children().filter_map(|i| i.attr("node")).collect();
    assert_eq!(nodes, ["configure", "leave"]);
    let done = result_payload(
        alice
            .iq(&room_of("#a-adhoc"), true, command("leave", None, ""))
            .await,
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    assert_eq!(
        notes(&done),
        [(
            "info".to_owned(),
            format!("You left {}.", room_of("#a-adhoc"))
        )]
    );
    let gone = presence_from(
        &mut alice,
        occupant_of("#a-adhoc", "alice"),
        Type::Unavailable,
    )
    .await;
    assert_eq!(muc_info(&gone).0, ["110"]);
    bob.expect(|l| is(l, "alice", "PART", "#a-adhoc")).await;

    // The chat command, listed in help.
    alice.say(GW, "help").await;
    assert!(alice.reply_from(GW).await.contains("leave ROOM-JID"));
    alice
        .say(GW, &format!("leave {}", room_of("#b-chat")))
        .await;
    assert_eq!(
        alice.reply_from(GW).await,
        format!("You left {}.", room_of("#b-chat"))
    );
    presence_from(
        &mut alice,
        occupant_of("#b-chat", "alice"),
        Type::Unavailable,
    )
    .await;
    bob.expect(|l| is(l, "alice", "PART", "#b-chat")).await;
    alice
        .say(GW, &format!("leave {}", room_of("#b-chat")))
        .await;
    assert_eq!(
        alice.reply_from(GW).await,
        format!("You are not in {}.", room_of("#b-chat"))
    );

    // After a restart, the one channel still stored is joined again, and
    // only it: a stored #a-adhoc or #b-chat would have been joined before it.
    drop(alice);
    gateway.restart();
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" QUIT "))
        .await;
    let mark = bob.seen.len();
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    let joins: Vec<&String> = bob.seen[mark..]
        .iter()
        .filter(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .collect();
    assert_eq!(joins.len(), 1);
    assert!(is(joins[0], "alice", "JOIN", "#z-kept"), "{joins:?}");
    assert!(!in_channel(&mut bob, "#a-adhoc", "alice").await);
    assert!(!in_channel(&mut bob, "#b-chat", "alice").await);
    assert!(in_channel(&mut bob, "#z-kept", "alice").await);
}

/// Without the switch the old behaviour holds: the form offers
/// `persistent` off, and the last resource going away (its stream killed)
/// parts the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_the_last_resource_parts() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut watcher = Client::login(&format!("alice@{DOMAIN}/w"), "pass", prosody.c2s_port).await;
    watcher.register_by_chat(GW, "nick=alice").await;

    // The room's form: the archive on, persistent off (XEP-0004 booleans).
    let step = result_payload(
        watcher
            .iq(&room(), true, command("configure", None, ""))
            .await,
    )
    .unwrap();
    assert_eq!(
        field(&step, "FORM_TYPE"),
        Some(("hidden".into(), vec!["urn:switchboard:settings".into()]))
    );
    assert_eq!(
        field(&step, "archive"),
        Some(("boolean".into(), vec!["true".into()]))
    );
    assert_eq!(
        field(&step, "persistent"),
        Some(("boolean".into(), vec!["false".into()]))
    );

    let relay = Relay::start(prosody.c2s_port).await;
    let mut a = Client::login(&format!("alice@{DOMAIN}/A"), "pass", relay.port).await;
    join_with_history(&mut a, "#test", "alice", 0).await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    relay.cut();
    drop(a);
    bob.expect(|l| is(l, "alice", "PART", "#test")).await;
    assert!(!in_channel(&mut bob, "#test", "alice").await);
}

/// After the gateway restarts, a stored persistent channel is joined again
/// with no client at all (the IRC side sees the join), and what is posted
/// then is in join history and MAM on the client's next join. Turning the
/// switch off while detached leaves the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_channel_is_joined_again_after_a_restart() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let mut gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    set_persistent(&mut alice, "#test", true).await;
    join_with_history(&mut alice, "#test", "alice", 0).await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    leave_cleanly(&mut alice, "#test", "alice").await;
    drop(alice);

    // No client: the restart quits IRC and joins the channel again.
    gateway.restart();
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" QUIT "))
        .await;
    bob.expect(|l| is(l, "alice", "JOIN", "#test")).await;

    // alice comes online (not in the room); bob posts, then tells her
    // privately, which the gateway relays after the room's messages.
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    // Her presence is taken before a ping sent after it is answered.
    gateway_caught_up(&mut alice, GW).await;
    for i in 1..=3 {
        bob.send(&format!("PRIVMSG #test :while you were away {i}"))
            .await;
    }
    bob.send("PRIVMSG alice :posted").await;
    let bob_jid = format!("bob%{IRC_HOST}@{GW}");
    assert_eq!(alice.reply_from(&bob_jid).await, "posted");

    join_with_history(&mut alice, "#test", "alice", 100).await;
    let history = join_history(&mut alice, &room_of("#test").parse().unwrap()).await;
    let bodies: Vec<&str> = history.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "while you were away 1",
            "while you were away 2",
            "while you were away 3"
        ]
    );
    assert_eq!(mam_all(&mut alice, &room_of("#test"), 100).await, history);
    assert!(in_channel(&mut bob, "#test", "alice").await);

    // Detached again, then set back to not persistent: nobody is in the
    // room, so it is left as the last resource's leave would have.
    leave_cleanly(&mut alice, "#test", "alice").await;
    assert!(in_channel(&mut bob, "#test", "alice").await);
    set_persistent(&mut alice, "#test", false).await;
    bob.expect(|l| is(l, "alice", "PART", "#test")).await;
}

/// A client that leaves a channel and joins it again at once (as a client
/// does on a rejoin) ends up in it: the network's answer to the part
/// arrives after the new join was sent and must not end that join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_and_a_join_at_once_end_in_the_room() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}/A"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join_with_history(&mut alice, "#test", "alice", 0).await;
    bob.expect(|l| is(l, "alice", "JOIN", "#test")).await;

    // Leave and join in one go, without waiting for the leave's answer.
    let me = occupant_of("#test", "alice");
    alice
        .send(Presence::unavailable().with_to(me.clone()))
        .await;
    join_with_history(&mut alice, "#test", "alice", 0).await;
    bob.expect(|l| is(l, "alice", "PART", "#test")).await;
    bob.expect(|l| is(l, "alice", "JOIN", "#test")).await;

    // Still in the room, both ways.
    bob.send("PRIVMSG #test :still there?").await;
    let m = groupchat_from(&mut alice, "bob").await;
    assert_eq!(body(&m), "still there?");
    assert!(in_channel(&mut bob, "#test", "alice").await);
}

/// A persistent channel with a key is joined again after a restart with
/// that key (sealed in the database, never in plain), so the user stays
/// in it without a client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_channel_is_joined_again_with_its_key() {
    const KEY: &str = "sesame-4711";
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let mut gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#keyed").await;
    bob.send(&format!("MODE #keyed +k {KEY}")).await;
    bob.expect(|l| l.contains(" MODE #keyed +k")).await;

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    set_persistent(&mut alice, "#keyed", true).await;
    let me = occupant_of("#keyed", "alice");
    let mut join = Presence::available().with_to(me.clone());
    join.payloads.push(
        format!(
            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/>\
             <password>{KEY}</password></x>"
        )
        .parse()
        .unwrap(),
    );
    alice.send(join).await;
    bob.expect(|l| is(l, "alice", "JOIN", "#keyed")).await;
    leave_cleanly(&mut alice, "#keyed", "alice").await;
    drop(alice);

    // The key is in the database, sealed: its text is in no file there.
    for entry in std::fs::read_dir(gateway.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the channel key is in {} in plain",
            path.display()
        );
    }

    // No client: the restart quits IRC and joins the keyed channel again.
    gateway.restart();
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" QUIT "))
        .await;
    bob.expect(|l| is(l, "alice", "JOIN", "#keyed")).await;
    assert!(in_channel(&mut bob, "#keyed", "alice").await);
}
