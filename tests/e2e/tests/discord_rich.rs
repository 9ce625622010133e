//! Corrections, retractions, reactions, replies and typing between a real
//! XMPP client (through Prosody) and the Discord double, both ways, in a
//! channel and in direct messages: what the double was asked (the REST
//! call, its ids and body) and the exact stanzas the client got.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use std::time::Duration;

use common::Client;
use discord_setup::{contact_jid, join, registered, room_jid, setup, Setup, GW};
use switchboard_discord_double::{self as discord, fixture::dm_channel_id, Request};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

const SID: &str = "urn:xmpp:sid:0";
const CORRECT: &str = "urn:xmpp:message-correct:0";
const RETRACT: &str = "urn:xmpp:message-retract:1";
const REACTIONS: &str = "urn:xmpp:reactions:0";
const REPLY: &str = "urn:xmpp:reply:0";
const FALLBACK: &str = "urn:xmpp:fallback:0";
const CHATSTATES: &str = "http://jabber.org/protocol/chatstates";

/// A message to `to` with this id, body and payloads (XML text).
fn stanza(to: &str, groupchat: bool, id: &str, body: Option<&str>, payloads: &[&str]) -> Message {
    let to: Jid = to.parse().unwrap();
    let mut m = if groupchat {
        Message::groupchat(Some(to))
    } else {
        Message::chat(Some(to))
    };
    if let Some(body) = body {
        m.bodies.insert(Lang::new(), body.to_owned());
    }
    m.id = Some(Id(id.to_owned()));
    m.payloads
        .extend(payloads.iter().map(|p| p.parse::<Element>().unwrap()));
    m
}

/// The next message (no error) from `from` (a full occupant JID or a
/// contact's bare JID) that `pick` accepts, as an element. (The double's
/// messages are dated in the past: they carry a `<delay/>`.)
async fn next_from(client: &mut Client, from: &str, pick: impl Fn(&Element) -> bool) -> Element {
    let from: Jid = from.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ != MessageType::Error =>
            {
                let e = Element::from(m.clone());
                pick(&e).then_some(e)
            }
            _ => None,
        })
        .await
}

fn attr(m: &Element, name: &str, ns: &str, attr: &str) -> Option<String> {
    m.get_child(name, ns)
        .and_then(|c| c.attr(attr))
        .map(str::to_owned)
}

fn body(m: &Element) -> Option<String> {
    m.get_child("body", "jabber:client").map(Element::text)
}

fn id(m: &Element) -> String {
    m.attr("id").unwrap_or_default().to_owned()
}

fn stanza_id(m: &Element) -> String {
    attr(m, "stanza-id", SID, "id").expect("a stanza-id")
}

/// The `<reactions/>`: the id it names and the reactions.
fn reactions(m: &Element) -> Option<(String, Vec<String>)> {
    m.get_child("reactions", REACTIONS).map(|r| {
        (
            r.attr("id").unwrap_or_default().to_owned(),
            r.children().map(Element::text).collect(),
        )
    })
}

fn has_reactions(m: &Element) -> bool {
    m.has_child("reactions", REACTIONS)
}

/// Waits for the request `pick` accepts.
async fn request(setup: &Setup, pick: impl Fn(&Request) -> bool) -> Request {
    setup.double.wait_request(pick).await
}

/// The path of a request, without `/api/v10` and the query.
fn route(r: &Request) -> &str {
    let path = r.path.split('?').next().unwrap_or_default();
    path.strip_prefix("/api/v10").unwrap_or(path)
}

