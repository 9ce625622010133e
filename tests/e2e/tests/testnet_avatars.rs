//! People's avatars from the network (XEP-0153 over XEP-0054), end to end:
//! Prosody, the gateway with the test network, a real XMPP client, and a
//! loopback HTTP server serving the pictures (counting its requests). The
//! network tells `Event::AvatarChanged`; occupant and contact presences
//! carry the picture's SHA-1, a vcard-temp get to the occupant's or the
//! contact's JID returns the picture byte-identical, as do XEP-0084 items
//! gets on the contact's JID, a changed picture is a
//! new hash in a new presence, and one picture is fetched once however many
//! rooms and users share it. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

#[path = "common/avatars.rs"]
mod avatars;
mod common;
#[path = "common/testnet.rs"]
mod harness;

use avatars::{photo, presence_with_photo, sha1_hex, vcard};
use base64::Engine as _;
use common::support::prosody::DOMAIN;
use common::Client;
use harness::{contact_jid, file_server, join, occupant_jid, Testnet};
use switchboard_bridge_api::{AvatarRef, Event, Member, Role, RoomId, UserId};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const METADATA: &str = "urn:xmpp:avatar:metadata";
const DATA: &str = "urn:xmpp:avatar:data";

/// A PNG signature and bytes that are not all alike.
fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    bytes
}

fn avatar(port: u16, path: &str) -> Event {
    Event::AvatarChanged {
        user: UserId::from("bob"),
        avatar: Some(AvatarRef {
            url: format!("http://127.0.0.1:{port}{path}"),
            needs_credentials: false,
        }),
    }
}

fn bob_joined(room: &str) -> Event {
    Event::MemberJoined {
        room: RoomId::from(room),
        member: Member {
            user: UserId::from("bob"),
            nick: "bob".into(),
            role: Role::Member,
            away: None,
        },
    }
}

/// A XEP-0084 items get to `to` for `node` (and that `item`): the one
/// item's id and payload, or the error condition.
async fn avatar_item(
    client: &mut Client,
    to: &Jid,
    node: &str,
    item: Option<&str>,
) -> Result<(String, Element), String> {
    let mut items = Element::builder("items", PUBSUB).attr(attr("node"), node);
    if let Some(id) = item {
        items = items.append(
            Element::builder("item", PUBSUB)
                .attr(attr("id"), id)
                .build(),
        );
    }
    let get = Element::builder("pubsub", PUBSUB)
        .append(items.build())
        .build();
    let iq = client.iq(&to.to_string(), false, get).await;
    if let Iq::Error { .. } = iq {
        return Err(common::error_condition(&iq));
    }
    let payload = common::result_payload(iq).expect("a pubsub payload");
    let items = payload.get_child("items", PUBSUB).expect("<items/>");
    assert_eq!(items.attr("node"), Some(node));
    let item = items.get_child("item", PUBSUB).expect("an <item/>");
    let child = item.children().next().expect("the item's payload").clone();
    Ok((item.attr("id").unwrap_or_default().to_owned(), child))
}

fn attr(name: &str) -> xmpp_parsers::minidom::rxml::NcName {
    xmpp_parsers::minidom::rxml::NcName::try_from(name).unwrap()
}

/// Bob as a contact, subscribed both ways as clients do without XEP-0356
/// (the gateway answers the client's subscription with Bob's available
/// presence).
async fn subscribe_to_bob(net: &mut Testnet, user: &str, client: &mut Client) {
    let bob = contact_jid("bob");
    net.control
        .inject(
            user,
            Event::ContactAdded {
                user: UserId::from("bob"),
                name: "Bob Builder".into(),
            },
        )
        .await;
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.type_ == Type::Subscribe && p.from.as_ref() == Some(&bob) => {
                Some(())
            }
            _ => None,
        })
        .await;
    client
        .send(Presence::new(Type::Subscribed).with_to(bob.clone()))
        .await;
    client
        .send(Presence::subscribe().with_to(bob.clone()))
        .await;
}

