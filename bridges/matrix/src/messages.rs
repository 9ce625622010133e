//! Room messages both ways: a timeline event as the contract's
//! [`Message`], and the transaction ids that carry a command's token to
//! its echo (`unsigned.transaction_id`), so the echo is known after a
//! restart too.

use std::time::{Duration, UNIX_EPOCH};

use switchboard_bridge_api::{Message, MessageId, MessageKind, RoomId, Target, Token, UserId};

use reqwest::Url;

use crate::api::{text_field, RoomEvent};
use crate::html::formatted_text;
use crate::media_in::{is_media, media_of, Media};
use crate::rooms::Room;

/// What stands for a message that cannot be read (encrypted).
const ENCRYPTED: &str = "[an encrypted message Switchboard cannot read]";

/// What stands for a file whose URI is not an `mxc://` one.
const UNFETCHABLE: &str = "[a file Switchboard cannot fetch]";

/// The contract's message for a timeline event, if it is one: `m.text`,
/// `m.notice` and `m.emote` (others by their text body); files (`m.image`,
/// `m.file`, `m.video`, `m.audio`, `m.sticker`) as attachments to fetch
/// from the homeserver at `base` (`media_in.rs`), their caption as text;
/// an encrypted one as a short placeholder. Edits (`m.replace`) are not
/// messages of their own.
pub fn message_of(
    event: &RoomEvent,
    room: &Room,
    core: RoomId,
    own: &str,
    base: &Url,
) -> Option<Message> {
    let content = &event.content;
    let is_own = event.sender == own;
    let token = if is_own { own_token(event) } else { None };
    let mut attachments = Vec::new();
    let (text, kind, reply_to) = match event.kind.as_str() {
        "m.room.message" | "m.sticker" => {
            let relation = content.get("m.relates_to");
            if relation.and_then(|r| text_field(r, "rel_type")) == Some("m.replace") {
                return None;
            }
            let reply_to = relation
                .and_then(|r| r.get("m.in_reply_to"))
                .and_then(|r| text_field(r, "event_id"))
                .map(MessageId::from);
            if is_media(&event.kind, content) {
                let (caption, unreadable) = match media_of(content, base) {
                    Media::File {
                        attachment,
                        caption,
                    } => {
                        attachments.push(attachment);
                        (caption, None)
                    }
                    Media::Unreadable { caption } if content.get("file").is_some() => {
                        (caption, Some(ENCRYPTED))
                    }
                    Media::Unreadable { caption } => (caption, Some(UNFETCHABLE)),
                };
                // A caption's HTML says more, as a text's does.
                let caption = caption.map(|plain| {
                    let html = token.is_none().then(|| formatted_text(content, room));
                    html.flatten().unwrap_or_else(|| {
                        let plain = if reply_to.is_some() {
                            strip_reply_fallback(plain)
                        } else {
                            plain
                        };
                        plain.to_owned()
                    })
                });
                let text = match (unreadable, caption) {
                    (Some(placeholder), Some(caption)) => format!("{placeholder}\n{caption}"),
                    (Some(placeholder), None) => placeholder.to_owned(),
                    (None, caption) => caption.unwrap_or_default(),
                };
                (text, MessageKind::Normal, reply_to)
            } else {
                let body = text_field(content, "body")?;
                let kind = match text_field(content, "msgtype") {
                    Some("m.emote") => MessageKind::Action,
                    Some("m.notice") => MessageKind::Notice,
                    _ => MessageKind::Normal,
                };
                // The HTML says more (styling, pills) and its reply fallback
                // (`<mx-reply>`) is dropped with it; the echo of what the user
                // sent from XMPP keeps the text as they wrote it.
                let html = token.is_none().then(|| formatted_text(content, room));
                let text = html.flatten().unwrap_or_else(|| {
                    let text = if reply_to.is_some() {
                        strip_reply_fallback(body)
                    } else {
                        body
                    };
                    text.to_owned()
                });
                (text, kind, reply_to)
            }
        }
        "m.room.encrypted" => (ENCRYPTED.to_owned(), MessageKind::Notice, None),
        _ => return None,
    };
    let id = MessageId::from(event.event_id.as_str());
    Some(Message {
        parts: if token.is_some() {
            vec![id.clone()]
        } else {
            vec![]
        },
        id,
        target: Target::Room(core),
        author: UserId::from(event.sender.as_str()),
        author_nick: room.nick_of(&event.sender).to_owned(),
        text,
        kind,
        reply_to,
        attachments,
        timestamp: event
            .origin_server_ts
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        own: is_own,
        token,
    })
}

