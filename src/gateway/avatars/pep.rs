//! XEP-0084 user avatars answered on contact JIDs, as the contact's own
//! PEP service would (XEP-0163): the items of `urn:xmpp:avatar:metadata`
//! and `urn:xmpp:avatar:data`, the item id being the picture's SHA-1 (the
//! same as the XEP-0153 hash). Only retrieval: the gateway publishes no
//! notifications (a client that wants the picture asks, as Conversations
//! does on a new XEP-0153 hash).
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
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

use crate::gateway::Gateway;

/// XEP-0060's namespace.
pub(in crate::gateway) const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// The metadata node (and its payload's namespace).
const METADATA: &str = "urn:xmpp:avatar:metadata";
/// The data node (and its payload's namespace).
const DATA: &str = "urn:xmpp:avatar:data";

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

impl Gateway {
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
            let empty = Element::builder("metadata", METADATA).build();
            let item = Element::builder("item", PUBSUB)
                .attr(xml_ncname!("id").into(), "none")
                .append(empty)
                .build();
            return Some(PepAnswer::Items(items(node, Some(item))));
        };
        if wanted.is_some_and(|w| w != &*hash) {
            return Some(PepAnswer::NotFound);
        }
        let Some(image) = self.avatars.image(&user, &person) else {
            return Some(PepAnswer::NotFound);
        };
        let payload = if node == METADATA {
            let info = Element::builder("info", METADATA)
                .attr(xml_ncname!("bytes").into(), image.bytes.len().to_string())
                .attr(xml_ncname!("id").into(), &*hash)
                .attr(xml_ncname!("type").into(), image.media_type)
                .build();
            Element::builder("metadata", METADATA).append(info).build()
        } else {
            let data = base64::engine::general_purpose::STANDARD.encode(&image.bytes);
            Element::builder("data", DATA).append(data).build()
        };
        let item = Element::builder("item", PUBSUB)
            .attr(xml_ncname!("id").into(), &*hash)
            .append(payload)
            .build();
        Some(PepAnswer::Items(items(node, Some(item))))
    }
}