/// A correction of the client's message goes to Discord as a PATCH of the
/// message through the webhook that sent it (the text converted, no pings
/// but the member named), and a retraction as its DELETE; each comes back
/// from the gateway's echo as the reflection naming the client's message
/// (the correction by its `id`, the retraction by its stanza-id).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrections_and_retractions_go_to_discord_through_the_webhook() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room = room_jid(discord::GENERAL_ID);
    let me = format!("{room}/switchbot");

    alice
        .send(stanza(&room, true, "x-1", Some("helo *you*"), &[]))
        .await;
    let sent = next_from(&mut alice, &me, |m| id(m) == "x-1").await;
    let sid = stanza_id(&sent);
    let post = request(&setup, |r| {
        r.method == "POST" && r.path.contains("/webhooks/")
    })
    .await;
    let hook = route(&post).to_owned();
    let message = setup
        .double
        .last_message_id(discord::GENERAL_ID)
        .expect("the webhook's message");

    let replace = "<replace xmlns='urn:xmpp:message-correct:0' id='x-1'/>";
    alice
        .send(stanza(
            &room,
            true,
            "x-2",
            Some("hello *you*, @Alice Liddell"),
            &[replace],
        ))
        .await;
    let patch = request(&setup, |r| r.method == "PATCH").await;
    assert_eq!(route(&patch), format!("{hook}/messages/{message}"));
    assert_eq!(patch.body["content"], "hello **you**, <@4001>");
    assert_eq!(
        patch.body["allowed_mentions"],
        serde_json::json!({ "parse": [], "users": ["4001"], "replied_user": false })
    );
    let corrected = next_from(&mut alice, &me, |m| m.has_child("replace", CORRECT)).await;
    assert_eq!(
        (
            id(&corrected),
            attr(&corrected, "replace", CORRECT, "id"),
            body(&corrected)
        ),
        (
            "x-2".to_owned(),
            Some("x-1".to_owned()),
            Some("hello *you*, @Alice Liddell".to_owned())
        ),
        "the reflection of the correction"
    );

    let retract = format!("<retract xmlns='{RETRACT}' id='{sid}'/>");
    alice
        .send(stanza(&room, true, "x-3", None, &[&retract]))
        .await;
    let delete = request(&setup, |r| r.method == "DELETE").await;
    assert_eq!(route(&delete), format!("{hook}/messages/{message}"));
    let retracted = next_from(&mut alice, &me, |m| m.has_child("retract", RETRACT)).await;
    assert_eq!(
        (id(&retracted), attr(&retracted, "retract", RETRACT, "id")),
        ("x-3".to_owned(), Some(sid)),
        "the reflection of the retraction names the message by its stanza-id"
    );
}

/// Reactions on Discord (added, taken off, a custom emoji, one emoji
/// removed by a moderator with MESSAGE_REACTION_REMOVE_EMOJI, all removed)
/// reach the client as each person's full set naming the message by its
/// stanza-id; the client's reactions become the bot's, as PUTs and
/// DELETEs of the difference, reflected from the user's occupant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_both_ways_in_a_channel() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room = room_jid(discord::GENERAL_ID);
    let liddell = format!("{room}/Alice Liddell");
    let me = format!("{room}/switchbot");

    // XEP-0444 restricted reactions: Discord holds 20 distinct reactions
    // on a message, so at most 20 a person; any emoji.
    for jid in [room.as_str(), GW] {
        let query = Element::builder("query", "http://jabber.org/protocol/disco#info").build();
        let info = common::result_payload(alice.iq(jid, false, query).await).unwrap();
        let form = info
            .children()
            .find(|x| {
                x.is("x", "jabber:x:data")
                    && x.children().any(|f| {
                        f.attr("var") == Some("FORM_TYPE")
                            && f.children().next().map(Element::text).as_deref()
                                == Some("urn:xmpp:reactions:0:restrictions")
                    })
            })
            .unwrap_or_else(|| panic!("{jid}: no restrictions form: {info:?}"));
        let fields: Vec<(&str, String)> = form
            .children()
            .filter_map(|f| Some((f.attr("var")?, f.children().map(Element::text).collect())))
            .filter(|(var, _)| *var != "FORM_TYPE")
            .collect();
        assert_eq!(
            fields,
            [("max_reactions_per_user", "20".to_owned())],
            "{jid}"
        );
    }

    let message = setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "react to me");
    let said = next_from(&mut alice, &liddell, |m| {
        body(m).as_deref() == Some("react to me")
    })
    .await;
    let sid = stanza_id(&said);
    let set = |v: &[&str]| Some((sid.clone(), v.iter().map(|s| s.to_string()).collect()));

    setup.double.react(&message, discord::ALICE_ID, "👍");
    let got = next_from(&mut alice, &liddell, has_reactions).await;
    assert_eq!(reactions(&got), set(&["👍"]));
    assert_eq!(
        body(&got).as_deref(),
        Some("/me reacted 👍"),
        "text for a client without XEP-0444"
    );
    setup.double.react(&message, discord::ALICE_ID, "ferris:77");
    let got = next_from(&mut alice, &liddell, has_reactions).await;
    assert_eq!(
        reactions(&got),
        set(&["👍", ":ferris:"]),
        "a custom emoji by its name"
    );
    setup.double.unreact(&message, discord::ALICE_ID, "👍");
    let got = next_from(&mut alice, &liddell, has_reactions).await;
    assert_eq!(reactions(&got), set(&[":ferris:"]));
    setup.double.remove_reactions(&message, Some("ferris:77"));
    let got = next_from(&mut alice, &liddell, has_reactions).await;
    assert_eq!(
        reactions(&got),
        set(&[]),
        "MESSAGE_REACTION_REMOVE_EMOJI took it off"
    );

    let react = format!(
        "<reactions xmlns='{REACTIONS}' id='{sid}'><reaction>🎉</reaction><reaction>:ferris:</reaction></reactions>"
    );
    alice
        .send(stanza(&room, true, "r-1", None, &[&react]))
        .await;
    let reaction_route = format!(
        "/channels/{}/messages/{message}/reactions",
        discord::GENERAL_ID
    );
    let party = format!("{reaction_route}/%F0%9F%8E%89/@me");
    let ferris = format!("{reaction_route}/ferris:77/@me");
    request(&setup, |r| r.method == "PUT" && route(r) == party).await;
    request(&setup, |r| r.method == "PUT" && route(r) == ferris).await;
    let reflected = next_from(&mut alice, &me, has_reactions).await;
    assert_eq!(
        (id(&reflected), reactions(&reflected)),
        ("r-1".to_owned(), set(&["🎉", ":ferris:"])),
        "the reflection of the client's reactions"
    );

    let react = format!(
        "<reactions xmlns='{REACTIONS}' id='{sid}'><reaction>:ferris:</reaction></reactions>"
    );
    alice
        .send(stanza(&room, true, "r-2", None, &[&react]))
        .await;
    request(&setup, |r| r.method == "DELETE" && route(r) == party).await;
    let puts = setup
        .double
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && route(r).contains("/reactions/"))
        .count();
    assert_eq!(puts, 2, "only the difference is sent");

    setup.double.remove_reactions(&message, None);
    let cleared = next_from(&mut alice, &me, |m| {
        reactions(m).is_some_and(|(_, r)| r.is_empty())
    })
    .await;
    assert_eq!(reactions(&cleared), set(&[]), "MESSAGE_REACTION_REMOVE_ALL");
}

