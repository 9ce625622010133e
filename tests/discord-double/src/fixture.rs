//! The double's one guild, its people and its payloads, with the fields of
//! Discord's v10 objects (user, guild, channel, message) as documented.

use serde_json::{json, Value};

/// The bot's user id.
pub const BOT_ID: &str = "1000";
/// The other member GUILD_CREATE lists.
pub const ALICE_ID: &str = "4001";
/// The guild's owner (not listed among the members).
pub const OWNER_ID: &str = "4000";
/// A role that may manage messages (alice has it).
pub const MODS_ROLE_ID: &str = "2100";
/// The bot's own role, which Discord makes when the bot is invited with
/// the permissions it asks for (the bot has it).
pub const BOT_ROLE_ID: &str = "2300";
/// The permissions the bot is invited with: view channels (1 << 10), send
/// messages (1 << 11), manage webhooks (1 << 29), add reactions (1 << 6),
/// attach files (1 << 15), read message history (1 << 16).
const BOT_PERMISSIONS: &str = "536972352";
/// A member GUILD_CREATE does not list (as in a large guild): she appears
/// as she speaks.
pub const CAROL_ID: &str = "4002";
/// A member GUILD_CREATE does not list, with an avatar: he appears as he
/// speaks.
pub const DAVE_ID: &str = "4005";
/// Dave's avatar hash.
pub const DAVE_AVATAR: &str = "0123456789abcdef0123456789abcdef";
/// The guild.
pub const GUILD_ID: &str = "2000";
/// The guild's name.
pub const GUILD_NAME: &str = "Ferris Guild";
/// A text channel, `#general`, with a topic.
pub const GENERAL_ID: &str = "3001";
/// An announcement channel, `#announcements`.
pub const ANNOUNCEMENTS_ID: &str = "3002";
/// A public thread in `#general`, `ideas`.
pub const THREAD_ID: &str = "3101";
/// A voice channel: no room.
pub const VOICE_ID: &str = "3003";
/// A text channel, `#random`, without a topic.
pub const RANDOM_ID: &str = "3004";
/// A text channel, `#staff`, in [`shared_guild`] only: hidden from
/// @everyone by an overwrite, shown to the Mods role by another.
pub const STAFF_ID: &str = "3006";

/// Dave's avatar as the CDN serves it: a PNG signature and 1,500 bytes
/// that are not all alike.
pub fn avatar_png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..1500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    bytes
}

/// A user object: the bot, `alice` (global name `Alice Liddell`),
/// `carol` (none) or `dave` (none, and the one with an avatar).
pub fn user(id: &str) -> Value {
    let (name, global, bot) = match id {
        BOT_ID => ("switchbot", None, true),
        CAROL_ID => ("carol", None, false),
        DAVE_ID => ("dave", None, false),
        _ => ("alice", Some("Alice Liddell"), false),
    };
    let avatar = (id == DAVE_ID).then_some(DAVE_AVATAR);
    json!({
        "id": id,
        "username": name,
        "discriminator": "0",
        "global_name": global,
        "avatar": avatar,
        "bot": bot,
        "public_flags": 0
    })
}

/// A role object.
fn role(id: &str, name: &str, permissions: &str) -> Value {
    json!({
        "id": id, "name": name, "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false, "icon": null, "unicode_emoji": null, "position": 0,
        "permissions": permissions, "managed": false, "mentionable": false, "flags": 0
    })
}

/// The bot's role (managed: Discord gives it to the bot alone).
fn bot_role() -> Value {
    let mut bot = role(BOT_ROLE_ID, "switchbot", BOT_PERMISSIONS);
    bot["managed"] = json!(true);
    bot["tags"] = json!({ "bot_id": BOT_ID });
    bot
}

