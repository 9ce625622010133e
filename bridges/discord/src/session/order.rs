//! Messages in the order Discord sent them. serenity hands each dispatch
//! to a task of its own, so two MESSAGE_CREATE close together can reach
//! the session swapped (tokio runs the newest task first). A new message
//! waits [`HOLD`] with those that come meanwhile, and they go on sorted by
//! id (snowflakes grow with time); any other dispatch first lets the
//! waiting ones go, so that an edit, delete or reaction never overtakes
//! its message.

use std::time::Duration;

use serenity::model::channel::Message as DiscordMessage;
use tokio::time::Instant;

use super::Session;

/// How long a new message waits for ones sent before it.
pub(super) const HOLD: Duration = Duration::from_millis(20);

/// The messages waiting, and until when.
#[derive(Debug, Default)]
pub(super) struct Held {
    messages: Vec<DiscordMessage>,
    until: Option<Instant>,
}

impl Held {
    /// Holds a new message (the first one held sets the time).
    pub fn hold(&mut self, message: DiscordMessage) {
        if self.messages.is_empty() {
            self.until = Some(Instant::now() + HOLD);
        }
        self.messages.push(message);
    }

    /// When the held messages are due.
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// The held messages, oldest first.
    fn take(&mut self) -> Vec<DiscordMessage> {
        self.until = None;
        let mut messages = std::mem::take(&mut self.messages);
        messages.sort_by_key(|m| m.id);
        messages
    }
}

impl Session {
    /// Passes the held messages on, oldest first; `false` once the core
    /// is gone.
    pub(super) async fn release_held(&mut self) -> bool {
        for message in self.held.take() {
            if !self.message(message).await {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(id: &str) -> DiscordMessage {
        serde_json::from_value(json!({
            "id": id, "channel_id": "3001",
            "author": { "id": "4001", "username": "alice", "discriminator": "0", "global_name": null, "avatar": null },
            "content": "", "timestamp": "2026-12-02T13:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0
        }))
        .unwrap()
    }

    #[test]
    fn held_messages_go_on_sorted_by_id() {
        let mut held = Held::default();
        assert_eq!(held.until(), None);
        held.hold(message("12"));
        let due = held.until().expect("a time");
        held.hold(message("11"));
        assert_eq!(held.until(), Some(due), "the first one sets the time");
        let ids: Vec<u64> = held.take().iter().map(|m| m.id.get()).collect();
        assert_eq!(ids, [11, 12]);
        assert_eq!(held.until(), None);
    }
}
