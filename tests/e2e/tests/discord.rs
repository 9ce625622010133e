//! The Discord bridge end to end: a real Prosody and a real XMPP client on
//! one side, the Discord double (v10 gateway and REST on loopback) on the
//! other, the gateway in between pointed at the double's API.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use std::time::Duration;

use common::history::{join_with_history, mam_all, message_ids};
use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client};
use discord_setup::{config, join, registered, room_jid, rss, setup, setup_with, GW, SECRET};
use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

/// The next groupchat message from this room: (sender's nick, body, id).
async fn groupchat_from(client: &mut Client, channel: &str) -> (String, String, Option<String>) {
    let room: Jid = room_jid(channel).parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref().map(|f| f.to_bare()) == Some(room.to_bare())
                    && !m.bodies.is_empty() =>
            {
                let nick = m.from.as_ref()?.resource()?.to_string();
                let body = m.get_best_body(vec![])?.1.clone();
                Some((nick, body, m.id.as_ref().map(|i| i.0.clone())))
            }
            _ => None,
        })
        .await
}

/// A bad token is refused on its field; the good one registers (checked
/// with `GET /users/@me` at the double).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_checks_the_bot_token() {
    let setup = setup().await;
    setup.prosody.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", setup.prosody.c2s_port).await;
    // The component may still be connecting: ask until it answers.
    let mut refusal = None;
    for _ in 0..40 {
        alice.say(GW, "register token=not-the-token").await;
        let from: Jid = GW.parse().unwrap();
        refusal = alice
            .maybe(Duration::from_secs(2), |s| match s {
                Stanza::Message(m) if m.from.as_ref() == Some(&from) => {
                    m.get_best_body(vec![]).map(|(_, b)| b.clone())
                }
                _ => None,
            })
            .await;
        if refusal.is_some() {
            break;
        }
    }
    let refusal = refusal.expect("an answer to the registration");
    assert!(
        refusal.contains("token") && refusal.contains("Discord refused this bot token"),
        "{refusal}"
    );
    alice
        .register_by_chat(GW, &format!("token={}", discord::BOT_TOKEN))
        .await;
    let checks: Vec<_> = setup
        .double
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/users/@me"))
        .collect();
    assert_eq!(checks.len(), 2, "both tokens checked: {checks:?}");
    // The session starts with the stored token: the bot identifies.
    setup.double.wait_identified().await;
}

/// The guild's text and announcement channels are the disco items of its
/// server JID; a join, messages both ways with markdown and mentions, the
/// user's through a webhook under their nick, and `@everyone` from XMPP
/// pinging nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guild_channels_join_and_messages_both_ways() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;

    let guild = format!("guild-{}@{GW}", discord::GUILD_ID);
    let query = Element::builder("query", "http://jabber.org/protocol/disco#items").build();
    let items = result_payload(alice.iq(&guild, false, query).await).unwrap();
    let listed: Vec<(&str, &str)> = items
        .children()
        .filter_map(|i| Some((i.attr("jid")?, i.attr("name")?)))
        .collect();
    let general = room_jid(discord::GENERAL_ID);
    let announcements = room_jid(discord::ANNOUNCEMENTS_ID);
    let random = room_jid(discord::RANDOM_ID);
    let thread = room_jid(discord::THREAD_ID);
    assert_eq!(
        listed,
        [
            (general.as_str(), "Ferris Guild / #general"),
            (thread.as_str(), "Ferris Guild / #general / ideas"),
            (announcements.as_str(), "Ferris Guild / #announcements"),
            (random.as_str(), "Ferris Guild / #random"),
        ],
        "text and announcement channels, a thread after its channel, no voice channel"
    );

    let own = join(&mut alice, discord::GENERAL_ID, "alice").await;
    assert_eq!(
        own.resource().map(|r| r.to_string()).as_deref(),
        Some("switchbot")
    );

    // Discord → XMPP: markdown as XEP-0393, mentions as names.
    setup.double.say(
        discord::GENERAL_ID,
        discord::ALICE_ID,
        "**hello** <@1000>, see <#3004>",
    );
    let (nick, body, _) = groupchat_from(&mut alice, discord::GENERAL_ID).await;
    assert_eq!(nick, "Alice Liddell");
    assert_eq!(body, "*hello* @switchbot, see #random");

    // XMPP → Discord: markdown, no ping for @everyone, the echo reflected
    // with the client's id.
    let mut m = Message::groupchat(Some(general.parse::<Jid>().unwrap())).with_body(
        Lang::new(),
        "@everyone _look_ at *this*, @Alice Liddell".into(),
    );
    m.id = Some(xmpp_parsers::message::Id("xmpp-1".into()));
    alice.send(m).await;
    // Through the bot's webhook, under the nick the user joined with.
    let post = setup
        .double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert_eq!(post.body["username"], "alice");
    assert_eq!(
        post.body["content"],
        "@everyone *look* at **this**, <@4001>"
    );
    assert_eq!(
        post.body["allowed_mentions"],
        serde_json::json!({ "parse": [], "users": ["4001"], "replied_user": false }),
        "neither @everyone, @here nor roles may be pinged: only the member named"
    );
    let (nick, body, id) = groupchat_from(&mut alice, discord::GENERAL_ID).await;
    assert_eq!(
        (nick.as_str(), body.as_str(), id.as_deref()),
        (
            "switchbot",
            "@everyone _look_ at *this*, @Alice Liddell",
            Some("xmpp-1")
        ),
        "the reflection of the client's own message"
    );
}