/// The guild with the bot a moderator (in the Mods role) whose own
/// permissions channel overwrites narrow: in `#random` a member overwrite
/// denies it Manage Messages (1 << 13) and Manage Webhooks (1 << 29);
/// `#staff` (hidden from @everyone, shown to Mods) denies it View Channel
/// by a member overwrite, which wins over its role's allow.
pub fn bot_limited_guild() -> Value {
    let mut guild = shared_guild();
    for member in guild["members"].as_array_mut().unwrap() {
        if member["user"]["id"] == BOT_ID {
            member["roles"] = json!([BOT_ROLE_ID, MODS_ROLE_ID]);
        }
    }
    for channel in guild["channels"].as_array_mut().unwrap() {
        // Overwrite type 1 is a member.
        if channel["id"] == RANDOM_ID {
            channel["permission_overwrites"] =
                json!([{ "id": BOT_ID, "type": 1, "allow": "0", "deny": "536879104" }]);
        } else if channel["id"] == STAFF_ID {
            let own = json!({ "id": BOT_ID, "type": 1, "allow": "0", "deny": "1024" });
            channel["permission_overwrites"]
                .as_array_mut()
                .unwrap()
                .push(own);
        }
    }
    guild
}

/// The `#general` channel with another topic (CHANNEL_UPDATE's data).
pub fn general_with_topic(topic: &str) -> Value {
    channel(GENERAL_ID, 0, "general", 0, Some(topic))
}

/// The `#general` channel with these permission overwrites
/// (CHANNEL_UPDATE's data).
pub fn general_with_overwrites(overwrites: Value) -> Value {
    let mut general = channel(GENERAL_ID, 0, "general", 0, Some("Talk about Ferris"));
    general["permission_overwrites"] = overwrites;
    general
}

/// A public thread object (type 11) in `parent`.
fn thread(id: &str, parent: &str, name: &str) -> Value {
    json!({
        "id": id,
        "type": 11,
        "guild_id": GUILD_ID,
        "parent_id": parent,
        "owner_id": ALICE_ID,
        "name": name,
        "last_message_id": null,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2026-12-01T00:00:00.000000+00:00",
            "locked": false
        },
        "flags": 0
    })
}

/// A guild channel object.
fn channel(id: &str, kind: u8, name: &str, position: u16, topic: Option<&str>) -> Value {
    json!({
        "id": id,
        "type": kind,
        "guild_id": GUILD_ID,
        "position": position,
        "permission_overwrites": [],
        "name": name,
        "topic": topic,
        "nsfw": false,
        "last_message_id": null,
        "parent_id": null,
        "rate_limit_per_user": 0,
        "flags": 0
    })
}

/// The guild for shared-bot mode: [`guild`] and `#staff`, whose
/// overwrites deny VIEW_CHANNEL to @everyone and allow it to Mods (alice
/// sees it, carol does not).
pub fn shared_guild() -> Value {
    let mut guild = guild();
    let mut staff = channel(STAFF_ID, 0, "staff", 4, Some("Mods only"));
    // VIEW_CHANNEL is 1 << 10; overwrite type 0 is a role.
    staff["permission_overwrites"] = json!([
        { "id": GUILD_ID, "type": 0, "allow": "0", "deny": "1024" },
        { "id": MODS_ROLE_ID, "type": 0, "allow": "1024", "deny": "0" }
    ]);
    guild["channels"].as_array_mut().unwrap().push(staff);
    guild
}

/// A guild member object (`GET /guilds/{id}/members/{user}`) of the
/// guild's people: alice with the Mods role, carol and dave with none;
/// `None` for anyone else (not a member).
pub fn member(id: &str) -> Option<Value> {
    let roles: &[&str] = match id {
        ALICE_ID => &[MODS_ROLE_ID],
        CAROL_ID | DAVE_ID => &[],
        BOT_ID => &[BOT_ROLE_ID],
        _ => return None,
    };
    Some(json!({
        "user": user(id), "nick": null, "avatar": null, "roles": roles,
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "premium_since": null,
        "deaf": false, "mute": false, "flags": 0, "pending": false
    }))
}

