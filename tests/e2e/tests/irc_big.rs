//! A big IRC channel: 300 people in it, all shown as occupants when an XMPP
//! user joins (the bridge sends members in batches).

mod common;

use common::support::ircd::{IrcClient, Ircd, IRC_HOST};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const GW: &str = "irc.localhost";
const PEOPLE: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_occupants() {
    let prosody = Prosody::start(&[(GW, "big-secret")]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"big-secret\"\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{}\"\n",
        prosody.component_port, ircd.port
    ));

    // 300 people join #big, a few at a time.
    let port = ircd.port;
    let mut people = Vec::new();
    for chunk in (0..PEOPLE).collect::<Vec<_>>().chunks(8) {
        let joins = chunk.iter().map(|i| async move {
            // Twenty people per loopback address.
            let source = [127, 0, 1, (i / 20 + 1) as u8];
            let mut c = IrcClient::connect_from(port, &format!("p{i}"), source).await;
            c.join("#big").await;
            // Keep reading (and answering PINGs) so the server never has to
            // buffer for them, and forget what was read.
            let drain = async move {
                loop {
                    c.seen.clear();
                    if c.expect_within(Duration::from_secs(3600), |_| false)
                        .await
                        .is_none()
                    {
                        break;
                    }
                }
            };
            tokio::spawn(drain).abort_handle()
        });
        people.extend(futures::future::join_all(joins).await);
    }

    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    let room = format!("#big%{IRC_HOST}@{GW}");
    let mut join = Presence::available().with_to(format!("{room}/alice").parse::<Jid>().unwrap());
    join.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    alice.send(join).await;

    // Every occupant arrives before the self-presence.
    let own: Jid = format!("{room}/alice").parse().unwrap();
    let room_bare: Jid = room.parse().unwrap();
    let mut seen = BTreeSet::new();
    loop {
        let from = alice
            .wait_for(|s| match s {
                Stanza::Presence(p)
                    if p.type_ == Type::None
                        && p.from.as_ref().map(|f| f.to_bare()) == Some(room_bare.to_bare()) =>
                {
                    p.from.clone()
                }
                _ => None,
            })
            .await;
        if from == own {
            break;
        }
        seen.insert(from.resource().unwrap().to_string());
    }
    let expected: BTreeSet<String> = (0..PEOPLE).map(|i| format!("p{i}")).collect();
    assert_eq!(seen, expected, "all {PEOPLE} people are occupants");
    for p in people {
        p.abort();
    }
}
