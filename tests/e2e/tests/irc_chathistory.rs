//! IRCv3 `draft/chathistory` catch-up after a reconnect, end to end: a
//! real XMPP client, a real Prosody, the switchboard process and a scripted
//! IRC server (`support::hostile_irc`) offering the capability, since no
//! server packaged in Debian has it (Ergo, UnrealIRCd 6 and soju do).

mod common;

use common::support::hostile_irc::{HostileIrc, HOSTILE_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::{Duration, SystemTime};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "chathistory-secret";
const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// What the catch-up needs, as Ergo offers it.
const CAPS: &str = "batch draft/chathistory message-tags server-time";

/// Prosody, the scripted server, the gateway and alice, registered.
struct World {
    _prosody: Prosody,
    irc: HostileIrc,
    _gateway: Switchboard,
    alice: Client,
}

async fn world(irc: HostileIrc) -> World {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
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
        _gateway: gateway,
        alice,
    }
}

fn room() -> String {
    format!("#test%{HOSTILE_HOST}@{GW}")
}

fn occupant(nick: &str) -> Jid {
    format!("{}/{nick}", room()).parse().unwrap()
}

/// The server's side of a join: the JOIN echoed, then NAMES.
async fn accept_join(irc: &HostileIrc) {
    let nick = irc.nick();
    irc.send([
        format!(":{nick}!u@h JOIN #test"),
        format!(":{HOSTILE_HOST} 353 {nick} = #test :{nick} bob carol"),
        format!(":{HOSTILE_HOST} 366 {nick} #test :End of NAMES"),
    ])
    .await;
}

/// alice joins `#test` through the scripted server (no join history).
async fn in_room(w: &mut World) {
    let x: Element = format!("<x xmlns='{MUC}'><history maxstanzas='0'/></x>")
        .parse()
        .unwrap();
    let mut p = Presence::available().with_to(occupant("alice"));
    p.payloads.push(x);
    w.alice.send(p).await;
    w.irc.registered().await;
    w.irc.wait_for(|l| l == "JOIN #test").await;
    accept_join(&w.irc).await;
    let me = occupant("alice");
    w.alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&me) && p.type_ == Type::None && has_110(p) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
}

fn has_110(p: &Presence) -> bool {
    p.payloads
        .iter()
        .filter(|e| e.is("x", MUC_USER))
        .flat_map(|x| x.children())
        .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
}

/// A room message alice got from bob or carol: (nick, body, id, delay).
type Got = (String, String, Option<String>, Option<Element>);

/// Waits for the next groupchat message from bob or carol.
async fn next_from_people(alice: &mut Client) -> Got {
    let people = [occupant("bob"), occupant("carol")];
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref().is_some_and(|f| people.contains(f)) =>
            {
                Some(got(m))
            }
            _ => None,
        })
        .await
}

fn got(m: &Message) -> Got {
    let nick = m
        .from
        .as_ref()
        .and_then(|f| f.resource())
        .map(|r| r.to_string())
        .unwrap_or_default();
    let body = m
        .get_best_body(vec![])
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    let delay = m
        .payloads
        .iter()
        .find(|p| p.is("delay", "urn:xmpp:delay"))
        .cloned();
    (nick, body, m.id.clone().map(|i| i.0), delay)
}

