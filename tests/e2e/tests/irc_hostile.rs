//! A hostile IRC server is contained: a real XMPP client, a real Prosody,
//! the switchboard process and a scripted IRC server
//! (`support::hostile_irc`) that floods, lies and poses as the gateway.
//! Memory is read from `/proc/PID/status` of the switchboard process.

mod common;

use common::support::hostile_irc::{HostileIrc, HOSTILE_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "hostile-secret";
const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// Bytes in a MiB, for the figures.
const MIB: u64 = 1024 * 1024;

/// Prosody, the scripted server, the gateway and alice, registered.
struct World {
    _prosody: Prosody,
    irc: HostileIrc,
    gateway: Switchboard,
    alice: Client,
}

async fn world() -> World {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let irc = HostileIrc::start().await;
    let gateway = Switchboard::start(&format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{HOSTILE_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, irc.port
    ));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    World {
        _prosody: prosody,
        irc,
        gateway,
        alice,
    }
}

fn room(chan: &str) -> String {
    format!("{chan}%{HOSTILE_HOST}@{GW}")
}

fn occupant(chan: &str, nick: &str) -> Jid {
    format!("{}/{nick}", room(chan)).parse().unwrap()
}

/// The server's JID at the gateway.
fn server_jid() -> Jid {
    format!("{HOSTILE_HOST}@{GW}").parse().unwrap()
}

/// alice asks to join `chan` (with a password, maybe).
async fn ask_to_join(alice: &mut Client, chan: &str, password: Option<&str>) {
    let password = password
        .map(|p| format!("<password>{}</password>", p.replace('\r', "&#13;")))
        .unwrap_or_default();
    let x: Element = format!("<x xmlns='{MUC}'><history maxstanzas='0'/>{password}</x>")
        .parse()
        .unwrap();
    let mut p = Presence::available().with_to(occupant(chan, "alice"));
    p.payloads.push(x);
    alice.send(p).await;
}

/// The server's side of a join: the JOIN echoed, then NAMES (alice and an operator).
async fn accept_join(irc: &HostileIrc, chan: &str) {
    let nick = irc.nick();
    irc.send([
        format!(":{nick}!u@h JOIN {chan}"),
        format!(":{HOSTILE_HOST} 353 {nick} = {chan} :{nick} @op"),
        format!(":{HOSTILE_HOST} 366 {nick} {chan} :End of NAMES"),
    ])
    .await;
}

/// Waits for alice's self-presence (110) in `chan`.
async fn joined(alice: &mut Client, chan: &str) {
    let me = occupant(chan, "alice");
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&me)
                    && p.type_ == Type::None
                    && has_status(p, "110") =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
}

fn has_status(p: &Presence, code: &str) -> bool {
    p.payloads
        .iter()
        .filter(|e| e.is("x", MUC_USER))
        .flat_map(|x| x.children())
        .any(|c| c.name() == "status" && c.attr("code") == Some(code))
}

/// alice in `#test`, joined through the scripted server.
async fn in_room(w: &mut World) {
    ask_to_join(&mut w.alice, "#test", None).await;
    w.irc.registered().await;
    w.irc.wait_for(|l| l == "JOIN #test").await;
    accept_join(&w.irc, "#test").await;
    joined(&mut w.alice, "#test").await;
}

/// The operator says `text` in `#test`, and alice gets it: every line the
/// server sent before it has been handled (lines are handled in order).
async fn still_answers(w: &mut World, text: &str) {
    w.irc.send([format!(":op!u@h PRIVMSG #test :{text}")]).await;
    let from = occupant("#test", "op");
    let text = text.to_owned();
    w.alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(&from)
                    && m.get_best_body(vec![]).is_some_and(|(_, b)| *b == text) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
}

/// Sends `count` lines made by `line`, in chunks.
async fn flood(irc: &HostileIrc, count: usize, line: impl Fn(usize) -> String) {
    for start in (0..count).step_by(10_000) {
        let lines: Vec<String> = (start..count.min(start + 10_000)).map(&line).collect();
        irc.send(lines).await;
    }
}

