//! XEP-0425 moderation in a Discord channel, from a real XMPP client
//! through Prosody: where the bot may manage messages the user is a
//! moderator, the room offers `urn:xmpp:message-moderate:1`, and a
//! `<moderate/>` of someone else's message deletes it on Discord and is
//! said by the room; where the bot may not, the user is a participant and
//! the room does not offer moderation, also where only a channel overwrite
//! denies it.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use common::{result_payload, Client};
use discord_setup::{registered, room_jid, setup, setup_with};
use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const MUC: &str = "http://jabber.org/protocol/muc";
const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const SID: &str = "urn:xmpp:sid:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const MODERATE: &str = "urn:xmpp:message-moderate:1";
const MARKERS: &str = "urn:xmpp:chat-markers:0";

/// Joins `#general` as `nick`; the MUC role of the self-presence.
async fn join_with_role(client: &mut Client, nick: &str) -> String {
    let to: Jid = format!("{}/{nick}", room_jid(discord::GENERAL_ID))
        .parse()
        .unwrap();
    let mut p = Presence::available().with_to(to);
    p.payloads.push(Element::builder("x", MUC).build());
    client.send(p).await;
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.type_ == Type::None => {
                let x = p.payloads.iter().find(|e| e.is("x", MUC_USER))?;
                x.children()
                    .any(|c| c.name() == "status" && c.attr("code") == Some("110"))
                    .then(|| {
                        x.get_child("item", MUC_USER)
                            .and_then(|i| i.attr("role"))
                            .unwrap_or_default()
                            .to_owned()
                    })
            }
            _ => None,
        })
        .await
}

/// The room's disco#info features.
async fn features(client: &mut Client) -> Vec<String> {
    let query = Element::builder("query", "http://jabber.org/protocol/disco#info").build();
    let info = result_payload(
        client
            .iq(&room_jid(discord::GENERAL_ID), false, query)
            .await,
    )
    .expect("a disco#info result");
    info.children()
        .filter(|c| c.name() == "feature")
        .filter_map(|c| c.attr("var").map(str::to_owned))
        .collect()
}

/// The next groupchat message from the room (any occupant, or the room)
/// that `pick` accepts, as an element.
async fn next_in_room(client: &mut Client, pick: impl Fn(&Element) -> bool) -> Element {
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from
                        .as_ref()
                        .is_some_and(|f| f.to_bare() == room.to_bare()) =>
            {
                let e = Element::from(m.clone());
                pick(&e).then_some(e)
            }
            _ => None,
        })
        .await
}

fn body(m: &Element) -> Option<String> {
    m.get_child("body", "jabber:client").map(Element::text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_bot_lets_the_user_moderate_someone_elses_message() {
    let setup = setup_with(Double::start_with_moderator_bot().await.unwrap());
    let mut alice = registered(&setup, "alice").await;
    assert_eq!(join_with_role(&mut alice, "alice").await, "moderator");
    let have = features(&mut alice).await;
    assert!(have.iter().any(|f| f == MODERATE), "{have:?}");

    let spam = setup
        .double
        .say(discord::GENERAL_ID, discord::DAVE_ID, "buy now");
    let said = next_in_room(&mut alice, |m| body(m).as_deref() == Some("buy now")).await;
    let sid = said
        .get_child("stanza-id", SID)
        .and_then(|s| s.attr("id"))
        .expect("a stanza-id")
        .to_owned();
    let request = format!(
        "<moderate xmlns='{MODERATE}' id='{sid}'><retract xmlns='{RETRACT}'/>\
         <reason>spam</reason></moderate>"
    )
    .parse::<Element>()
    .unwrap();
    let answer = alice
        .iq(&room_jid(discord::GENERAL_ID), true, request)
        .await;
    result_payload(answer);
    setup
        .double
        .wait_request(|r| {
            r.method == "DELETE"
                && r.path.ends_with(&format!(
                    "/channels/{}/messages/{spam}",
                    discord::GENERAL_ID
                ))
        })
        .await;
    let gone = next_in_room(&mut alice, |m| {
        m.get_child("retract", RETRACT)
            .is_some_and(|r| r.attr("id") == Some(sid.as_str()))
    })
    .await;
    assert!(gone.get_child("retract", RETRACT).is_some(), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_manage_messages_the_room_offers_no_moderation() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    assert_eq!(join_with_role(&mut alice, "alice").await, "participant");
    let have = features(&mut alice).await;
    assert!(!have.iter().any(|f| f == MODERATE), "{have:?}");
    assert!(have.iter().any(|f| f == RETRACT), "own retractions stay");
    // Discord has no read state for bots: no XEP-0333 markers offered.
    assert!(!have.iter().any(|f| f == MARKERS), "{have:?}");
}

/// A bot that is a moderator guild-wide but denied Manage Messages in
/// `#general` by a channel overwrite (arriving while the user is in the
/// room): the user becomes a participant there at once and the room stops
/// offering moderation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_denying_manage_messages_ends_moderation_in_that_room() {
    let setup = setup_with(Double::start_with_limited_bot().await.unwrap());
    let mut alice = registered(&setup, "alice").await;
    assert_eq!(join_with_role(&mut alice, "alice").await, "moderator");
    let have = features(&mut alice).await;
    assert!(have.iter().any(|f| f == MODERATE), "{have:?}");

    setup.double.deny_bot_moderation_in_general();
    // The user's occupant is the bot's member, under its Discord name.
    let own: Jid = format!("{}/switchbot", room_jid(discord::GENERAL_ID))
        .parse()
        .unwrap();
    alice
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref() == Some(&own) => p
                .payloads
                .iter()
                .find(|e| e.is("x", MUC_USER))?
                .get_child("item", MUC_USER)
                .filter(|i| i.attr("role") == Some("participant"))
                .map(|_| ()),
            _ => None,
        })
        .await;
    let have = features(&mut alice).await;
    assert!(!have.iter().any(|f| f == MODERATE), "{have:?}");
}
