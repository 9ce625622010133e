//! Discord avatars through the core, end to end: the Discord double (its
//! CDN route serves dave's avatar), Prosody, the gateway and a real XMPP
//! client. A Discord author with an avatar appears as an occupant whose
//! presence carries the picture's SHA-1 (XEP-0153), and a vCard request to
//! the occupant returns the CDN's PNG byte-identical; the CDN is asked
//! once. The gateway must be built with `cargo build --bin switchboard`.

#[path = "common/avatars.rs"]
mod avatars;
mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use avatars::{presence_with_photo, sha1_hex, vcard};
use common::support::prosody::Prosody;
use common::Switchboard;
use discord_setup::{config, join, registered, room_jid, Setup, GW, SECRET};
use switchboard_discord_double::{self as discord, Double};
use xmpp_parsers::jid::Jid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_authors_avatar_reaches_the_occupant() {
    let double = Double::start().await.unwrap();
    let prosody = Prosody::start(&[(GW, SECRET)]);
    // The double's CDN is on loopback.
    let config = format!(
        "{}[files]\nallow_private_addresses = true\n",
        config(&prosody, &double, "info")
    );
    let gateway = Switchboard::start(&config);
    let setup = Setup {
        double,
        prosody,
        gateway,
    };
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "me").await;
    setup
        .double
        .say(discord::GENERAL_ID, discord::DAVE_ID, "hello");

    let png = discord::avatar_png();
    let hash = sha1_hex(&png);
    let dave: Jid = format!("{}/dave", room_jid(discord::GENERAL_ID))
        .parse()
        .unwrap();
    presence_with_photo(&mut alice, &dave, &hash).await;
    let (_, _, bytes) = vcard(&mut alice, &dave).await;
    assert_eq!(bytes, png, "the occupant's PHOTO is the CDN's picture");
    let asked: Vec<String> = setup
        .double
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/avatars/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(
        asked,
        [format!(
            "/avatars/{}/{}.png?size=128",
            discord::DAVE_ID,
            discord::DAVE_AVATAR
        )],
        "the CDN asked once"
    );
}
