//! What happens to a message after it is sent: edits, deletes, reactions,
//! replies and typing. The REST routes the bridge calls (the bot's and its
//! webhooks' edits and deletes, the bot's own reactions, typing), each
//! answered and followed by the dispatch Discord sends for it, and the
//! dispatches for what Discord users do, with the payloads' fields as
//! Discord's gateway documentation lists them.

use serde_json::{json, Value};

use crate::{dispatch, fixture, Shared, State};

/// A 204 answer.
const NO_CONTENT: (&str, Value) = ("204 No Content", Value::Null);

fn not_found() -> (&'static str, Value) {
    (
        "404 Not Found",
        json!({ "message": "Unknown Message", "code": 10008 }),
    )
}

fn forbidden(message: &str, code: u32) -> (&'static str, Value) {
    ("403 Forbidden", json!({ "message": message, "code": code }))
}

/// The message as it is now (its last MESSAGE_CREATE or MESSAGE_UPDATE),
/// unless it was deleted.
pub(crate) fn find_message(state: &State, id: &str) -> Option<Value> {
    for (name, data) in state.log.iter().rev() {
        if data["id"] != id {
            continue;
        }
        match name.as_str() {
            "MESSAGE_DELETE" => return None,
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" => return Some(data.clone()),
            _ => {}
        }
    }
    None
}

