//! XEP-0356 privileged entity on the wire, and the two things the gateway
//! does with it: a roster set on a user's behalf, and a XEP-0280 `<sent/>`
//! carbon of a message the user wrote from another client of the network.
//!
//! After the handshake the server says what it grants (Prosody's
//! mod_privilege sends `urn:xmpp:privilege:2`; the older `:1` reads the
//! same):
//!
//! ```xml
//! <message from='example.org' to='irc.example.org'>
//!   <privilege xmlns='urn:xmpp:privilege:2'>
//!     <perm access='roster' type='both'/>
//!     <perm access='message' type='outgoing'/>
//!   </privilege>
//! </message>
//! ```
//!
//! With `<perm access='iq'><namespace ns='http://jabber.org/protocol/pubsub'
//! type='both'/></perm>` (XEP-0356 0.4 §6) the gateway may also send
//! pubsub iqs as the user, wrapped in `<privileged_iq/>` (`privileged_iq`):
//! it keeps their XEP-0402 bookmarks (`bookmarks.rs`).
//!
//! The inner stanzas are written in `jabber:client`, as XEP-0356 §5 asks
//! (the component stream's default namespace would not be routed).

use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

/// The namespace Prosody and XEP-0356 0.4 use.
pub const NS_PRIVILEGE: &str = "urn:xmpp:privilege:2";
/// The namespace of XEP-0356 before 0.4 (ejabberd's older releases).
pub const NS_PRIVILEGE_1: &str = "urn:xmpp:privilege:1";
/// XEP-0297 forwarding.
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
/// XEP-0280 carbons.
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
/// RFC 6121 roster.
pub const NS_ROSTER: &str = "jabber:iq:roster";
/// XEP-0060 pubsub (the iq namespace bookmarks need).
pub const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// The namespace of stanzas inside a forward.
pub(crate) const NS_CLIENT: &str = "jabber:client";

/// What a server granted the component for its users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges {
    /// Roster items may be set (`set` or `both`).
    pub roster_set: bool,
    /// Messages may be sent on the users' behalf (`outgoing`).
    pub message_outgoing: bool,
    /// Pubsub iqs (XEP-0060, so PEP) may be sent on the users' behalf, get
    /// and set (`<perm access='iq'>` with the pubsub namespace `both`,
    /// XEP-0356 0.4 §6).
    pub pubsub_iq: bool,
    /// Which namespace the server spoke (the one to answer in).
    pub namespace: &'static str,
}

/// The `<privilege/>` of a message's payloads, if it has one: what it
/// grants (a `<perm/>` left out grants nothing).
pub fn privileges_of(payloads: &[Element]) -> Option<Privileges> {
    let (element, namespace) = payloads.iter().find_map(|p| {
        [NS_PRIVILEGE, NS_PRIVILEGE_1]
            .into_iter()
            .find(|ns| p.is("privilege", *ns))
            .map(|ns| (p, ns))
    })?;
    let mut granted = Privileges {
        namespace,
        ..Privileges::default()
    };
    for perm in element.children().filter(|c| c.is("perm", namespace)) {
        match (perm.attr("access"), perm.attr("type")) {
            (Some("roster"), Some("set" | "both")) => granted.roster_set = true,
            (Some("message"), Some("outgoing")) => granted.message_outgoing = true,
            (Some("iq"), _) => {
                granted.pubsub_iq |= perm
                    .children()
                    .filter(|n| n.is("namespace", namespace))
                    .any(|n| n.attr("ns") == Some(NS_PUBSUB) && n.attr("type") == Some("both"));
            }
            _ => {}
        }
    }
    Some(granted)
}

