//! The core's edits, retractions and reactions as Matrix events: an edit
//! is an `m.room.message` whose `m.new_content` is the new text and whose
//! `m.relates_to` (`m.replace`) names the original (its `body`, `* text`,
//! is the fallback for clients without edits); a retraction is a
//! redaction (a moderator's with its reason); a reaction set is one `m.reaction` (`m.annotation`) per key
//! added and a redaction of each key's event taken away. Edits and
//! retractions come back through the sync as their echo; a reaction set
//! is told to the core once it is sent.

use reqwest::Method;
use serde_json::{json, Value};
use switchboard_bridge_api::{ErrorKind, Event, MessageId, Target, Token, UserId};
use tracing::debug;

use crate::api::{NewContent, RelatesTo, SendResponse, TextContent};
use crate::commands::{refusal, TIMEOUT};
use crate::messages::txn_for;
use crate::session::Session;
use crate::styling::rich_fields;

/// A failure in words for the user.
pub(crate) type Refused = (ErrorKind, String);

/// How many of a message's reactions are read to find the user's own.
const RELATIONS_PAGE: &str = "100";

impl Session {
    /// The Matrix room id of a conversation, which must be a joined room.
    pub(crate) fn room_of(&self, target: &Target) -> Result<String, Refused> {
        self.conversation_room(target)
    }

    /// A fresh transaction id carrying `token`.
    pub(crate) fn next_txn(&mut self, token: &Token) -> String {
        self.txn_serial += 1;
        txn_for(&self.txn_prefix, self.txn_serial, token)
    }

    /// Sends an event of `kind` to a room; its event id.
    pub(crate) async fn send_event(
        &mut self,
        room_id: &str,
        kind: &str,
        token: &Token,
        content: &(impl serde::Serialize + ?Sized),
    ) -> Result<String, Refused> {
        let txn = self.next_txn(token);
        let url = self.client.v3(&["rooms", room_id, "send", kind, &txn], &[]);
        let sent: SendResponse = self
            .client
            .call(Method::PUT, url, Some(content), TIMEOUT)
            .await
            .map_err(|e| refusal(&e))?;
        Ok(sent.event_id)
    }

    /// Redacts an event, for a reason if one is given; the redaction's
    /// event id.
    async fn redact(
        &mut self,
        room_id: &str,
        event: &str,
        reason: Option<String>,
        token: &Token,
    ) -> Result<String, Refused> {
        let txn = self.next_txn(token);
        let url = self
            .client
            .v3(&["rooms", room_id, "redact", event, &txn], &[]);
        let sent: SendResponse = self
            .client
            .call(Method::PUT, url, Some(&redaction(reason)), TIMEOUT)
            .await
            .map_err(|e| refusal(&e))?;
        Ok(sent.event_id)
    }

    /// Replaces a message's text.
    pub(crate) async fn edit(
        &mut self,
        target: &Target,
        message: &MessageId,
        text: &str,
        token: &Token,
    ) -> Result<(), Refused> {
        let room_id = self.room_of(target)?;
        let fallback = format!("* {text}");
        let content = TextContent {
            msgtype: "m.text",
            body: &fallback,
            new_content: Some(NewContent {
                msgtype: "m.text",
                body: text,
            }),
            relates_to: Some(RelatesTo {
                rel_type: Some("m.replace"),
                event_id: Some(message.as_str()),
                ..RelatesTo::default()
            }),
        };
        let mut content = serde_json::to_value(&content).unwrap_or_default();
        let fields = rich_fields(text, &self.others_in(&room_id));
        if let Some(html) = fields.get("formatted_body").and_then(Value::as_str) {
            // The fallback for clients without edits, styled too; nobody
            // is notified again by it.
            content["format"] = fields["format"].clone();
            content["formatted_body"] = json!(format!("* {html}"));
        }
        content["m.mentions"] = json!({});
        if let Some(new) = content["m.new_content"].as_object_mut() {
            new.extend(fields);
        }
        let id = self
            .send_event(&room_id, "m.room.message", token, &content)
            .await?;
        debug!(event = %id, "edit sent to Matrix");
        Ok(())
    }

    /// Redacts a message.
    pub(crate) async fn retract(
        &mut self,
        target: &Target,
        message: &MessageId,
        reason: Option<String>,
        token: &Token,
    ) -> Result<(), Refused> {
        let room_id = self.room_of(target)?;
        let id = self
            .redact(&room_id, message.as_str(), reason, token)
            .await?;
        debug!(event = %id, "redaction sent to Matrix");
        Ok(())
    }