/// Bob's picture reaches alice in two rooms (and in the join sequence of a
/// third) and as a contact, and carol as
/// a contact: each presence carries its SHA-1, each vCard (occupant JID,
/// contact JID) the PNG byte-identical, and the picture was fetched once.
/// A new picture is a new hash in new presences and a new vCard. A picture
/// that needs the network's credentials comes through the session's fetcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avatars_reach_occupants_and_contacts_fetched_once() {
    let first = png(3000, 5);
    let second = png(2000, 9);
    let private = png(1000, 13);
    let (port, counts) = file_server(vec![
        ("/bob.png", first.clone()),
        ("/bob2.png", second.clone()),
        ("/private/eve.png", private.clone()),
    ])
    .await;
    let mut net = Testnet::start_with(None, "[files]\nallow_private_addresses = true\n").await;
    let mut alice = net.user("alice").await;
    for room in ["lobby", "den"] {
        join(&mut alice, room, "alice").await;
        net.control.next_command("alice").await;
        net.control.inject("alice", bob_joined(room)).await;
    }
    net.control.inject("alice", avatar(port, "/bob.png")).await;

    // The occupant presences in both rooms carry the hash; the vCard of
    // the occupant is the picture.
    let hash = sha1_hex(&first);
    for room in ["lobby", "den"] {
        presence_with_photo(&mut alice, &occupant_jid(room, "bob"), &hash).await;
    }
    let (name, media_type, bytes) = vcard(&mut alice, &occupant_jid("lobby", "bob")).await;
    assert_eq!((name.as_str(), media_type.as_str()), ("bob", "image/png"));
    assert_eq!(
        bytes, first,
        "the occupant's PHOTO is the network's picture"
    );
    assert_eq!(sha1_hex(&bytes), hash);

    // A room joined later: bob's presence in its join sequence has it.
    net.control.inject("alice", bob_joined("hall")).await;
    join(&mut alice, "hall", "alice").await;
    presence_with_photo(&mut alice, &occupant_jid("hall", "bob"), &hash).await;

    // As a contact: the presence that answers the subscription carries it,
    // and the contact's vCard has the network's name and the picture.
    let bob = contact_jid("bob");
    subscribe_to_bob(&mut net, "alice", &mut alice).await;
    presence_with_photo(&mut alice, &bob, &hash).await;
    let (name, _, bytes) = vcard(&mut alice, &bob).await;
    assert_eq!(name, "Bob Builder");
    assert_eq!(bytes, first, "the contact's PHOTO is the network's picture");

    // XEP-0084 on the contact's JID: metadata and data, the item id the hash.
    let (id, metadata) = avatar_item(&mut alice, &bob, METADATA, None).await.unwrap();
    assert_eq!(id, hash);
    let info = metadata.get_child("info", METADATA).expect("<info/>");
    let bytes_attr = first.len().to_string();
    assert_eq!(
        (info.attr("id"), info.attr("type"), info.attr("bytes")),
        (
            Some(hash.as_str()),
            Some("image/png"),
            Some(bytes_attr.as_str())
        )
    );
    let (id, data) = avatar_item(&mut alice, &bob, DATA, Some(&hash))
        .await
        .unwrap();
    assert_eq!(id, hash);
    assert!(data.is("data", DATA));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.text())
        .unwrap();
    assert_eq!(bytes, first, "the XEP-0084 data is the network's picture");
    let old = avatar_item(&mut alice, &bob, DATA, Some("0000")).await;
    assert_eq!(old.map(|(id, _)| id), Err("item-not-found".to_owned()));

    // Another user whose network tells the same picture: the contact's
    // presence carries it, and it was not fetched again.
    let mut carol = net.user("carol").await;
    subscribe_to_bob(&mut net, "carol", &mut carol).await;
    net.control.inject("carol", avatar(port, "/bob.png")).await;
    presence_with_photo(&mut carol, &bob, &hash).await;
    let (_, _, bytes) = vcard(&mut carol, &bob).await;
    assert_eq!(bytes, first);
    assert_eq!(
        counts.lock().unwrap().get("/bob.png").copied(),
        Some(1),
        "one fetch for two rooms and two users"
    );

    // A new picture: new presences with the new hash, a new vCard.
    net.control.inject("alice", avatar(port, "/bob2.png")).await;
    let new_hash = sha1_hex(&second);
    assert_ne!(new_hash, hash);
    for from in [
        occupant_jid("lobby", "bob"),
        occupant_jid("den", "bob"),
        bob.clone(),
    ] {
        presence_with_photo(&mut alice, &from, &new_hash).await;
    }
    let (_, _, bytes) = vcard(&mut alice, &occupant_jid("den", "bob")).await;
    assert_eq!(bytes, second);
    let (id, _) = avatar_item(&mut alice, &bob, METADATA, None).await.unwrap();
    assert_eq!(id, new_hash);
    assert_eq!(counts.lock().unwrap().get("/bob2.png").copied(), Some(1));

    // A picture that needs the network's credentials: fetched by the
    // session's fetcher (the server refuses it without them).
    let eve = Member {
        user: UserId::from("eve"),
        nick: "eve".into(),
        role: Role::Member,
        away: None,
    };
    let room = RoomId::from("lobby");
    net.control
        .inject("alice", Event::MemberJoined { room, member: eve })
        .await;
    let told = Event::AvatarChanged {
        user: UserId::from("eve"),
        avatar: Some(AvatarRef {
            url: format!("http://127.0.0.1:{port}/private/eve.png"),
            needs_credentials: true,
        }),
    };
    net.control.inject("alice", told).await;
    let eve = occupant_jid("lobby", "eve");
    presence_with_photo(&mut alice, &eve, &sha1_hex(&private)).await;
    let (_, _, bytes) = vcard(&mut alice, &eve).await;
    assert_eq!(bytes, private, "the credentialed picture, byte-identical");
}

