//! The XMPP user's own picture on their Discord webhook messages, end to
//! end: a real client sets its avatar as clients do (a vcard-temp set with
//! PHOTO, which Prosody's `mod_vcard_legacy` also publishes as the XEP-0084
//! avatar, and the XEP-0153 hash in its presence), joins a channel and
//! speaks; the Discord double's webhook execution carries an `avatar_url`
//! that serves exactly the picture (put on Prosody's upload service by the
//! gateway). A changed picture gives a new URL; a restart of the gateway
//! keeps the URL (nothing uploaded again); a removed picture and a user
//! without one send none. The gateway must be built with `cargo build
//! --bin switchboard --features test-network`.
//!
//! The picture is read and uploaded while the client goes on, so a test
//! speaks until a message shows the change (each message is one webhook
//! execution, checked whole).

#[path = "common/avatars.rs"]
mod avatars;
mod common;
#[path = "common/discord.rs"]
mod discord_setup;
#[path = "common/upload.rs"]
mod upload;

use std::time::Duration;

use avatars::{sha1_hex, UPDATE, VCARD};
use base64::Engine as _;
use common::support::prosody::Prosody;
use common::{Client, Switchboard};
use discord_setup::{config, registered, room_jid, Setup, GW, SECRET};
use switchboard_discord_double::{self as discord, Double, Request};
use tokio_xmpp::Stanza;
use upload::{get, image_bytes};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

/// Sets the client's vCard: its name, and PHOTO when given.
async fn set_vcard(client: &mut Client, photo: Option<&[u8]>) {
    let mut card = Element::builder("vCard", VCARD)
        .append(Element::builder("FN", VCARD).append(client.jid.to_string()));
    if let Some(bytes) = photo {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        card = card.append(
            Element::builder("PHOTO", VCARD)
                .append(Element::builder("TYPE", VCARD).append("image/png"))
                .append(Element::builder("BINVAL", VCARD).append(data)),
        );
    }
    let own = client.jid.to_string();
    let iq = client.iq(&own, true, card.build()).await;
    assert!(matches!(iq, Iq::Result { .. }), "vCard set: {iq:?}");
}

/// The presence of a client with this XEP-0153 photo hash (`Some("")`:
/// none; `None`: no `<x/>`, as Conversations), to its occupant JID;
/// `join` adds the MUC `<x/>` and waits for the self-presence.
async fn presence_in(
    client: &mut Client,
    channel: &str,
    nick: &str,
    hash: Option<&str>,
    join: bool,
) {
    let to: Jid = format!("{}/{nick}", room_jid(channel)).parse().unwrap();
    let mut p = Presence::available().with_to(to);
    if join {
        p.payloads
            .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    }
    if let Some(hash) = hash {
        let mut photo = Element::builder("photo", UPDATE);
        if !hash.is_empty() {
            photo = photo.append(hash.to_owned());
        }
        p.payloads
            .push(Element::builder("x", UPDATE).append(photo).build());
    }
    client.send(p).await;
    if join {
        client
            .wait_for(|s| match s {
                Stanza::Presence(p)
                    if p.type_ == Type::None
                        && common::room::muc_info(p).0.contains(&"110".to_owned()) =>
                {
                    Some(())
                }
                _ => None,
            })
            .await;
    }
}

/// Says `text` in the channel and returns the webhook execution that
/// carried it.
async fn say(setup: &Setup, client: &mut Client, channel: &str, text: &str) -> Request {
    let room: Jid = room_jid(channel).parse().unwrap();
    client
        .send(Message::groupchat(Some(room)).with_body(Lang::new(), text.to_owned()))
        .await;
    setup
        .double
        .wait_request(|r| {
            r.method == "POST" && r.path.contains("/webhooks/") && r.body["content"] == text
        })
        .await
}

