//! The control channel's messages: one JSON object per line each way.
//!
//! Sessions are named by the `username` of their registration.

use serde::{Deserialize, Serialize};
use switchboard_bridge_api::{Command, ErrorKind, Event};

/// What the test network tells the test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// A session started for this user (at registration, at the gateway's
    /// start, or again after the core ended one).
    Started {
        /// The session's username.
        user: String,
        /// The names (never the values) of the credentials it started
        /// with: what registration stored.
        #[serde(default)]
        credentials: Vec<String>,
    },
    /// A command the core sent to this user's session, in the order sent.
    Command {
        /// The session's username.
        user: String,
        /// The command, as the session got it.
        command: Command,
    },
    /// A file a user's message carried, as the network fetched it.
    File {
        /// The session's username.
        user: String,
        /// The message's token.
        token: String,
        /// The file's name.
        name: String,
        /// Its media type.
        media_type: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// This user's session ended (the core shut it down).
    Ended {
        /// The session's username.
        user: String,
    },
}

/// What the test tells the test network.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Emit this event from the user's session, after what it emitted
    /// before. Held until the session starts when none runs.
    Inject {
        /// The session's username.
        user: String,
        /// The event, as the core will get it.
        event: Event,
    },
    /// Refuse the user's command with this token (a send, an edit, a
    /// retraction, reactions): the session answers it with this error
    /// (`ErrorContext::Command`) in place of what the network would say.
    Refuse {
        /// The session's username.
        user: String,
        /// The command's token.
        token: String,
        /// The error's kind.
        kind: ErrorKind,
        /// Its words.
        text: String,
    },
}

/// One message as a line of JSON, newline included.
pub fn to_line<T: Serialize>(message: &T) -> String {
    // Commands and events hold only strings, numbers and sequences: this
    // cannot fail.
    let mut line = serde_json::to_string(message).expect("serialisable");
    line.push('\n');
    line
}

/// One line of JSON as a message.
pub fn from_line<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::{
        Message, MessageId, MessageKind, RoomId, Target, TypingState, UserId,
    };

    #[test]
    fn orders_and_reports_survive_a_line() {
        let event = Event::Message(Message {
            id: MessageId::from("m1"),
            target: Target::Room(RoomId::from("Lobby!")),
            author: UserId::from("@Bob:hs"),
            author_nick: "Bob".into(),
            text: "two\nlines".into(),
            kind: MessageKind::Action,
            reply_to: None,
            attachments: vec![],
            timestamp: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(3)),
            own: false,
            token: None,
            parts: vec![],
        });
        let line = to_line(&Order::Inject {
            user: "alice".into(),
            event,
        });
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(
            line.contains(r#""author":"@Bob:hs""#),
            "ids are plain strings: {line}"
        );
        let Ok(Order::Inject { user, event }) = from_line(&line) else {
            panic!("{line}")
        };
        assert_eq!(user, "alice");
        let Event::Message(m) = event else {
            panic!("{event:?}")
        };
        assert_eq!(m.text, "two\nlines");
        assert_eq!(m.kind, MessageKind::Action);

        let report = Report::Command {
            user: "alice".into(),
            command: Command::Typing {
                target: Target::User(UserId::from("bob")),
                state: TypingState::Paused,
            },
        };
        let back: Report = from_line(&to_line(&report)).unwrap();
        assert!(matches!(
            back,
            Report::Command {
                command: Command::Typing {
                    state: TypingState::Paused,
                    ..
                },
                ..
            }
        ));
    }
}