/// A disco#info of `to`: (identities as `category/type/name`, features).
async fn disco_info(client: &mut Client, to: &Jid) -> (Vec<String>, Vec<String>) {
    let query = Element::builder("query", "http://jabber.org/protocol/disco#info").build();
    let iq = client.iq(&to.to_string(), false, query).await;
    let Iq::Result {
        payload: Some(info),
        ..
    } = iq
    else {
        panic!("no disco#info from {to}: {iq:?}");
    };
    let identities = info
        .children()
        .filter(|c| c.name() == "identity")
        .map(|i| {
            format!(
                "{}/{}/{}",
                i.attr("category").unwrap_or_default(),
                i.attr("type").unwrap_or_default(),
                i.attr("name").unwrap_or_default()
            )
        })
        .collect();
    let mut features: Vec<String> = info
        .children()
        .filter(|c| c.name() == "feature")
        .filter_map(|f| f.attr("var").map(str::to_owned))
        .collect();
    features.sort();
    (identities, features)
}

/// What a direct chat with a test network person carries (the network
/// has every capability), without the avatar nodes.
const CONTACT_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "urn:xmpp:chat-markers:0",
    "urn:xmpp:fallback:0",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:message-retract:1",
    "urn:xmpp:reactions:0",
    "urn:xmpp:reply:0",
    "urn:xmpp:sid:0",
    "vcard-temp",
];

/// The contact's JID answers disco#info as a person, with exactly what
/// the network supports for direct chats, and the XEP-0084 nodes only once
/// the picture is known; a new picture is a XEP-0084 metadata notification
/// (a headline with the pubsub event, the item id the SHA-1) from the
/// contact to a user who has them as a contact, none to one who only
/// shares a room with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_answers_disco_as_a_person_and_notifies_a_new_picture() {
    let picture = png(1500, 21);
    let (port, _) = file_server(vec![("/bob.png", picture.clone())]).await;
    let mut net = Testnet::start_with(None, "[files]\nallow_private_addresses = true\n").await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    subscribe_to_bob(&mut net, "alice", &mut alice).await;
    let (identities, features) = disco_info(&mut alice, &bob).await;
    assert_eq!(identities, ["client/pc/Bob Builder"]);
    assert_eq!(features, CONTACT_FEATURES, "no avatar before a picture");

    // Carol shares a room with bob, he is not her contact.
    let mut carol = net.user("carol").await;
    join(&mut carol, "lobby", "carol").await;
    net.control.next_command("carol").await;
    net.control.inject("carol", bob_joined("lobby")).await;

    net.control.inject("alice", avatar(port, "/bob.png")).await;
    net.control.inject("carol", avatar(port, "/bob.png")).await;
    let hash = sha1_hex(&picture);
    let event = "http://jabber.org/protocol/pubsub#event";
    let notification = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => m
                .payloads
                .iter()
                .find(|p| p.is("event", event))
                .cloned()
                .map(|e| (m.type_.clone(), e)),
            _ => None,
        })
        .await;
    assert_eq!(notification.0, xmpp_parsers::message::MessageType::Headline);
    let items = notification.1.get_child("items", event).expect("<items/>");
    assert_eq!(items.attr("node"), Some(METADATA));
    let item = items.get_child("item", event).expect("<item/>");
    assert_eq!(item.attr("id"), Some(hash.as_str()));
    let info = item
        .get_child("metadata", METADATA)
        .and_then(|m| m.get_child("info", METADATA))
        .expect("<metadata><info/></metadata>");
    let size = picture.len().to_string();
    assert_eq!(
        (info.attr("id"), info.attr("type"), info.attr("bytes")),
        (Some(hash.as_str()), Some("image/png"), Some(size.as_str()))
    );

    let (identities, features) = disco_info(&mut alice, &bob).await;
    assert_eq!(identities, ["client/pc/Bob Builder", "pubsub/pep/"]);
    let mut with_avatar: Vec<&str> = CONTACT_FEATURES.to_vec();
    with_avatar.extend([DATA, METADATA]);
    with_avatar.sort();
    assert_eq!(features, with_avatar);

    presence_with_photo(&mut carol, &occupant_jid("lobby", "bob"), &hash).await;
    let told = carol
        .maybe(std::time::Duration::from_millis(500), |s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&bob) => Some(m.clone()),
            _ => None,
        })
        .await;
    assert_eq!(told, None, "no notification where bob is no contact");
}

