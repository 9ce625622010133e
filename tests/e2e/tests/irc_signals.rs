//! Replies, chat states and markers on a network without them (IRC): the
//! room advertises none of them, and a client's reply reaches the channel
//! with the quote the client wrote (XEP-0428 fallback kept), so IRC users
//! see what was answered.

mod common;

use common::room::{groupchat_from, irc_config, join, occupant, presence_from, room, GW};
use common::support::ircd::{IrcClient, Ircd};
use common::support::prosody::{Prosody, DOMAIN};
use common::{Client, Switchboard};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message};
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Type;

const SECRET: &str = "irc-secret";
const REPLY: &str = "urn:xmpp:reply:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_keeps_the_clients_quote_and_advertises_no_replies() {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    prosody.register("alice", DOMAIN, "pass");
    let ircd = Ircd::start();
    let _gateway = Switchboard::start(&irc_config(prosody.component_port, ircd.port, SECRET));
    let mut bob = IrcClient::connect(ircd.port, "bob").await;
    bob.join("#test").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice.register_by_chat(GW, "nick=alice").await;
    join(&mut alice, "alice").await;
    presence_from(&mut alice, occupant("alice"), Type::None).await;
    bob.expect(|l| l.contains(" JOIN ") && l.starts_with(":alice!"))
        .await;

    // The room lists none of what IRC cannot carry.
    let info = alice
        .iq(
            &room(),
            false,
            Element::builder("query", "http://jabber.org/protocol/disco#info").build(),
        )
        .await;
    let info = common::result_payload(info).expect("disco#info");
    let features: Vec<&str> = info.children().filter_map(|c| c.attr("var")).collect();
    assert!(features.contains(&"urn:xmpp:sid:0"), "{features:?}");
    for f in [
        REPLY,
        FALLBACK,
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:chat-markers:0",
    ] {
        assert!(!features.contains(&f), "{f} advertised: {features:?}");
    }

    bob.send("PRIVMSG #test :hello there").await;
    let hello = groupchat_from(&mut alice, "bob").await;
    assert!(
        !hello
            .payloads
            .iter()
            .any(|p| p.is("markable", "urn:xmpp:chat-markers:0")),
        "no markers on IRC: {hello:?}"
    );
    let sid = hello
        .payloads
        .iter()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .and_then(|p| p.attr("id"))
        .expect("a stanza-id")
        .to_owned();

    // A reply as Conversations sends it: the quote stays, the IRC users see it.
    let room_jid: Jid = room().parse().unwrap();
    let mut reply = Message::groupchat(Some(room_jid))
        .with_body(Lang::new(), "> hello there\nindeed".to_owned());
    reply.id = Some(Id("r1".into()));
    reply.payloads.push(
        Element::builder("reply", REPLY)
            .attr(xml_ncname!("to").into(), occupant("bob").to_string())
            .attr(xml_ncname!("id").into(), sid)
            .build(),
    );
    reply.payloads.push(
        Element::builder("fallback", FALLBACK)
            .attr(xml_ncname!("for").into(), REPLY)
            .append(
                Element::builder("body", FALLBACK)
                    .attr(xml_ncname!("start").into(), "0")
                    .attr(xml_ncname!("end").into(), "14")
                    .build(),
            )
            .build(),
    );
    alice.send(reply).await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :> hello there"))
        .await;
    bob.expect(|l| l.ends_with("PRIVMSG #test :indeed")).await;
    // The reflection is the text as sent, with no <reply/> (IRC has none).
    let own = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.id == Some(Id("r1".into())) => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(common::room::body(&own), "> hello there\nindeed");
    assert!(!own.payloads.iter().any(|p| p.is("reply", REPLY)));
}
