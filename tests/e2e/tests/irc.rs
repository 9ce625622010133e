//! IRC channels as MUCs, end to end: a real XMPP client, a real Prosody, the
//! switchboard process and a real IRC server (ngircd), with a raw IRC client
//! on the other side checking what arrives.

mod common;

use common::room::{
    body, groupchat, groupchat_from, irc_config, is_history, join, muc_info, occupant,
    presence_from, room, GW,
};
use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const SECRET: &str = "irc-secret";

fn config(prosody: &Prosody, ircd: &Ircd) -> String {
    irc_config(prosody.component_port, ircd.port, SECRET)
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

    // The room's archive switch: off, and live messages are not archived
    // (they still carry the gateway's stanza-id: one id policy).
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
        m.payloads
            .iter()
            .any(|p| p.is("stanza-id", "urn:xmpp:sid:0")),
        "archive off: a stanza-id still"
    );
    let newest = mam_page(&mut alice, "<before/>", 5).await;
    assert!(
        !newest.bodies.contains(&"not archived".to_owned()),
        "archive off: not in MAM: {:?}",
        newest.bodies
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

/// The stanza-id, id and origin-id of a room message.
fn ids(m: &Message) -> (Option<String>, Option<(String, String)>, Option<String>) {
    let stanza_id = m
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .map(|p| {
            (
                p.attr("id").unwrap_or("").to_owned(),
                p.attr("by").unwrap_or("").to_owned(),
            )
        });
    let origin = m
        .payloads
        .iter()
        .find(|p| p.is("origin-id", "urn:xmpp:sid:0"))
        .and_then(|p| p.attr("id").map(str::to_owned));
    (m.id.as_ref().map(|i| i.0.clone()), stanza_id, origin)
}

/// The features of a disco#info result.
fn features(info: &Element) -> Vec<String> {
    info.children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect()
}

/// What real clients rely on, asserted as the XEPs' examples show them:
/// the MUC `<x/>` in a refused join (XEP-0045 §7.2.8), the caps node
/// (XEP-0115 §6.2), the room's features, one id per message live and in
/// history with the client's origin-id kept (XEP-0359), one notice per
/// outage, and status 332 at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_clients_rely_on() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let mut ircd = Ircd::start();
    let mut gateway = Switchboard::start(&config(&prosody, &ircd));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let room_jid: Jid = room().parse().unwrap();

    // A join before registering: refused as XEP-0045 §7.2.8 shows, with the
    // MUC <x/> that ends the client's join, and the gateway's own words.
    let mut p = Presence::available().with_to(occupant("alice"));
    p.id = Some("join-1".into());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    // The component may still be connecting: ask again until it answers.
    let refused = loop {
        alice.send(p.clone()).await;
        let from = occupant("alice");
        let got = alice
            .maybe(Duration::from_secs(2), |s| match s {
                Stanza::Presence(p) if p.from.as_ref() == Some(&from) && p.type_ == Type::Error => {
                    Some(p.clone())
                }
                _ => None,
            })
            .await;
        if let Some(got) = got {
            break got;
        }
    };
    assert_eq!(refused.id.as_deref(), Some("join-1"));
    assert!(
        refused
            .payloads
            .iter()
            .any(|e| e.is("x", "http://jabber.org/protocol/muc")),
        "the error presence carries the MUC <x/>: {refused:?}"
    );
    let error = refused
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .expect("an <error/>");
    assert_eq!(error.attr("type"), Some("auth"));
    assert_eq!(error.attr("by"), Some(room().as_str()));
    assert!(error.has_child(
        "registration-required",
        "urn:ietf:params:xml:ns:xmpp-stanzas"
    ));
    assert_eq!(
        error
            .get_child("text", "urn:ietf:params:xml:ns:xmpp-stanzas")
            .map(|t| t.text()),
        Some("register with this gateway first".into())
    );

    // Registering brings the gateway's presence with caps; the caps node
    // (node#ver) answers with the domain's own info (XEP-0115 §6.2).
    alice.register_by_chat(GW, "nick=alice").await;
    let gw_jid: Jid = GW.parse().unwrap();
    let (node, ver) = alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&gw_jid) => p
                .payloads
                .iter()
                .find(|c| c.is("c", "http://jabber.org/protocol/caps"))
                .map(|c| {
                    (
                        c.attr("node").unwrap().to_owned(),
                        c.attr("ver").unwrap().to_owned(),
                    )
                }),
            _ => None,
        })
        .await;
    let caps_node = format!("{node}#{ver}");
    let by_node = alice
        .iq(
            GW,
            false,
            format!("<query xmlns='http://jabber.org/protocol/disco#info' node='{caps_node}'/>")
                .parse()
                .unwrap(),
        )
        .await;
    let by_node = common::result_payload(by_node).expect("the caps node is answered");
    assert_eq!(by_node.attr("node"), Some(caps_node.as_str()));
    let plain = common::result_payload(
        alice
            .iq(
                GW,
                false,
                Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
            )
            .await,
    )
    .unwrap();
    assert_eq!(features(&by_node), features(&plain));

    // The room says what it serves: stanza-ids and MAM.
    let info = common::result_payload(
        alice
            .iq(
                &room(),
                false,
                Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
            )
            .await,
    )
    .unwrap();
    let room_features = features(&info);
    for f in [
        "urn:xmpp:sid:0",
        "urn:xmpp:mam:2",
        "http://jabber.org/protocol/muc",
    ] {
        assert!(
            room_features.contains(&f.to_owned()),
            "{f}: {room_features:?}"
        );
    }

    // Live: bob's message carries the network's id and the gateway's
    // stanza-id; alice's reflection keeps her id and her origin-id.
    join(&mut alice, "alice").await;
    presence_from(&mut alice, occupant("alice"), Type::None).await;
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":alice!"))
        .await;
    bob.send("PRIVMSG #test :one").await;
    let live_bob = ids(&groupchat_from(&mut alice, "bob").await);
    let (Some(_), Some((_, by)), None) = &live_bob else {
        panic!("bob's message has an id and a stanza-id: {live_bob:?}");
    };
    assert_eq!(by, &room());
    let mut own = Message::groupchat(Some(room_jid.clone())).with_body(Lang::new(), "two".into());
    own.id = Some(xmpp_parsers::message::Id("m-own".into()));
    own.payloads.push(
        Element::builder("origin-id", "urn:xmpp:sid:0")
            .attr(
                xmpp_parsers::minidom::rxml::xml_ncname!("id").into(),
                "o-own",
            )
            .build(),
    );
    alice.send(own).await;
    let live_own = ids(&groupchat_from(&mut alice, "alice").await);
    assert_eq!(live_own.0.as_deref(), Some("m-own"));
    assert_eq!(live_own.2.as_deref(), Some("o-own"), "origin-id kept");
    assert!(live_own.1.is_some(), "the reflection has a stanza-id");
    bob.expect(|l| l.ends_with("PRIVMSG #test :two")).await;

    // History to a second resource: the same ids as live.
    let mut alice2 =
        Client::login(&format!("alice@{DOMAIN}/second"), "pass", prosody.c2s_port).await;
    join(&mut alice2, "alice").await;
    let mut history = Vec::new();
    while history.len() < 2 {
        history.push(
            alice2
                .wait_for(|s| match s {
                    Stanza::Message(m) if is_history(m) => Some(ids(m)),
                    _ => None,
                })
                .await,
        );
    }
    assert_eq!(history, [live_bob, live_own], "ids in history as live");

    // The IRC server goes away for several retries: one notice when it
    // drops, one when it is back, not one per retry.
    ircd.kill();
    let notices =
        |m: &Message| m.from.as_ref() == Some(&room_jid) && body(m).starts_with("Connection");
    let mut seen = Vec::new();
    let until = std::time::Instant::now() + Duration::from_secs(8);
    while std::time::Instant::now() < until {
        if let Some(text) = alice
            .maybe(Duration::from_millis(500), |s| match s {
                Stanza::Message(m) if notices(m) => Some(body(m)),
                _ => None,
            })
            .await
        {
            seen.push(text);
        }
    }
    assert_eq!(seen.len(), 1, "one notice for the outage: {seen:?}");
    ircd.start_again();
    let back = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if notices(m) => Some(body(m)),
            _ => None,
        })
        .await;
    assert_eq!(back, "Connection restored.");

    // Shutdown: each joined resource is told (XEP-0045 status 332).
    gateway.stop();
    for client in [&mut alice, &mut alice2] {
        let gone = presence_from(client, occupant("alice"), Type::Unavailable).await;
        let codes = muc_info(&gone).0;
        assert!(
            codes.contains(&"110".to_owned()) && codes.contains(&"332".to_owned()),
            "{codes:?}"
        );
    }
}