/// Bob's picture, told while he is alice's contact, outlives a restart of
/// the gateway: his presence when the gateway is back carries the same
/// hash, his vCard and XEP-0084 data are the picture byte-identical, and
/// the network telling the same URL again (as a new session does) fetches
/// nothing. A new picture after it replaces the stored one: after a second
/// restart it is the new one that comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contacts_picture_is_kept_across_restarts() {
    let first = png(2500, 33);
    let second = png(1800, 35);
    let (port, counts) = file_server(vec![
        ("/bob.png", first.clone()),
        ("/bob2.png", second.clone()),
    ])
    .await;
    let mut net = Testnet::start_with(None, "[files]\nallow_private_addresses = true\n").await;
    let mut alice = net.user("alice").await;
    let bob = contact_jid("bob");
    subscribe_to_bob(&mut net, "alice", &mut alice).await;
    net.control.inject("alice", avatar(port, "/bob.png")).await;
    let hash = sha1_hex(&first);
    presence_with_photo(&mut alice, &bob, &hash).await;
    let quiet = std::time::Duration::from_millis(500);
    while alice
        .maybe(quiet, |s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bob) => Some(()),
            _ => None,
        })
        .await
        .is_some()
    {}

    net.restart_gateway();
    net.control.started("alice").await;
    presence_with_photo(&mut alice, &bob, &hash).await;
    let mut phone = Client::login(&format!("alice@{DOMAIN}"), "pass", net.prosody.c2s_port).await;
    let probed = phone
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&bob) && p.type_ == Type::None => {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        photo(&probed).as_deref(),
        Some(hash.as_str()),
        "a device logging in after the restart gets the hash"
    );
    let (name, media_type, bytes) = vcard(&mut alice, &bob).await;
    assert_eq!(name, "Bob Builder");
    assert_eq!(media_type, "image/png");
    assert_eq!(bytes, first, "the PHOTO after a restart is the picture");
    let (id, data) = avatar_item(&mut alice, &bob, DATA, Some(&hash))
        .await
        .unwrap();
    assert_eq!(id, hash);
    let data = base64::engine::general_purpose::STANDARD
        .decode(data.text())
        .unwrap();
    assert_eq!(data, first, "the XEP-0084 data after a restart");

    // The same URL again, then a new picture: changes are taken in order,
    // so once the new hash is out the first was seen, and not fetched.
    net.control.inject("alice", avatar(port, "/bob.png")).await;
    net.control.inject("alice", avatar(port, "/bob2.png")).await;
    let new_hash = sha1_hex(&second);
    presence_with_photo(&mut alice, &bob, &new_hash).await;
    assert_eq!(
        counts.lock().unwrap().get("/bob.png").copied(),
        Some(1),
        "an unchanged picture is not fetched again after a restart"
    );

    net.restart_gateway();
    net.control.started("alice").await;
    presence_with_photo(&mut alice, &bob, &new_hash).await;
    let (_, _, bytes) = vcard(&mut alice, &bob).await;
    assert_eq!(bytes, second, "the new picture replaced the stored one");
    assert_eq!(counts.lock().unwrap().get("/bob2.png").copied(), Some(1));
}
