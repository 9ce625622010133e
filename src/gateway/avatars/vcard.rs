//! vcard-temp (XEP-0054) on the JIDs of people, and the XEP-0153 `<x/>`
//! their presences carry.
//!
//! ```xml
//! <iq type='get' to='#lobby@testnet.example/bob' id='v1'><vCard xmlns='vcard-temp'/></iq>
//! <iq type='result' from='#lobby@testnet.example/bob' id='v1'>
//!   <vCard xmlns='vcard-temp'>
//!     <FN>bob</FN><NICKNAME>bob</NICKNAME>
//!     <PHOTO><TYPE>image/png</TYPE><BINVAL>iVBORw0KGgo…</BINVAL></PHOTO>
//!   </vCard>
//! </iq>
//! ```

use base64::Engine as _;
use switchboard_bridge_api::UserId;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use super::Image;
use crate::gateway::Gateway;

/// XEP-0054's namespace.
pub(in crate::gateway) const VCARD: &str = "vcard-temp";
/// XEP-0153's presence namespace.
pub(super) const UPDATE: &str = "vcard-temp:x:update";

/// `<x xmlns='vcard-temp:x:update'><photo>hash</photo></x>`; an empty
/// `<photo/>` says the person has no picture (XEP-0153 §3.2).
pub(in crate::gateway) fn update_element(hash: Option<&str>) -> Element {
    let mut photo = Element::builder("photo", UPDATE);
    if let Some(hash) = hash {
        photo = photo.append(hash.to_owned());
    }
    Element::builder("x", UPDATE).append(photo.build()).build()
}

fn text(name: &str, value: &str) -> Element {
    Element::builder(name, VCARD)
        .append(value.to_owned())
        .build()
}

/// A person's vCard: their name as FN and NICKNAME, their picture as PHOTO.
fn vcard(name: &str, image: Option<&Image>) -> Element {
    let mut card = Element::builder("vCard", VCARD)
        .append(text("FN", name))
        .append(text("NICKNAME", name));
    if let Some(image) = image {
        let data = base64::engine::general_purpose::STANDARD.encode(&image.bytes);
        card = card.append(
            Element::builder("PHOTO", VCARD)
                .append(text("TYPE", image.media_type))
                .append(text("BINVAL", &data))
                .build(),
        );
    }
    card.build()
}

impl Gateway {
    /// A vcard-temp get to a person's JID: an occupant of one of the
    /// user's rooms (`room@domain/nick`) or a contact (`person@domain`).
    /// `None` when `to` is neither (a room's bare JID), for the room's own
    /// handling.
    pub(in crate::gateway) fn person_vcard(&self, from: &Jid, to: &Jid) -> Option<Element> {
        let user = from.to_bare();
        let (person, name) = match to.resource() {
            Some(nick) => {
                let room = self.room_of(to);
                let nick = nick.as_str();
                let person = self.occupant_user(&user, &room, nick)?;
                (person, nick.to_owned())
            }
            None => self.contact_person(&user, to)?,
        };
        Some(vcard(&name, self.avatars.image(&user, &person).as_ref()))
    }

    /// The person a bare JID names, with their name, when the network told
    /// the user of them (as a contact, or their picture); `None` for any
    /// other bare JID (a room's).
    pub(in crate::gateway) fn contact_person(
        &self,
        user: &BareJid,
        to: &Jid,
    ) -> Option<(UserId, String)> {
        let person = UserId(self.jid_id(to)?);
        let name = match self.contact_name(user, &person) {
            Some(name) => name,
            None if self.avatars.hash(user, &person).is_some() => person.0.clone(),
            None => return None,
        };
        Some((person, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_photo_is_base64_with_its_type() {
        let image = Image {
            bytes: b"\x89PNG\r\n\x1a\nabc".to_vec().into(),
            media_type: "image/png",
        };
        let card = vcard("bob", Some(&image));
        let photo = card.get_child("PHOTO", VCARD).unwrap();
        assert_eq!(photo.get_child("TYPE", VCARD).unwrap().text(), "image/png");
        let data = photo.get_child("BINVAL", VCARD).unwrap().text();
        let back = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        assert_eq!(back, image.bytes.to_vec());
        assert_eq!(card.get_child("NICKNAME", VCARD).unwrap().text(), "bob");
    }

    #[test]
    fn no_picture_is_an_empty_photo() {
        let x = update_element(None);
        assert!(x.get_child("photo", UPDATE).unwrap().text().is_empty());
        let x = update_element(Some("ab12"));
        assert_eq!(x.get_child("photo", UPDATE).unwrap().text(), "ab12");
    }
}
