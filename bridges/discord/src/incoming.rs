//! A Discord message as the core's [`Message`]: mentions as names, markdown
//! as XEP-0393, the user's own echo matched by its nonce.

use std::time::{Duration, SystemTime};

use serenity::model::channel::Message as DiscordMessage;
use serenity::model::channel::MessageType;
use serenity::model::event::MessageUpdateEvent;
use serenity::model::user::User;
use switchboard_bridge_api::{Attachment, Event, Message, MessageKind, Target, Token};

use crate::guilds::Guilds;
use crate::markdown;

/// The display name of a message's author: their guild nick, else their
/// global name, else their username.
pub(crate) fn author_name(message: &DiscordMessage) -> String {
    message
        .member
        .as_ref()
        .and_then(|m| m.nick.clone())
        .unwrap_or_else(|| message.author.display_name().to_owned())
}

/// `<@id>`, `<@!id>`, `<@&id>` and `<#id>` written as `@name`, `@role` and
/// `#channel`, custom emoji `<:name:id>` (`<a:name:id>` animated) as
/// `:name:`; unknown ones are left as they are.
pub(crate) fn names_for_mentions(
    text: &str,
    guild: Option<u64>,
    mentions: &[User],
    guilds: &Guilds,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let Some(end) = tail.find('>') else {
            out.push_str(tail);
            return out;
        };
        let inner = &tail[1..end];
        let name = mention_name(inner, mentions, guild, guilds);
        match name {
            Some(name) => out.push_str(&name),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

fn mention_name(
    inner: &str,
    mentions: &[User],
    guild: Option<u64>,
    guilds: &Guilds,
) -> Option<String> {
    if let Some(role) = inner.strip_prefix("@&") {
        let role: u64 = role.parse().ok()?;
        return Some(format!("@{}", guilds.role_name(guild?, role)?));
    }
    if let Some(user) = inner.strip_prefix('@') {
        let user: u64 = user.trim_start_matches('!').parse().ok()?;
        let listed = guild.and_then(|g| guilds.member_name(g, user));
        let mentioned = mentions
            .iter()
            .find(|u| u.id.get() == user)
            .map(|u| u.display_name());
        return Some(format!("@{}", listed.or(mentioned)?));
    }
    if let Some(emoji) = inner.strip_prefix("a:").or_else(|| inner.strip_prefix(':')) {
        let (name, id) = emoji.split_once(':')?;
        let plausible = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && id.parse::<u64>().is_ok();
        return plausible.then(|| format!(":{name}:"));
    }
    if let Some(channel) = inner.strip_prefix('#') {
        let channel: u64 = channel.parse().ok()?;
        return Some(format!("#{}", guilds.channel_name(channel)?));
    }
    None
}

/// The core's message for a Discord one in `target`; `token` is set on the
/// user's own echo (matched by nonce), `own` when the bot wrote it.
pub(crate) fn message(
    message: &DiscordMessage,
    target: Target,
    guilds: &Guilds,
    own: bool,
    token: Option<Token>,
) -> Message {
    let guild = message.guild_id.map(|g| g.get());
    let text = names_for_mentions(&message.content, guild, &message.mentions, guilds);
    let text = markdown::to_styling(&text);
    let text = crate::extras::with_extras(
        text,
        &message.content,
        &message.sticker_items,
        &message.embeds,
    );
    let timestamp = SystemTime::UNIX_EPOCH
        + Duration::from_secs(message.timestamp.unix_timestamp().max(0) as u64);
    let id = message.id.to_string();
    Message {
        id: id.clone().into(),
        target,
        author: message.author.id.to_string().into(),
        author_nick: author_name(message),
        text,
        kind: if message.kind == MessageType::Regular || message.kind == MessageType::InlineReply {
            MessageKind::Normal
        } else {
            MessageKind::Notice
        },
        reply_to: reply_to(message).map(|m| m.to_string().into()),
        attachments: message
            .attachments
            .iter()
            .map(|a| Attachment {
                url: a.url.clone(),
                name: Some(a.filename.clone()),
                media_type: a.content_type.clone(),
                size: Some(u64::from(a.size)),
                // Discord's CDN URLs are signed: anyone holding one may fetch it.
                needs_credentials: false,
                sha256: None,
            })
            .collect(),
        timestamp: Some(timestamp),
        own,
        parts: if token.is_some() {
            vec![id.into()]
        } else {
            vec![]
        },
        token,
    }
}

/// The message a reply (type 19) answers: its `message_reference`, else
/// its `referenced_message`. Other references (a forward, a pin's notice,
/// a crosspost) are no replies.
fn reply_to(message: &DiscordMessage) -> Option<u64> {
    if message.kind != MessageType::InlineReply {
        return None;
    }
    message
        .message_reference
        .as_ref()
        .and_then(|r| r.message_id)
        .or_else(|| message.referenced_message.as_ref().map(|m| m.id))
        .map(|m| m.get())
}

/// MESSAGE_UPDATE as an edit in `target`: the new text (mentions as names,
/// markdown as XEP-0393) with its author, or `None` when the update carries
/// no text or no author (Discord sends one when it adds a link's embed).
pub(crate) fn edit(update: &MessageUpdateEvent, target: Target, guilds: &Guilds) -> Option<Event> {
    let (Some(content), Some(author)) = (&update.content, &update.author) else {
        return None;
    };
    let guild = update.guild_id.map(|g| g.get());
    let mentions = update.mentions.as_deref().unwrap_or_default();
    let text = markdown::to_styling(&names_for_mentions(content, guild, mentions, guilds));
    let author_nick = update
        .member
        .as_ref()
        .and_then(|m| m.as_ref())
        .and_then(|m| m.nick.clone())
        .or_else(|| guild.and_then(|g| guilds.member_name(g, author.id.get()).map(str::to_owned)))
        .unwrap_or_else(|| author.display_name().to_owned());
    Some(Event::Edited {
        target,
        message: update.id.to_string().into(),
        author: author.id.to_string().into(),
        author_nick,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A message with a `message_reference` of this `type`, itself of `kind`.
    fn referencing(kind: u8, reference_type: u8) -> DiscordMessage {
        serde_json::from_value(json!({
            "id": "9", "channel_id": "3001", "guild_id": "2000",
            "author": { "id": "4001", "username": "alice", "discriminator": "0", "global_name": null, "avatar": null },
            "content": "hi", "timestamp": "2026-12-02T13:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": kind, "flags": 0,
            "message_reference": { "type": reference_type, "message_id": "8", "channel_id": "3001", "guild_id": "2000" }
        }))
        .unwrap()
    }

    #[test]
    fn only_a_reply_replies() {
        let guilds = Guilds::default();
        let target = || Target::Room("3001".into());
        let reply = message(&referencing(19, 0), target(), &guilds, false, None);
        assert_eq!(reply.reply_to.as_ref().map(|m| m.as_str()), Some("8"));
        let forward = message(&referencing(0, 1), target(), &guilds, false, None);
        assert_eq!(forward.reply_to, None, "a forward is no reply");
    }
}
