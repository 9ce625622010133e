//! One user never stalls the others, and what one user may hold is bounded:
//! a real Prosody, the switchboard process, a real IRC server (ngircd) for
//! the user who behaves and for the one who floods a channel faster than
//! flood control lets lines out, and an IRC server in the test that lists
//! 500 channels with long names.

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{error_condition, result_payload, Client, Switchboard};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

const GW: &str = "irc.localhost";
const SECRET: &str = "iso-secret";
const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

/// The gateway's config: ngircd as `irc.localhost`, `extra` servers by
/// name and port, and `more` appended (a `[limits]` section).
fn config(prosody: &Prosody, ircd: &Ircd, extra: &[(&str, u16)], more: &str) -> String {
    let servers: String = extra
        .iter()
        .map(|(name, port)| format!("\"{name}\" = \"127.0.0.1:{port}\"\n"))
        .collect();
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n{more}\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n{servers}",
        prosody.component_port, ircd.port
    )
}

fn room_jid(channel: &str) -> String {
    format!("{channel}%{IRC_HOST}@{GW}")
}

/// Sends a MUC join for `channel` as `nick`.
async fn join(client: &mut Client, channel: &str, nick: &str) {
    let to: Jid = format!("{}/{nick}", room_jid(channel)).parse().unwrap();
    let mut p = Presence::available().with_to(to);
    p.payloads.push(Element::builder("x", MUC).build());
    client.send(p).await;
}

/// Waits for the user's own presence in a room (status 110) or an error
/// presence from it: `Ok(())` or `Err(condition)`.
async fn join_outcome(client: &mut Client, channel: &str) -> Result<(), DefinedCondition> {
    let room: Jid = room_jid(channel).parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref().map(Jid::to_bare) == Some(room.to_bare()) => {
                if p.type_ == Type::Error {
                    let error = p
                        .payloads
                        .iter()
                        .find_map(|e| {
                            xmpp_parsers::stanza_error::StanzaError::try_from(e.clone()).ok()
                        })
                        .expect("an error presence carries an error");
                    return Some(Err(error.defined_condition));
                }
                let own = p.payloads.iter().any(|x| {
                    x.is("x", MUC_USER)
                        && x.children()
                            .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
                });
                own.then_some(Ok(()))
            }
            _ => None,
        })
        .await
}