/// A Discord reply reaches the client with `<reply/>` naming the message
/// by its stanza-id and its author's occupant, the original quoted as the
/// fallback; the client's reply goes to Discord with `message_reference`
/// and without the quote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_both_ways_in_a_channel() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room = room_jid(discord::GENERAL_ID);
    let liddell = format!("{room}/Alice Liddell");

    let question = setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "question");
    let asked = next_from(&mut alice, &liddell, |m| {
        body(m).as_deref() == Some("question")
    })
    .await;
    let answer = setup
        .double
        .reply(discord::GENERAL_ID, discord::ALICE_ID, "answer", &question);
    let answered = next_from(&mut alice, &liddell, |m| m.has_child("reply", REPLY)).await;
    assert_eq!(
        (
            attr(&answered, "reply", REPLY, "id"),
            attr(&answered, "reply", REPLY, "to"),
            body(&answered)
        ),
        (
            Some(stanza_id(&asked)),
            Some(liddell.clone()),
            Some("> question\nanswer".to_owned())
        )
    );

    let reply = format!(
        "<reply xmlns='{REPLY}' to='{liddell}' id='{}'/>",
        stanza_id(&answered)
    );
    let fallback =
        format!("<fallback xmlns='{FALLBACK}' for='{REPLY}'><body start='0' end='9'/></fallback>");
    alice
        .send(stanza(
            &room,
            true,
            "p-1",
            Some("> answer\nmy reply"),
            &[&reply, &fallback],
        ))
        .await;
    let post = request(&setup, |r| {
        r.method == "POST" && route(r) == format!("/channels/{}/messages", discord::GENERAL_ID)
    })
    .await;
    assert_eq!(
        post.body["message_reference"]["message_id"],
        answer.as_str()
    );
    assert_eq!(
        post.body["content"], "**alice**: my reply",
        "through the bot (a webhook cannot reply), the quote taken out"
    );
    let me = format!("{room}/switchbot");
    let reflected = next_from(&mut alice, &me, |m| id(m) == "p-1").await;
    assert_eq!(
        attr(&reflected, "reply", REPLY, "id"),
        Some(stanza_id(&answered))
    );
}

