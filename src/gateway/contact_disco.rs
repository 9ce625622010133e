//! XEP-0030 disco#info of a contact's JID (`person@domain`): what the
//! network lets a direct chat with them carry, from the bridge's
//! capabilities, so that a client offers only what works. An identity
//! `client`/`pc` named as the network names them; the features the gateway
//! serves on every contact (disco#info, vcard-temp, the XEP-0359
//! stanza-id on their messages); corrections, retractions, reactions
//! (`xmpp/rich.rs`, no moderation: that is a room's; the XEP-0444
//! restrictions form where the network limits reactions), chat states,
//! markers and replies (`signals.rs`) where the network has them; and,
//! only when the person's picture is known and kept, the `pubsub`/`pep`
//! identity and the XEP-0084 nodes it answers (`avatars/pep.rs`).

use std::collections::BTreeSet;

use switchboard_bridge_api::Target;
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::avatars::{AVATAR_DATA, AVATAR_METADATA, VCARD};
use super::Gateway;

impl Gateway {
    /// The disco#info of a contact's JID; `None` when `to` is not a
    /// person the network told the user of (a room's JID, for the room's
    /// own answer) or the query names a node.
    pub(super) fn contact_info(&self, from: &Jid, to: &Jid, query: &Element) -> Option<Element> {
        if to.resource().is_some() || query.attr("node").is_some() {
            return None;
        }
        let user = from.to_bare();
        let (person, name) = self.contact_person(&user, to)?;
        // The person's own, where the network told them (`muc/caps.rs`).
        let caps = &self.capabilities(&user, &Target::User(person.clone()));
        let mut features: BTreeSet<String> = [ns::DISCO_INFO, VCARD, ns::SID]
            .into_iter()
            .chain(crate::xmpp::rich::features(caps))
            .map(str::to_owned)
            .collect();
        features.extend(Gateway::signal_features(caps));
        let mut identities = vec![Identity::new("client", "pc", "en", name)];
        if self.avatars.image(&user, &person).is_some() {
            identities.push(Identity::new_anonymous::<_, _, String, String>(
                "pubsub", "pep",
            ));
            features.extend([AVATAR_METADATA, AVATAR_DATA].map(str::to_owned));
        }
        let info = DiscoInfoResult {
            node: None,
            identities,
            features,
            extensions: crate::xmpp::reactions::restrictions_form(caps)
                .into_iter()
                .collect(),
        };
        Some(info.into())
    }
}