/// The emoji object of a reaction route's `{emoji}`: percent-encoded
/// unicode, or `name:id` for a custom emoji.
fn emoji_of(encoded: &str) -> Value {
    let decoded = percent_decode(encoded);
    match decoded.split_once(':') {
        Some((name, id)) => json!({ "id": id, "name": name, "animated": false }),
        None => json!({ "id": null, "name": decoded }),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `guild_id` a dispatch about a message in `channel` carries (none in
/// a DM channel).
fn guild_of(channel: &str) -> Option<&'static str> {
    fixture::dm_user(channel)
        .is_none()
        .then_some(fixture::GUILD_ID)
}

/// Replaces a message's content (`edited_timestamp` set), dispatches
/// MESSAGE_UPDATE with the whole message, and answers with it.
fn edit(
    shared: &Shared,
    state: &mut State,
    mut message: Value,
    body: &Value,
) -> (&'static str, Value) {
    if let Some(content) = body.get("content") {
        message["content"] = content.clone();
    }
    message["edited_timestamp"] = json!("2026-12-02T13:05:00.000000+00:00");
    dispatch(shared, state, "MESSAGE_UPDATE", message.clone());
    ("200 OK", message)
}

/// Dispatches MESSAGE_DELETE (the id, channel and guild only).
fn delete(shared: &Shared, state: &mut State, channel: &str, id: &str) {
    let mut data = json!({ "id": id, "channel_id": channel });
    if let Some(guild) = guild_of(channel) {
        data["guild_id"] = json!(guild);
    }
    dispatch(shared, state, "MESSAGE_DELETE", data);
}

/// Whether the bot has the Mods role (Manage Messages) in the guild.
fn bot_moderates(shared: &Shared) -> bool {
    shared.guild["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["user"]["id"] == fixture::BOT_ID)
        .any(|m| {
            m["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == fixture::MODS_ROLE_ID))
        })
}

/// The bot's routes (authorized with its token) for messages after they
/// were sent; `None` for a route not of this module.
pub(crate) fn bot_route(
    shared: &Shared,
    state: &mut State,
    method: &str,
    segments: &[&str],
    body: &Value,
) -> Option<(&'static str, Value)> {
    Some(match (method, segments) {
        ("PATCH", ["channels", channel, "messages", id]) => {
            match find_message(state, id).filter(|m| m["channel_id"] == *channel) {
                None => not_found(),
                Some(m)
                    if m["author"]["id"] != fixture::BOT_ID || m.get("webhook_id").is_some() =>
                {
                    forbidden("Cannot edit a message authored by another user", 50005)
                }
                Some(m) => edit(shared, state, m, body),
            }
        }
        ("DELETE", ["channels", channel, "messages", id]) => {
            match find_message(state, id).filter(|m| m["channel_id"] == *channel) {
                None => not_found(),
                // Without Manage Messages (the Mods role), only its own.
                Some(m) if m["author"]["id"] != fixture::BOT_ID && !bot_moderates(shared) => {
                    forbidden("Missing Permissions", 50013)
                }
                Some(_) => {
                    delete(shared, state, channel, id);
                    NO_CONTENT
                }
            }
        }
        ("PUT" | "DELETE", ["channels", channel, "messages", id, "reactions", emoji, "@me"]) => {
            let Some(message) = find_message(state, id).filter(|m| m["channel_id"] == *channel)
            else {
                return Some(not_found());
            };
            let emoji = emoji_of(emoji);
            let add = method == "PUT";
            react(shared, state, &message, fixture::BOT_ID, emoji, add);
            NO_CONTENT
        }
        ("POST", ["channels", channel, "typing"]) => {
            start_typing(shared, state, channel, fixture::BOT_ID);
            NO_CONTENT
        }
        _ => return None,
    })
}

/// A webhook's routes for its own messages (`PATCH`, `DELETE`
/// `/webhooks/{id}/{token}/messages/{message}`, the token in the path).
pub(crate) fn webhook_route(
    shared: &Shared,
    state: &mut State,
    method: &str,
    segments: &[&str],
    body: &Value,
) -> Option<(&'static str, Value)> {
    let ["webhooks", hook, token, "messages", id] = segments else {
        return None;
    };
    if !state
        .webhooks
        .iter()
        .any(|w| w["id"] == *hook && w["token"] == *token)
    {
        return Some((
            "404 Not Found",
            json!({ "message": "Unknown Webhook", "code": 10015 }),
        ));
    }
    let Some(message) = find_message(state, id).filter(|m| m["webhook_id"] == *hook) else {
        return Some(not_found());
    };
    Some(match method {
        "PATCH" => edit(shared, state, message, body),
        "DELETE" => {
            let channel = message["channel_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            delete(shared, state, &channel, id);
            NO_CONTENT
        }
        _ => return None,
    })
}

/// `user` adds (or removes) `emoji` on `message`: MESSAGE_REACTION_ADD
/// (or _REMOVE) when it changes the message's reactions, nothing when not.
pub(crate) fn react(
    shared: &Shared,
    state: &mut State,
    message: &Value,
    user: &str,
    emoji: Value,
    add: bool,
) {
    let id = message["id"].as_str().unwrap_or_default().to_owned();
    let key = (id.clone(), user.to_owned(), emoji.to_string());
    let changed = if add {
        state.reactions.insert(key)
    } else {
        state.reactions.remove(&key)
    };
    if !changed {
        return;
    }
    let channel = message["channel_id"].as_str().unwrap_or_default();
    let mut data = json!({
        "user_id": user,
        "channel_id": channel,
        "message_id": id,
        "emoji": emoji,
        "burst": false,
        "type": 0
    });
    if let Some(guild) = guild_of(channel) {
        data["guild_id"] = json!(guild);
        if add {
            data["member"] = member(user);
        }
    }
    if add {
        data["message_author_id"] = message["author"]["id"].clone();
        data["burst_colors"] = json!([]);
    }
    let name = if add {
        "MESSAGE_REACTION_ADD"
    } else {
        "MESSAGE_REACTION_REMOVE"
    };
    dispatch(shared, state, name, data);
}

/// A guild member object for `user`.
fn member(user: &str) -> Value {
    json!({
        "user": fixture::user(user), "nick": null, "roles": [],
        "joined_at": "2025-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0
    })
}

/// Dispatches TYPING_START: `user` is typing in `channel`.
pub(crate) fn start_typing(shared: &Shared, state: &mut State, channel: &str, user: &str) {
    let mut data = json!({ "channel_id": channel, "user_id": user, "timestamp": 1_796_216_400u64 });
    if let Some(guild) = guild_of(channel) {
        data["guild_id"] = json!(guild);
        data["member"] = member(user);
    }
    dispatch(shared, state, "TYPING_START", data);
}

/// Removes every reaction of a message (`emoji` none) or those of one
/// emoji: MESSAGE_REACTION_REMOVE_ALL or MESSAGE_REACTION_REMOVE_EMOJI,
/// whose documented fields are the channel, guild, message (and emoji).
pub(crate) fn remove_reactions(
    shared: &Shared,
    state: &mut State,
    message: &Value,
    emoji: Option<Value>,
) {
    let id = message["id"].as_str().unwrap_or_default().to_owned();
    let key = emoji.as_ref().map(Value::to_string);
    state
        .reactions
        .retain(|(m, _, e)| *m != id || key.as_ref().is_some_and(|k| k != e));
    let channel = message["channel_id"].as_str().unwrap_or_default();
    let mut data = json!({ "channel_id": channel, "message_id": id });
    if let Some(guild) = guild_of(channel) {
        data["guild_id"] = json!(guild);
    }
    let name = match emoji {
        Some(emoji) => {
            data["emoji"] = emoji;
            "MESSAGE_REACTION_REMOVE_EMOJI"
        }
        None => "MESSAGE_REACTION_REMOVE_ALL",
    };
    dispatch(shared, state, name, data);
}

/// The emoji object for a test's emoji: unicode, or `name:id` of a custom one.
pub(crate) fn emoji(text: &str) -> Value {
    emoji_of(text)
}

/// Makes `message` a reply to `to` (type 19, `message_reference` and
/// `referenced_message`), as Discord sends one.
pub(crate) fn make_reply(message: &mut Value, to: &Value) {
    message["type"] = json!(19);
    let mut reference = json!({
        "type": 0,
        "message_id": to["id"],
        "channel_id": to["channel_id"],
    });
    if let Some(guild) = to.get("guild_id") {
        reference["guild_id"] = guild.clone();
    }
    message["message_reference"] = reference;
    message["referenced_message"] = to.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_in_a_path_are_decoded() {
        assert_eq!(
            emoji_of("%F0%9F%91%8D"),
            json!({ "id": null, "name": "👍" })
        );
        assert_eq!(
            emoji_of("ferris%3A77"),
            json!({ "id": "77", "name": "ferris", "animated": false })
        );
    }
}