/// The token of an event this session sent (its transaction id carries one).
pub(crate) fn own_token(event: &RoomEvent) -> Option<Token> {
    event
        .unsigned
        .transaction_id
        .as_deref()
        .and_then(token_of_txn)
}

/// A reply's body without its quoted fallback (`> <@bob:hs> …` lines and
/// the blank line after them).
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    let mut rest = body;
    while rest.starts_with('>') {
        match rest.find('\n') {
            Some(end) => rest = &rest[end + 1..],
            None => return body,
        }
    }
    rest.strip_prefix('\n').unwrap_or(rest)
}

/// A transaction id for a command's token: unique in the session by
/// `prefix` and `serial`, the token after the dot in hex.
pub fn txn_for(prefix: &str, serial: u64, token: &Token) -> String {
    let mut txn = format!("{prefix}-{serial}.");
    for byte in token.as_bytes() {
        txn.push_str(&format!("{byte:02x}"));
    }
    txn
}

/// The token a transaction id of [`txn_for`] carries.
pub fn token_of_txn(txn: &str) -> Option<Token> {
    let hex = txn.strip_prefix("sb")?.split_once('.')?.1;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: serde_json::Value) -> RoomEvent {
        serde_json::from_value(value).unwrap()
    }

    fn base() -> Url {
        Url::parse("https://hs.example/").unwrap()
    }

    #[test]
    fn tokens_survive_the_transaction_id() {
        let token = "msg/1 é".to_owned();
        let txn = txn_for("sb1700000000000", 7, &token);
        assert!(txn.is_ascii() && !txn.contains('/'), "{txn}");
        assert_eq!(token_of_txn(&txn), Some(token));
        assert_eq!(token_of_txn("m1234.5678"), None);
        assert_eq!(token_of_txn("sb1-2.4"), None);
    }

    #[test]
    fn texts_notices_and_emotes_become_messages_and_echoes_carry_the_token() {
        let room = Room::default();
        let core = RoomId::from("#r:hs");
        let txn = txn_for("sb1", 1, &"c1".to_owned());
        let own = event(json!({
            "type": "m.room.message", "sender": "@me:hs", "event_id": "$1",
            "origin_server_ts": 1000,
            "content": {"msgtype": "m.emote", "body": "waves"},
            "unsigned": {"transaction_id": txn}
        }));
        let m = message_of(&own, &room, core.clone(), "@me:hs", &base()).unwrap();
        assert_eq!(m.kind, MessageKind::Action);
        assert!(m.own);
        assert_eq!(m.token.as_deref(), Some("c1"));
        assert_eq!(m.parts, vec![MessageId::from("$1")]);
        assert_eq!(m.author_nick, "me");

        let notice = event(json!({
            "type": "m.room.message", "sender": "@bot:hs", "event_id": "$2",
            "content": {"msgtype": "m.notice", "body": "beep"}
        }));
        let m = message_of(&notice, &room, core.clone(), "@me:hs", &base()).unwrap();
        assert_eq!((m.kind, m.own, m.token), (MessageKind::Notice, false, None));

        let edit = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$3",
            "content": {"msgtype": "m.text", "body": "* fixed",
                        "m.relates_to": {"rel_type": "m.replace", "event_id": "$2"}}
        }));
        assert!(message_of(&edit, &room, core.clone(), "@me:hs", &base()).is_none());
        let member = event(
            json!({"type": "m.room.member", "sender": "@b:hs", "state_key": "@b:hs",
                                  "content": {"membership": "join"}}),
        );
        assert!(message_of(&member, &room, core, "@me:hs", &base()).is_none());
    }

    #[test]
    fn html_bodies_are_read_as_styled_text_with_nicks() {
        let mut room = Room::default();
        room.members.insert("@me:hs".into(), "Me Myself".into());
        let reply = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$4",
            "content": {"msgtype": "m.text",
                        "body": "> <@x:hs> q\n\n**yes** me",
                        "format": "org.matrix.custom.html",
                        "formatted_body": "<mx-reply><blockquote>q</blockquote></mx-reply>\
                            <strong>yes</strong> <a href=\"https://matrix.to/#/@me:hs\">me</a>",
                        "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}}
        }));
        let m = message_of(&reply, &room, RoomId::from("#r:hs"), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, "*yes* Me Myself");
        assert_eq!(m.reply_to, Some(MessageId::from("$1")));
        // The echo of a text sent from XMPP is shown as it was written.
        let echo = event(json!({
            "type": "m.room.message", "sender": "@me:hs", "event_id": "$5",
            "content": {"msgtype": "m.text", "body": "@bob *hi*",
                        "format": "org.matrix.custom.html",
                        "formatted_body": "<a href=\"https://matrix.to/#/@bob:hs\">bob</a> \
                            <strong>hi</strong>"},
            "unsigned": {"transaction_id": txn_for("sb1", 2, &"c2".to_owned())}
        }));
        let m = message_of(&echo, &room, RoomId::from("#r:hs"), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, "@bob *hi*");
    }

    #[test]
    fn files_become_attachments_with_their_caption_as_text() {
        let room = Room::default();
        let core = RoomId::from("#r:hs");
        let image = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$i",
            "content": {"msgtype": "m.image", "body": "summit.png",
                        "url": "mxc://hs/abc", "info": {"mimetype": "image/png", "size": 5}}
        }));
        let m = message_of(&image, &room, core.clone(), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, "");
        assert_eq!(m.attachments.len(), 1);
        let file = &m.attachments[0];
        assert_eq!(
            file.url,
            "https://hs.example/_matrix/client/v1/media/download/hs/abc"
        );
        assert_eq!(
            (file.name.as_deref(), file.size, file.needs_credentials),
            (Some("summit.png"), Some(5), true)
        );

        // A caption (styled), in reply to the image.
        let captioned = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$f",
            "content": {"msgtype": "m.file", "filename": "minutes.pdf",
                        "body": "the **minutes**", "format": "org.matrix.custom.html",
                        "formatted_body": "the <strong>minutes</strong>",
                        "url": "mxc://hs/def",
                        "m.relates_to": {"m.in_reply_to": {"event_id": "$i"}}}
        }));
        let m = message_of(&captioned, &room, core.clone(), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, "the *minutes*");
        assert_eq!(m.reply_to, Some(MessageId::from("$i")));
        assert_eq!(m.attachments[0].name.as_deref(), Some("minutes.pdf"));

        // Stickers are images; no msgtype.
        let sticker = event(json!({
            "type": "m.sticker", "sender": "@bob:hs", "event_id": "$s",
            "content": {"body": "a cat", "url": "mxc://hs/cat",
                        "info": {"mimetype": "image/webp"}}
        }));
        let m = message_of(&sticker, &room, core.clone(), "@me:hs", &base()).unwrap();
        assert_eq!(m.attachments[0].name.as_deref(), Some("a cat"));
        assert_eq!(m.attachments[0].media_type.as_deref(), Some("image/webp"));
    }

    #[test]
    fn encrypted_files_are_a_placeholder_not_silence() {
        let room = Room::default();
        let encrypted = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$x",
            "content": {"msgtype": "m.video", "body": "clip.mp4",
                        "file": {"url": "mxc://hs/enc", "v": "v2"}}
        }));
        let m = message_of(&encrypted, &room, RoomId::from("#r:hs"), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, ENCRYPTED);
        assert!(m.attachments.is_empty());
        let odd = event(json!({
            "type": "m.room.message", "sender": "@bob:hs", "event_id": "$y",
            "content": {"msgtype": "m.file", "body": "look", "filename": "x.bin",
                        "url": "https://elsewhere.example/x.bin"}
        }));
        let m = message_of(&odd, &room, RoomId::from("#r:hs"), "@me:hs", &base()).unwrap();
        assert_eq!(m.text, format!("{UNFETCHABLE}\nlook"));
        assert!(m.attachments.is_empty());
    }

    #[test]
    fn replies_lose_their_quoted_fallback() {
        let body = "> <@bob:hs> the question\n> second line\n\nthe answer";
        assert_eq!(strip_reply_fallback(body), "the answer");
        assert_eq!(strip_reply_fallback("plain"), "plain");
        assert_eq!(strip_reply_fallback("> only a quote"), "> only a quote");
    }
}