/// Resident and anonymous resident bytes of the gateway process.
fn memory(gateway: &Switchboard) -> (u64, u64) {
    let pid = gateway.pid().expect("the gateway runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// Asserts the anonymous memory grew by less than `bound` since `before`,
/// and prints the figures.
fn assert_grew_less(
    what: &str,
    gateway: &Switchboard,
    before: (u64, u64),
    bound: u64,
) -> (u64, u64) {
    let after = memory(gateway);
    eprintln!(
        "{what}: VmRSS {:.1} -> {:.1} MiB, RssAnon {:.1} -> {:.1} MiB",
        before.0 as f64 / MIB as f64,
        after.0 as f64 / MIB as f64,
        before.1 as f64 / MIB as f64,
        after.1 as f64 / MIB as f64
    );
    assert!(
        after.1 < before.1 + bound,
        "{what}: anonymous memory grew from {} to {} bytes (bound {bound})",
        before.1,
        after.1
    );
    after
}

/// alice leaves `#test`; the connection and then the session end, and
/// memory goes back near what the gateway held before (printed, and
/// checked against a generous bound).
async fn leave_and_measure(w: &mut World, what: &str, idle: (u64, u64)) {
    let p = Presence::unavailable().with_to(occupant("#test", "alice"));
    w.alice.send(p).await;
    // The connection quits when it leaves its last channel.
    w.irc.wait_for(|l| l.starts_with("QUIT")).await;
    back_to_idle(w, what, idle).await;
}

/// Waits for memory to come back near `idle` once the session has ended.
async fn back_to_idle(w: &mut World, what: &str, idle: (u64, u64)) {
    // The session ends when idle, and freed pages go back two seconds
    // after: wait for that (not a speed check: the figure is what counts).
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut now = memory(&w.gateway);
    while now.1 > idle.1 + MIB && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now = memory(&w.gateway);
    }
    eprintln!(
        "{what}, after the session ended: VmRSS {:.1} MiB, RssAnon {:.1} MiB (idle {:.1} / {:.1})",
        now.0 as f64 / MIB as f64,
        now.1 as f64 / MIB as f64,
        idle.0 as f64 / MIB as f64,
        idle.1 as f64 / MIB as f64
    );
    assert!(
        now.1 < idle.1 + 8 * MIB,
        "{what}: memory after the session ended is {} bytes, idle was {}",
        now.1,
        idle.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_to_channels_never_asked_for_are_ignored() {
    let mut w = world().await;
    let idle = memory(&w.gateway);
    in_room(&mut w).await;
    let before = memory(&w.gateway);
    let nick = w.irc.nick();
    flood(&w.irc, 100_000, |i| {
        format!(":{nick}!u@h JOIN #flood{i:06}")
    })
    .await;
    still_answers(&mut w, "after the joins").await;
    // No room appeared for alice: a message to one of them is not delivered.
    w.irc
        .send([":op!u@h PRIVMSG #flood000001 :you are not here"])
        .await;
    still_answers(&mut w, "still here").await;
    let stray = w
        .alice
        .maybe(Duration::from_millis(200), |s| match s {
            Stanza::Message(m)
                if m.from
                    .as_ref()
                    .is_some_and(|f| f.to_string().contains("#flood")) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    assert!(
        stray.is_none(),
        "a message from a channel alice never joined arrived"
    );
    assert_grew_less("100,000 unasked JOINs", &w.gateway, before, 24 * MIB);
    leave_and_measure(&mut w, "100,000 unasked JOINs", idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_for_nicks_not_in_the_channel_are_ignored() {
    let mut w = world().await;
    let idle = memory(&w.gateway);
    in_room(&mut w).await;
    let before = memory(&w.gateway);
    flood(&w.irc, 100_000, |i| {
        format!(":op!u@h MODE #test +v stranger{i:06}")
    })
    .await;
    still_answers(&mut w, "after the modes").await;
    let strangers = w
        .alice
        .maybe(Duration::from_millis(200), |s| match s {
            Stanza::Presence(p)
                if p.from
                    .as_ref()
                    .and_then(|f| f.resource())
                    .is_some_and(|r| r.as_str().starts_with("stranger")) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    assert!(
        strangers.is_none(),
        "a nick that never joined became an occupant"
    );
    assert_grew_less(
        "100,000 MODE +v for strangers",
        &w.gateway,
        before,
        16 * MIB,
    );

    // A member's mode still counts.
    w.irc
        .send([":friend!u@h JOIN #test", ":op!u@h MODE #test +o friend"])
        .await;
    let friend = occupant("#test", "friend");
    w.alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&friend)
                    && p.payloads.iter().any(|x| {
                        x.is("x", MUC_USER)
                            && x.get_child("item", MUC_USER)
                                .is_some_and(|i| i.attr("role") == Some("moderator"))
                    }) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    leave_and_measure(&mut w, "100,000 MODE +v for strangers", idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_names_ends_the_connection_with_a_notice() {
    let mut w = world().await;
    let idle = memory(&w.gateway);
    ask_to_join(&mut w.alice, "#test", None).await;
    w.irc.registered().await;
    w.irc.wait_for(|l| l == "JOIN #test").await;
    let before = memory(&w.gateway);
    let nick = w.irc.nick();
    w.irc.send([format!(":{nick}!u@h JOIN #test")]).await;
    // 200,000 members, 500 a line, and no end of NAMES.
    flood(&w.irc, 400, |line| {
        let names: Vec<String> = (0..500).map(|i| format!("m{line:03}x{i:03}")).collect();
        format!(":{HOSTILE_HOST} 353 {nick} = #test :{}", names.join(" "))
    })
    .await;
    let gw: Jid = GW.parse().unwrap();
    let notice = w
        .alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&gw) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert!(
        notice.contains(HOSTILE_HOST) && notice.contains("too much"),
        "{notice}"
    );
    assert_grew_less("a NAMES of 200,000", &w.gateway, before, 32 * MIB);
    // It was hung up on, and not called again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        w.irc.connections(),
        1,
        "the gateway reconnected to a hostile server"
    );
    back_to_idle(&mut w, "a NAMES of 200,000", idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_list_is_answered_within_bounds() {
    let mut w = world().await;
    let idle = memory(&w.gateway);
    in_room(&mut w).await;
    let before = memory(&w.gateway);
    let query: Element = "<query xmlns='http://jabber.org/protocol/disco#items'>\
         <set xmlns='http://jabber.org/protocol/rsm'><max>50</max></set></query>"
        .parse()
        .unwrap();
    w.alice
        .send(Iq::Get {
            from: None,
            to: Some(server_jid()),
            id: "list1".into(),
            payload: query,
        })
        .await;
    w.irc.wait_for(|l| l == "LIST").await;
    let nick = w.irc.nick();
    let topic = "t".repeat(300);
    // More than any listing reads, and never an end of LIST.
    flood(&w.irc, 150_000, |i| {
        format!(
            ":{HOSTILE_HOST} 322 {nick} #{i:06}{} 7 :{topic}",
            "c".repeat(40)
        )
    })
    .await;
    let items = w
        .alice
        .wait_for(|s| match s {
            Stanza::Iq(Iq::Result {
                id,
                payload: Some(q),
                ..
            }) if id == "list1" => Some(q.children().filter(|c| c.name() == "item").count()),
            Stanza::Iq(Iq::Error { id, .. }) if id == "list1" => {
                panic!("the room list failed")
            }
            _ => None,
        })
        .await;
    assert!(items > 0 && items <= 50, "{items} items");
    assert_grew_less(
        "an endless LIST (150,000 entries)",
        &w.gateway,
        before,
        24 * MIB,
    );
    still_answers(&mut w, "after the list").await;
    leave_and_measure(&mut w, "an endless LIST", idle).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_text_is_never_the_gateways() {
    let mut w = world().await;
    in_room(&mut w).await;
    let nick = w.irc.nick();
    w.irc
        .send([
            // A nick no JID can hold, posing as the gateway.
            format!(":bad\x07nick!u@h PRIVMSG {nick} :I am the gateway, give me your password"),
            format!(":{HOSTILE_HOST} 404 {nick} #test :Cannot send to channel"),
            format!(":{HOSTILE_HOST} NOTICE {nick} :*** server notice"),
            format!(":{HOSTILE_HOST} 401 {nick} ghost :No such nick/channel"),
            format!(":friend!u@h PRIVMSG {nick} :hello"),
            // An error about a joined room: the room's words.
            format!(":{HOSTILE_HOST} 474 {nick} #test :Cannot join channel (+b)"),
        ])
        .await;
    let room: Jid = format!("#test%{HOSTILE_HOST}@{GW}").parse().unwrap();
    let in_the_room = w
        .alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&room) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert!(
        in_the_room.contains("Cannot join channel"),
        "the room's error is said by the room: {in_the_room}"
    );
    // The server's words, from the server.
    let server = server_jid();
    let mut from_server = Vec::new();
    for _ in 0..3 {
        let body = w
            .alice
            .wait_for(|s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(&server) => {
                    m.get_best_body(vec![]).map(|(_, b)| b.clone())
                }
                _ => None,
            })
            .await;
        from_server.push(body);
    }
    let all = from_server.join("\n");
    for text in ["Cannot send to channel", "server notice", "ghost"] {
        assert!(
            all.contains(text),
            "{text} not from the server: {from_server:?}"
        );
    }
    // A person's message arrives from their contact JID…
    let friend: Jid = format!("friend%{HOSTILE_HOST}@{GW}").parse().unwrap();
    w.alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&friend) => Some(()),
            _ => None,
        })
        .await;
    // …and nothing of all that came from the gateway itself.
    let gw: Jid = GW.parse().unwrap();
    let posed = w
        .alice
        .maybe(Duration::from_millis(200), |s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&gw) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        posed, None,
        "network text arrived from the gateway's own JID"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_password_with_line_breaks_injects_nothing_on_rejoin() {
    let mut w = world().await;
    ask_to_join(
        &mut w.alice,
        "#secret",
        Some("key\r\nPRIVMSG #secret :injected\nQUIT :pwned"),
    )
    .await;
    w.irc.registered().await;
    w.irc.wait_for(|l| l.starts_with("JOIN #secret")).await;
    accept_join(&w.irc, "#secret").await;
    joined(&mut w.alice, "#secret").await;

    // The server drops the link; the gateway reconnects and rejoins.
    let seen = w.irc.received().len();
    w.irc.hang_up().await;
    w.irc
        .wait_for_from(seen, |l| l.starts_with("JOIN #secret"))
        .await;
    w.irc.send(["PING :after-rejoin"]).await;
    w.irc.wait_for(|l| l.contains("after-rejoin")).await;
    let lines = w.irc.received();
    assert_eq!(w.irc.connections(), 2);
    for l in &lines {
        assert!(
            !l.starts_with("PRIVMSG") && !l.starts_with("QUIT :pwned") && !l.contains('\0'),
            "a line from the room password reached the server: {l:?} in {lines:?}"
        );
    }
}
