//! Rooms on the test IRC server, as the IRC end-to-end tests use them:
//! the gateway's config, the room and occupant JIDs, joining, sending, and
//! reading what arrives.
#![allow(dead_code)]

use super::support::ircd::IRC_HOST;
use super::support::prosody::DOMAIN;
use super::Client;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

/// The IRC gateway's component domain in these tests.
pub const GW: &str = "irc.localhost";
/// The MUC user namespace.
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// A gateway config: the XMPP server's component port, the IRC server
/// `irc.localhost` at `irc_port` (plain TCP, no flood control).
pub fn irc_config(component_port: u16, irc_port: u16, secret: &str) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{component_port}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.irc]\njid = \"{GW}\"\nsecret = \"{secret}\"\n\
         [networks.irc.settings]\nflood_control = false\n\
         [networks.irc.settings.servers]\n\"{IRC_HOST}\" = \"127.0.0.1:{irc_port}\"\n"
    )
}

/// The test channel's room JID.
pub fn room() -> String {
    format!("#test%{IRC_HOST}@{GW}")
}

/// An occupant's JID in the test channel.
pub fn occupant(nick: &str) -> Jid {
    format!("{}/{nick}", room()).parse().unwrap()
}

/// A MUC item: affiliation, role, new nick.
pub type ItemInfo = (String, String, Option<String>);

/// The status codes and item of a MUC presence.
pub fn muc_info(p: &Presence) -> (Vec<String>, Option<ItemInfo>) {
    let Some(x) = p.payloads.iter().find(|e| e.is("x", MUC_USER)) else {
        return (vec![], None);
    };
    let codes = x
        .children()
        .filter(|c| c.name() == "status")
        .filter_map(|c| c.attr("code").map(str::to_owned))
        .collect();
    let item = x.get_child("item", MUC_USER).map(|i| {
        (
            i.attr("affiliation").unwrap_or("").to_owned(),
            i.attr("role").unwrap_or("").to_owned(),
            i.attr("nick").map(str::to_owned),
        )
    });
    (codes, item)
}

/// Joins the test channel as `nick`, asking for history.
pub async fn join(client: &mut Client, nick: &str) {
    let mut p = Presence::available().with_to(occupant(nick));
    p.payloads.push(
        Element::builder("x", "http://jabber.org/protocol/muc")
            .append(Element::builder("history", "http://jabber.org/protocol/muc").build())
            .build(),
    );
    client.send(p).await;
}

/// Sends a groupchat message with this id to the test channel.
pub async fn groupchat(client: &mut Client, id: &str, body: &str) {
    let mut m = Message::groupchat(Some(room().parse::<Jid>().unwrap()))
        .with_body(Lang::new(), body.to_owned());
    m.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    client.send(m).await;
}

/// Waits for a groupchat body from an occupant.
pub async fn groupchat_from(client: &mut Client, nick: &str) -> Message {
    let from = occupant(nick);
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref() == Some(&from)
                    && !m.bodies.is_empty()
                    && !is_history(m) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// Waits for a presence of this type from this JID.
pub async fn presence_from(client: &mut Client, from: Jid, type_: Type) -> Presence {
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&from) && p.type_ == type_ => {
                Some(p.clone())
            }
            _ => None,
        })
        .await
}

/// Join history carries an XEP-0203 delay.
pub fn is_history(m: &Message) -> bool {
    m.payloads.iter().any(|p| p.is("delay", "urn:xmpp:delay"))
}

/// A message's body, or the empty string.
pub fn body(m: &Message) -> String {
    m.get_best_body(vec![])
        .map(|(_, b)| b.clone())
        .unwrap_or_default()
}