/// The payload of a roster set putting `contact` in a user's roster:
///
/// ```xml
/// <query xmlns='jabber:iq:roster'>
///   <item jid='bob@irc.example.org' name='Bob' subscription='both'>
///     <group>IRC</group>
///   </item>
/// </query>
/// ```
///
/// `both`: the gateway answers for the contact, who sees the user's
/// presence and whose presence the user sees, as an approved subscription
/// would give.
pub fn roster_item(contact: &BareJid, name: &str, group: &str) -> Element {
    let mut item = Element::builder("item", NS_ROSTER)
        .attr(xml_ncname!("jid").into(), contact.to_string())
        .attr(xml_ncname!("subscription").into(), "both")
        .append(Element::builder("group", NS_ROSTER).append(group.to_owned()));
    if !name.is_empty() {
        item = item.attr(xml_ncname!("name").into(), name.to_owned());
    }
    Element::builder("query", NS_ROSTER).append(item).build()
}

/// The payload of an iq to `user` that asks their server to run `inner`
/// (of type `type_`, `get` or `set`: the outer iq's own) as if `user` sent
/// it to their own bare JID (XEP-0356 0.4 §6):
///
/// ```xml
/// <privileged_iq xmlns='urn:xmpp:privilege:2'>
///   <iq xmlns='jabber:client' type='set' from='u@example.org' to='u@example.org' id='sb-bm-1'>
///     <pubsub xmlns='http://jabber.org/protocol/pubsub'>…</pubsub>
///   </iq>
/// </privileged_iq>
/// ```
///
/// The answer's payload (`privileged_answer`) forwards the server's reply.
pub fn privileged_iq(
    namespace: &str,
    user: &BareJid,
    type_: &str,
    id: &str,
    inner: Element,
) -> Element {
    let iq = Element::builder("iq", NS_CLIENT)
        .attr(xml_ncname!("type").into(), type_.to_owned())
        .attr(xml_ncname!("from").into(), user.to_string())
        .attr(xml_ncname!("to").into(), user.to_string())
        .attr(xml_ncname!("id").into(), id.to_owned())
        .append(inner);
    Element::builder("privileged_iq", namespace)
        .append(iq)
        .build()
}

/// The iq a privileged iq's answer forwards (under `<privilege/>` as
/// Prosody answers, or `<privileged_iq/>`), if it has one.
pub fn privileged_answer(payload: &Element) -> Option<&Element> {
    payload
        .get_child("forwarded", NS_FORWARD)
        .and_then(|f| f.get_child("iq", NS_CLIENT))
}

/// The payload of a roster set taking `contact` out of a user's roster.
pub fn roster_removal(contact: &BareJid) -> Element {
    let item = Element::builder("item", NS_ROSTER)
        .attr(xml_ncname!("jid").into(), contact.to_string())
        .attr(xml_ncname!("subscription").into(), "remove");
    Element::builder("query", NS_ROSTER).append(item).build()
}

