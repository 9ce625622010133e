//! A user's first join on an IRC server, end to end (real Prosody, the
//! switchboard process, ngircd): the connection it opens registers with the
//! nick of that join, so the user is not renamed by the service (no 210).

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const SECRET: &str = "irc-secret";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

fn config(prosody: &Prosody, ircd: &Ircd) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{SECRET}\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, ircd.port
    )
}

fn room() -> String {
    format!("#first%{IRC_HOST}@{GW}")
}

/// The status codes of a MUC presence.
fn codes(p: &Presence) -> Vec<String> {
    p.payloads
        .iter()
        .find(|e| e.is("x", MUC_USER))
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_join_registers_with_the_joins_nick() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&config(&prosody, &ircd));

    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#first").await;

    // alice registers as "alice" but joins as "alicejoin".
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    let mut p =
        Presence::available().with_to(format!("{}/alicejoin", room()).parse::<Jid>().unwrap());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(p).await;

    // Her self-presence (110) is for the nick she asked for, and she was
    // not renamed on the way (no 210).
    let own = alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::None && codes(p).contains(&"110".to_owned()) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    let from = own.from.as_ref().map(ToString::to_string);
    assert_eq!(
        from,
        Some(format!("{}/alicejoin", room())),
        "self-presence for the join's nick"
    );
    assert!(
        !codes(&own).contains(&"210".to_owned()),
        "the first join must not rename her: {:?}",
        codes(&own)
    );

    // IRC sees the nick she joined with, never the registered one.
    bob.expect(|l| l.starts_with(":alicejoin!") && l.contains(" JOIN "))
        .await;
    assert!(
        !bob.seen.iter().any(|l| l.starts_with(":alice!")),
        "the registered nick appeared on IRC: {:?}",
        bob.seen
    );
}
