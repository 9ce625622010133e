//! IRC channels as MUCs, end to end: a real XMPP client, a real Prosody, the
//! switchboard process and a real IRC server (ngircd), with a raw IRC client
//! on the other side checking what arrives.

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "irc-secret";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

fn config(prosody: &Prosody, ircd: &Ircd) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, ircd.port
    )
}

fn room() -> String {
    format!("#test%{IRC_HOST}@{GW}")
}

fn occupant(nick: &str) -> Jid {
    format!("{}/{nick}", room()).parse().unwrap()
}

/// A MUC item: affiliation, role, new nick.
type ItemInfo = (String, String, Option<String>);

/// The status codes and item of a MUC presence.
fn muc_info(p: &Presence) -> (Vec<String>, Option<ItemInfo>) {
    let Some(x) = p.payloads.iter().find(|e| e.is("x", MUC_USER)) else {
        return (vec![], None);
    };
    let codes = x
        .children()
        .filter(|c| c.name() == "status")
        .filter_map(|c| c.attr("code").map(str::to_owned))
        .collect();
    let item = x.get_child("item", MUC_USER).map(|i| {
        (
            i.attr("affiliation").unwrap_or("").to_owned(),
            i.attr("role").unwrap_or("").to_owned(),
            i.attr("nick").map(str::to_owned),
        )
    });
    (codes, item)
}

async fn join(client: &mut Client, nick: &str) {
    let mut p = Presence::available().with_to(occupant(nick));
    p.payloads.push(
        Element::builder("x", "http://jabber.org/protocol/muc")
            .append(Element::builder("history", "http://jabber.org/protocol/muc").build())
            .build(),
    );
    client.send(p).await;
}

async fn groupchat(client: &mut Client, id: &str, body: &str) {
    let mut m = Message::groupchat(Some(room().parse::<Jid>().unwrap()))
        .with_body(Lang::new(), body.to_owned());
    m.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    client.send(m).await;
}

