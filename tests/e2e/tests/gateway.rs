//! The core gateway, end to end: a real XMPP client logs in to a real Prosody
//! and talks to the switchboard process as a user would.

mod common;

use common::support::prosody::{Prosody, DOMAIN, OTHER_DOMAIN};
use common::{error_condition, result_payload, Client, Switchboard};
use std::time::Duration;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

const GW: &str = "irc.localhost";
const SECRET: &str = "e2e-secret";
const COMMANDS: &str = "http://jabber.org/protocol/commands";
const DATA: &str = "jabber:x:data";

fn config(prosody: &Prosody) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\nadmins = [\"admin@{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n",
        prosody.component_port
    )
}

fn query(ns: &str) -> Element {
    Element::builder("query", ns).build()
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

fn submit(fields: &[(&str, &str)]) -> Element {
    let fields: String = fields
        .iter()
        .map(|(var, value)| format!("<field var='{var}'><value>{value}</value></field>"))
        .collect();
    format!("<x xmlns='{DATA}' type='submit'>{fields}</x>")
        .parse()
        .unwrap()
}

fn register_query(child: Element) -> Element {
    let mut q = query("jabber:iq:register");
    q.append_child(child);
    q
}

fn field_vars(form: &Element) -> Vec<String> {
    form.children()
        .filter(|c| c.is("field", DATA))
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect()
}

/// Sends "status" to the gateway until it answers (the link may be reconnecting).
async fn status_when_up(client: &mut Client) -> String {
    for _ in 0..40 {
        client.say(GW, "status").await;
        let from: xmpp_parsers::jid::Jid = GW.parse().unwrap();
        let reply = client
            .maybe(Duration::from_secs(2), |s| match s {
                tokio_xmpp::Stanza::Message(m) if m.from.as_ref() == Some(&from) => {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_register_unregister_and_survive_restarts() {
    let mut prosody = Prosody::start(&[(GW, SECRET)]);
    for (user, domain) in [
        ("alice", DOMAIN),
        ("bob", DOMAIN),
        ("admin", DOMAIN),
        ("eve", OTHER_DOMAIN),
    ] {
        prosody.register(user, domain, "pass");
    }
    let mut gateway = Switchboard::start(&config(&prosody));
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    // Wait for the component to be connected.
    let _ = status_when_up(&mut alice).await;

    // Discovery: identities and features.
    let info = result_payload(
        alice
            .iq(GW, false, query("http://jabber.org/protocol/disco#info"))
            .await,
    )
    .unwrap();
    let identities: Vec<(String, String)> = info
        .children()
        .filter(|c| c.name() == "identity")
        .map(|c| {
            (
                c.attr("category").unwrap().to_owned(),
                c.attr("type").unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        identities.contains(&("gateway".into(), "irc".into())),
        "{identities:?}"
    );
    assert!(
        identities.contains(&("conference".into(), "text".into())),
        "{identities:?}"
    );
    let features: Vec<&str> = info
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var"))
        .collect();
    for f in [
        "jabber:iq:register",
        COMMANDS,
        "urn:xmpp:ping",
        "jabber:iq:version",
    ] {
        assert!(features.contains(&f), "feature {f} missing: {features:?}");
    }
    // Ping and version.
    assert!(result_payload(
        alice
            .iq(GW, false, Element::builder("ping", "urn:xmpp:ping").build())
            .await
    )
    .is_none());
    let version = result_payload(alice.iq(GW, false, query("jabber:iq:version")).await).unwrap();
    assert_eq!(
        version
            .get_child("name", "jabber:iq:version")
            .unwrap()
            .text(),
        "Switchboard"
    );
    // Something it does not serve.
    let unknown = alice.iq(GW, false, query("urn:example:nothing")).await;
    assert_eq!(error_condition(&unknown), "service-unavailable");

    // Ad-hoc commands: a user sees no admin command.
    let items = result_payload(
        alice
            .iq(
                GW,
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
    assert_eq!(
        nodes,
        ["register", "unregister", "status", "settings"],
        "commands listed"
    );

    // Register through the ad-hoc form: the form, a refusal with the field's error, then success.
    let step = result_payload(
        alice
            .iq(GW, true, command("register", "execute", None, None))
            .await,
    )
    .unwrap();
    assert_eq!(step.attr("status"), Some("executing"));
    let session = step.attr("sessionid").unwrap().to_owned();
    let form = step.get_child("x", DATA).expect("a form");
    assert!(
        field_vars(form).contains(&"nick".to_owned()),
        "{:?}",
        field_vars(form)
    );
    let step = result_payload(
        alice
            .iq(
                GW,
                true,
                command(
                    "register",
                    "complete",
                    Some(&session),
                    Some(submit(&[("nick", "bad nick")])),
                ),
            )
            .await,
    )
    .unwrap();
    assert_eq!(
        step.attr("status"),
        Some("executing"),
        "bad input must give the form back"
    );
    let note = step.get_child("note", COMMANDS).expect("an error note");
    assert_eq!(note.attr("type"), Some("error"));
    assert!(
        note.text().contains("nick"),
        "note names the field: {}",
        note.text()
    );
    let nick_field = step
        .get_child("x", DATA)
        .unwrap()
        .children()
        .find(|f| f.attr("var") == Some("nick"))
        .unwrap();
    assert!(nick_field
        .get_child("desc", DATA)
        .is_some_and(|d| d.text().starts_with("Error")));
    let step = result_payload(
        alice
            .iq(
                GW,
                true,
                command(
                    "register",
                    "complete",
                    Some(&session),
                    Some(submit(&[("nick", "alice")])),
                ),
            )
            .await,
    )
    .unwrap();
    assert_eq!(step.attr("status"), Some("completed"));
    // XEP-0100: the gateway asks to be in the roster.
    let gw_jid: xmpp_parsers::jid::Jid = GW.parse().unwrap();
    alice
        .wait_for(|s| match s {
            tokio_xmpp::Stanza::Presence(p)
                if p.from.as_ref() == Some(&gw_jid)
                    && p.type_ == xmpp_parsers::presence::Type::Subscribe =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    assert!(status_when_up(&mut alice).await.starts_with("Registered"));

    // Another user through XEP-0077: form, bad input, success, registered.
    let mut bob = Client::login(&format!("bob@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let reg = result_payload(bob.iq(GW, false, query("jabber:iq:register")).await).unwrap();
    assert!(reg.get_child("registered", "jabber:iq:register").is_none());
    assert!(field_vars(reg.get_child("x", DATA).unwrap()).contains(&"nick".to_owned()));
    let bad = register_query(submit(&[("nick", "#bob")]));
    assert_eq!(
        error_condition(&bob.iq(GW, true, bad).await),
        "not-acceptable"
    );
    let good = register_query(submit(&[("nick", "bob")]));
    assert!(result_payload(bob.iq(GW, true, good).await).is_none());
    let reg = result_payload(bob.iq(GW, false, query("jabber:iq:register")).await).unwrap();
    assert!(reg.get_child("registered", "jabber:iq:register").is_some());

    // A user of a domain not allowed is refused, both ways.
    let mut eve = Client::login(&format!("eve@{OTHER_DOMAIN}"), "pass", prosody.c2s_port).await;
    assert_eq!(
        error_condition(&eve.iq(GW, false, query("jabber:iq:register")).await),
        "forbidden"
    );
    let attempt = register_query(submit(&[("nick", "eve")]));
    assert_eq!(
        error_condition(&eve.iq(GW, true, attempt).await),
        "forbidden"
    );
    assert_eq!(
        error_condition(
            &eve.iq(GW, true, command("register", "execute", None, None))
                .await
        ),
        "forbidden"
    );
    // And a user cannot run the admin command.
    assert_eq!(
        error_condition(
            &bob.iq(GW, true, command("list-users", "execute", None, None))
                .await
        ),
        "forbidden"
    );

    // The admin lists users.
    let mut admin = Client::login(&format!("admin@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let list = result_payload(
        admin
            .iq(GW, true, command("list-users", "execute", None, None))
            .await,
    )
    .unwrap();
    let users: Vec<String> = list
        .get_child("x", DATA)
        .unwrap()
        .children()
        .flat_map(|f| {
            f.children()
                .filter(|v| v.name() == "value")
                .map(|v| v.text())
        })
        .collect();
    assert!(
        users.contains(&format!("alice@{DOMAIN}")) && users.contains(&format!("bob@{DOMAIN}")),
        "{users:?}"
    );
    drop(admin);
    drop(eve);

    // Prosody restarts: switchboard reconnects by itself and answers again.
    prosody.restart();
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let status = status_when_up(&mut alice).await;
    assert!(
        status.starts_with("Registered"),
        "after a Prosody restart: {status}"
    );

    // Switchboard restarts: registrations survive.
    gateway.restart();
    let status = status_when_up(&mut alice).await;
    assert!(
        status.starts_with("Registered"),
        "after a switchboard restart: {status}"
    );
    let mut bob = Client::login(&format!("bob@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let reg = result_payload(bob.iq(GW, false, query("jabber:iq:register")).await).unwrap();
    assert!(reg.get_child("registered", "jabber:iq:register").is_some());

    // Unregister: ad-hoc for alice, XEP-0077 <remove/> for bob, chat command help.
    let done = result_payload(
        alice
            .iq(GW, true, command("unregister", "execute", None, None))
            .await,
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    assert!(status_when_up(&mut alice).await.contains("not registered"));
    let remove = register_query(Element::builder("remove", "jabber:iq:register").build());
    assert!(result_payload(bob.iq(GW, true, remove.clone()).await).is_none());
    assert_eq!(
        error_condition(&bob.iq(GW, true, remove).await),
        "registration-required"
    );
    alice.say(GW, "help").await;
    assert!(alice.reply_from(GW).await.contains("register"));
    // Chat-command registration, for clients without ad-hoc support.
    alice.say(GW, "register nick=alice2").await;
    assert!(alice.reply_from(GW).await.contains("registered"));
    assert!(status_when_up(&mut alice).await.starts_with("Registered"));
    alice.send(Presence::unavailable()).await;
    assert!(gateway.running());
}
