//! Persistent rooms in the user's XEP-0402 bookmarks, through a real
//! Prosody granting the gateway the XEP-0356 `iq` privilege on pubsub
//! (mod_privilege from Debian's prosody-modules, and mod_pep): the client
//! reads its own `urn:xmpp:bookmarks:1` node as Conversations, Dino and
//! Gajim do at login. The test network's rooms are persistent. The gateway
//! must be built with `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;

use std::time::{Duration, Instant};

use common::support::prosody::DOMAIN;
use common::{result_payload, Client};
use harness::{join, occupant_jid, room_jid, Testnet};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const BOOKMARKS: &str = "urn:xmpp:bookmarks:1";
const COMMANDS: &str = "http://jabber.org/protocol/commands";

/// What Prosody's mod_privilege grants the gateway here.
const PUBSUB_IQ: &str = r#"iq = { ["http://jabber.org/protocol/pubsub"] = "both" };"#;

/// A bookmark as the client reads it: (name, autojoin, nick).
type Bookmark = (Option<String>, bool, Option<String>);

/// The client's bookmarks by room JID (none when the node does not exist).
async fn bookmarks(client: &mut Client) -> Vec<(String, Bookmark)> {
    let get: Element = format!("<pubsub xmlns='{PUBSUB}'><items node='{BOOKMARKS}'/></pubsub>")
        .parse()
        .unwrap();
    let own = format!("{}", client.jid);
    let answer = client.iq(&own, false, get).await;
    if matches!(answer, Iq::Error { .. }) {
        return Vec::new();
    }
    let Some(pubsub) = result_payload(answer) else {
        return Vec::new();
    };
    let Some(items) = pubsub.get_child("items", PUBSUB) else {
        return Vec::new();
    };
    items
        .children()
        .filter(|i| i.is("item", PUBSUB))
        .filter_map(|i| {
            let c = i.get_child("conference", BOOKMARKS)?;
            Some((
                i.attr("id")?.to_owned(),
                (
                    c.attr("name").map(str::to_owned),
                    matches!(c.attr("autojoin"), Some("true" | "1")),
                    c.get_child("nick", BOOKMARKS).map(Element::text),
                ),
            ))
        })
        .collect()
}

/// The room's bookmark, if the client has one.
async fn bookmark_of(client: &mut Client, room: &str) -> Option<Bookmark> {
    bookmarks(client)
        .await
        .into_iter()
        .find(|(id, _)| id == room)
        .map(|(_, b)| b)
}

