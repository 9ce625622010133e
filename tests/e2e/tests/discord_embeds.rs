//! Stickers and embeds from Discord in a real XMPP client through
//! Prosody: a message of only a sticker, or of only a bot's embed (fields
//! as Discord's documentation lists them), shows as readable text; none
//! is markable (XEP-0333), as Discord keeps no read state for bots. Said
//! back to back, the two reach the bridge in either order (serenity hands
//! each dispatch to a task of its own): both arrive.

mod common;
#[path = "common/discord.rs"]
mod discord_setup;

use discord_setup::{join, registered, room_jid, setup};
use switchboard_discord_double as discord;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::MessageType;

const MARKERS: &str = "urn:xmpp:chat-markers:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stickers_and_embeds_show_as_text() {
    let setup = setup().await;
    let mut alice = registered(&setup, "alice").await;
    join(&mut alice, discord::GENERAL_ID, "alice").await;
    let room: Jid = room_jid(discord::GENERAL_ID).parse().unwrap();
    let sticker = serde_json::json!({
        "sticker_items": [{ "id": "749054660769218631", "name": "Wave", "format_type": 1 }]
    });
    setup
        .double
        .say_with(discord::GENERAL_ID, discord::DAVE_ID, "", sticker);
    let embed = serde_json::json!({
        "embeds": [{
            "title": "Release 1.4", "type": "rich", "description": "Faster joins",
            "url": "https://example.org/releases/1.4", "color": 5814783, "fields": []
        }]
    });
    setup
        .double
        .say_with(discord::GENERAL_ID, discord::DAVE_ID, "", embed);
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        let body = alice
            .wait_for(|s| match s {
                Stanza::Message(m)
                    if m.type_ == MessageType::Groupchat
                        && m.from.as_ref().is_some_and(|f| {
                            f.to_bare() == room.to_bare() && f.resource().is_some()
                        }) =>
                {
                    // Discord has no read state for bots: nothing markable.
                    assert!(
                        !m.payloads.iter().any(|p| p.is("markable", MARKERS)),
                        "{m:?}"
                    );
                    m.bodies.values().next().cloned()
                }
                _ => None,
            })
            .await;
        bodies.push(body);
    }
    assert_eq!(
        bodies,
        [
            "[sticker: Wave]",
            "> Release 1.4\n> Faster joins\n> https://example.org/releases/1.4"
        ]
    );
}
