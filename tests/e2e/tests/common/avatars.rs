//! What a client checks of a bridged person's picture, for any network:
//! the XEP-0153 photo hash in their presence and the vCard-temp PHOTO
//! (XEP-0054) on their occupant or contact JID. Included with `#[path]`
//! by the avatar tests (the bench, which includes `common/mod.rs`, has no
//! sha1 nor base64).
#![allow(dead_code)]

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use crate::common::Client;

/// vcard-temp.
pub const VCARD: &str = "vcard-temp";
/// XEP-0153's `<x/>` in presence.
pub const UPDATE: &str = "vcard-temp:x:update";

/// The lower-case hex SHA-1 of `bytes`: XEP-0153's photo hash.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The XEP-0153 photo hash a presence carries, if any.
pub fn photo(p: &Presence) -> Option<String> {
    p.payloads
        .iter()
        .find(|x| x.is("x", UPDATE))
        .and_then(|x| x.get_child("photo", UPDATE))
        .map(Element::text)
}

/// The next available presence from `from` whose photo hash is `hash`.
pub async fn presence_with_photo(client: &mut Client, from: &Jid, hash: &str) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref() == Some(from)
                    && p.type_ == Type::None
                    && photo(p).as_deref() == Some(hash) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// A vcard-temp get to `to`: (FN, PHOTO TYPE, PHOTO bytes).
pub async fn vcard(client: &mut Client, to: &Jid) -> (String, String, Vec<u8>) {
    let get = Element::builder("vCard", VCARD).build();
    let iq = client.iq(&to.to_string(), false, get).await;
    let Iq::Result {
        payload: Some(card),
        ..
    } = iq
    else {
        panic!("no vCard from {to}: {iq:?}");
    };
    assert!(card.is("vCard", VCARD), "{card:?}");
    let text = |parent: &Element, name: &str| {
        parent
            .get_child(name, VCARD)
            .map(Element::text)
            .unwrap_or_default()
    };
    let photo = card.get_child("PHOTO", VCARD).expect("a PHOTO");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text(photo, "BINVAL").replace(['\n', '\r', ' '], ""))
        .unwrap();
    (text(&card, "FN"), text(photo, "TYPE"), bytes)
}
