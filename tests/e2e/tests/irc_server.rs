//! A server JID (`irc.localhost@irc.localhost`): per-server settings as an
//! ad-hoc command (checked, then used on the next connection), and its rooms
//! as disco items with paging.

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client, Switchboard};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

const GW: &str = "irc.localhost";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

fn configure(session: Option<&str>, fields: &[(&str, &str)]) -> Element {
    let session = session
        .map(|s| format!(" sessionid='{s}'"))
        .unwrap_or_default();
    let form = if fields.is_empty() {
        String::new()
    } else {
        let f: String = fields
            .iter()
            .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
            .collect();
        format!("<x xmlns='jabber:x:data' type='submit'>{f}</x>")
    };
    format!(
        "<command xmlns='{COMMANDS}' node='configure' action='execute'{session}>{form}</command>"
    )
    .parse()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_settings_and_room_list() {
    let prosody = Prosody::start(&[(GW, "srv-secret")]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"srv-secret\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, ircd.port
    ));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#auto").await;
    bob.join("#lobby").await;

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    let server = format!("{IRC_HOST}@{GW}");

    // The settings form, a refused port, then commands to run after connecting.
    let step = result_payload(alice.iq(&server, true, configure(None, &[])).await).unwrap();
    assert_eq!(step.attr("status"), Some("executing"));
    let session = step.attr("sessionid").unwrap().to_owned();
    let vars: Vec<&str> = step
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .filter_map(|f| f.attr("var"))
        .collect();
    for v in ["nick", "port", "tls", "sasl_password", "after_connect"] {
        assert!(vars.contains(&v), "{v} missing from {vars:?}");
    }
    let step = result_payload(
        alice
            .iq(
                &server,
                true,
                configure(Some(&session), &[("port", "99999")]),
            )
            .await,
    )
    .unwrap();
    assert_eq!(
        step.attr("status"),
        Some("executing"),
        "a bad port gives the form back"
    );
    assert!(step
        .get_child("note", COMMANDS)
        .unwrap()
        .text()
        .contains("port"));
    let step = result_payload(
        alice
            .iq(
                &server,
                true,
                configure(
                    Some(&session),
                    &[("after_connect", "JOIN #auto"), ("tls", "0")],
                ),
            )
            .await,
    )
    .unwrap();
    assert_eq!(step.attr("status"), Some("completed"));

    // Joining a room connects; the after-connect command runs.
    let mut join = Presence::available().with_to(
        format!("#lobby%{IRC_HOST}@{GW}/alice")
            .parse::<Jid>()
            .unwrap(),
    );
    join.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(join).await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("JOIN :#auto"))
        .await;
    bob.expect(|l| l.starts_with(":alice!") && l.ends_with("JOIN :#lobby"))
        .await;

    // The server's rooms as disco items, one page at a time.
    let items = |after: Option<&str>| {
        let after = after
            .map(|a| format!("<after>{a}</after>"))
            .unwrap_or_default();
        format!(
            "<query xmlns='http://jabber.org/protocol/disco#items'>\
             <set xmlns='http://jabber.org/protocol/rsm'><max>1</max>{after}</set></query>"
        )
        .parse::<Element>()
        .unwrap()
    };
    let page = result_payload(alice.iq(&server, false, items(None)).await).unwrap();
    let jids: Vec<&str> = page.children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, [format!("#auto%{IRC_HOST}@{GW}")]);
    let last = page
        .get_child("set", "http://jabber.org/protocol/rsm")
        .and_then(|s| s.get_child("last", "http://jabber.org/protocol/rsm"))
        .map(|l| l.text())
        .unwrap();
    let page = result_payload(alice.iq(&server, false, items(Some(&last))).await).unwrap();
    let jids: Vec<&str> = page.children().filter_map(|i| i.attr("jid")).collect();
    assert_eq!(jids, [format!("#lobby%{IRC_HOST}@{GW}")]);
}
