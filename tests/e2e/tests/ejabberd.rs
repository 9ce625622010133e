//! The core of the gateway through ejabberd (Debian's 23.01) instead of
//! Prosody: a real ejabberd, the switchboard process, a real IRC server
//! (ngircd) with a raw IRC client on the other side, and a real XMPP client.
//! Registration (ad-hoc command and chat command), joining an IRC channel,
//! messages both ways, and an ejabberd restart the gateway recovers from.

mod common;

use common::room::{body, groupchat, groupchat_from, irc_config, occupant, GW, MUC_USER};

use common::support::ejabberd::{Ejabberd, DOMAIN};
use common::support::ircd::{IrcClient, Ircd};
use common::{result_payload, Client, Switchboard};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const SECRET: &str = "ejabberd-secret";
const COMMANDS: &str = "http://jabber.org/protocol/commands";
const DATA: &str = "jabber:x:data";

fn config(ejabberd: &Ejabberd, ircd: &Ircd) -> String {
    irc_config(ejabberd.component_port, ircd.port, SECRET)
}

/// Sends "status" to the gateway until it answers (its link may be
/// connecting or reconnecting). While the component is away, ejabberd bounces
/// messages to its domain with `remote-server-not-found` (it tries
/// server-to-server for a domain it does not serve): those are skipped.
async fn status_when_up(client: &mut Client) -> String {
    let from: Jid = GW.parse().unwrap();
    for _ in 0..40 {
        client.say(GW, "status").await;
        let reply = client
            .maybe(Duration::from_secs(2), |s| match s {
                Stanza::Message(m)
                    if m.from.as_ref() == Some(&from) && m.type_ != MessageType::Error =>
                {
                    m.get_best_body(vec![]).map(|(_, b)| b.clone())
                }
                _ => None,
            })
            .await;
        if let Some(r) = reply {
            return r;
        }
    }
    panic!("the gateway never answered \"status\"");
}

fn command(node: &str, action: &str, sessionid: Option<&str>, form: Option<Element>) -> Element {
    let session = sessionid
        .map(|s| format!(" sessionid='{s}'"))
        .unwrap_or_default();
    let mut el: Element =
        format!("<command xmlns='{COMMANDS}' node='{node}' action='{action}'{session}/>")
            .parse()
            .unwrap();
    if let Some(f) = form {
        el.append_child(f);
    }
    el
}

/// Registers through the ad-hoc `register` command: form, then submit.
async fn register_by_adhoc(client: &mut Client, nick: &str) {
    let step = result_payload(
        client
            .iq(GW, true, command("register", "execute", None, None))
            .await,
    )
    .expect("a command step");
    assert_eq!(step.attr("status"), Some("executing"));
    let session = step.attr("sessionid").unwrap().to_owned();
    assert!(step.get_child("x", DATA).is_some(), "a form: {step:?}");
    let form: Element = format!(
        "<x xmlns='{DATA}' type='submit'><field var='nick'><value>{nick}</value></field></x>"
    )
    .parse()
    .unwrap();
    let done = result_payload(
        client
            .iq(
                GW,
                true,
                command("register", "complete", Some(&session), Some(form)),
            )
            .await,
    )
    .expect("a command result");
    assert_eq!(done.attr("status"), Some("completed"), "{done:?}");
}

/// Joins the room and waits for the self-presence (status 110).
async fn join(client: &mut Client, nick: &str) {
    let mut p = Presence::available().with_to(occupant(nick));
    p.payloads.push(
        Element::builder("x", "http://jabber.org/protocol/muc")
            .append(Element::builder("history", "http://jabber.org/protocol/muc").build())
            .build(),
    );
    client.send(p).await;
    let me = occupant(nick);
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&me) && has_status(p, "110") => Some(()),
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

/// Messages both ways in #test between an XMPP user (nick `nick`) and bob on IRC.
async fn talk(client: &mut Client, nick: &str, bob: &mut IrcClient, tag: &str) {
    let out = format!("{tag}: from XMPP through ejabberd");
    groupchat(client, &format!("{tag}-1"), &out).await;
    bob.expect(|l| l.contains(&format!("PRIVMSG #test :{out}")))
        .await;
    let echo = groupchat_from(client, nick).await;
    assert_eq!(body(&echo), out, "own message reflected");
    assert_eq!(
        echo.id.as_ref().map(|i| i.0.as_str()),
        Some(format!("{tag}-1").as_str()),
        "the reflection keeps the client's id"
    );
    let back = format!("{tag}: from IRC, é ✓");
    bob.send(&format!("PRIVMSG #test :{back}")).await;
    let m = groupchat_from(client, "bob").await;
    assert_eq!(body(&m), back);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ejabberd_register_join_talk_and_restart() {
    let mut ejabberd = Ejabberd::start(&[(GW, SECRET)]);
    ejabberd.register("alice", DOMAIN, "pass");
    ejabberd.register("carol", DOMAIN, "pass");
    let ircd = Ircd::start();
    let mut gateway = Switchboard::start(&config(&ejabberd, &ircd));

    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;

    // alice registers by ad-hoc command once the component is connected.
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", ejabberd.c2s_port).await;
    assert!(status_when_up(&mut alice).await.contains("not registered"));
    register_by_adhoc(&mut alice, "alice").await;
    // XEP-0100: the gateway asks to be in the roster, through ejabberd.
    let gw_jid: Jid = GW.parse().unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&gw_jid) && p.type_ == Type::Subscribe =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    assert!(status_when_up(&mut alice).await.starts_with("Registered"));

    // carol registers by chat command.
    let mut carol = Client::login(&format!("carol@{DOMAIN}"), "pass", ejabberd.c2s_port).await;
    carol.register_by_chat(GW, "nick=carol").await;

    // Both join #test; bob sees them on IRC; alice sees bob and carol.
    join(&mut alice, "alice").await;
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":alice!"))
        .await;
    join(&mut carol, "carol").await;
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":carol!"))
        .await;
    let carol_jid = occupant("carol");
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&carol_jid) => Some(()),
            _ => None,
        })
        .await;
    talk(&mut alice, "alice", &mut bob, "before").await;
    // carol, in the same room, sees alice's line and bob's.
    let m = groupchat_from(&mut carol, "alice").await;
    assert_eq!(body(&m), "before: from XMPP through ejabberd");
    let m = groupchat_from(&mut carol, "bob").await;
    assert_eq!(body(&m), "before: from IRC, é ✓");

    // ejabberd restarts: every stream drops. The gateway reconnects by
    // itself; alice logs in again, is still registered, joins and talks.
    drop(carol);
    ejabberd.restart();
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", ejabberd.c2s_port).await;
    let status = status_when_up(&mut alice).await;
    assert!(
        status.starts_with("Registered"),
        "after an ejabberd restart: {status}"
    );
    join(&mut alice, "alice").await;
    talk(&mut alice, "alice", &mut bob, "after").await;
    assert!(gateway.running(), "the gateway survived the restart");
    gateway.stop();
}
