//! Discord's shared-bot mode end to end: a real Prosody and a real XMPP
//! client, the Discord double with `#staff` hidden from @everyone (shown
//! to the Mods role only), the gateway with the operator's shared bot.
//! Carol registers by chat, DMs the code to the bot from her Discord
//! account, and then sees only what her account may see.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use std::time::Duration;

use common::support::prosody::{Prosody, DOMAIN};
use common::{result_payload, Client, Switchboard};
use discord_setup::{config, join, room_jid, rss, Setup, GW, SECRET};
use switchboard_discord_double::{self as discord, Double};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};
use xmpp_parsers::stanza_error::DefinedCondition;

const MUC: &str = "http://jabber.org/protocol/muc";

/// Prosody, the double's shared guild and the gateway with the shared bot.
fn shared_setup(double: Double) -> Setup {
    let prosody = Prosody::start(&[(GW, SECRET)]);
    let gateway = Switchboard::start(&shared_config(&prosody, &double, "info"));
    Setup {
        double,
        prosody,
        gateway,
    }
}

/// The gateway's next chat line to the client, waiting up to `wait`.
async fn gateway_says(client: &mut Client, wait: Duration) -> Option<String> {
    let from: Jid = GW.parse().unwrap();
    client
        .maybe(wait, |s| match s {
            Stanza::Message(m) if m.from.as_ref() == Some(&from) => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
}

/// The gateway's config with the double's bot as the shared bot.
fn shared_config(prosody: &Prosody, double: &Double, level: &str) -> String {
    format!(
        "{}shared_bot_token = \"{}\"\n",
        config(prosody, double, level),
        discord::BOT_TOKEN
    )
}

/// Registers `name` by chat with the shared bot, the code sent to the bot
/// by the Discord user `discord_user`; returns the client and the code.
async fn link(
    prosody: &Prosody,
    double: &Double,
    name: &str,
    discord_user: &str,
) -> (Client, String) {
    prosody.register(name, DOMAIN, "pass");
    let mut client = Client::login(&format!("{name}@{DOMAIN}"), "pass", prosody.c2s_port).await;
    let mut instructions = None;
    for _ in 0..20 {
        client.say(GW, "register shared=1").await;
        if let Some(said) = gateway_says(&mut client, Duration::from_secs(25)).await {
            if said.contains("register sent=") {
                instructions = Some(said);
                break;
            }
        }
    }
    let instructions = instructions.expect("the code's instructions");
    let code = instructions
        .split(|c: char| c.is_whitespace() || matches!(c, ':' | '.' | '(' | ')'))
        .find(|w| w.len() == 9 && w.as_bytes()[4] == b'-')
        .expect("a code")
        .to_owned();
    double.say_directly(discord_user, &code);
    client.say(GW, "register sent=1").await;
    let said = gateway_says(&mut client, Duration::from_secs(70))
        .await
        .expect("an answer to the second step");
    assert!(said.contains("You are registered"), "{said}");
    (client, code)
}

/// Disco items of the guild: the rooms' JIDs.
async fn listed(client: &mut Client) -> Vec<String> {
    let guild = format!("guild-{}@{GW}", discord::GUILD_ID);
    let query = Element::builder("query", "http://jabber.org/protocol/disco#items").build();
    let items = result_payload(client.iq(&guild, false, query).await).unwrap();
    items
        .children()
        .filter_map(|i| i.attr("jid").map(str::to_owned))
        .collect()
}

/// A linked user sees only the channels their Discord account may see:
/// disco lists `#general` but not `#staff`, a join of `#staff` is refused
/// with item-not-found (the MUC `<x/>` in the error), and `#staff`'s
/// messages never reach her while `#general`'s do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_user_sees_only_the_channels_their_discord_user_may_see() {
    let setup = shared_setup(Double::start_shared().await.unwrap());
    let (mut carol, _) = link(&setup.prosody, &setup.double, "carol", discord::CAROL_ID).await;

    let rooms = listed(&mut carol).await;
    assert!(rooms.contains(&room_jid(discord::GENERAL_ID)), "{rooms:?}");
    assert!(!rooms.contains(&room_jid(discord::STAFF_ID)), "{rooms:?}");

    let staff: Jid = format!("{}/carol", room_jid(discord::STAFF_ID))
        .parse()
        .unwrap();
    let mut p = Presence::available().with_to(staff);
    p.payloads.push(Element::builder("x", MUC).build());
    carol.send(p).await;
    let refused = carol
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.from.as_ref().map(|f| f.to_bare().to_string())
                    == Some(room_jid(discord::STAFF_ID)) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(refused.type_, Type::Error, "{refused:?}");
    assert!(
        refused.payloads.iter().any(|e| e.is("x", MUC)),
        "{refused:?}"
    );
    let error = refused
        .payloads
        .iter()
        .find(|e| e.name() == "error")
        .cloned()
        .map(xmpp_parsers::stanza_error::StanzaError::try_from)
        .expect("an error")
        .unwrap();
    assert_eq!(error.defined_condition, DefinedCondition::ItemNotFound);

    join(&mut carol, discord::GENERAL_ID, "carol").await;
    setup
        .double
        .say(discord::STAFF_ID, discord::ALICE_ID, "staff only");
    setup
        .double
        .say(discord::GENERAL_ID, discord::ALICE_ID, "hello all");
    let body = carol
        .wait_for(|s| match s {
            Stanza::Message(m) if m.type_ == MessageType::Groupchat && !m.bodies.is_empty() => {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        body, "hello all",
        "the hidden channel's message reached carol"
    );
}

/// At debug, neither the shared bot's token nor a link code reaches the
/// gateway's log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_shared_token_nor_the_code_reaches_the_log() {
    let double = Double::start_shared().await.unwrap();
    let prosody = Prosody::start(&[(GW, SECRET)]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("switchboard.toml");
    std::fs::write(&config_path, shared_config(&prosody, &double, "debug")).unwrap();
    let log_path = dir.path().join("gateway.log");
    let mut child = std::process::Command::new(common::switchboard_bin())
        .arg("--config")
        .arg(&config_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let (mut carol, code) = link(&prosody, &double, "carol", discord::CAROL_ID).await;
    join(&mut carol, discord::GENERAL_ID, "carol").await;
    common::support::stop_child(&mut child, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("DEBUG"), "the log is at debug");
    assert!(log.contains("linked"), "the link is logged");
    assert!(!log.contains(discord::BOT_TOKEN), "the token is in the log");
    assert!(!log.contains(&code), "the code is in the log");
}

/// A measurement, not a check (run on demand): the gateway's RSS with the
/// shared bot in a guild of 5,000 members (250 listed) and 204 channels,
/// one linked user in a channel, then five (all linked to carol's
/// account: the double's members are few), and what each user past the
/// first costs: no gateway connection of their own, the guild state each.
/// `SWITCHBOARD_BIN=… cargo nextest run -p switchboard-e2e --test
/// discord_shared --run-ignored only --no-capture measure_rss_shared`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it on a release build"]
async fn measure_rss_shared() {
    let setup = shared_setup(Double::start_large(200, 248, 5000).await.unwrap());
    let pid = setup.gateway.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = rss(pid);
    let mut clients = Vec::new();
    let mut figures = Vec::new();
    for (i, name) in ["u1", "u2", "u3", "u4", "u5"].iter().enumerate() {
        let (mut client, _) = link(&setup.prosody, &setup.double, name, discord::CAROL_ID).await;
        join(&mut client, discord::GENERAL_ID, name).await;
        let text = format!("hello {i}");
        setup
            .double
            .say(discord::GENERAL_ID, discord::ALICE_ID, &text);
        loop {
            let body = client
                .wait_for(|s| match s {
                    Stanza::Message(m) if m.type_ == MessageType::Groupchat => {
                        m.get_best_body(vec![]).map(|(_, b)| b.clone())
                    }
                    _ => None,
                })
                .await;
            if body == text {
                break;
            }
        }
        clients.push(client);
        tokio::time::sleep(Duration::from_secs(2)).await;
        figures.push(rss(pid));
    }
    let (one, five) = (figures[0], figures[4]);
    println!(
        "shared bot: idle: RSS {} kB, anonymous {} kB; one linked user, a channel joined: RSS {} kB, anonymous {} kB; five: RSS {} kB, anonymous {} kB; each user past the first: RSS {} kB, anonymous {} kB",
        idle.0, idle.1, one.0, one.1, five.0, five.1,
        (five.0 as i64 - one.0 as i64) / 4, (five.1 as i64 - one.1 as i64) / 4,
    );
}

/// Two other XMPP users of the shared bot write in `#general` through its
/// one webhook, each under their nick: carol sees two occupants, `erin`
/// and `frank`, each message from its own, not one webhook author.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_name_through_the_shared_webhook_is_an_occupant_of_its_own() {
    let setup = shared_setup(Double::start_shared().await.unwrap());
    let (mut carol, _) = link(&setup.prosody, &setup.double, "carol", discord::CAROL_ID).await;
    join(&mut carol, discord::GENERAL_ID, "carol").await;
    let general = room_jid(discord::GENERAL_ID);
    for (name, text) in [
        ("erin", "from erin"),
        ("frank", "from frank"),
        ("erin", "erin again"),
    ] {
        setup
            .double
            .say_through_bot_webhook(discord::GENERAL_ID, name, text);
        let from = carol
            .wait_for(|s| match s {
                Stanza::Message(m)
                    if m.type_ == MessageType::Groupchat
                        && m.get_best_body(vec![]).map(|(_, b)| b.as_str()) == Some(text) =>
                {
                    m.from.clone()
                }
                _ => None,
            })
            .await;
        assert_eq!(from.to_string(), format!("{general}/{name}"), "{text}");
    }
}

/// Sends XEP-0444 reactions to the room's message `sid`, with this id.
async fn react(client: &mut Client, room: &str, id: &str, sid: &str, emoji: &[&str]) {
    let each: String = emoji
        .iter()
        .map(|e| format!("<reaction>{e}</reaction>"))
        .collect();
    let reactions = format!("<reactions xmlns='{REACTIONS}' id='{sid}'>{each}</reactions>");
    let mut m = xmpp_parsers::message::Message::groupchat(Some(room.parse().unwrap()));
    m.id = Some(xmpp_parsers::message::Id(id.to_owned()));
    m.payloads.push(reactions.parse().unwrap());
    client.send(m).await;
}

/// The reflection of the client's reactions `id`, from `from`: the set.
async fn reflected(client: &mut Client, from: &str, id: &str) -> Vec<String> {
    let from: Jid = from.parse().unwrap();
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.id.as_ref().is_some_and(|i| i.0 == id) =>
            {
                let r = m.payloads.iter().find(|p| p.is("reactions", REACTIONS))?;
                Some(r.children().map(Element::text).collect())
            }
            _ => None,
        })
        .await
}

const REACTIONS: &str = "urn:xmpp:reactions:0";

/// Two XMPP users of the shared bot react 👍 to the same message: each sees
/// their own reaction reflected as theirs; carol taking hers back leaves
/// the bot's 👍 on Discord (alice still wants it); alice's removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_taking_back_a_shared_reaction_leaves_the_others() {
    let setup = shared_setup(Double::start_shared().await.unwrap());
    let (mut alice, _) = link(&setup.prosody, &setup.double, "alice", discord::ALICE_ID).await;
    let (mut carol, _) = link(&setup.prosody, &setup.double, "carol", discord::CAROL_ID).await;
    let room = room_jid(discord::GENERAL_ID);
    let alice_jid = join(&mut alice, discord::GENERAL_ID, "alice")
        .await
        .to_string();
    let carol_jid = join(&mut carol, discord::GENERAL_ID, "carol")
        .await
        .to_string();
    let hi = setup
        .double
        .say(discord::GENERAL_ID, discord::DAVE_ID, "hi");
    let mut sids = Vec::new();
    for client in [&mut alice, &mut carol] {
        let sid = client
            .wait_for(|s| match s {
                Stanza::Message(m) if m.get_best_body(vec![]).is_some_and(|(_, b)| b == "hi") => m
                    .payloads
                    .iter()
                    .find(|p| p.is("stanza-id", "urn:xmpp:sid:0"))
                    .and_then(|p| p.attr("id").map(str::to_owned)),
                _ => None,
            })
            .await;
        sids.push(sid);
    }
    let on_discord = |method: &str| {
        let method = method.to_owned();
        let hi = hi.clone();
        move |r: &discord::Request| {
            r.method == method && r.path.contains(&format!("/messages/{hi}/reactions/"))
        }
    };
    react(&mut alice, &room, "a-1", &sids[0], &["👍"]).await;
    assert_eq!(reflected(&mut alice, &alice_jid, "a-1").await, ["👍"]);
    setup.double.wait_request(on_discord("PUT")).await;
    react(&mut carol, &room, "c-1", &sids[1], &["👍"]).await;
    assert_eq!(reflected(&mut carol, &carol_jid, "c-1").await, ["👍"]);
    react(&mut carol, &room, "c-2", &sids[1], &[]).await;
    assert!(reflected(&mut carol, &carol_jid, "c-2").await.is_empty());
    let delete = on_discord("DELETE");
    assert!(
        !setup.double.requests().iter().any(delete),
        "carol's removal took alice's 👍 off Discord"
    );
    react(&mut alice, &room, "a-2", &sids[0], &[]).await;
    assert!(reflected(&mut alice, &alice_jid, "a-2").await.is_empty());
    setup.double.wait_request(on_discord("DELETE")).await;
}