/// A message the user wrote from elsewhere, to `contact`, as the payload
/// of a privileged message to the user's server: the server delivers the
/// inner carbon to the user's clients, from their own bare JID.
///
/// ```xml
/// <privilege xmlns='urn:xmpp:privilege:2'>
///   <forwarded xmlns='urn:xmpp:forward:0'>
///     <message xmlns='jabber:client' from='u@example.org' to='u@example.org' type='chat'>
///       <sent xmlns='urn:xmpp:carbons:2'>
///         <forwarded xmlns='urn:xmpp:forward:0'>
///           <message xmlns='jabber:client' from='u@example.org' to='bob@irc.example.org'
///                    type='chat' id='network-id'><body>hi</body></message>
///         </forwarded>
///       </sent>
///       <no-copy xmlns='urn:xmpp:hints'/>
///     </message>
///   </forwarded>
/// </privilege>
/// ```
///
/// `<no-copy/>`: the server's own carbons would otherwise copy the copy.
pub fn carbon(
    namespace: &str,
    user: &BareJid,
    contact: &BareJid,
    id: Option<&str>,
    body: &str,
) -> Element {
    let user = user.to_string();
    let mut original = Element::builder("message", NS_CLIENT)
        .attr(xml_ncname!("from").into(), user.clone())
        .attr(xml_ncname!("to").into(), contact.to_string())
        .attr(xml_ncname!("type").into(), "chat");
    if let Some(id) = id {
        original = original.attr(xml_ncname!("id").into(), id.to_owned());
    }
    let original = original.append(Element::builder("body", NS_CLIENT).append(body.to_owned()));
    let sent = Element::builder("sent", NS_CARBONS)
        .append(Element::builder("forwarded", NS_FORWARD).append(original));
    let copy = Element::builder("message", NS_CLIENT)
        .attr(xml_ncname!("from").into(), user.clone())
        .attr(xml_ncname!("to").into(), user)
        .attr(xml_ncname!("type").into(), "chat")
        .append(sent)
        .append(Element::builder("no-copy", "urn:xmpp:hints"));
    Element::builder("privilege", namespace)
        .append(Element::builder("forwarded", NS_FORWARD).append(copy))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn what_prosody_grants_is_read_in_either_namespace() {
        // XEP-0356 example 2, in the namespace Prosody's module sends.
        let granted = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'>\
             <perm access='roster' type='both'/>\
             <perm access='message' type='outgoing'/>\
             <perm access='presence' type='managed_entity'/></privilege>",
        );
        assert_eq!(
            privileges_of(&[granted]),
            Some(Privileges {
                roster_set: true,
                message_outgoing: true,
                pubsub_iq: false,
                namespace: NS_PRIVILEGE,
            })
        );
        // XEP-0356 0.4 §6, as Prosody's module writes it.
        let iq = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>\
             <namespace ns='http://jabber.org/protocol/pubsub' type='both'/></perm></privilege>",
        );
        assert!(privileges_of(&[iq]).unwrap().pubsub_iq);
        let get = parse(
            "<privilege xmlns='urn:xmpp:privilege:2'><perm access='iq'>\
             <namespace ns='http://jabber.org/protocol/pubsub' type='get'/></perm></privilege>",
        );
        assert!(!privileges_of(&[get]).unwrap().pubsub_iq);
        let get_only = parse(
            "<privilege xmlns='urn:xmpp:privilege:1'><perm access='roster' type='get'/></privilege>",
        );
        assert_eq!(
            privileges_of(&[get_only]),
            Some(Privileges {
                namespace: NS_PRIVILEGE_1,
                ..Privileges::default()
            })
        );
        let other = parse("<x xmlns='jabber:x:oob'/>");
        assert_eq!(privileges_of(&[other]), None);
    }

    #[test]
    fn the_roster_item_names_the_contact_and_the_network() {
        let contact: BareJid = "bob@irc.example.org".parse().unwrap();
        let query = roster_item(&contact, "Bob", "IRC");
        let item = query.get_child("item", NS_ROSTER).unwrap();
        assert_eq!(item.attr("jid"), Some("bob@irc.example.org"));
        assert_eq!(item.attr("name"), Some("Bob"));
        assert_eq!(item.attr("subscription"), Some("both"));
        assert_eq!(item.get_child("group", NS_ROSTER).unwrap().text(), "IRC");
    }

    #[test]
    fn the_carbon_is_from_the_user_to_the_contact_in_jabber_client() {
        let user: BareJid = "u@example.org".parse().unwrap();
        let contact: BareJid = "bob@irc.example.org".parse().unwrap();
        let p = carbon(NS_PRIVILEGE, &user, &contact, Some("n1"), "hi");
        let copy = p
            .get_child("forwarded", NS_FORWARD)
            .and_then(|f| f.get_child("message", NS_CLIENT))
            .unwrap();
        assert_eq!(
            (copy.attr("from"), copy.attr("to")),
            (Some("u@example.org"), Some("u@example.org"))
        );
        let original = copy
            .get_child("sent", NS_CARBONS)
            .and_then(|s| s.get_child("forwarded", NS_FORWARD))
            .and_then(|f| f.get_child("message", NS_CLIENT))
            .unwrap();
        assert_eq!(original.attr("to"), Some("bob@irc.example.org"));
        assert_eq!(original.attr("id"), Some("n1"));
        assert_eq!(original.get_child("body", NS_CLIENT).unwrap().text(), "hi");
    }
}