/// A gateway connection dropped at the TCP level is resumed (RESUME, not
/// a new IDENTIFY), and the message sent meanwhile is replayed, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_gateway_connection_resumes_with_the_missed_messages() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    setup.double.wait_identified().await;

    setup.double.drop_connections();
    setup.double.say(
        discord::GENERAL_ID,
        discord::ALICE_ID,
        "while you were away",
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    setup.double.release();
    let (_, body, _) = groupchat_from(&mut alice, discord::GENERAL_ID).await;
    assert_eq!(body, "while you were away");
    assert_eq!(setup.double.resumes(), 1, "the session was resumed");
    assert_eq!(setup.double.identifies(), 1, "and not identified anew");

    setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "and now");
    let (_, body, _) = groupchat_from(&mut alice, discord::GENERAL_ID).await;
    assert_eq!(body, "and now", "the missed message came once");
}

/// A measurement, not a check (run on demand, on a release build):
/// the gateway's RSS idle, then with one Discord user registered, their
/// bot in a guild of 5,000 members (250 listed, as Discord lists a large
/// guild's) and 204 channels, one channel joined; then with five such
/// users, and what each user past the first costs.
/// `cargo build --release --bin switchboard && SWITCHBOARD_BIN=target/release/switchboard
/// cargo nextest run -p switchboard-e2e --test discord --run-ignored only --no-capture measure_rss`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on a release build"]
async fn measure_rss() {
    let setup = setup_with(Double::start_large(200, 248, 5000).await.unwrap());
    let pid = setup.gateway.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss(pid);
    // Each user has their own session and gateway connection; the double
    // has one bot, so the same token.
    let mut clients = Vec::new();
    let mut figures = Vec::new();
    for (i, name) in ["alice", "bob", "carol", "dave", "erin"].iter().enumerate() {
        let mut client = registered(&setup, name).await;
        join(&mut client, discord::GENERAL_ID, name).await;
        let text = format!("hello {i}");
        setup
            .double
            .say(discord::GENERAL_ID, discord::ALICE_ID, &text);
        while groupchat_from(&mut client, discord::GENERAL_ID).await.1 != text {}
        clients.push(client);
        tokio::time::sleep(Duration::from_secs(2)).await;
        figures.push(rss(pid));
    }
    let (one, five) = (figures[0], figures[4]);
    println!(
        "idle: RSS {} kB, anonymous {} kB; one Discord user in the guild, a channel joined: RSS {} kB, anonymous {} kB; five users: RSS {} kB, anonymous {} kB; each user past the first: RSS {} kB, anonymous {} kB",
        idle.0, idle.1, one.0, one.1, five.0, five.1,
        (five.0 as i64 - one.0 as i64) / 4, (five.1 as i64 - one.1 as i64) / 4,
    );
    if std::env::var_os("MEASURE_HOLD").is_some() {
        // For a heap profiler attached to the gateway: keep it running.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A Discord user's direct message to the bot reaches the XMPP user from
/// that person's contact JID, and the answer goes back in the DM channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_both_ways() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    setup.double.wait_identified().await;
    let contact = format!("{}@{GW}", discord::ALICE_ID);
    // Dispatched after IDENTIFY: the session's gateway connection gets it.
    setup
        .double
        .say_directly(discord::ALICE_ID, "are you there? **ping**");
    assert_eq!(alice.reply_from(&contact).await, "are you there? *ping*");
    alice.say(&contact, "_yes_, here").await;
    let post = setup
        .double
        .wait_request(|r| {
            r.method == "POST"
                && r.path.ends_with(&format!(
                    "/channels/{}/messages",
                    discord::fixture::dm_channel_id(discord::ALICE_ID)
                ))
        })
        .await;
    assert_eq!(post.body["content"], "*yes*, here");
    assert_eq!(
        post.body["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
}

/// Asks the gateway for a ping until it answers (its component is back).
async fn gateway_answers(client: &mut Client) {
    for _ in 0..60 {
        let ping = Element::builder("ping", "urn:xmpp:ping").build();
        if matches!(
            client.iq(GW, false, ping).await,
            xmpp_parsers::iq::Iq::Result { .. }
        ) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the gateway did not come back");
}

/// After a restart of the gateway, the 100 messages said in a joined
/// channel while it was down are fetched from Discord and archived, each
/// once, after the one seen before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_catches_up_the_missed_messages_once() {
    let mut setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    let own = join(&mut alice, discord::GENERAL_ID, "switchbot").await;
    setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "seen before");
    groupchat_from(&mut alice, discord::GENERAL_ID).await;
    // The position is saved every 5 s.
    tokio::time::sleep(Duration::from_secs(6)).await;

    setup.gateway.stop();
    for i in 1..=100 {
        setup.double.say(
            discord::GENERAL_ID,
            discord::ALICE_ID,
            &format!("missed {i}"),
        );
    }
    setup.gateway.restart();
    setup
        .double
        .wait_request(|r| r.method == "GET" && r.path.contains("/channels/3001/messages?"))
        .await;
    gateway_answers(&mut alice).await;
    join_with_history(&mut alice, own, 0).await;

    let expected: Vec<String> = std::iter::once("seen before".to_owned())
        .chain((1..=100).map(|i| format!("missed {i}")))
        .collect();
    let room = room_jid(discord::GENERAL_ID);
    let mut bodies = Vec::new();
    for _ in 0..40 {
        bodies = mam_all(&mut alice, &room, 500)
            .await
            .into_iter()
            .map(|ids| ids.0)
            .collect();
        if bodies.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(bodies, expected);
}

/// Where the bot may not manage webhooks, the user's message goes through
/// the bot with their nick in bold in front, and still reflects once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_webhook_permission_the_bot_speaks_with_the_nick() {
    let setup = setup().await;
    setup.double.forbid_webhooks(true);
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::RANDOM_ID, "alice").await;
    let room = room_jid(discord::RANDOM_ID);
    let mut m = Message::groupchat(Some(room.parse::<Jid>().unwrap()))
        .with_body(Lang::new(), "hello *there*".into());
    m.id = Some(xmpp_parsers::message::Id("xmpp-2".into()));
    alice.send(m).await;
    let post = setup
        .double
        .wait_request(|r| {
            r.method == "POST"
                && r.path
                    .ends_with(&format!("/channels/{}/messages", discord::RANDOM_ID))
        })
        .await;
    assert_eq!(post.body["content"], "**alice**: hello **there**");
    let (_, body, id) = groupchat_from(&mut alice, discord::RANDOM_ID).await;
    assert_eq!(
        (body.as_str(), id.as_deref()),
        ("hello *there*", Some("xmpp-2"))
    );
}

/// Neither the bot token nor a webhook's token reaches the log, even at
/// `debug` (serenity's request span records a webhook's route, token and
/// all: the gateway keeps serenity at `warn`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_log_at_debug() {
    let double = Double::start().await.unwrap();
    let prosody = Prosody::start(&[(GW, SECRET)]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("switchboard.toml");
    std::fs::write(&config_path, config(&prosody, &double, "debug")).unwrap();
    let log_path = dir.path().join("gateway.log");
    let mut child = std::process::Command::new(common::switchboard_bin())
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let setup_prosody = &prosody;
    setup_prosody.register("alice", DOMAIN, "pass");
    let mut alice = Client::login(&format!("alice@{DOMAIN}"), "pass", prosody.c2s_port).await;
    alice
        .register_by_chat(GW, &format!("token={}", discord::BOT_TOKEN))
        .await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let mut m = Message::groupchat(Some(room_jid(discord::GENERAL_ID).parse::<Jid>().unwrap()))
        .with_body(Lang::new(), "through the webhook".into());
    m.id = Some(xmpp_parsers::message::Id("xmpp-3".into()));
    alice.send(m).await;
    groupchat_from(&mut alice, discord::GENERAL_ID).await;
    common::support::stop_child(&mut child, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("DEBUG"), "the log is at debug");
    assert!(
        !log.contains(discord::BOT_TOKEN),
        "the bot token is in the log"
    );
    assert!(
        !log.contains("webhook-token-"),
        "a webhook token is in the log"
    );
}

/// A message edited on Discord (MESSAGE_UPDATE) reaches the client as a
/// correction (XEP-0308) of the message it had, from the same occupant,
/// with the new text converted as the first was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_on_discord_is_a_correction() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;

    let id = setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "helo <@1000>");
    let (nick, body, first) = groupchat_from(&mut alice, discord::GENERAL_ID).await;
    assert_eq!(
        (nick.as_str(), body.as_str()),
        ("Alice Liddell", "helo @switchbot")
    );
    let first = first.expect("the message has an id");

    setup.double.edit(
        discord::GENERAL_ID,
        &id,
        discord::ALICE_ID,
        "**hello** <@1000>",
    );
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();
    let (nick, body, replaces) = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref().map(|f| f.to_bare()) == Some(room.to_bare()) =>
            {
                let replace = m
                    .payloads
                    .iter()
                    .find(|p| p.is("replace", "urn:xmpp:message-correct:0"))?;
                Some((
                    m.from.as_ref()?.resource()?.to_string(),
                    m.get_best_body(vec![])?.1.clone(),
                    replace.attr("id")?.to_owned(),
                ))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        (nick.as_str(), body.as_str(), replaces.as_str()),
        ("Alice Liddell", "*hello* @switchbot", first.as_str()),
        "the edit corrects the message the client had, from its author"
    );
}

