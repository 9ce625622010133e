//! A Matrix space's tree seen from XMPP, end to end (a real Synapse, a
//! real Prosody, a real XMPP client): a space alice is in holds a room she
//! joined, a room she did not and a sub-space she is not in, with a room
//! of its own. The space's disco node lists all three, the sub-space as a
//! node under it (also reached by its alias) whose items are its room, and
//! alice joins the sub-space's room from that list. Needs `cargo build --bin switchboard --features
//! test-network` and Synapse from `scripts/install-test-deps`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/matrix_setup.rs"]
mod mx;
#[path = "common/synapse.rs"]
mod synapse;
#[path = "common/matrix_trio.rs"]
mod trio;

use common::result_payload;
use harness::join_at;
use mx::{room_jid, ALICE_PASSWORD, GW};
use serde_json::json;
use synapse::{encode, MatrixUser, SERVER_NAME};
use tokio_xmpp::Stanza;
use trio::{disco_items, top_items_with, Trio};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// A public space bob makes, named `name`, with the alias `#alias:…`:
/// its room id.
async fn space(setup: &Trio, bob: &MatrixUser, alias: &str, name: &str) -> String {
    let body = json!({
        "name": name, "preset": "public_chat", "room_alias_name": alias,
        "creation_content": {"type": "m.space"},
    });
    let made = setup.ok(bob, "POST", "createRoom", body).await;
    made["room_id"].as_str().unwrap().to_owned()
}

/// Puts `child` in `parent` (its `m.space.child` state).
async fn add_child(setup: &Trio, bob: &MatrixUser, parent: &str, child: &str) {
    let path = format!(
        "rooms/{}/state/m.space.child/{}",
        encode(parent),
        encode(child)
    );
    setup
        .ok(bob, "PUT", &path, json!({"via": [SERVER_NAME]}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spaces_rooms_and_sub_spaces_are_listed_joined_or_not() {
    let setup = Trio::start();
    let mut alice = setup.alice().await;
    let mut bob = setup.bob().await;

    let guild = space(&setup, &bob, "guild", "Guild").await;
    let lobby = bob.create_room("lobby", "Lobby").await;
    let cellar = bob.create_room("cellar", "Cellar").await;
    let wing = space(&setup, &bob, "wing", "Wing").await;
    let attic = bob.create_room("attic", "Attic").await;
    add_child(&setup, &bob, &guild, &lobby).await;
    add_child(&setup, &bob, &guild, &cellar).await;
    add_child(&setup, &bob, &guild, &wing).await;
    add_child(&setup, &bob, &wing, &attic).await;
    let me = MatrixUser::login(&setup.synapse, "alice", ALICE_PASSWORD).await;
    me.join(&guild).await;
    // The joined room: from XMPP, by its alias.
    let lobby_jid = room_jid(&format!("#lobby:{SERVER_NAME}"));
    join_at(&mut alice, &lobby_jid, "alice").await;

    // Only the space alice is in is at the top.
    let guild_node = format!("rooms/{guild}");
    let top = top_items_with(&mut alice, &guild_node).await;
    assert_eq!(
        top,
        [(GW.to_owned(), Some(guild_node.clone()), "Guild".to_owned())]
    );

    // The space's items: the joined room by the JID alice joined it at,
    // the other room by its id, the sub-space as a node of the gateway.
    let mut items = disco_items(&mut alice, Some(&guild_node)).await;
    items.sort();
    let wing_node = format!("rooms/{wing}");
    let mut want = vec![
        (lobby_jid.clone(), None, "Lobby (2)".to_owned()),
        (room_jid(&cellar), None, "Cellar (1)".to_owned()),
        (
            GW.to_owned(),
            Some(wing_node.clone()),
            "Wing (1)".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(items, want);

    // The sub-space alice is not in: a branch, its room listed below it.
    let info: Element = format!("<query xmlns='{DISCO_INFO}' node='{wing_node}'/>")
        .parse()
        .unwrap();
    let info = result_payload(alice.iq(GW, false, info).await).unwrap();
    let identity = info.get_child("identity", DISCO_INFO).unwrap();
    assert_eq!(
        (identity.attr("category"), identity.attr("type")),
        (Some("hierarchy"), Some("branch"))
    );
    let attic_jid = room_jid(&attic);
    assert_eq!(
        disco_items(&mut alice, Some(&wing_node)).await,
        [(attic_jid.clone(), None, "Attic (1)".to_owned())]
    );

    // A space is also reached by its alias, alice being in it or not.
    let by_alias = format!("rooms/#wing:{SERVER_NAME}");
    assert_eq!(
        disco_items(&mut alice, Some(&by_alias)).await,
        [(attic_jid.clone(), None, "Attic (1)".to_owned())]
    );

    // Joined from that list, the room works like any other.
    join_at(&mut alice, &attic_jid, "alice").await;
    bob.send(&attic, "mind the beams").await;
    let from: Jid = format!("{attic_jid}/bob").parse().unwrap();
    let body = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ == MessageType::Groupchat =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body, "mind the beams");
}