/// Waits for a groupchat body from an occupant.
async fn groupchat_from(client: &mut Client, nick: &str) -> Message {
    let from = occupant(nick);
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(&from)
                    && !m.bodies.is_empty()
                    && !is_history(m) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

async fn presence_from(client: &mut Client, from: Jid, type_: Type) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&from) && p.type_ == type_ => {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// Join history carries an XEP-0203 delay.
fn is_history(m: &Message) -> bool {
    m.payloads.iter().any(|p| p.is("delay", "urn:xmpp:delay"))
}

fn body(m: &Message) -> String {
    m.get_best_body(vec![])
        .map(|(_, b)| b.clone())
        .unwrap_or_default()
}

/// The text of the PRIVMSGs `client` got in `target`, in order.
fn privmsgs(client: &IrcClient, target: &str) -> Vec<String> {
    let infix = format!(" PRIVMSG {target} :");
    client
        .seen
        .iter()
        .filter_map(|l| l.split_once(&infix).map(|(_, t)| t.to_owned()))
        .collect()
}

/// One page of a MAM query on the room.
struct Page {
    bodies: Vec<String>,
    first: String,
    last: String,
    complete: bool,
}

async fn mam_page(client: &mut Client, rsm: &str, max: usize) -> Page {
    let query: Element = format!(
        "<query xmlns='urn:xmpp:mam:2' queryid='q{max}'>\
         <set xmlns='http://jabber.org/protocol/rsm'><max>{max}</max>{rsm}</set></query>"
    )
    .parse()
    .unwrap();
    let fin = client.iq(&room(), true, query).await;
    let fin = common::result_payload(fin).expect("a <fin/>");
    let set = fin
        .get_child("set", "http://jabber.org/protocol/rsm")
        .unwrap();
    let text = |n: &str| {
        set.get_child(n, "http://jabber.org/protocol/rsm")
            .map(|e| e.text())
            .unwrap_or_default()
    };
    let (first, last) = (text("first"), text("last"));
    // The results arrived before the <fin/>, and are kept by the client.
    let mut bodies = Vec::new();
    while let Some(b) = client
        .maybe(Duration::from_millis(200), |s| match s {
            Stanza::Message(m) => m
                .payloads
                .iter()
                .find(|p| p.is("result", "urn:xmpp:mam:2"))
                .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
                .and_then(|f| f.get_child("message", "jabber:client"))
                .and_then(|m| m.get_child("body", "jabber:client"))
                .map(|b| b.text()),
            _ => None,
        })
        .await
    {
        bodies.push(b);
    }
    Page {
        bodies,
        first,
        last,
        complete: fin.attr("complete") == Some("true"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_channel_as_muc() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let mut ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));

    // On IRC: bob makes the channel (and is its operator) and sets a topic.
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    bob.send("TOPIC #test :Welcome \x02all\x02").await;
    bob.expect(|l| l.contains(" TOPIC #test ")).await;

    // alice registers (chat command) and joins from XMPP.
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join(&mut alice, "alice").await;
    let bob_presence = presence_from(&mut alice, occupant("bob"), Type::None).await;
    let (_, item) = muc_info(&bob_presence);
    assert_eq!(
        item.map(|i| (i.0, i.1)),
        Some(("admin".into(), "moderator".into())),
        "bob is an operator"
    );
    let own = presence_from(&mut alice, occupant("alice"), Type::None).await;
    assert!(
        muc_info(&own).0.contains(&"110".to_owned()),
        "self-presence has 110"
    );
    let room_jid: Jid = room().parse().unwrap();
    let subject = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&room_jid) && !m.subjects.is_empty() => {
                m.get_best_subject(vec![]).map(|(_, s)| s.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        subject, "Welcome *all*",
        "topic as subject, IRC bold as styling"
    );
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":alice!"))
        .await;

    // IRC → XMPP: non-ASCII text and formatting.
    bob.send("PRIVMSG #test :héllo wörld \x02bold\x02").await;
    let m = groupchat_from(&mut alice, "bob").await;
    assert_eq!(body(&m), "héllo wörld *bold*");
    assert!(
        m.payloads
            .iter()
            .any(|p| p.is("stanza-id", "urn:xmpp:sid:0")),
        "live messages carry their archive id"
    );

    // XMPP → IRC: a reflected message keeps its id; styling becomes IRC codes.
    groupchat(&mut alice, "m1", "hi *there* ✓").await;
    let echo = groupchat_from(&mut alice, "alice").await;
    assert_eq!(echo.id.as_ref().map(|i| i.0.as_str()), Some("m1"));
    bob.expect(|l| l.ends_with("PRIVMSG #test :hi \x02there\x02 ✓"))
        .await;

    // A CR/LF injection attempt arrives as text, never as a command.
    groupchat(&mut alice, "m2", "line one\r\nQUIT :pwned\nJOIN #evil").await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :JOIN #evil"))
        .await;
    let got = privmsgs(&bob, "#test");
    assert!(
        got.contains(&"line one".to_owned()) && got.contains(&"QUIT :pwned".to_owned()),
        "{got:?}"
    );
    assert!(
        !bob.seen
            .iter()
            .any(|l| l.starts_with(":alice!") && l.contains(" QUIT ")),
        "alice must not quit"
    );

    // A 2,000-character body is split at the protocol limit, nothing lost.
    let long: String = "ünïcödé words ".repeat(150);
    let mark = bob.seen.len();
    groupchat(&mut alice, "m3", &long).await;
    let mut lines: Vec<String> = Vec::new();
    for _ in 0..50 {
        lines = bob.seen[mark..]
            .iter()
            .filter(|l| l.starts_with(":alice!"))
            .filter_map(|l| l.split_once(" PRIVMSG #test :").map(|(_, t)| t.to_owned()))
            .collect();
        if lines.join(" ").len() >= long.trim_end().len() {
            break;
        }
        bob.expect_within(Duration::from_secs(1), |l| l.contains(" PRIVMSG #test :"))
            .await;
    }
    // Split at spaces, so the lines joined with spaces are the body.
    assert_eq!(
        lines.join(" "),
        long.trim_end(),
        "the long body arrived whole"
    );
    assert!(lines.len() >= 5, "split into {} lines", lines.len());
    for l in bob.seen[mark..]
        .iter()
        .filter(|l| l.contains(" PRIVMSG #test :"))
    {
        assert!(
            l.len() + 2 <= 512,
            "a line of {} bytes reached IRC",
            l.len()
        );
    }

    // Private messages both ways.
    bob.send("PRIVMSG alice :psst").await;
    let bob_jid = format!("bob%{IRC_HOST}@{GW}");
    assert_eq!(alice.reply_from(&bob_jid).await, "psst");
    alice.say(&bob_jid, "hi bob").await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("PRIVMSG bob :hi bob"))
        .await;
    // A private message to an occupant goes to that IRC user.
    let mut pm = Message::chat(Some(occupant("bob"))).with_body(Lang::new(), "via the room".into());
    pm.id = Some(xmpp_parsers::message::Id("pm1".into()));
    alice.send(pm).await;
    bob.expect(|l| l.ends_with("PRIVMSG bob :via the room"))
        .await;

    // A second resource of alice shares the one IRC connection.
    let mut alice2 =
        Client::login(&format!("alice@{DOMAIN}/second"), "pass", prosody.c2s_port).await;
    join(&mut alice2, "alice").await;
    presence_from(&mut alice2, occupant("bob"), Type::None).await;
    let own2 = presence_from(&mut alice2, occupant("alice"), Type::None).await;
    assert!(muc_info(&own2).0.contains(&"110".to_owned()));
    // The newly joined resource gets the room's history, with delay stamps.
    let bob_jid_in_room = occupant("bob");
    let history = alice2
        .wait_for(|s| match s {
            Stanza::Message(m) if is_history(m) && m.from.as_ref() == Some(&bob_jid_in_room) => {
                Some(body(m))
            }
            _ => None,
        })
        .await;
    assert_eq!(history, "héllo wörld *bold*");
    bob.send("PRIVMSG #test :to both").await;
    assert_eq!(body(&groupchat_from(&mut alice, "bob").await), "to both");
    assert_eq!(body(&groupchat_from(&mut alice2, "bob").await), "to both");
    assert_eq!(
        bob.seen
            .iter()
            .filter(|l| l.starts_with(":alice") && l.contains(" JOIN "))
            .count(),
        1,
        "one IRC join for two resources"
    );

    // The archive: 50 messages, then MAM pages on the room JID, newest page first.
    for i in 1..=50 {
        groupchat(&mut alice, &format!("n{i}"), &format!("numbered {i}")).await;
    }
    let from_alice = occupant("alice");
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from_alice) && body(m) == "numbered 50" =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    let last_page = mam_page(&mut alice, "<before/>", 20).await;
    assert_eq!(
        last_page.bodies,
        (31..=50)
            .map(|i| format!("numbered {i}"))
            .collect::<Vec<_>>()
    );
    assert!(!last_page.complete);
    let before = format!("<before>{}</before>", last_page.first);
    let page = mam_page(&mut alice, &before, 20).await;
    assert_eq!(
        page.bodies,
        (11..=30)
            .map(|i| format!("numbered {i}"))
            .collect::<Vec<_>>()
    );
    let after = format!("<after>{}</after>", page.last);
    let forward = mam_page(&mut alice, &after, 100).await;
    assert_eq!(forward.bodies.len(), 20, "after the page: the 20 newest");
    assert!(forward.complete);

    // Nick change, join, kick, part, quit as seen from XMPP.
    let mut carol = IrcClient::connect(ircd.port, "carol").await;
    carol.join("#test").await;
    presence_from(&mut alice, occupant("carol"), Type::None).await;
    bob.send("NICK bobby").await;
    let gone = presence_from(&mut alice, occupant("bob"), Type::Unavailable).await;
    let (codes, item) = muc_info(&gone);
    assert!(
        codes.contains(&"303".to_owned()),
        "nick change is 303: {codes:?}"
    );
    assert_eq!(item.and_then(|i| i.2).as_deref(), Some("bobby"));
    presence_from(&mut alice, occupant("bobby"), Type::None).await;
    bob.nick = "bobby".into();
    bob.send("KICK #test carol :out").await;
    let kicked = presence_from(&mut alice, occupant("carol"), Type::Unavailable).await;
    assert!(
        muc_info(&kicked).0.contains(&"307".to_owned()),
        "kick is 307"
    );
    let mut dave = IrcClient::connect(ircd.port, "dave").await;
    dave.join("#test").await;
    presence_from(&mut alice, occupant("dave"), Type::None).await;
    dave.send("PART #test :bye").await;
    presence_from(&mut alice, occupant("dave"), Type::Unavailable).await;
    let mut erin = IrcClient::connect(ircd.port, "erin").await;
    erin.join("#test").await;
    presence_from(&mut alice, occupant("erin"), Type::None).await;
    erin.send("QUIT :gone").await;
    presence_from(&mut alice, occupant("erin"), Type::Unavailable).await;

    // XEP-0410: a ping to one's own occupant JID says one is joined.
    let pong = alice
        .iq(
            &format!("{}/alice", room()),
            false,
            Element::builder("ping", "urn:xmpp:ping").build(),
        )
        .await;
    assert!(
        matches!(pong, xmpp_parsers::iq::Iq::Result { .. }),
        "{pong:?}"
    );
    let not_me = alice
        .iq(
            &format!("{}/bobby", room()),
            false,
            Element::builder("ping", "urn:xmpp:ping").build(),
        )
        .await;
    assert!(matches!(not_me, xmpp_parsers::iq::Iq::Error { .. }));

    // A nick taken on IRC: the rename is refused with 409 conflict.
    alice
        .send(Presence::available().with_to(occupant("bobby")))
        .await;
    let conflict = presence_from(&mut alice, occupant("bobby"), Type::Error).await;
    let error = conflict
        .payloads
        .iter()
        .find(|p| p.name() == "error")
        .expect("an <error/>");
    assert!(
        error.children().any(|c| c.name() == "conflict"),
        "{error:?}"
    );

    // The room's archive switch: off, and live messages carry no archive id.
    let configure = |form: &str| -> Element {
        format!("<command xmlns='http://jabber.org/protocol/commands' node='configure' action='execute'>{form}</command>")
            .parse()
            .unwrap()
    };
    let step = common::result_payload(alice.iq(&room(), true, configure("")).await).unwrap();
    assert_eq!(step.attr("status"), Some("executing"));
    let off = "<x xmlns='jabber:x:data' type='submit'><field var='archive'><value>false</value></field></x>";
    let done = common::result_payload(alice.iq(&room(), true, configure(off)).await).unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    bob.send("PRIVMSG #test :not archived").await;
    let m = groupchat_from(&mut alice, "bobby").await;
    assert_eq!(body(&m), "not archived");
    assert!(
        !m.payloads
            .iter()
            .any(|p| p.is("stanza-id", "urn:xmpp:sid:0")),
        "archive off: no stanza-id"
    );

    // An invalid channel name is answered with an error.
    let mut bad = Presence::available().with_to(
        format!("nochannel%{IRC_HOST}@{GW}/alice")
            .parse::<Jid>()
            .unwrap(),
    );
    bad.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(bad).await;
    let bad_room: Jid = format!("nochannel%{IRC_HOST}@{GW}").parse().unwrap();
    presence_from(&mut alice, bad_room, Type::Error).await;

    // The IRC server goes away and comes back: the user is told, the bridge
    // rejoins, and what was sent meanwhile is delivered.
    drop(carol);
    drop(dave);
    ircd.kill();
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&room_jid) && body(m).contains("Connection lost") =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    groupchat(&mut alice, "m-down", "sent while down").await;
    let reflected = |s: &Stanza| match s {
        Stanza::Message(m)
            if m.id.as_ref().is_some_and(|i| i.0 == "m-down")
                && m.type_ == MessageType::Groupchat =>
        {
            Some(())
        }
        _ => None,
    };
    assert!(
        alice
            .maybe(Duration::from_secs(1), reflected)
            .await
            .is_none(),
        "nothing can be sent while the server is down"
    );
    ircd.start_again();
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    // The queued message goes out once the bridge is back in the channel.
    alice.wait_for(reflected).await;
    let alice_was_back = bob
        .seen
        .iter()
        .any(|l| l.contains(" 353 ") && l.contains("alice"));
    if !alice_was_back {
        bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
            .await;
        bob.expect(|l| l.ends_with("PRIVMSG #test :sent while down"))
            .await;
    }
    bob.send("PRIVMSG #test :welcome back").await;
    assert_eq!(
        body(&groupchat_from(&mut alice, "bob").await),
        "welcome back"
    );

    // Leaving the last room closes the IRC connection and ends the session;
    // the next message or join starts a new one.
    for client in [&mut alice, &mut alice2] {
        client
            .send(Presence::unavailable().with_to(occupant("alice")))
            .await;
        presence_from(client, occupant("alice"), Type::Unavailable).await;
    }
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" PART #test"))
        .await;
    let mut status = String::new();
    for _ in 0..20 {
        alice.say(GW, "status").await;
        status = alice.reply_from(GW).await;
        if status.contains("no connection open") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        status.contains("no connection open"),
        "status after leaving: {status}"
    );
    bob.send("WHOIS alice").await;
    bob.expect(|l| l.contains(" 401 ") && l.contains(" alice "))
        .await;
    alice.say(&bob_jid, "still there?").await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("PRIVMSG bob :still there?"))
        .await;
    join(&mut alice, "alice").await;
    presence_from(&mut alice, occupant("alice"), Type::None).await;
    bob.expect(|l| l.starts_with(":alice!") && l.contains(" JOIN "))
        .await;
    bob.send("PRIVMSG #test :hello again").await;
    assert_eq!(
        body(&groupchat_from(&mut alice, "bob").await),
        "hello again"
    );
    drop(alice2);
}
