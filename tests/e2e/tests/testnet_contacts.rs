//! What a client sees of the network's answers and of its contacts,
//! through a real Prosody and a real XMPP client, the test network on the
//! far side: a command the network refuses comes back as an error to the
//! resource that sent it, with its id; contacts are still known after the
//! gateway restarts. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::support::prosody::DOMAIN;
use common::Client;
use harness::{contact_jid, join, room_jid, Testnet};
use std::time::Duration;
use switchboard_bridge_api::{Command, ErrorKind, Event, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::DefinedCondition;

const CORRECT: &str = "urn:xmpp:message-correct:0";

/// A message to `to` with this id and body.
fn message(to: &Jid, groupchat: bool, id: &str, body: &str) -> Message {
    let mut m = if groupchat {
        Message::groupchat(Some(to.clone()))
    } else {
        Message::chat(Some(to.clone()))
    };
    m.bodies.insert(Lang::new(), body.to_owned());
    m.id = Some(Id(id.to_owned()));
    m
}

/// The error message answering the stanza with this id.
async fn error_for(client: &mut Client, id: &str) -> Message {
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Error && m.id.as_ref().is_some_and(|i| i.0 == id) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// The error's condition and text.
fn condition(m: &Message) -> (DefinedCondition, String) {
    let error = m
        .payloads
        .iter()
        .find_map(|p| xmpp_parsers::stanza_error::StanzaError::try_from(p.clone()).ok())
        .expect("an <error/> in the error message");
    let text = error.texts.values().next().cloned().unwrap_or_default();
    (error.defined_condition, text)
}

/// Asserts the error went to one of alice's resources (a full JID: her
/// server drops a message error to her bare JID) from `from`.
fn assert_answered(error: &Message, client: &Client, from: &Jid) {
    let to = error.to.as_ref().expect("an addressed error");
    assert!(to.resource().is_some(), "to the resource: {to}");
    assert_eq!(to.to_bare(), client.jid);
    assert_eq!(error.from.as_ref(), Some(from), "from where it was sent");
}

/// A direct message and a room correction the network refuses: each
/// error reaches the resource that sent it, from the contact or the room,
/// with the stanza's id and the network's condition and words (before,
/// it went to the bare JID from the gateway, and Prosody dropped it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_command_is_an_error_to_the_resource_that_sent_it() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;

    let bob = contact_jid("bob");
    net.control
        .refuse(
            "alice",
            "dm-1",
            ErrorKind::Forbidden,
            "bob takes no messages",
        )
        .await;
    alice.send(message(&bob, false, "dm-1", "hello bob")).await;
    net.control
        .expect_command(
            "alice",
            |c| matches!(c, Command::SendText { token, .. } if token == "dm-1"),
        )
        .await;
    let error = error_for(&mut alice, "dm-1").await;
    assert_answered(&error, &alice, &bob);
    assert_eq!(
        condition(&error),
        (DefinedCondition::Forbidden, "bob takes no messages".into())
    );

    join(&mut alice, "lobby", "alice").await;
    let room: Jid = room_jid("lobby").parse().unwrap();
    alice.send(message(&room, true, "r-1", "frist")).await;
    alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.id.as_ref().is_some_and(|i| i.0 == "r-1") => Some(()),
            _ => None,
        })
        .await;
    net.control
        .refuse(
            "alice",
            "fix-1",
            ErrorKind::NotFound,
            "that message is gone",
        )
        .await;
    let mut fix = message(&room, true, "fix-1", "first");
    let replace: Element = format!("<replace xmlns='{CORRECT}' id='r-1'/>")
        .parse()
        .unwrap();
    fix.payloads.push(replace);
    alice.send(fix).await;
    net.control
        .expect_command(
            "alice",
            |c| matches!(c, Command::Edit { token, .. } if token == "fix-1"),
        )
        .await;
    let error = error_for(&mut alice, "fix-1").await;
    assert_answered(&error, &alice, &room);
    assert_eq!(
        condition(&error),
        (
            DefinedCondition::ItemNotFound,
            "that message is gone".into()
        )
    );
}

const ROSTER: &str = "jabber:iq:roster";

/// The network reports Bob as a contact of the user.
fn bob_reported() -> Event {
    Event::ContactAdded {
        user: UserId::from("bob"),
        name: "Bob Builder".into(),
    }
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

/// A roster push about `jid` the server sent the client, within `wait`.
async fn roster_push(client: &mut Client, jid: &Jid, wait: Duration) -> Option<Element> {
    let jid = jid.to_string();
    client
        .maybe(wait, |s| match s {
            Stanza::Iq(Iq::Set { payload, .. })
                if payload.is("query", ROSTER)
                    && payload
                        .children()
                        .any(|i| i.attr("jid") == Some(jid.as_str())) =>
            {
                Some(payload.clone())
            }
            _ => None,
        })
        .await
}

/// With the roster privilege: Bob, put in the roster before a restart of
/// the gateway, is still its contact after it: his presence comes again
/// when the gateway is back, a device logging in after the restart gets
/// him available (its server's probe answered), and the network
/// reporting him again (as a new session does) pushes no second roster
/// item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_privilege_a_contact_is_known_after_a_restart() {
    let mut net = Testnet::start_privileged(r#"roster = "both";"#).await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    net.control.inject("alice", bob_reported()).await;
    roster_push(&mut alice, &bob, common::ANSWER)
        .await
        .expect("Bob pushed into the roster");
    presence_from(&mut alice, &bob, Type::None).await;

    net.restart_gateway();
    net.control.started("alice").await;
    presence_from(&mut alice, &bob, Type::None).await;
    let mut phone = Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    let probed = phone
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bob) => Some(p.type_.clone()),
            _ => None,
        })
        .await;
    assert_eq!(probed, Type::None, "the probe of Bob answered available");

    net.control.inject("alice", bob_reported()).await;
    presence_from(&mut alice, &bob, Type::None).await;
    assert_eq!(
        roster_push(&mut alice, &bob, Duration::from_millis(500)).await,
        None,
        "no second roster push for a contact the roster has"
    );
}

/// Without the privilege (XEP-0100): Bob, whose subscription the user
/// approved before the restart, is answered available to a device that
/// logs in after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_privilege_a_contact_is_known_after_a_restart() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    net.control.inject("alice", bob_reported()).await;
    presence_from(&mut alice, &bob, Type::Subscribe).await;
    alice
        .send(Presence::new(Type::Subscribed).with_to(bob.clone()))
        .await;
    alice.send(Presence::subscribe().with_to(bob.clone())).await;
    presence_from(&mut alice, &bob, Type::Subscribed).await;

    net.restart_gateway();
    net.control.started("alice").await;
    let mut phone = Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    let probed = phone
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bob) => Some(p.type_.clone()),
            _ => None,
        })
        .await;
    assert_eq!(probed, Type::None, "the probe of Bob answered available");
}
