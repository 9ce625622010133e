//! Contacts in the roster and the user's own messages from elsewhere,
//! through a real Prosody: with XEP-0356 (Prosody's mod_privilege, from
//! Debian's prosody-modules) a contact the network reports is in the
//! client's roster under the network's name and an own message written on
//! another client of the network arrives as a XEP-0280 `<sent/>` carbon;
//! without it the contact asks for a subscription (XEP-0100) and the own
//! message comes from the contact, marked. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::support::ejabberd::Ejabberd;
use common::support::prosody::DOMAIN;
use common::{result_payload, Client};
use harness::{contact_jid, Testnet, TESTNET};
use switchboard_bridge_api::{
    Event, Message as NetMessage, MessageId, MessageKind, Target, UserId,
};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const ROSTER: &str = "jabber:iq:roster";
const CARBONS: &str = "urn:xmpp:carbons:2";
const FORWARD: &str = "urn:xmpp:forward:0";
const CLIENT: &str = "jabber:client";

/// The network reports Bob as a contact of the user.
fn bob_reported() -> Event {
    Event::ContactAdded {
        user: UserId::from("bob"),
        name: "Bob Builder".into(),
    }
}

/// A direct message to Bob the user wrote from another client of the
/// network (their phone's app): `own`, no token.
fn written_elsewhere(text: &str) -> Event {
    Event::Message(NetMessage {
        id: MessageId::from("tn-phone-1"),
        target: Target::User(UserId::from("bob")),
        author: UserId::from("alice"),
        author_nick: "alice".into(),
        text: text.into(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        timestamp: None,
        own: true,
        token: None,
        parts: vec![],
    })
}

/// The client's roster item for this JID: (name, subscription, groups).
async fn roster_item(client: &mut Client, jid: &Jid) -> Option<(String, String, Vec<String>)> {
    let get = Element::builder("query", ROSTER).build();
    let own = client.jid.to_string();
    let roster = result_payload(client.iq(&own, false, get).await).unwrap();
    let jid = jid.to_string();
    roster
        .children()
        .find(|i| i.is("item", ROSTER) && i.attr("jid") == Some(jid.as_str()))
        .map(|i| {
            (
                i.attr("name").unwrap_or_default().to_owned(),
                i.attr("subscription").unwrap_or_default().to_owned(),
                i.children()
                    .filter(|g| g.is("group", ROSTER))
                    .map(Element::text)
                    .collect(),
            )
        })
}

/// Waits for a presence of this type from this JID.
async fn presence_from(client: &mut Client, from: &Jid, type_: Type) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(from) && p.type_ == type_ => {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// With the roster and message privileges: Bob is put in the roster (no
/// subscription request), named as the network names him, in the group
/// named after the network; the server's probe of Bob (a device logging
/// in) is answered for him; a message the user wrote to Bob from elsewhere
/// is a `<sent/>` carbon from the user's own bare JID of a message to Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_privilege_contacts_are_in_the_roster_and_own_messages_are_carbons() {
    let mut net = Testnet::start_privileged(r#"roster = "both"; message = "outgoing";"#).await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");

    net.control.inject("alice", bob_reported()).await;
    // The contact's presence follows the roster set, so the roster is saved.
    presence_from(&mut alice, &bob, Type::None).await;
    assert_eq!(
        roster_item(&mut alice, &bob).await,
        Some((
            "Bob Builder".to_owned(),
            "both".to_owned(),
            vec!["Test network".to_owned()]
        )),
        "Bob in the roster, in the network's group"
    );
    let asked = alice
        .maybe(std::time::Duration::from_millis(500), |s| match s {
            Stanza::Presence(p) if p.type_ == Type::Subscribe && p.from.as_ref() == Some(&bob) => {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        asked, None,
        "no subscription request where the roster has him"
    );
    // Another device logs in: its server probes Bob, and the gateway answers
    // for him with what the network said.
    let mut phone = Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    presence_from(&mut phone, &bob, Type::None).await;
    drop(phone);

    net.control
        .inject("alice", written_elsewhere("sent from my phone"))
        .await;
    let own: Jid = format!("alice@{DOMAIN}").parse().unwrap();
    let carbon = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.payloads.iter().any(|p| p.is("sent", CARBONS)) => {
                Some(m.clone())
            }
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => {
                panic!("the own message was said by the contact: {m:?}")
            }
            _ => None,
        })
        .await;
    assert_eq!(
        carbon.from.as_ref(),
        Some(&own),
        "a carbon from the own bare JID"
    );
    let original = carbon
        .payloads
        .iter()
        .find(|p| p.is("sent", CARBONS))
        .and_then(|s| s.get_child("forwarded", FORWARD))
        .and_then(|f| f.get_child("message", CLIENT))
        .expect("a forwarded message in the carbon");
    assert_eq!(original.attr("from"), Some(own.to_string().as_str()));
    assert_eq!(original.attr("to"), Some(bob.to_string().as_str()));
    assert_eq!(original.attr("type"), Some("chat"));
    assert_eq!(original.attr("id"), Some("tn-phone-1"));
    assert_eq!(
        original.get_child("body", CLIENT).map(Element::text),
        Some("sent from my phone".to_owned())
    );
}

/// Without privileges: Bob asks for a subscription (with his name, XEP-0172);
/// the user's approval and their own request are answered for him, so the
/// roster holds him with a mutual subscription; a message the user wrote
/// to Bob from elsewhere comes from Bob, marked as the user's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_privilege_contacts_ask_to_subscribe_and_own_messages_are_marked() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");

    net.control.inject("alice", bob_reported()).await;
    let ask = presence_from(&mut alice, &bob, Type::Subscribe).await;
    let nick = ask
        .payloads
        .iter()
        .find(|p| p.is("nick", "http://jabber.org/protocol/nick"))
        .map(Element::text);
    assert_eq!(nick.as_deref(), Some("Bob Builder"));

    // The client approves and asks back, as clients do.
    alice
        .send(Presence::new(Type::Subscribed).with_to(bob.clone()))
        .await;
    alice.send(Presence::subscribe().with_to(bob.clone())).await;
    presence_from(&mut alice, &bob, Type::None).await;
    let deadline = std::time::Instant::now() + common::ANSWER;
    loop {
        let item = roster_item(&mut alice, &bob).await;
        if item.as_ref().is_some_and(|(_, s, _)| s == "both") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Bob's subscription never became mutual: {item:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    net.control
        .inject("alice", written_elsewhere("sent from my phone"))
        .await;
    let line = alice.reply_from(&format!("bob@{TESTNET}")).await;
    assert_eq!(line, "[sent by you from elsewhere] sent from my phone");
}

/// Through ejabberd 23.01 (its mod_privilege, `urn:xmpp:privilege:1`):
/// ejabberd fails every privileged roster set (its issue 3942: mod_roster
/// looks up its options under the component's host, fixed after 23.01), so
/// the contact asks for a subscription instead, never lost; the message
/// privilege works: an own message from elsewhere is a `<sent/>` carbon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_ejabberd_a_refused_roster_set_becomes_a_subscription_request() {
    let ejabberd = Ejabberd::start_privileged(&[(TESTNET, harness::SECRET)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = harness::Gateway::start(&harness::config(
        ejabberd.component_port,
        listener.local_addr().unwrap(),
        "",
    ));
    let mut control = harness::Control::new(listener);
    ejabberd.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", ejabberd.c2s_port).await;
    alice.register_by_chat(TESTNET, "username=alice").await;
    control.started("alice").await;
    let bob = contact_jid("bob");

    control.inject("alice", bob_reported()).await;
    let ask = presence_from(&mut alice, &bob, Type::Subscribe).await;
    let nick = ask
        .payloads
        .iter()
        .find(|p| p.is("nick", "http://jabber.org/protocol/nick"))
        .map(Element::text);
    assert_eq!(nick.as_deref(), Some("Bob Builder"));
    assert_eq!(
        harness::log_lines(&gateway.log(), &["refused a roster set"]).len(),
        1,
        "the roster set was tried first"
    );

    control
        .inject("alice", written_elsewhere("sent from my phone"))
        .await;
    let carbon = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.payloads.iter().any(|p| p.is("sent", CARBONS)) => {
                Some(m.clone())
            }
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => {
                panic!("the own message was said by the contact: {m:?}")
            }
            _ => None,
        })
        .await;
    let own: Jid = format!("alice@{DOMAIN}").parse().unwrap();
    assert_eq!(carbon.from.as_ref(), Some(&own));
    let original = carbon
        .payloads
        .iter()
        .find(|p| p.is("sent", CARBONS))
        .and_then(|s| s.get_child("forwarded", FORWARD))
        .and_then(|f| f.get_child("message", CLIENT))
        .expect("a forwarded message in the carbon");
    assert_eq!(original.attr("to"), Some(bob.to_string().as_str()));
    assert_eq!(
        original.get_child("body", CLIENT).map(Element::text),
        Some("sent from my phone".to_owned())
    );
}

/// Unregistering takes the contacts out again: with the privilege Bob
/// leaves the roster; without it both subscriptions are cancelled for him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistering_takes_the_contacts_out_of_the_roster() {
    let mut net = Testnet::start_privileged(r#"roster = "both";"#).await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    net.control.inject("alice", bob_reported()).await;
    presence_from(&mut alice, &bob, Type::None).await;
    assert!(roster_item(&mut alice, &bob).await.is_some());

    alice.say(TESTNET, "unregister").await;
    presence_from(&mut alice, &TESTNET.parse().unwrap(), Type::Unsubscribe).await;
    let deadline = std::time::Instant::now() + common::ANSWER;
    while roster_item(&mut alice, &bob).await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "Bob is still in the roster"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let mut net = Testnet::start().await;
    let mut carol = net.user("carol").await;
    net.control.inject("carol", bob_reported()).await;
    presence_from(&mut carol, &bob, Type::Subscribe).await;
    carol.say(TESTNET, "unregister").await;
    presence_from(&mut carol, &bob, Type::Unsubscribe).await;
    presence_from(&mut carol, &bob, Type::Unavailable).await;
}