/// Someone typing on Discord is `<composing/>` from their occupant, and
/// `<active/>` once Discord's indicator ran out (10 s); the client's
/// `<composing/>` is a typing POST, at most one per 8 s, repeated every
/// 8 s while the client stays composing, and no more once it paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_both_ways_in_a_channel() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room = room_jid(discord::GENERAL_ID);
    let liddell = format!("{room}/Alice Liddell");

    setup
        .double
        .start_typing(discord::GENERAL_ID, discord::ALICE_ID);
    next_from(&mut alice, &liddell, |m| {
        m.has_child("composing", CHATSTATES)
    })
    .await;

    let composing = format!("<composing xmlns='{CHATSTATES}'/>");
    let paused = format!("<paused xmlns='{CHATSTATES}'/>");
    let typing_route = format!("/channels/{}/typing", discord::GENERAL_ID);
    let posts = || {
        setup
            .double
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && route(r) == typing_route)
            .count()
    };
    alice
        .send(stanza(&room, true, "t-1", None, &[&composing]))
        .await;
    request(&setup, |r| r.method == "POST" && route(r) == typing_route).await;
    alice
        .send(stanza(&room, true, "t-2", None, &[&paused]))
        .await;
    alice
        .send(stanza(&room, true, "t-3", None, &[&composing]))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(posts(), 1, "typing again within 8 s posts nothing more");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while posts() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no repeat while composing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alice
        .send(stanza(&room, true, "t-4", None, &[&paused]))
        .await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(posts(), 2, "paused: no more repeats");

    next_from(&mut alice, &liddell, |m| m.has_child("active", CHATSTATES)).await;
}

/// In direct messages: the client's correction and retraction go through
/// the bot (PATCH and DELETE of the DM channel's message); a Discord
/// user's reaction, reply and typing reach the client from their contact
/// JID naming the message by its id; the client's reaction and typing go
/// to the DM channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_direct_messages_both_ways() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    setup.double.wait_identified().await;
    let contact = contact_jid(discord::ALICE_ID);
    let dm = dm_channel_id(discord::ALICE_ID);

    let hi = setup.double.say_directly(discord::ALICE_ID, "hi");
    let got = next_from(&mut alice, &contact, |m| body(m).as_deref() == Some("hi")).await;
    assert_eq!(id(&got), hi, "a contact's message has its Discord id");

    // Discord → XMPP.
    setup.double.react(&hi, discord::ALICE_ID, "👍");
    let got = next_from(&mut alice, &contact, has_reactions).await;
    assert_eq!(reactions(&got), Some((hi.clone(), vec!["👍".to_owned()])));
    setup.double.start_typing(&dm, discord::ALICE_ID);
    next_from(&mut alice, &contact, |m| {
        m.has_child("composing", CHATSTATES)
    })
    .await;
    setup.double.reply(&dm, discord::ALICE_ID, "again", &hi);
    let got = next_from(&mut alice, &contact, |m| m.has_child("reply", REPLY)).await;
    assert_eq!(attr(&got, "reply", REPLY, "id"), Some(hi.clone()));
    assert_eq!(body(&got).as_deref(), Some("> hi\nagain"));

    // XMPP → Discord.
    let messages = format!("/channels/{dm}/messages");
    let react =
        format!("<reactions xmlns='{REACTIONS}' id='{hi}'><reaction>🎉</reaction></reactions>");
    alice
        .send(stanza(&contact, false, "d-0", None, &[&react]))
        .await;
    let party = format!("{messages}/{hi}/reactions/%F0%9F%8E%89/@me");
    request(&setup, |r| r.method == "PUT" && route(r) == party).await;
    let composing = format!("<composing xmlns='{CHATSTATES}'/>");
    alice
        .send(stanza(&contact, false, "d-t", None, &[&composing]))
        .await;
    let typing = format!("/channels/{dm}/typing");
    request(&setup, |r| r.method == "POST" && route(r) == typing).await;

    alice
        .send(stanza(&contact, false, "d-1", Some("helo"), &[]))
        .await;
    request(&setup, |r| r.method == "POST" && route(r) == messages).await;
    let sent = setup.double.last_message_id(&dm).unwrap();
    let replace = format!("<replace xmlns='{CORRECT}' id='d-1'/>");
    alice
        .send(stanza(&contact, false, "d-2", Some("hello"), &[&replace]))
        .await;
    let patch = request(&setup, |r| r.method == "PATCH").await;
    assert_eq!(route(&patch), format!("{messages}/{sent}"));
    assert_eq!(patch.body["content"], "hello", "no nick in front in a DM");
    let retract = format!("<retract xmlns='{RETRACT}' id='d-1'/>");
    alice
        .send(stanza(&contact, false, "d-3", None, &[&retract]))
        .await;
    let delete = request(&setup, |r| r.method == "DELETE").await;
    assert_eq!(route(&delete), format!("{messages}/{sent}"));
    // Nothing was refused.
    let refused = alice
        .maybe(Duration::from_secs(1), |s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Error => Some(m.clone()),
            _ => None,
        })
        .await;
    assert!(refused.is_none(), "{refused:?}");
}
