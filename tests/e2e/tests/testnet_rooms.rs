//! A network whose rooms are persistent by capability (the test network
//! declares `persistent_rooms`), end to end: a real Prosody and a real
//! XMPP client, the network's control channel on the other side. The
//! gateway must be built with `cargo build --bin switchboard --features
//! test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use common::history::{
    gateway_caught_up, join_history, join_with_history, leave_cleanly, mam_all, message_ids,
};
use common::relay::Relay;
use common::room::presence_from;
use common::support::prosody::DOMAIN;
use common::{result_payload, Client};
use harness::{contact_jid, from_network, lobby, occupant_jid, room_jid, Testnet, TESTNET};
use switchboard_bridge_api::{Command, Target, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Type;

const COMMANDS: &str = "http://jabber.org/protocol/commands";

/// An ad-hoc command on the lobby, executed at once.
fn command(node: &str) -> Element {
    format!("<command xmlns='{COMMANDS}' node='{node}' action='execute'/>")
        .parse()
        .unwrap()
}

/// The ticket's first test on the test network: alice's resources A and C
/// join a room; C leaves cleanly and A's stream is killed (the last one).
/// No `Leave` reaches the network; the 50 messages it posts meanwhile come
/// back to A, returning with `<history maxstanzas='100'/>`, in join history
/// and MAM, after the ten C saw live, those with the ids and stanza-ids C
/// saw. The room's form has no `persistent` switch (every room is), and the
/// explicit `leave` command leaves the network room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_of_a_persistent_network_outlives_the_client() {
    let mut net = Testnet::start().await;
    let mut c = net.user("alice").await;
    let lobby_jid = room_jid("lobby");
    let me = occupant_jid("lobby", "alice");

    let form = result_payload(c.iq(&lobby_jid, true, command("configure")).await).unwrap();
    let vars: Vec<&str> = form
        .get_child("x", "jabber:x:data")
        .unwrap()
        .children()
        .filter_map(|f| f.attr("var"))
        .collect();
    assert_eq!(vars, ["FORM_TYPE", "archive"]);

    let relay = Relay::start(net.prosody.c2s_port).await;
    let mut a = Client::login(&format!("alice@{DOMAIN}/A"), "pass", relay.port).await;
    join_with_history(&mut c, me.clone(), 0).await;
    join_with_history(&mut a, me.clone(), 0).await;
    let join = net.control.next_command("alice").await;
    assert!(matches!(join, Command::Join { .. }), "{join:?}");

    // Ten messages C sees live.
    for i in 1..=10 {
        let event = from_network(&format!("live-{i}"), lobby(), "bob", &format!("live {i}"));
        net.control.inject("alice", event).await;
    }
    let bob: Jid = occupant_jid("lobby", "bob");
    let mut live = Vec::new();
    while live.len() < 10 {
        let m = c
            .wait_for(|s| match s {
                Stanza::Message(m)
                    if m.from.as_ref() == Some(&bob) && m.type_ == MessageType::Groupchat =>
                {
                    Some(message_ids(m))
                }
                _ => None,
            })
            .await;
        live.push(m);
    }

    // C leaves cleanly, then A's stream is killed.
    leave_cleanly(&mut c, me.clone()).await;
    relay.cut();
    drop(a);
    let a_jid: Jid = format!("alice@{DOMAIN}/A").parse().unwrap();
    presence_from(&mut c, a_jid, Type::Unavailable).await;
    gateway_caught_up(&mut c, TESTNET).await;

    // 50 messages with no client in the room, then a direct message,
    // which the gateway relays after them.
    for i in 1..=50 {
        let event = from_network(
            &format!("missed-{i}"),
            lobby(),
            "bob",
            &format!("missed {i}"),
        );
        net.control.inject("alice", event).await;
    }
    let dm = Target::User(UserId::from("bob"));
    net.control
        .inject("alice", from_network("dm-1", dm, "bob", "that was all"))
        .await;
    let bob_contact = contact_jid("bob").to_string();
    assert_eq!(c.reply_from(&bob_contact).await, "that was all");

    // The network room was never left: every command up to one sent now.
    let mut out = Message::chat(Some(contact_jid("bob"))).with_body(Lang::new(), "ok".into());
    out.id = Some(xmpp_parsers::message::Id("dm-out".into()));
    c.send(out).await;
    net.control
        .expect_command("alice", |c| matches!(c, Command::SendText { .. }))
        .await;
    let seen = net.control.seen("alice");
    assert!(
        !seen.iter().any(|c| matches!(c, Command::Leave { .. })),
        "{seen:?}"
    );

    // A returns: all 60 in join history, the live ones with the ids C saw,
    // the network's ids on all; MAM has the same.
    let mut a = Client::login(&format!("alice@{DOMAIN}/A"), "pass", net.prosody.c2s_port).await;
    join_with_history(&mut a, me.clone(), 100).await;
    let history = join_history(&mut a, &lobby_jid.parse().unwrap()).await;
    let expected: Vec<(String, Option<String>)> = (1..=10)
        .map(|i| (format!("live {i}"), Some(format!("live-{i}"))))
        .chain((1..=50).map(|i| (format!("missed {i}"), Some(format!("missed-{i}")))))
        .collect();
    let got: Vec<(String, Option<String>)> =
        history.iter().map(|h| (h.0.clone(), h.1.clone())).collect();
    assert_eq!(got, expected);
    assert_eq!(&history[..10], &live[..]);
    assert_eq!(mam_all(&mut a, &lobby_jid, 100).await, history);
    let joins = net
        .control
        .seen("alice")
        .iter()
        .filter(|c| matches!(c, Command::Join { .. }))
        .count();
    assert_eq!(joins, 1, "the return joined the network room again");

    // Leaving is explicit: the room's `leave` command.
    let done = result_payload(a.iq(&lobby_jid, true, command("leave")).await).unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    let Command::Leave { room, .. } = net
        .control
        .expect_command("alice", |c| matches!(c, Command::Leave { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(room.as_str(), "lobby");
    presence_from(&mut a, me, Type::Unavailable).await;
}

/// Leaving a room explicitly and joining it again at once ends in the
/// room: the network's answer to the leave (`RoomLeft`) comes after the new
/// join was sent and must not end it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_and_a_join_at_once_end_in_the_room() {
    let mut net = Testnet::start().await;
    let mut c = net.user("alice").await;
    let me = occupant_jid("lobby", "alice");
    join_with_history(&mut c, me.clone(), 0).await;
    let join = net.control.next_command("alice").await;
    assert!(matches!(join, Command::Join { .. }), "{join:?}");

    // `leave` by chat command, and the join right after it.
    let to: Jid = TESTNET.parse().unwrap();
    let leave =
        Message::chat(Some(to)).with_body(Lang::new(), format!("leave {}", room_jid("lobby")));
    c.send(leave).await;
    join_with_history(&mut c, me.clone(), 0).await;
    let leave = net.control.next_command("alice").await;
    assert!(matches!(leave, Command::Leave { .. }), "{leave:?}");
    let join = net.control.next_command("alice").await;
    assert!(matches!(join, Command::Join { .. }), "{join:?}");

    // In the room: the network's next message reaches the client.
    net.control
        .inject(
            "alice",
            from_network("after", lobby(), "bob", "welcome back"),
        )
        .await;
    let bob: Jid = occupant_jid("lobby", "bob");
    let m = c
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&bob) && m.type_ == MessageType::Groupchat =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        m.bodies.values().next().map(String::as_str),
        Some("welcome back")
    );
}