    /// Makes the user's reactions on a message this set: a reaction event
    /// for each key added, a redaction for each key taken away; then tells
    /// the core the set as it is.
    pub(crate) async fn react(
        &mut self,
        target: &Target,
        message: &MessageId,
        wanted: &[String],
        token: &Token,
    ) -> Result<(), Refused> {
        let room_id = self.room_of(target)?;
        let message = message.as_str();
        let own = self.own.clone();
        self.learn_reactions(&room_id, message, &own).await;
        let had = self.reactions.keys(message, &own);
        let mut outcome = Ok(());
        for key in had.iter().filter(|k| !wanted.contains(k)) {
            let Some(event) = self.reactions.event_of(message, &own, key) else {
                continue;
            };
            match self.redact(&room_id, &event, None, token).await {
                Ok(redaction) => {
                    self.reactions.redaction_sent(&redaction);
                    self.reactions.remove(&event);
                }
                Err(e) => outcome = Err(e),
            }
        }
        let mut added: Vec<&String> = Vec::new();
        for key in wanted.iter().filter(|k| !had.contains(k)) {
            if added.contains(&key) {
                continue;
            }
            added.push(key);
            let content = json!({
                "m.relates_to": RelatesTo {
                    rel_type: Some("m.annotation"),
                    event_id: Some(message),
                    key: Some(key),
                    in_reply_to: None,
                }
            });
            match self
                .send_event(&room_id, "m.reaction", token, &content)
                .await
            {
                Ok(event) => {
                    self.reactions.add(message, &own, key, &event);
                }
                Err(e) => outcome = Err(e),
            }
        }
        let reactions = self.reactions.keys(message, &own);
        let author_nick = self
            .rooms
            .get(&room_id)
            .map(|r| r.nick_of(&own).to_owned())
            .unwrap_or_else(|| own.clone());
        self.emit(Event::Reacted {
            target: target.clone(),
            message: MessageId::from(message),
            author: UserId::from(own.as_str()),
            author_nick,
            reactions,
        })
        .await;
        outcome
    }

    /// Reads `author`'s reactions on a message from the server when this
    /// session has none of theirs on it yet (some may come from before
    /// the session, or from another client), so that the set told is
    /// whole and a key taken away is found to redact.
    pub(crate) async fn learn_reactions(&mut self, room_id: &str, message: &str, author: &str) {
        if self.reactions.has_set(message, author) {
            return;
        }
        let url = self.client.url(
            &[
                "_matrix",
                "client",
                "v1",
                "rooms",
                room_id,
                "relations",
                message,
                "m.annotation",
                "m.reaction",
            ],
            &[("limit", RELATIONS_PAGE)],
        );
        let Ok(page) = self.client.get::<Value>(url, TIMEOUT).await else {
            debug!("cannot read a message's reactions");
            return;
        };
        let chunk = page.get("chunk").and_then(Value::as_array);
        // The server lists them newest first.
        for event in chunk.into_iter().flatten().rev() {
            if event.get("sender").and_then(Value::as_str) != Some(author) {
                continue;
            }
            let key = event
                .pointer("/content/m.relates_to/key")
                .and_then(Value::as_str);
            let id = event.get("event_id").and_then(Value::as_str);
            if let (Some(key), Some(id)) = (key, id) {
                if !self.reactions.knows(id) {
                    self.reactions.add(message, author, key, id);
                }
            }
        }
    }

    /// Whether a redacted event no longer known here was a reaction (its
    /// type survives the redaction, its key does not).
    pub(crate) async fn was_reaction(&self, room_id: &str, event: &str) -> bool {
        let url = self.client.v3(&["rooms", room_id, "event", event], &[]);
        match self.client.get::<Value>(url, TIMEOUT).await {
            Ok(found) => found.get("type").and_then(Value::as_str) == Some("m.reaction"),
            Err(_) => false,
        }
    }
}

/// A redaction's content: the reason, where one is given (not empty).
fn redaction(reason: Option<String>) -> Value {
    match reason.filter(|r| !r.trim().is_empty()) {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redaction_carries_a_given_reason() {
        assert_eq!(redaction(Some("spam".into())), json!({"reason": "spam"}));
        assert_eq!(redaction(Some(" ".into())), json!({}));
        assert_eq!(redaction(None), json!({}));
    }
}
