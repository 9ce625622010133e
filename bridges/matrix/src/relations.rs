//! Timeline events that change an earlier message, as the contract's
//! events: an edit (`m.room.message` with `m.relates_to.rel_type`
//! `m.replace`: its `m.new_content`) → `Edited` naming the original event;
//! a reaction (`m.reaction`, `m.annotation` with a `key`) → `Reacted` with
//! the author's whole set; a redaction (`m.room.redaction`) of a known
//! reaction → `Reacted` with the set left, of anything else → `Retracted`.
//! The echoes of reactions and of their redactions this session sent
//! itself are not told again: the command told them already. The first
//! reaction of someone on a message seen here reads their earlier ones
//! (`/relations`), so the set told is whole; the redaction of a reaction
//! from before the session (the event's type says so) is not told.

use switchboard_bridge_api::{Event, MessageId, UserId};
use tracing::debug;

use crate::api::{text_field, RoomEvent};
use crate::html::formatted_text;
use crate::messages::own_token;
use crate::session::Session;

/// What a relation event is about.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Relation<'a> {
    /// An edit of `original` to `text`.
    Edit { original: &'a str, text: &'a str },
    /// A reaction to `message` with `key`.
    Reaction { message: &'a str, key: &'a str },
    /// A redaction of `target`.
    Redaction { target: &'a str },
}

/// The relation an event carries, if it is one of those bridged.
pub(crate) fn relation_of(event: &RoomEvent) -> Option<Relation<'_>> {
    let content = &event.content;
    let relates = content.get("m.relates_to");
    let related = || relates.and_then(|r| text_field(r, "event_id"));
    match event.kind.as_str() {
        "m.room.message" => {
            if relates.and_then(|r| text_field(r, "rel_type")) != Some("m.replace") {
                return None;
            }
            let text = content
                .get("m.new_content")
                .and_then(|c| text_field(c, "body"))
                .or_else(|| {
                    let body = text_field(content, "body")?;
                    Some(body.strip_prefix("* ").unwrap_or(body))
                })?;
            Some(Relation::Edit {
                original: related()?,
                text,
            })
        }
        "m.reaction" => {
            let relates = relates?;
            if text_field(relates, "rel_type") != Some("m.annotation") {
                return None;
            }
            Some(Relation::Reaction {
                message: related()?,
                key: text_field(relates, "key")?,
            })
        }
        "m.room.redaction" => {
            let target = text_field(content, "redacts").or(event.redacts.as_deref())?;
            Some(Relation::Redaction { target })
        }
        _ => None,
    }
}

impl Session {
    /// Tells the core of an edit, reaction or redaction in a room's
    /// timeline; `false` when the event is none of them.
    pub(crate) async fn relation_event(&mut self, room_id: &str, event: &RoomEvent) -> bool {
        let Some(relation) = relation_of(event) else {
            return false;
        };
        let target = self.target_of(room_id);
        let sender = event.sender.as_str();
        let nick = || {
            self.rooms
                .get(room_id)
                .map(|r| r.nick_of(sender).to_owned())
                .unwrap_or_else(|| sender.to_owned())
        };
        let told = match relation {
            Relation::Edit { original, text } => Some(Event::Edited {
                target,
                message: MessageId::from(original),
                author: UserId::from(sender),
                author_nick: nick(),
                // The echo of the user's own edit keeps their text.
                text: event
                    .content
                    .get("m.new_content")
                    .filter(|_| !(sender == self.own && own_token(event).is_some()))
                    .zip(self.rooms.get(room_id))
                    .and_then(|(content, room)| formatted_text(content, room))
                    .unwrap_or_else(|| text.to_owned()),
            }),
            Relation::Reaction { .. } if self.reactions.knows(&event.event_id) => None,
            Relation::Reaction { message, key } => {
                let author_nick = nick();
                self.learn_reactions(room_id, message, sender).await;
                let reactions = self.reactions.add(message, sender, key, &event.event_id);
                Some(Event::Reacted {
                    target,
                    message: MessageId::from(message),
                    author: UserId::from(sender),
                    author_nick,
                    reactions,
                })
            }
            Relation::Redaction { .. } if self.reactions.sent_redaction(&event.event_id) => None,
            Relation::Redaction { target: redacted } => match self.reactions.remove(redacted) {
                Some((message, author, reactions)) => {
                    let author_nick = self
                        .rooms
                        .get(room_id)
                        .map(|r| r.nick_of(&author).to_owned())
                        .unwrap_or_else(|| author.clone());
                    Some(Event::Reacted {
                        target,
                        message: MessageId::from(message.as_str()),
                        author: UserId::from(author.as_str()),
                        author_nick,
                        reactions,
                    })
                }
                // A reaction from before this session: which key it took
                // away is gone with its content.
                None if self.was_reaction(room_id, redacted).await => {
                    debug!(event = %redacted, "an unknown reaction was redacted");
                    None
                }
                None => Some(Event::Retracted {
                    target,
                    message: MessageId::from(redacted),
                    by: UserId::from(sender),
                }),
            },
        };
        if let Some(told) = told {
            self.emit(told).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: serde_json::Value) -> RoomEvent {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn edits_reactions_and_redactions_are_read_from_the_wire() {
        let edit = event(json!({
            "type": "m.room.message", "sender": "@b:hs", "event_id": "$e",
            "content": {"msgtype": "m.text", "body": "* fixed",
                        "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                        "m.relates_to": {"rel_type": "m.replace", "event_id": "$m"}}
        }));
        assert_eq!(
            relation_of(&edit),
            Some(Relation::Edit {
                original: "$m",
                text: "fixed"
            })
        );
        let bare_edit = event(json!({
            "type": "m.room.message", "sender": "@b:hs", "event_id": "$e",
            "content": {"msgtype": "m.text", "body": "* fixed",
                        "m.relates_to": {"rel_type": "m.replace", "event_id": "$m"}}
        }));
        assert_eq!(
            relation_of(&bare_edit),
            Some(Relation::Edit {
                original: "$m",
                text: "fixed"
            })
        );
        let reply = event(json!({
            "type": "m.room.message", "sender": "@b:hs", "event_id": "$e",
            "content": {"msgtype": "m.text", "body": "yes",
                        "m.relates_to": {"m.in_reply_to": {"event_id": "$m"}}}
        }));
        assert_eq!(relation_of(&reply), None);
        let reaction = event(json!({
            "type": "m.reaction", "sender": "@b:hs", "event_id": "$r",
            "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$m", "key": "👍"}}
        }));
        assert_eq!(
            relation_of(&reaction),
            Some(Relation::Reaction {
                message: "$m",
                key: "👍"
            })
        );
        // Room versions 11 and later carry the target in the content,
        // earlier ones beside it.
        let v11 = event(json!({
            "type": "m.room.redaction", "sender": "@b:hs", "event_id": "$x",
            "content": {"redacts": "$m"}
        }));
        let v10 = event(json!({
            "type": "m.room.redaction", "sender": "@b:hs", "event_id": "$x",
            "redacts": "$m", "content": {}
        }));
        for redaction in [v11, v10] {
            assert_eq!(
                relation_of(&redaction),
                Some(Relation::Redaction { target: "$m" })
            );
        }
    }
}