/// `seconds_ago` before now, as server-time writes it.
fn server_time(now: SystemTime, seconds_ago: u64) -> String {
    let t = now - Duration::from_secs(seconds_ago);
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    let secs = d.as_secs();
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The server drops the link; waits for the gateway to reconnect and
/// rejoin, and accepts the join. Returns the lines received before.
async fn drop_and_rejoin(irc: &HostileIrc) -> usize {
    let seen = irc.received().len();
    irc.hang_up().await;
    irc.wait_for_from(seen, |l| l == "JOIN #test").await;
    accept_join(irc).await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnect_the_missed_messages_arrive_once_with_their_time() {
    let mut w = world(HostileIrc::start_offering(CAPS, "CHATHISTORY=50").await).await;
    in_room(&mut w).await;
    let now = SystemTime::now();
    let (t1, t2, t3, t4) = (
        server_time(now, 300),
        server_time(now, 290),
        server_time(now, 200),
        server_time(now, 190),
    );
    w.irc
        .send([
            format!("@msgid=m1;time={t1} :bob!u@h PRIVMSG #test :one"),
            format!("@msgid=m2;time={t2} :bob!u@h PRIVMSG #test :two"),
        ])
        .await;
    assert_eq!(next_from_people(&mut w.alice).await.1, "one");
    assert_eq!(next_from_people(&mut w.alice).await.1, "two");
    // A first join asked for nothing.
    assert!(
        !w.irc
            .received()
            .iter()
            .any(|l| l.starts_with("CHATHISTORY")),
        "{:?}",
        w.irc.received()
    );

    let seen = drop_and_rejoin(&w.irc).await;
    let asked = w
        .irc
        .wait_for_from(seen, |l| l.starts_with("CHATHISTORY"))
        .await;
    assert_eq!(asked, "CHATHISTORY AFTER #test msgid=m2 50");

    // The catch-up: the last message seen again, then two missed ones.
    w.irc
        .send([
            format!(":{HOSTILE_HOST} BATCH +h1 chathistory #test"),
            format!("@batch=h1;msgid=m2;time={t2} :bob!u@h PRIVMSG #test :two"),
            format!("@batch=h1;msgid=m3;time={t3} :carol!u@h PRIVMSG #test :three"),
            format!("@batch=h1;msgid=m4;time={t4} :bob!u@h PRIVMSG #test :\x01ACTION four\x01"),
            format!(":{HOSTILE_HOST} BATCH -h1"),
            ":bob!u@h PRIVMSG #test :live again".to_owned(),
        ])
        .await;
    let mut after = Vec::new();
    loop {
        let m = next_from_people(&mut w.alice).await;
        let last = m.1 == "live again";
        after.push(m);
        if last {
            break;
        }
    }
    let delay = |stamp: &str| -> Element {
        format!(
            "<delay xmlns='urn:xmpp:delay' from='{}' stamp='{stamp}'/>",
            room()
        )
        .parse()
        .unwrap()
    };
    let summary: Vec<(&str, &str, Option<&str>)> = after
        .iter()
        .map(|(n, b, id, _)| (n.as_str(), b.as_str(), id.as_deref()))
        .collect();
    assert_eq!(
        summary.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>(),
        [
            ("carol", "three"),
            ("bob", "/me four"),
            ("bob", "live again")
        ],
        "exactly the two missed messages, in order, before the live one"
    );
    assert_eq!((summary[0].2, summary[1].2), (Some("m3"), Some("m4")));
    assert_eq!(after[0].3, Some(delay(&t3)));
    assert_eq!(after[1].3, Some(delay(&t4)));
    assert_eq!(after[2].3, None, "a live message has no delay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_cap_is_asked_for_no_history_and_late_lines_are_stamped() {
    let mut w = world(HostileIrc::start_offering("message-tags server-time", "").await).await;
    in_room(&mut w).await;
    // A line over a minute late (a bouncer's playback, a lagging link)
    // is shown at its time; a recent one is not stamped.
    let now = SystemTime::now();
    let (late, recent) = (server_time(now, 100), server_time(now, 5));
    w.irc
        .send([
            format!("@msgid=m1;time={late} :bob!u@h PRIVMSG #test :late"),
            format!("@msgid=m2;time={recent} :bob!u@h PRIVMSG #test :recent"),
        ])
        .await;
    let stamp = |m: &Got| {
        m.3.as_ref()
            .and_then(|d| d.attr("stamp").map(str::to_owned))
    };
    let m = next_from_people(&mut w.alice).await;
    assert_eq!((m.1.as_str(), stamp(&m)), ("late", Some(late)));
    let m = next_from_people(&mut w.alice).await;
    assert_eq!((m.1.as_str(), stamp(&m)), ("recent", None));
    let seen = drop_and_rejoin(&w.irc).await;
    // Lines are handled in order: once the PING after the join is
    // answered, any request for the join has been sent.
    w.irc.send(["PING :after-rejoin"]).await;
    w.irc
        .wait_for_from(seen, |l| l.contains("after-rejoin"))
        .await;
    let lines = w.irc.received();
    assert!(
        !lines.iter().any(|l| l.starts_with("CHATHISTORY")),
        "{lines:?}"
    );
}