/// The guild made large: `channels` more text channels (`#chan-N`), `listed`
/// more members in GUILD_CREATE (Discord lists at most the identify's
/// `large_threshold`, 250, of a large guild), `total` members in all.
pub fn large_guild(channels: usize, listed: usize, total: u64) -> Value {
    let mut guild = guild();
    let list = guild["channels"].as_array_mut().unwrap();
    for i in 0..channels {
        let id = (10_000 + i).to_string();
        let topic = format!("Topic of channel {i}");
        list.push(channel(
            &id,
            0,
            &format!("chan-{i}"),
            10 + i as u16,
            Some(&topic),
        ));
    }
    let members = guild["members"].as_array_mut().unwrap();
    for i in 0..listed {
        let id = (20_000 + i).to_string();
        members.push(json!({
            "user": { "id": id, "username": format!("user{i}"), "discriminator": "0",
                      "global_name": format!("User {i}"), "avatar": null, "public_flags": 0 },
            "nick": null, "roles": [], "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0
        }));
    }
    guild["member_count"] = json!(total);
    guild["large"] = json!(true);
    guild
}

/// The READY dispatch's data.
pub fn ready(session_id: &str, resume_url: &str) -> Value {
    json!({
        "v": 10,
        "user": user(BOT_ID),
        "guilds": [{ "id": GUILD_ID, "unavailable": true }],
        "session_id": session_id,
        "resume_gateway_url": resume_url,
        "shard": [0, 1],
        "application": { "id": BOT_ID, "flags": 0 }
    })
}

/// The GUILD_CREATE dispatch's data: the guild with its channels and members.
pub fn guild() -> Value {
    json!({
        "id": GUILD_ID,
        "name": GUILD_NAME,
        "icon": null,
        "splash": null,
        "discovery_splash": null,
        "owner_id": OWNER_ID,
        "afk_channel_id": null,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [
            role(GUILD_ID, "@everyone", "1071698660928"),
            // MANAGE_MESSAGES (1 << 13) among others.
            role(MODS_ROLE_ID, "Mods", "1071698669120"),
            bot_role()
        ],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": null,
        "system_channel_id": GENERAL_ID,
        "system_channel_flags": 0,
        "rules_channel_id": null,
        "vanity_url_code": null,
        "description": null,
        "banner": null,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": false,
        "safety_alerts_channel_id": null,
        "joined_at": "2026-01-01T00:00:00.000000+00:00",
        "large": false,
        "unavailable": false,
        "member_count": 2,
        "voice_states": [],
        "members": [
            { "user": user(ALICE_ID), "nick": null, "roles": [MODS_ROLE_ID], "joined_at": "2025-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0 },
            { "user": user(BOT_ID), "nick": null, "roles": [BOT_ROLE_ID], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0 }
        ],
        "channels": [
            channel(GENERAL_ID, 0, "general", 0, Some("Talk about Ferris")),
            channel(ANNOUNCEMENTS_ID, 5, "announcements", 1, None),
            channel(VOICE_ID, 2, "Lounge", 2, None),
            channel(RANDOM_ID, 0, "random", 3, None)
        ],
        "threads": [thread(THREAD_ID, GENERAL_ID, "ideas")],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": []
    })
}

/// The direct-message channel of the bot with this user (type 1).
pub fn dm_channel_id(user: &str) -> String {
    format!("5{user}")
}

/// The user a direct-message channel is with, if it is one.
pub fn dm_user(channel: &str) -> Option<&str> {
    channel.strip_prefix('5').filter(|_| channel.len() == 5)
}

/// A DM channel object, as `POST /users/@me/channels` answers.
pub fn dm_channel(user: &str) -> Value {
    json!({
        "id": dm_channel_id(user),
        "type": 1,
        "last_message_id": null,
        "recipients": [crate::fixture::user(user)]
    })
}

/// A message object (MESSAGE_CREATE's data, a POST's answer); in a
/// direct-message channel it has no `guild_id`.
pub fn message(
    id: &str,
    channel: &str,
    author: &Value,
    content: &str,
    nonce: Option<&Value>,
) -> Value {
    let mut message = json!({
        "id": id,
        "channel_id": channel,
        "guild_id": GUILD_ID,
        "author": author,
        "content": content,
        "timestamp": "2026-12-02T13:00:00.000000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "nonce": nonce,
        "pinned": false,
        "type": 0,
        "flags": 0
    });
    if dm_user(channel).is_some() {
        message.as_object_mut().unwrap().remove("guild_id");
    }
    message
}