/// Reads the room's bookmark until `wanted` holds of it (10 s at most).
async fn bookmark_until(
    client: &mut Client,
    room: &str,
    wanted: impl Fn(&Option<Bookmark>) -> bool,
) -> Option<Bookmark> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let b = bookmark_of(client, room).await;
        if wanted(&b) {
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "{room}: the bookmark stayed {b:?}; all: {:?}",
            bookmarks(client).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The user's own bookmark of the room, published as a client does.
async fn bookmark_myself(client: &mut Client, room: &str, name: &str, nick: &str) {
    let publish: Element = format!(
        "<pubsub xmlns='{PUBSUB}'><publish node='{BOOKMARKS}'><item id='{room}'>\
         <conference xmlns='{BOOKMARKS}' name='{name}' autojoin='false'><nick>{nick}</nick>\
         </conference></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>\
         <field var='FORM_TYPE' type='hidden'>\
         <value>http://jabber.org/protocol/pubsub#publish-options</value></field>\
         <field var='pubsub#persist_items'><value>true</value></field>\
         <field var='pubsub#max_items'><value>max</value></field>\
         <field var='pubsub#send_last_published_item'><value>never</value></field>\
         <field var='pubsub#access_model'><value>whitelist</value></field>\
         </x></publish-options></pubsub>"
    )
    .parse()
    .unwrap();
    let own = format!("{}", client.jid);
    let answer = client.iq(&own, true, publish).await;
    assert!(matches!(answer, Iq::Result { .. }), "{answer:?}");
}

/// Leaves the room for good: its ad-hoc `leave` command.
async fn leave(client: &mut Client, room: &str) {
    let command: Element = format!("<command xmlns='{COMMANDS}' node='leave' action='execute'/>")
        .parse()
        .unwrap();
    let done = result_payload(client.iq(room, true, command).await).unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
}

/// Joining a persistent room bookmarks it, named, joined at login, with the
/// nick; a nick change updates it; the explicit leave takes it away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_room_is_bookmarked_until_left() {
    let mut net = Testnet::start_privileged(PUBSUB_IQ).await;
    let mut alice = net.user("alice").await;
    let lobby = room_jid("lobby");
    assert_eq!(bookmark_of(&mut alice, &lobby).await, None);

    join(&mut alice, "lobby", "ali").await;
    let b = bookmark_until(&mut alice, &lobby, Option::is_some).await;
    assert_eq!(
        b,
        Some((Some("lobby".to_owned()), true, Some("ali".to_owned()))),
        "{}",
        net.gateway.log()
    );

    // A nick change (XEP-0045 §7.6) the network confirms: the gateway's
    // bookmark follows it.
    let rename = Presence::available().with_to(occupant_jid("lobby", "ali2"));
    alice.send(rename).await;
    let b = bookmark_until(&mut alice, &lobby, |b| {
        b.as_ref().is_some_and(|b| b.2.as_deref() == Some("ali2"))
    })
    .await;
    assert_eq!(
        b,
        Some((Some("lobby".to_owned()), true, Some("ali2".to_owned())))
    );

    leave(&mut alice, &lobby).await;
    bookmark_until(&mut alice, &lobby, Option::is_none).await;
}

/// A bookmark the user made for a room is neither replaced when the room
/// is joined nor retracted when it is left; another room is bookmarked and
/// unbookmarked meanwhile (in order after the first: the gateway is done
/// with the first when the second changed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_own_bookmark_is_left_alone() {
    let mut net = Testnet::start_privileged(PUBSUB_IQ).await;
    let mut alice = net.user("alice").await;
    let (lobby, hall) = (room_jid("lobby"), room_jid("hall"));
    bookmark_myself(&mut alice, &lobby, "Mine", "al").await;
    let mine = Some((Some("Mine".to_owned()), false, Some("al".to_owned())));
    assert_eq!(bookmark_of(&mut alice, &lobby).await, mine);

    join(&mut alice, "lobby", "alice").await;
    join(&mut alice, "hall", "alice").await;
    bookmark_until(&mut alice, &hall, Option::is_some).await;
    assert_eq!(bookmark_of(&mut alice, &lobby).await, mine, "not replaced");

    leave(&mut alice, &lobby).await;
    leave(&mut alice, &hall).await;
    bookmark_until(&mut alice, &hall, Option::is_none).await;
    assert_eq!(bookmark_of(&mut alice, &lobby).await, mine, "not retracted");
}

/// A room stored before the server granted the privilege (the operator
/// turned it on later) is bookmarked once the privilege arrives, at the
/// gateway's next start: the start-up rejoin of the stored room comes
/// before the server's `<privilege/>`, so the bookmark is made then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_stored_before_the_privilege_is_bookmarked_when_it_comes() {
    let mut net = Testnet::start_privileged(r#"roster = "both";"#).await;
    let mut alice = net.user("alice").await;
    let lobby = room_jid("lobby");
    join(&mut alice, "lobby", "ali").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        bookmark_of(&mut alice, &lobby).await,
        None,
        "no bookmark without the privilege"
    );
    drop(alice);

    net.gateway.stop();
    net.prosody.regrant(PUBSUB_IQ);
    net.gateway.launch();
    net.control.relink();
    net.control.started("alice").await;
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    let b = bookmark_until(&mut alice, &lobby, Option::is_some).await;
    assert_eq!(
        b,
        Some((Some("lobby".to_owned()), true, Some("ali".to_owned())))
    );
}
