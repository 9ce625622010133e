//! IRCv3 end to end: a real XMPP client, a real Prosody, the switchboard
//! process and a real InspIRCd 3 with its IRCv3 modules (echo-message,
//! labeled-response, server-time, msgid, away-notify ...), with a raw IRC
//! client on the other side that asks for tags and checks what arrives.

mod common;

use common::room::{body, groupchat, irc_config, join, occupant, GW};

use common::support::ircd::{InspIrcd, IrcClient, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::{Show, Type};

const SECRET: &str = "irc-secret";

fn config(prosody: &Prosody, ircd: &InspIrcd) -> String {
    irc_config(prosody.component_port, ircd.port, SECRET)
}

/// Join history carries an XEP-0203 delay.
fn delay_stamp(m: &Message) -> Option<String> {
    m.payloads
        .iter()
        .find(|p| p.is("delay", "urn:xmpp:delay"))
        .and_then(|d| d.attr("stamp").map(str::to_owned))
}

/// A live groupchat message from `nick` with body `text`.
fn live_from(s: &Stanza, nick: &str, text: &str) -> Option<Message> {
    match s {
        Stanza::Message(m)
            if m.type_ == MessageType::Groupchat
                && m.from.as_ref() == Some(&occupant(nick))
                && body(m) == text
                && delay_stamp(m).is_none() =>
        {
            Some(m.clone())
        }
        _ => None,
    }
}

/// The value of tag `name` on a raw IRC line.
fn tag(line: &str, name: &str) -> Option<String> {
    let tags = line.strip_prefix('@')?.split(' ').next()?;
    tags.split(';').find_map(|t| {
        let (k, v) = t.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Microseconds since the epoch of an RFC 3339 UTC stamp
/// (`YYYY-MM-DDThh:mm:ss[.frac]Z`), enough to compare two stamps.
fn micros(stamp: &str) -> i64 {
    let s = stamp.strip_suffix('Z').expect("a UTC stamp");
    let (date, time) = s.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let frac_us: i64 = format!("{frac:0<6}")[..6].parse().unwrap();
    // Days from the civil date (the year and month matter only relative).
    let days = d[0] * 372 + d[1] * 31 + d[2];
    ((days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) * 1_000_000) + frac_us
}

/// Through InspIRCd 3 with its IRCv3 modules: the user's message is
/// reflected once, with the client's id, after the server's echo, and not
/// at all when the server refuses it (an error instead); an IRC user's
/// message has the server's msgid as its XMPP id and the server's time as
/// its join-history delay stamp; an occupant away before the join, and
/// one who goes away (away-notify), are shown away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ircv3_through_inspircd() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = InspIrcd::start();
    let mut gateway = Switchboard::start(&config(&prosody, &ircd));

    // bob sees tags: his own lines come back with the server's msgid and time.
    let mut bob =
        IrcClient::connect_with_caps(ircd.port, "bob", "message-tags server-time echo-message")
            .await;
    bob.send("JOIN #test").await;
    bob.expect(|l| l.contains(" 366 ")).await;

    // carol is away before alice comes.
    let mut carol = IrcClient::connect(ircd.port, "carol").await;
    carol.join("#test").await;
    carol.send("AWAY :gone").await;
    carol.expect(|l| l.contains(" 306 ")).await;

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join(&mut alice, "alice").await;
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&occupant("alice")) => Some(()),
            _ => None,
        })
        .await;
    bob.expect(|l| l.contains(":alice!") && l.contains(" JOIN "))
        .await;

    // Away already when alice joined: shown away.
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&occupant("carol")) && p.show == Some(Show::Away) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;

    // XMPP → IRC: one reflection, with alice's id; a two-line message is
    // two IRC lines and still one reflection.
    groupchat(&mut alice, "m1", "hello from xmpp").await;
    let echo = alice
        .wait_for(|s| live_from(s, "alice", "hello from xmpp"))
        .await;
    assert_eq!(echo.id.map(|i| i.0).as_deref(), Some("m1"));
    groupchat(&mut alice, "m2", "first line\nsecond line").await;
    let mut m2_parts = Vec::new();
    for line in ["first line", "second line"] {
        let seen = bob
            .expect(|l| l.contains(":alice!") && l.ends_with(&format!("PRIVMSG #test :{line}")))
            .await;
        m2_parts.push(tag(&seen, "msgid").expect("InspIRCd gives a msgid"));
    }
    let echo = alice
        .wait_for(|s| live_from(s, "alice", "first line\nsecond line"))
        .await;
    let m2_stanza_id = stanza_id(&echo).expect("a stanza-id");
    assert_eq!(m2_stanza_id.1, format!("#test%{IRC_HOST}@{GW}"));
    assert_eq!(echo.id.map(|i| i.0).as_deref(), Some("m2"));

    // IRC → XMPP: the server's msgid is the message's id.
    bob.send("PRIVMSG #test :from irc").await;
    let own_echo = bob.expect(|l| l.ends_with("PRIVMSG #test :from irc")).await;
    let msgid = tag(&own_echo, "msgid").expect("InspIRCd gives a msgid");
    let time = tag(&own_echo, "time").expect("InspIRCd gives the time");
    let got = alice.wait_for(|s| live_from(s, "bob", "from irc")).await;
    assert_eq!(got.id.map(|i| i.0), Some(msgid.clone()));

    // The server refuses alice's line (moderated, she has no voice): no
    // reflection; the server's words tell her why.
    bob.send("MODE #test +m").await;
    bob.expect(|l| l.contains(" MODE #test ") && l.ends_with("+m"))
        .await;
    groupchat(&mut alice, "m3", "nobody hears this").await;
    let refusal = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Chat && body(m).contains("moderated") => {
                Some(body(m))
            }
            _ => None,
        })
        .await;
    assert!(refusal.contains("#test"), "{refusal}");
    bob.send("MODE #test -m").await;
    bob.send("PRIVMSG #test :marker").await;
    alice.wait_for(|s| live_from(s, "bob", "marker")).await;

    // Everything before the marker has arrived: count the reflections.
    let mut reflections = Vec::new();
    while let Some(m) = alice
        .maybe(Duration::ZERO, |s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(&occupant("alice"))
                    && delay_stamp(m).is_none() =>
            {
                Some(body(m))
            }
            _ => None,
        })
        .await
    {
        reflections.push(m);
    }
    assert!(
        reflections.is_empty(),
        "each message reflected once and the refused one never: {reflections:?} more"
    );

    // away-notify: bob goes away, alice sees him away.
    bob.send("AWAY :lunch").await;
    let away = alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&occupant("bob")) => {
                p.show.clone().filter(|s| *s == Show::Away)
            }
            _ => None,
        })
        .await;
    assert_eq!(away, Show::Away);

    // A second resource joins: bob's message in its history has the
    // server's time as its delay stamp, and the server's id.
    let mut alice2 =
        Client::login(&format!("alice@{DOMAIN}/second"), "pass", prosody.c2s_port).await;
    join(&mut alice2, "alice").await;
    let history = alice2
        .wait_for(|s| match s {
            Stanza::Message(m)
                if body(m) == "from irc" && m.from.as_ref() == Some(&occupant("bob")) =>
            {
                delay_stamp(m).map(|d| (d, m.id.clone().map(|i| i.0)))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        micros(&history.0),
        micros(&time),
        "delay stamp {} is the server's time {time}",
        history.0
    );
    assert_eq!(history.1, Some(msgid.clone()));
    // The second resource sees bob away too.
    let p = alice2
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&occupant("bob")) && p.type_ == Type::None =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(p.show, Some(Show::Away));

    // Direct messages, under the same id policy: bob's carries the
    // server's msgid as its id and the gateway's stanza-id, `by` the
    // contact's JID it comes from.
    let bob_jid = format!("bob%{IRC_HOST}@{GW}");
    bob.send("PRIVMSG alice :psst").await;
    let own_echo = bob.expect(|l| l.ends_with("PRIVMSG alice :psst")).await;
    let dm_msgid = tag(&own_echo, "msgid").expect("InspIRCd gives a msgid");
    let dm = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Chat
                    && m.from.as_ref().map(|f| f.to_string()) == Some(bob_jid.clone()) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body(&dm), "psst");
    assert_eq!(
        dm.id.as_ref().map(|i| i.0.as_str()),
        Some(dm_msgid.as_str())
    );
    let (dm_sid, by) = stanza_id(&dm).expect("a stanza-id on a direct message");
    assert_eq!(by, bob_jid);
    assert!(dm_sid.parse::<i64>().unwrap() > m2_stanza_id.0.parse::<i64>().unwrap());
    // alice's to bob: its echo maps her id to the server's msgid.
    let mut to_bob = Message::chat(Some(bob_jid.parse().unwrap()))
        .with_body(xmpp_parsers::message::Lang::new(), "hi bob".into());
    to_bob.id = Some(xmpp_parsers::message::Id("d1".into()));
    alice.send(to_bob).await;
    let seen = bob.expect(|l| l.ends_with("PRIVMSG bob :hi bob")).await;
    let d1_msgid = tag(&seen, "msgid").expect("InspIRCd gives a msgid");
    // A marker through the same connection: alice's echo came before it.
    bob.send("PRIVMSG #test :last").await;
    alice.wait_for(|s| live_from(s, "bob", "last")).await;

    // What the gateway kept (read after a clean stop, which writes what is
    // queued): each part of alice's two-line message mapped to her id and
    // stanza-id, in the room's scope; her direct message in bob's; bob's
    // room message archived with the server's id and his user id.
    gateway.stop();
    let db = format!(
        "sqlite://{}",
        gateway.dir.path().join("switchboard.db").display()
    );
    let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
    let user = format!("alice@{DOMAIN}");
    let room = format!("#test%{IRC_HOST}");
    let rows: Vec<(String, i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT xmpp_id, part, network_id, stanza_id FROM id_map
         WHERE user_jid = ? AND network = 'irc' AND conversation = ? AND xmpp_id = 'm2'
         ORDER BY part",
    )
    .bind(&user)
    .bind(&room)
    .fetch_all(&pool)
    .await
    .unwrap();
    let sid: i64 = m2_stanza_id.0.parse().unwrap();
    assert_eq!(
        rows,
        [
            ("m2".to_owned(), 0, m2_parts[0].clone(), Some(sid)),
            ("m2".to_owned(), 1, m2_parts[1].clone(), Some(sid)),
        ]
    );
    let rows: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT xmpp_id, part, network_id FROM id_map
         WHERE user_jid = ? AND conversation = ? ORDER BY part",
    )
    .bind(&user)
    .bind(format!("bob%{IRC_HOST}"))
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows, [("d1".to_owned(), 0, d1_msgid)]);
    let archived: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT xmpp_id, author_id, extra FROM archive
         WHERE user_jid = ? AND room = ? AND network_id = ?",
    )
    .bind(&user)
    .bind(&room)
    .bind(&msgid)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        archived,
        (Some(msgid.clone()), Some(format!("bob%{IRC_HOST}")), None)
    );
    pool.close().await;
}

/// A message's XEP-0359 stanza-id: (id, by).
fn stanza_id(m: &Message) -> Option<(String, String)> {
    m.payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .map(|p| {
            (
                p.attr("id").unwrap_or("").to_owned(),
                p.attr("by").unwrap_or("").to_owned(),
            )
        })
}