/// Carol, linked, writes to alice's contact JID: the shared bot DMs alice
/// with carol's name in bold in front; alice's answer comes back to
/// carol's client from alice's contact JID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_user_writes_to_a_discord_person_and_gets_the_answer() {
    let setup = shared_setup(Double::start_shared().await.unwrap());
    let (mut carol, _) = link(&setup.prosody, &setup.double, "carol", discord::CAROL_ID).await;
    join(&mut carol, discord::GENERAL_ID, "carol").await;
    let alice = discord_setup::contact_jid(discord::ALICE_ID);
    let mut m = xmpp_parsers::message::Message::chat(Some(alice.parse().unwrap()));
    m.bodies
        .insert(xmpp_parsers::message::Lang::new(), "hi alice".to_owned());
    carol.send(m).await;
    let dm = format!(
        "/api/v10/channels/{}/messages",
        discord::fixture::dm_channel_id(discord::ALICE_ID)
    );
    let posted = setup
        .double
        .wait_request(|r| r.method == "POST" && r.path == dm)
        .await;
    assert_eq!(posted.body["content"], "**carol**: hi alice");
    setup.double.say_directly(discord::ALICE_ID, "hi carol");
    let from: Jid = alice.parse().unwrap();
    let body = carol
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Chat
                    && m.from.as_ref().map(Jid::to_bare) == Some(from.to_bare()) =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(body, "hi carol");
}
