//! XEP-0084 user avatars answered on contact JIDs, as the contact's own
//! PEP service would (XEP-0163): the items of `urn:xmpp:avatar:metadata`
//! and `urn:xmpp:avatar:data`, the item id being the picture's SHA-1 (the
//! same as the XEP-0153 hash); and when the picture changes, the metadata
//! notification (XEP-0084 §4.1, a `headline` with the pubsub `<event/>`)
//! from the contact's JID to the user's bare JID, which their server hands
//! to each of their online resources.
//!
//! Who is notified: XEP-0163 §4 sends a PEP service's events to entities
//! with a presence subscription (auto-subscribe) whose caps say `+notify`
//! (filtered notifications); without caps-based presence information
//! about a subscriber, §4.3.2 lets the service send at most one
//! notification, to the subscriber's bare JID. The gateway keeps no
//! caps per resource (it would mean a disco#info of each client's caps
//! node and a cache per network), so it takes that rule: one notification
//! to the bare JID of each user who has the person as a contact (the
//! roster push or the approved subscription), and none to users who only
//! share a room with them (they have the occupant's XEP-0153 hash).
//!
//! ```xml
//! <iq type='get' to='bob@testnet.example' id='a1'>
//!   <pubsub xmlns='http://jabber.org/protocol/pubsub'>
//!     <items node='urn:xmpp:avatar:metadata'/>
//!   </pubsub>
//! </iq>
//! <iq type='result' from='bob@testnet.example' id='a1'>
//!   <pubsub xmlns='http://jabber.org/protocol/pubsub'>
//!     <items node='urn:xmpp:avatar:metadata'>
//!       <item id='a9993e36…'>
//!         <metadata xmlns='urn:xmpp:avatar:metadata'>
//!           <info bytes='3008' id='a9993e36…' type='image/png'/>
//!         </metadata>
//!       </item>
//!     </items>
//!   </pubsub>
//! </iq>
//! ```

use base64::Engine as _;
use switchboard_bridge_api::UserId;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Message, MessageType};
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

use crate::gateway::Gateway;

/// XEP-0060's namespace.
pub(in crate::gateway) const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// The metadata node (and its payload's namespace).
pub(in crate::gateway) const METADATA: &str = "urn:xmpp:avatar:metadata";
/// The data node (and its payload's namespace).
pub(in crate::gateway) const DATA: &str = "urn:xmpp:avatar:data";

/// How a pubsub request to a contact is answered.
pub(in crate::gateway) enum PepAnswer {
    /// The items.
    Items(Element),
    /// No such node or item (XEP-0060 `item-not-found`).
    NotFound,
}

fn items(node: &str, item: Option<Element>) -> Element {
    Element::builder("pubsub", PUBSUB)
        .append(
            Element::builder("items", PUBSUB)
                .attr(xml_ncname!("node").into(), node)
                .append_all(item),
        )
        .build()
}

/// XEP-0060's event namespace.
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";

impl Gateway {
    /// The metadata item of a person's picture (`None` while unknown or no
    /// longer kept; for no picture, XEP-0084 §4.2's empty metadata).
    fn metadata_item(&self, user: &BareJid, person: &UserId, ns: &str) -> Option<Element> {
        let (id, metadata) = match self.avatars.hash(user, person)? {
            None => (
                "none".into(),
                Element::builder("metadata", METADATA).build(),
            ),
            Some(hash) => {
                let image = self.avatars.image(user, person)?;
                let info = Element::builder("info", METADATA)
                    .attr(xml_ncname!("bytes").into(), image.bytes.len().to_string())
                    .attr(xml_ncname!("id").into(), &*hash)
                    .attr(xml_ncname!("type").into(), image.media_type)
                    .build();
                let metadata = Element::builder("metadata", METADATA).append(info).build();
                (hash.to_string(), metadata)
            }
        };
        Some(
            Element::builder("item", ns)
                .attr(xml_ncname!("id").into(), id)
                .append(metadata)
                .build(),
        )
    }

    /// The XEP-0084 metadata notification of a contact's new picture, to
    /// the user's bare JID (see the module's doc for why).
    pub(in crate::gateway) fn avatar_notification(
        &self,
        user: &BareJid,
        person: &UserId,
        contact: &BareJid,
    ) -> Option<Message> {
        let item = self.metadata_item(user, person, EVENT)?;
        let event = Element::builder("event", EVENT)
            .append(
                Element::builder("items", EVENT)
                    .attr(xml_ncname!("node").into(), METADATA)
                    .append(item),
            )
            .build();
        let mut m = Message::new(Some(Jid::from(user.clone())));
        m.type_ = MessageType::Headline;
        m.from = Some(Jid::from(contact.clone()));
        m.id = Some(Id(format!("sb-avatar-{}", self.archive.next_id())));
        m.payloads.push(event);
        Some(m)
    }

    /// A pubsub get to a contact JID for one of the avatar nodes; `None`
    /// when it is not one (another node, another JID), for the usual
    /// handling.
    pub(in crate::gateway) fn contact_avatar(
        &self,
        from: &Jid,
        to: &Jid,
        payload: &Element,
    ) -> Option<PepAnswer> {
        let request = payload.get_child("items", PUBSUB)?;
        let node = request.attr("node")?;
        if (node != METADATA && node != DATA) || to.resource().is_some() {
            return None;
        }
        let user = from.to_bare();
        let (person, _) = self.contact_person(&user, to)?;
        let wanted = request.get_child("item", PUBSUB).and_then(|i| i.attr("id"));
        let Some(hash) = self.avatars.hash(&user, &person) else {
            return Some(PepAnswer::NotFound);
        };
        let Some(hash) = hash else {
            // No picture: XEP-0084 §4.2's empty metadata.
            if node == DATA {
                return Some(PepAnswer::NotFound);
            }
            let item = self.metadata_item(&user, &person, PUBSUB);
            return Some(PepAnswer::Items(items(node, item)));
        };
        if wanted.is_some_and(|w| w != &*hash) {
            return Some(PepAnswer::NotFound);
        }
        let Some(image) = self.avatars.image(&user, &person) else {
            return Some(PepAnswer::NotFound);
        };
        let item = if node == METADATA {
            self.metadata_item(&user, &person, PUBSUB)?
        } else {
            let data = base64::engine::general_purpose::STANDARD.encode(&image.bytes);
            Element::builder("item", PUBSUB)
                .attr(xml_ncname!("id").into(), &*hash)
                .append(Element::builder("data", DATA).append(data))
                .build()
        };
        Some(PepAnswer::Items(items(node, Some(item))))
    }
}
