//! XEP-0402 PEP native bookmarks on the wire: the pubsub payloads that read,
//! publish and retract one bookmark in the user's `urn:xmpp:bookmarks:1`
//! node (sent as the user through XEP-0356, `privilege.rs`), and the
//! reading of what the node holds.
//!
//! ```xml
//! <item id='lobby@testnet.example.org'>
//!   <conference xmlns='urn:xmpp:bookmarks:1' name='lobby' autojoin='true'>
//!     <nick>alice</nick>
//!     <extensions><gateway xmlns='urn:switchboard:bookmark'/></extensions>
//!   </conference>
//! </item>
//! ```
//!
//! The `<gateway/>` extension (clients keep extensions, §3) marks a
//! bookmark the gateway made: only those are updated or retracted, a
//! bookmark the user made for the room is left as it is.

use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;

use super::privilege::NS_PUBSUB;

/// The XEP-0402 node and namespace.
pub const NS_BOOKMARKS: &str = "urn:xmpp:bookmarks:1";
/// The marker of a bookmark the gateway made.
pub const NS_GATEWAY_MARK: &str = "urn:switchboard:bookmark";
/// XEP-0004 data forms.
const NS_DATA: &str = "jabber:x:data";

/// One bookmark as the node holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bookmark {
    /// The room's name (`name`), if any.
    pub name: Option<String>,
    /// The nick to join with, if any.
    pub nick: Option<String>,
    /// Whether clients join it at login.
    pub autojoin: bool,
    /// Whether the gateway made it (its marker is there).
    pub ours: bool,
}

fn pubsub(child: Element) -> Element {
    Element::builder("pubsub", NS_PUBSUB).append(child).build()
}

fn item(room: &BareJid) -> xmpp_parsers::minidom::ElementBuilder {
    Element::builder("item", NS_PUBSUB).attr(xml_ncname!("id").into(), room.to_string())
}

/// A get of the room's bookmark (XEP-0060 §6.5.8, one item by id).
pub fn query(room: &BareJid) -> Element {
    pubsub(
        Element::builder("items", NS_PUBSUB)
            .attr(xml_ncname!("node").into(), NS_BOOKMARKS)
            .append(item(room))
            .build(),
    )
}

/// A publish of the room's bookmark, joined automatically with `nick`, with
/// the publish-options XEP-0402 §3 asks for (kept, as many as the user has,
/// seen by the user's own resources only).
pub fn publish(room: &BareJid, name: &str, nick: &str) -> Element {
    let mut conference = Element::builder("conference", NS_BOOKMARKS)
        .attr(xml_ncname!("autojoin").into(), "true")
        .append(Element::builder("nick", NS_BOOKMARKS).append(nick.to_owned()))
        .append(
            Element::builder("extensions", NS_BOOKMARKS)
                .append(Element::builder("gateway", NS_GATEWAY_MARK)),
        );
    if !name.is_empty() {
        conference = conference.attr(xml_ncname!("name").into(), name.to_owned());
    }
    let publish = Element::builder("publish", NS_PUBSUB)
        .attr(xml_ncname!("node").into(), NS_BOOKMARKS)
        .append(item(room).append(conference));
    let field = |var: &str, value: &str| {
        let mut f = Element::builder("field", NS_DATA).attr(xml_ncname!("var").into(), var);
        if var == "FORM_TYPE" {
            f = f.attr(xml_ncname!("type").into(), "hidden");
        }
        f.append(Element::builder("value", NS_DATA).append(value.to_owned()))
    };
    let form = Element::builder("x", NS_DATA)
        .attr(xml_ncname!("type").into(), "submit")
        .append(field(
            "FORM_TYPE",
            "http://jabber.org/protocol/pubsub#publish-options",
        ))
        .append(field("pubsub#persist_items", "true"))
        .append(field("pubsub#max_items", "max"))
        .append(field("pubsub#send_last_published_item", "never"))
        .append(field("pubsub#access_model", "whitelist"));
    Element::builder("pubsub", NS_PUBSUB)
        .append(publish)
        .append(Element::builder("publish-options", NS_PUBSUB).append(form))
        .build()
}

/// A retraction of the room's bookmark, notifying the user's clients.
pub fn retract(room: &BareJid) -> Element {
    pubsub(
        Element::builder("retract", NS_PUBSUB)
            .attr(xml_ncname!("node").into(), NS_BOOKMARKS)
            .attr(xml_ncname!("notify").into(), "true")
            .append(item(room))
            .build(),
    )
}

/// The room's bookmark in the answer to [`query`] (the answer iq's
/// `<pubsub/>`), if the node has one.
pub fn found(answer: Option<&Element>, room: &BareJid) -> Option<Bookmark> {
    let id = room.to_string();
    let conference = answer?
        .get_child("items", NS_PUBSUB)?
        .children()
        .find(|i| i.is("item", NS_PUBSUB) && i.attr("id") == Some(id.as_str()))?
        .get_child("conference", NS_BOOKMARKS)?;
    Some(Bookmark {
        name: conference.attr("name").map(str::to_owned),
        nick: conference
            .get_child("nick", NS_BOOKMARKS)
            .map(Element::text),
        autojoin: matches!(conference.attr("autojoin"), Some("true" | "1")),
        ours: conference
            .get_child("extensions", NS_BOOKMARKS)
            .is_some_and(|e| e.has_child("gateway", NS_GATEWAY_MARK)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> BareJid {
        "lobby@testnet.example.org".parse().unwrap()
    }

    /// The pubsub result holding `item`.
    fn answer(item: &str) -> Element {
        format!("<pubsub xmlns='{NS_PUBSUB}'><items node='{NS_BOOKMARKS}'>{item}</items></pubsub>")
            .parse()
            .unwrap()
    }

    #[test]
    fn a_published_bookmark_reads_back_as_ours() {
        let published = publish(&room(), "Lobby", "alice");
        let item = published
            .get_child("publish", NS_PUBSUB)
            .and_then(|p| p.get_child("item", NS_PUBSUB))
            .unwrap();
        let held = Element::builder("pubsub", NS_PUBSUB)
            .append(
                Element::builder("items", NS_PUBSUB)
                    .attr(xml_ncname!("node").into(), NS_BOOKMARKS)
                    .append(item.clone()),
            )
            .build();
        assert_eq!(
            found(Some(&held), &room()),
            Some(Bookmark {
                name: Some("Lobby".into()),
                nick: Some("alice".into()),
                autojoin: true,
                ours: true,
            })
        );
        let options = published
            .get_child("publish-options", NS_PUBSUB)
            .and_then(|o| o.get_child("x", NS_DATA))
            .unwrap();
        let access = options
            .children()
            .find(|f| f.attr("var") == Some("pubsub#access_model"))
            .unwrap();
        assert_eq!(access.children().next().unwrap().text(), "whitelist");
    }

    #[test]
    fn the_users_own_bookmark_is_not_ours_and_another_room_is_not_found() {
        let own = answer(&format!(
            "<item id='lobby@testnet.example.org'><conference xmlns='{NS_BOOKMARKS}' \
             name='Mine'/></item>"
        ));
        let b = found(Some(&own), &room()).unwrap();
        assert!(!b.ours && !b.autojoin);
        assert_eq!(b.name.as_deref(), Some("Mine"));
        let other = answer(&format!(
            "<item id='other@testnet.example.org'><conference xmlns='{NS_BOOKMARKS}'/></item>"
        ));
        assert_eq!(found(Some(&other), &room()), None);
        assert_eq!(found(None, &room()), None);
    }
}