/// The condition and type of a message error.
fn message_error(m: &Message) -> Option<(DefinedCondition, ErrorType, String)> {
    if m.type_ != MessageType::Error {
        return None;
    }
    let e = m
        .payloads
        .iter()
        .find_map(|e| xmpp_parsers::stanza_error::StanzaError::try_from(e.clone()).ok())?;
    let text = e.texts.values().next().cloned().unwrap_or_default();
    Some((e.defined_condition, e.type_, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_user_is_refused_while_others_carry_on() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    prosody.register("bob", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd, &[], ""));
    let mut carol = IrcClient::connect(ircd.port, "carol").await;
    carol.join("#test").await;

    // Alice writes into a real channel faster than flood control lets her
    // lines out (a burst of 5, then 2 a second: this takes twenty minutes
    // to drain). She sends more than her queue (1024 by default) and the
    // IRC session's and connection's channels hold together.
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join(&mut alice, "#flood", "alice").await;
    assert_eq!(join_outcome(&mut alice, "#flood").await, Ok(()));
    let flood: Jid = room_jid("#flood").parse().unwrap();
    const SENT: usize = 2300;
    for i in 1..=SENT {
        let mut m =
            Message::groupchat(Some(flood.clone())).with_body(Lang::new(), format!("message {i}"));
        m.id = Some(xmpp_parsers::message::Id(format!("m{i}")));
        alice.send(m).await;
    }
    // A join and a room list in the same burst meet the same full queue.
    let to: Jid = format!("{}/alice", room_jid("#x")).parse().unwrap();
    let mut p = Presence::available().with_to(to);
    p.payloads.push(Element::builder("x", MUC).build());
    alice.send(p).await;
    alice
        .send(xmpp_parsers::iq::Iq::Get {
            from: None,
            to: Some(format!("{IRC_HOST}@{GW}").parse().unwrap()),
            id: "list-when-full".into(),
            payload: Element::builder("query", "http://jabber.org/protocol/disco#items").build(),
        })
        .await;
    // The overflow is refused at once, each message with resource-constraint
    // (type wait), up to the last one: the router went through all of them.
    let mut refused = 0;
    let last = format!("m{SENT}");
    alice
        .wait_for(|s| match s {
            Stanza::Message(m) => {
                let (condition, type_, text) = message_error(m)?;
                assert_eq!(condition, DefinedCondition::ResourceConstraint, "{text}");
                assert_eq!(type_, ErrorType::Wait);
                assert!(text.contains("queue"), "{text}");
                refused += 1;
                (m.id.as_ref().map(|i| i.0.as_str()) == Some(last.as_str())).then_some(())
            }
            _ => None,
        })
        .await;
    eprintln!("{refused} of {SENT} messages refused with resource-constraint");
    let room: Jid = room_jid("#x").parse().unwrap();
    let error = alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::Error
                    && p.from.as_ref().map(Jid::to_bare) == Some(room.to_bare()) =>
            {
                p.payloads
                    .iter()
                    .find_map(|e| xmpp_parsers::stanza_error::StanzaError::try_from(e.clone()).ok())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        (error.defined_condition, error.type_),
        (DefinedCondition::ResourceConstraint, ErrorType::Wait)
    );
    let list = alice
        .wait_for(|s| match s {
            Stanza::Iq(iq) if iq.id() == "list-when-full" => Some(iq.clone()),
            _ => None,
        })
        .await;
    assert_eq!(error_condition(&list), "resource-constraint");
    assert!(
        refused >= SENT - 2100,
        "only {refused} of {SENT} messages refused"
    );

    // Meanwhile Bob registers, joins a room on a working server and talks.
    let mut bob = Client::login(&format!("bob@{DOMAIN}"), "pass", prosody.c2s_port).await;
    bob.register_by_chat(GW, "nick=bob").await;
    join(&mut bob, "#test", "bob").await;
    assert_eq!(join_outcome(&mut bob, "#test").await, Ok(()));
    let mut hello = Message::groupchat(Some(room_jid("#test").parse::<Jid>().unwrap()))
        .with_body(Lang::new(), "hello from bob".into());
    hello.id = Some(xmpp_parsers::message::Id("b1".into()));
    bob.send(hello).await;
    carol
        .expect(|l| l.starts_with(":bob!") && l.ends_with("PRIVMSG #test :hello from bob"))
        .await;
    carol.send("PRIVMSG #test :hi bob").await;
    let from_carol: Jid = format!("{}/carol", room_jid("#test")).parse().unwrap();
    bob.wait_for(|s| match s {
        Stanza::Message(m)
            if m.from.as_ref() == Some(&from_carol)
                && m.get_best_body(vec![]).map(|(_, b)| b.as_str()) == Some("hi bob") =>
        {
            Some(())
        }
        _ => None,
    })
    .await;
}

/// An ad-hoc `configure` submitting `field=value`.
fn configure(field: &str, value: &str) -> Element {
    format!(
        "<command xmlns='{COMMANDS}' node='configure' action='execute'>\
         <x xmlns='jabber:x:data' type='submit'>\
         <field var='{field}'><value>{value}</value></field></x></command>"
    )
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_and_settings_per_user_are_bounded() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(
        &prosody,
        &ircd,
        &[],
        "[limits]\nmax_rooms = 2\nmax_settings = 2\n",
    ));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    // Two rooms; a third is refused with a reason, and nothing is sent to IRC.
    for channel in ["#one", "#two"] {
        join(&mut alice, channel, "alice").await;
        assert_eq!(join_outcome(&mut alice, channel).await, Ok(()));
    }
    join(&mut alice, "#three", "alice").await;
    assert_eq!(
        join_outcome(&mut alice, "#three").await,
        Err(DefinedCondition::PolicyViolation)
    );
    let mut carol = IrcClient::connect(ircd.port, "carol").await;
    carol.send("NAMES #three").await;
    let names = carol.expect(|l| l.split(' ').nth(1) == Some("366")).await;
    assert!(
        !carol
            .seen
            .iter()
            .any(|l| l.contains(" 353 ") && l.contains("alice")),
        "alice is in #three: {names}"
    );
    // Leaving one makes room for another.
    let gone: Jid = format!("{}/alice", room_jid("#one")).parse().unwrap();
    alice.send(Presence::unavailable().with_to(gone)).await;
    join(&mut alice, "#three", "alice").await;
    assert_eq!(join_outcome(&mut alice, "#three").await, Ok(()));

    // Settings rows: room `configure` on any room JID adds one each.
    for channel in ["#x1", "#x2"] {
        let done = result_payload(
            alice
                .iq(&room_jid(channel), true, configure("archive", "false"))
                .await,
        )
        .unwrap();
        assert_eq!(done.attr("status"), Some("completed"));
    }
    let refused = alice
        .iq(&room_jid("#x3"), true, configure("archive", "false"))
        .await;
    assert_eq!(error_condition(&refused), "policy-violation");
    // A server's settings are a row too.
    let server = format!("{IRC_HOST}@{GW}");
    let refused = alice.iq(&server, true, configure("nick", "al")).await;
    assert_eq!(error_condition(&refused), "policy-violation");
    // Changing a stored one is no new row.
    let done = result_payload(
        alice
            .iq(&room_jid("#x1"), true, configure("archive", "true"))
            .await,
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    // Nothing was stored for the refused room: its form shows the default.
    let form = result_payload(
        alice
            .iq(
                &room_jid("#x3"),
                true,
                format!("<command xmlns='{COMMANDS}' node='configure' action='execute'/>")
                    .parse()
                    .unwrap(),
            )
            .await,
    )
    .unwrap();
    let value = form
        .get_child("x", "jabber:x:data")
        .and_then(|x| x.children().find(|f| f.attr("var") == Some("archive")))
        .and_then(|f| f.get_child("value", "jabber:x:data"))
        .map(|v| v.text());
    assert_eq!(value.as_deref(), Some("true"));
}

/// An IRC server that welcomes anyone and lists `names` on LIST.
async fn listing_server(names: Vec<String>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let names = names.clone();
            tokio::spawn(async move {
                let (r, mut w) = socket.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = if line.starts_with("USER ") {
                        ":list.localhost 001 alice :Welcome\r\n".to_owned()
                    } else if let Some(token) = line.strip_prefix("PING ") {
                        format!(":list.localhost PONG {token}\r\n")
                    } else if line == "LIST" {
                        let mut out: String = names
                            .iter()
                            .map(|n| format!(":list.localhost 322 alice {n} 7 :a topic\r\n"))
                            .collect();
                        out.push_str(":list.localhost 323 alice :End of LIST\r\n");
                        out
                    } else {
                        continue;
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_list_of_long_names_comes_in_pages_within_the_budget() {
    // 500 channels whose names are long and escape to several times their
    // length (XEP-0106 in the JID, XML in the name): about 770 kB as one page.
    let names: Vec<String> = (0..500)
        .map(|i| format!("#{i:03}{}", "&'<>\"".repeat(35)))
        .collect();
    let port = listing_server(names.clone()).await;
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd, &[("list.localhost", port)], ""));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    let server = format!("list.localhost@{GW}");
    let rsm = "http://jabber.org/protocol/rsm";
    let mut after: Option<String> = None;
    let mut listed: Vec<String> = Vec::new();
    let mut pages = 0;
    loop {
        let after_el = after
            .as_ref()
            .map(|a| {
                let a = a
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                format!("<after>{a}</after>")
            })
            .unwrap_or_default();
        let query: Element = format!(
            "<query xmlns='http://jabber.org/protocol/disco#items'>\
             <set xmlns='{rsm}'><max>500</max>{after_el}</set></query>"
        )
        .parse()
        .unwrap();
        let page = result_payload(alice.iq(&server, false, query).await).unwrap();
        let size = String::from(&page).len();
        assert!(size <= 64 * 1024, "page {pages} is {size} bytes");
        let items: Vec<String> = page
            .children()
            .filter(|c| c.name() == "item")
            .map(|i| i.attr("name").unwrap().to_owned())
            .collect();
        if items.is_empty() {
            break;
        }
        pages += 1;
        eprintln!("page {pages}: {} rooms, {size} bytes", items.len());
        listed.extend(items);
        after = page
            .get_child("set", rsm)
            .and_then(|s| s.get_child("last", rsm))
            .map(|l| l.text());
        assert!(after.is_some(), "a page without <last/>");
        assert!(pages < 100, "the pages never end");
    }
    assert!(pages > 1, "500 long names came in one page");
    let expected: Vec<String> = names.iter().map(|n| format!("{n} (7)")).collect();
    assert_eq!(listed, expected, "every room once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_after_connecting_are_a_secret_kept_sealed_and_private() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let gateway = Switchboard::start(&config(&prosody, &ircd, &[], ""));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#auto").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;

    let server = format!("{IRC_HOST}@{GW}");
    let secret = "JOIN #auto;PRIVMSG NickServ :IDENTIFY hunter2";
    let done = result_payload(
        alice
            .iq(&server, true, configure("after_connect", secret))
            .await,
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));

    // The form shows the field as a secret and never sends it back.
    let form = result_payload(
        alice
            .iq(
                &server,
                true,
                format!("<command xmlns='{COMMANDS}' node='configure' action='execute'/>")
                    .parse()
                    .unwrap(),
            )
            .await,
    )
    .unwrap();
    let field = form
        .get_child("x", "jabber:x:data")
        .and_then(|x| {
            x.children()
                .find(|f| f.attr("var") == Some("after_connect"))
        })
        .expect("the after_connect field")
        .clone();
    assert_eq!(field.attr("type"), Some("text-private"));
    assert!(
        !String::from(&form).contains("hunter2"),
        "the form shows the commands: {}",
        String::from(&form)
    );

    // Submitted again without it (as a client does with an empty secret),
    // the stored commands stay and run on the next connection.
    let done = result_payload(alice.iq(&server, true, configure("tls", "0")).await).unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    join(&mut alice, "#lobby", "alice").await;
    assert_eq!(join_outcome(&mut alice, "#lobby").await, Ok(()));
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("JOIN :#auto"))
        .await;

    // At rest: sealed, in files only their owner may read.
    use std::os::unix::fs::PermissionsExt;
    let db = gateway.dir.path().join("switchboard.db");
    for file in ["switchboard.db", "switchboard.db-wal"] {
        let path = db.with_file_name(file);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"hunter2"),
            "{file} holds the password in clear"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{file} is {:o}", mode & 0o777);
    }
}
