//! What a returning client gets from a room: joining with `<history/>`
//! and reading the join history up to the subject, the room's archive
//! through MAM, each message as its body, `id` and XEP-0359 stanza-id; and
//! leaving cleanly. For rooms of any network (room and occupant JIDs given).
#![allow(dead_code)]

use super::room::{is_history, muc_info, presence_from};
use super::{result_payload, Client};
use std::time::Duration;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

/// A room message's body, `id` and stanza-id (id, by).
pub type Ids = (String, Option<String>, Option<(String, String)>);

/// The body, `id` and stanza-id of a `<message/>` element.
pub fn ids_of(m: &Element) -> Ids {
    let stanza_id = m
        .children()
        .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
        .map(|p| {
            (
                p.attr("id").unwrap_or_default().to_owned(),
                p.attr("by").unwrap_or_default().to_owned(),
            )
        });
    let body = m
        .children()
        .find(|c| c.name() == "body")
        .map(|b| b.text())
        .unwrap_or_default();
    (body, m.attr("id").map(str::to_owned), stanza_id)
}

/// The body, `id` and stanza-id of a message.
pub fn message_ids(m: &Message) -> Ids {
    ids_of(&Element::from(m.clone()))
}

/// Joins as `occupant` asking for up to `max` messages of history, and
/// waits for the self-presence (110).
pub async fn join_with_history(client: &mut Client, occupant: Jid, max: u32) {
    let mut p = Presence::available().with_to(occupant.clone());
    p.payloads.push(
        format!(
            "<x xmlns='http://jabber.org/protocol/muc'>\
             <history xmlns='http://jabber.org/protocol/muc' maxstanzas='{max}'/></x>"
        )
        .parse()
        .unwrap(),
    );
    client.send(p).await;
    let own = presence_from(client, occupant, Type::None).await;
    assert!(muc_info(&own).0.contains(&"110".to_owned()));
}

/// Leaves cleanly and waits for the own unavailable presence (110).
pub async fn leave_cleanly(client: &mut Client, occupant: Jid) {
    client
        .send(Presence::unavailable().with_to(occupant.clone()))
        .await;
    let gone = presence_from(client, occupant, Type::Unavailable).await;
    assert!(muc_info(&gone).0.contains(&"110".to_owned()));
}

/// The join history up to the subject, which ends the join sequence.
pub async fn join_history(client: &mut Client, room: &Jid) -> Vec<Ids> {
    let mut history = Vec::new();
    loop {
        let next = client
            .wait_for(|s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(room) && !m.subjects.is_empty() => {
                    Some(None)
                }
                Stanza::Message(m) if is_history(m) => Some(Some(message_ids(m))),
                _ => None,
            })
            .await;
        match next {
            Some(ids) => history.push(ids),
            None => return history,
        }
    }
}

/// The room's whole archive through MAM, oldest first, in one page of `max`.
pub async fn mam_all(client: &mut Client, room: &str, max: usize) -> Vec<Ids> {
    mam_messages(client, room, max)
        .await
        .iter()
        .map(ids_of)
        .collect()
}

/// The room's whole archive through MAM, oldest first, in one page of
/// `max`, as the forwarded `<message/>` elements.
pub async fn mam_messages(client: &mut Client, room: &str, max: usize) -> Vec<Element> {
    let query: Element = format!(
        "<query xmlns='urn:xmpp:mam:2' queryid='all'>\
         <set xmlns='http://jabber.org/protocol/rsm'><max>{max}</max></set></query>"
    )
    .parse()
    .unwrap();
    let fin = result_payload(client.iq(room, true, query).await).expect("a <fin/>");
    assert_eq!(fin.attr("complete"), Some("true"), "one page holds it all");
    // The results came before the <fin/>, and wait in the client's backlog.
    let mut out = Vec::new();
    while let Some(m) = client
        .maybe(Duration::from_millis(200), |s| match s {
            Stanza::Message(m) => m
                .payloads
                .iter()
                .find(|p| p.is("result", "urn:xmpp:mam:2"))
                .and_then(|r| r.get_child("forwarded", "urn:xmpp:forward:0"))
                .and_then(|f| f.get_child("message", "jabber:client"))
                .cloned(),
            _ => None,
        })
        .await
    {
        out.push(m);
    }
    out
}

/// Waits until the gateway has handled everything Prosody sent it before:
/// a ping to it through the same component stream.
pub async fn gateway_caught_up(client: &mut Client, gateway: &str) {
    let ping = client
        .iq(
            gateway,
            false,
            Element::builder("ping", "urn:xmpp:ping").build(),
        )
        .await;
    result_payload(ping);
}