/// A message deleted on Discord (MESSAGE_DELETE, which names only the
/// message) reaches the client as its author's retraction (XEP-0424) of
/// the message by its stanza-id; a delete of a message the gateway never
/// passed on tells nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_on_discord_is_a_retraction() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();

    let id = setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "oops");
    let stanza_id = alice
        .wait_for(|s| match s {
            Stanza::Message(m) if m.get_best_body(vec![]).map(|b| b.1.as_str()) == Some("oops") => {
                message_ids(m).2.map(|(id, _)| id)
            }
            _ => None,
        })
        .await;

    setup.double.delete(discord::GENERAL_ID, "999999");
    setup.double.delete(discord::GENERAL_ID, &id);
    let (nick, retracted) = alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.from.as_ref().map(|f| f.to_bare()) == Some(room.to_bare()) =>
            {
                let retract = m
                    .payloads
                    .iter()
                    .find(|p| p.is("retract", "urn:xmpp:message-retract:1"))?;
                Some((
                    m.from.as_ref()?.resource()?.to_string(),
                    retract.attr("id")?.to_owned(),
                ))
            }
            _ => None,
        })
        .await;
    assert_eq!(
        (nick.as_str(), retracted.as_str()),
        ("Alice Liddell", stanza_id.as_str()),
        "the first retraction is the known message's, by its author (the unknown one told nothing)"
    );
}