/// Speaks until a message's `avatar_url` is one `wanted` accepts; that URL.
async fn speak_until(
    setup: &Setup,
    client: &mut Client,
    label: &str,
    wanted: impl Fn(Option<&str>) -> bool,
) -> Option<String> {
    let mut seen = Vec::new();
    for n in 0..100 {
        let post = say(setup, client, discord::GENERAL_ID, &format!("{label} {n}")).await;
        let url = post.body["avatar_url"].as_str().map(str::to_owned);
        if wanted(url.as_deref()) {
            return url;
        }
        seen.push(url);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{label}: no message showed it; avatar_url seen: {seen:?}");
}

/// Speaks until a message carries a picture URL other than `old` (any,
/// when none), and checks that it serves `picture`: that URL.
async fn speak_until_serving(
    setup: &Setup,
    client: &mut Client,
    label: &str,
    old: Option<&str>,
    picture: &[u8],
) -> String {
    let url = speak_until(setup, client, label, |u| u.is_some_and(|u| Some(u) != old))
        .await
        .unwrap();
    let what = match old {
        None => "the avatar_url serves the picture",
        Some(_) => "the new URL serves the new picture",
    };
    assert_eq!(get(&url).await, picture, "{what}");
    url
}

/// Waits until the gateway answers a ping (after a restart).
async fn gateway_answers(client: &mut Client) {
    for _ in 0..60 {
        let ping = Element::builder("ping", "urn:xmpp:ping").build();
        if matches!(client.iq(GW, false, ping).await, Iq::Result { .. }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the gateway did not come back");
}

/// The double, a Prosody with an upload service and vcard-temp (`pep`:
/// with PEP alone) and the gateway.
async fn start(pep: bool) -> Setup {
    let double = Double::start().await.unwrap();
    let prosody = if pep {
        Prosody::start_with_upload_and_pep(&[(GW, SECRET)], 1 << 20)
    } else {
        Prosody::start_with_upload_and_profiles(&[(GW, SECRET)], 1 << 20)
    };
    let gateway = Switchboard::start(&config(&prosody, &double, "info"));
    Setup {
        double,
        prosody,
        gateway,
    }
}

/// Restarts the gateway and rejoins with a presence that says nothing of
/// the picture: the first message carries the stored URL at once
/// (nothing uploaded anew).
async fn restart_keeps_the_url(setup: &mut Setup, client: &mut Client, nick: &str, url: &str) {
    setup.gateway.restart();
    gateway_answers(client).await;
    presence_in(client, discord::GENERAL_ID, nick, None, true).await;
    let post = say(setup, client, discord::GENERAL_ID, "restarted").await;
    assert_eq!(
        post.body["avatar_url"].as_str(),
        Some(url),
        "the stored URL after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_messages_carry_the_users_own_avatar() {
    let mut setup = start(false).await;
    let mut alice = registered(&setup, "alice").await;
    let first = image_bytes(3000);
    set_vcard(&mut alice, Some(&first)).await;
    let first_hash = sha1_hex(&first);
    presence_in(
        &mut alice,
        discord::GENERAL_ID,
        "alice",
        Some(&first_hash),
        true,
    )
    .await;

    let url = speak_until_serving(&setup, &mut alice, "first", None, &first).await;
    let post = say(&setup, &mut alice, discord::GENERAL_ID, "again").await;
    assert_eq!(post.body["username"], "alice");
    assert_eq!(
        post.body["avatar_url"].as_str(),
        Some(url.as_str()),
        "the same picture, the same URL"
    );

    // A user without a picture: their messages carry none, whatever
    // alice's carry.
    let mut bob = registered(&setup, "bob").await;
    set_vcard(&mut bob, None).await;
    presence_in(&mut bob, discord::GENERAL_ID, "bob", Some(""), true).await;
    let post = say(&setup, &mut bob, discord::GENERAL_ID, "bob speaks").await;
    assert_eq!(post.body["username"], "bob");
    assert!(
        post.body.get("avatar_url").is_none(),
        "no avatar_url for a user without a picture: {}",
        post.body
    );

    // A changed picture: a new URL serving the new one.
    let second = image_bytes(5000);
    set_vcard(&mut alice, Some(&second)).await;
    let second_hash = sha1_hex(&second);
    presence_in(
        &mut alice,
        discord::GENERAL_ID,
        "alice",
        Some(&second_hash),
        false,
    )
    .await;
    let changed = speak_until_serving(&setup, &mut alice, "changed", Some(&url), &second).await;

    // A restart: the stored URL is told to the new session at once.
    restart_keeps_the_url(&mut setup, &mut alice, "alice", &changed).await;

    // The picture removed: no avatar_url any more.
    set_vcard(&mut alice, None).await;
    presence_in(&mut alice, discord::GENERAL_ID, "alice", Some(""), false).await;
    speak_until(&setup, &mut alice, "removed", |u| u.is_none()).await;
}

/// Publishes the client's XEP-0084 avatar (data, then metadata) with the
/// node's default access model (`presence`).
async fn publish_avatar(client: &mut Client, bytes: &[u8]) {
    const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
    let hash = sha1_hex(bytes);
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    let payloads = [
        (
            "urn:xmpp:avatar:data",
            Element::builder("data", "urn:xmpp:avatar:data")
                .append(data)
                .build(),
        ),
        (
            "urn:xmpp:avatar:metadata",
            Element::builder("metadata", "urn:xmpp:avatar:metadata")
                .append(
                    Element::builder("info", "urn:xmpp:avatar:metadata")
                        .attr("bytes".try_into().unwrap(), bytes.len().to_string())
                        .attr("id".try_into().unwrap(), hash.as_str())
                        .attr("type".try_into().unwrap(), "image/png"),
                )
                .build(),
        ),
    ];
    for (node, payload) in payloads {
        let publish = Element::builder("pubsub", PUBSUB)
            .append(
                Element::builder("publish", PUBSUB)
                    .attr("node".try_into().unwrap(), node)
                    .append(
                        Element::builder("item", PUBSUB)
                            .attr("id".try_into().unwrap(), hash.as_str())
                            .append(payload),
                    ),
            )
            .build();
        let own = client.jid.to_string();
        let iq = client.iq(&own, true, publish).await;
        assert!(matches!(iq, Iq::Result { .. }), "publish {node}: {iq:?}");
    }
}

/// Accepts the gateway's subscription request (XEP-0100 §4.1.1).
async fn accept_subscription(client: &mut Client) {
    let gw: Jid = GW.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.type_ == Type::Subscribe && p.from.as_ref() == Some(&gw) => {
                Some(())
            }
            _ => None,
        })
        .await;
    client
        .send(Presence::new(Type::Subscribed).with_to(gw))
        .await;
}

/// A server without a vCard module (Prosody with PEP alone): the client
/// publishes its avatar as XEP-0084 only, with the usual `presence`
/// access model, and accepts the gateway's subscription request
/// (XEP-0100); the gateway reads the picture from the data node, and the
/// webhook messages carry it, after a restart of the gateway too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xep_0084_avatar_is_read_from_pep() {
    let mut setup = start(true).await;
    let mut carol = registered(&setup, "carol").await;
    accept_subscription(&mut carol).await;
    let picture = image_bytes(4000);
    publish_avatar(&mut carol, &picture).await;
    presence_in(
        &mut carol,
        discord::GENERAL_ID,
        "carol",
        Some(&sha1_hex(&picture)),
        true,
    )
    .await;
    let url = speak_until_serving(&setup, &mut carol, "pep", None, &picture).await;

    // A restart, and a rejoin that says nothing of the picture (this
    // server adds no hash to presence): the stored URL, at once.
    restart_keeps_the_url(&mut setup, &mut carol, "carol", &url).await;
}

/// A client that publishes XEP-0084 only and puts no XEP-0153 `<x/>` in
/// its presence (as Conversations), on a server that adds none (PEP
/// alone): once it accepted the gateway's subscription, its PEP service
/// notifies the gateway (whose caps ask for `urn:xmpp:avatar:metadata
/// +notify`) of the new metadata, and its webhook messages carry the
/// picture; a new picture, published later, a new URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xep_0084_notification_is_enough() {
    let setup = start(true).await;
    let mut dora = registered(&setup, "dora").await;
    accept_subscription(&mut dora).await;
    presence_in(&mut dora, discord::GENERAL_ID, "dora", None, true).await;
    let first = image_bytes(2500);
    publish_avatar(&mut dora, &first).await;
    let url = speak_until_serving(&setup, &mut dora, "notified", None, &first).await;

    let second = image_bytes(3500);
    publish_avatar(&mut dora, &second).await;
    speak_until_serving(&setup, &mut dora, "renotified", Some(&url), &second).await;
}
