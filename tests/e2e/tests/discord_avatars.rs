//! Discord avatars through the core, end to end: the Discord double (its
//! CDN route serves dave's avatar), Prosody, the gateway and a real XMPP
//! client. A Discord author with an avatar appears as an occupant whose
//! presence carries the picture's SHA-1 (XEP-0153), and a vCard request to
//! the occupant returns the CDN's PNG byte-identical; the CDN is asked
//! once. The gateway must be built with `cargo build --bin switchboard`.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use base64::Engine as _;
use common::support::prosody::Prosody;
use common::Switchboard;
use discord_setup::{config, join, registered, room_jid, Setup, GW, SECRET};
use sha1::{Digest, Sha1};
use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Type;

const VCARD: &str = "vcard-temp";
const UPDATE: &str = "vcard-temp:x:update";

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

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
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(&dave)
                    && p.type_ == Type::None
                    && p.payloads
                        .iter()
                        .filter(|x| x.is("x", UPDATE))
                        .filter_map(|x| x.get_child("photo", UPDATE))
                        .any(|photo| photo.text() == hash) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;

    let iq = alice
        .iq(
            &dave.to_string(),
            false,
            Element::builder("vCard", VCARD).build(),
        )
        .await;
    let Iq::Result {
        payload: Some(card),
        ..
    } = iq
    else {
        panic!("no vCard: {iq:?}");
    };
    let binval = card
        .get_child("PHOTO", VCARD)
        .and_then(|p| p.get_child("BINVAL", VCARD))
        .map(Element::text)
        .expect("a PHOTO");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(binval)
        .unwrap();
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
