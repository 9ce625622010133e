//! The user's channel messages waiting for the server's `echo-message`
//! echo. One XMPP message may be several IRC lines: it is reflected once,
//! when the echo of its last line arrives (every part was then accepted).
//!
//! The network id of each echoed line is kept, so that the reflection
//! names every part (the core maps them all to the XMPP message).
//!
//! With `labeled-response`, each line carries its own label and an echo is
//! matched by it (an error reply with the label fails the message). Without
//! it, an echo is matched to the oldest waiting line for that channel with
//! the same text, else to the oldest waiting line for that channel (a
//! server that changed the text, e.g. stripped colours).

use std::collections::VecDeque;

use switchboard_bridge_api::{MessageId, MessageKind, Target, Token};

/// Messages kept waiting at most; past that the oldest is forgotten
/// (its echo, if it comes, is then shown as from another client).
const MAX_WAITING: usize = 64;

/// One IRC line of a sent message.
#[derive(Debug)]
pub(super) struct Part {
    /// Its `label`, under labeled-response.
    pub label: Option<String>,
    /// Its text as sent (the PRIVMSG's last parameter).
    pub text: String,
    /// Its place in the message (0 for the first line).
    pub index: usize,
}

/// A message sent and not yet echoed in full.
#[derive(Debug)]
pub(super) struct Sent {
    /// The channel, in IRC lowercase.
    pub chan: String,
    /// Its lines not echoed yet, in order.
    pub parts: VecDeque<Part>,
    /// The command's token, for the reflection.
    pub token: Token,
    /// The text as the user wrote it (styled), for the reflection.
    pub text: String,
    /// Normal or action.
    pub kind: MessageKind,
    /// The room, for the reflection.
    pub target: Target,
    /// The server's ids (`msgid`) of the lines echoed so far, by their place.
    pub ids: Vec<Option<MessageId>>,
    /// The message it replies to (`+draft/reply`), for the reflection.
    pub reply_to: Option<MessageId>,
    /// Not reflected as a message (a correction's line: the core is told
    /// an edit instead); its echo is only taken off the queue.
    pub quiet: bool,
}

impl Sent {
    /// The server's ids of every line, in order, once all are echoed;
    /// empty unless the server gave each line one (without `msgid` the
    /// bridge's ids are its own, which nothing on IRC can refer to).
    pub fn part_ids(&self) -> Vec<MessageId> {
        if self.ids.iter().any(Option::is_none) {
            return Vec::new();
        }
        self.ids.iter().flatten().cloned().collect()
    }
}

/// What an echo was.
#[derive(Debug)]
pub(super) enum Echo {
    /// The last part of this message: reflect it.
    Done(Sent),
    /// A part of a message with more to come.
    Part,
    /// Not something this connection is waiting for.
    Unknown,
}

/// The messages waiting for their echo, oldest first.
#[derive(Debug, Default)]
pub(super) struct Echoes {
    waiting: VecDeque<Sent>,
}

impl Echoes {
    /// Waits for the echo of `sent`.
    pub fn push(&mut self, sent: Sent) {
        if sent.parts.is_empty() {
            return;
        }
        if self.waiting.len() >= MAX_WAITING {
            self.waiting.pop_front();
        }
        self.waiting.push_back(sent);
    }

    /// Forgets everything (a new connection: the old one's lines will
    /// never be echoed).
    pub fn clear(&mut self) {
        self.waiting.clear();
    }

    /// An echo of the user's line `text` to `chan` (IRC lowercase), with
    /// its `label` if it had one, and the server's `msgid` for it, if any.
    pub fn on_echo(
        &mut self,
        chan: &str,
        label: Option<&str>,
        text: &str,
        msgid: Option<MessageId>,
    ) -> Echo {
        let found = match label {
            Some(l) => self.find_label(l),
            None => self
                .waiting
                .iter()
                .enumerate()
                .filter(|(_, s)| s.chan == chan)
                .find_map(|(i, s)| {
                    let j = s.parts.iter().position(|p| p.text == text)?;
                    Some((i, j))
                })
                .or_else(|| {
                    let i = self.waiting.iter().position(|s| s.chan == chan)?;
                    Some((i, 0))
                }),
        };
        let Some((i, j)) = found else {
            return Echo::Unknown;
        };
        let sent = &mut self.waiting[i];
        if let Some(part) = sent.parts.remove(j) {
            if let Some(slot) = sent.ids.get_mut(part.index) {
                *slot = msgid;
            }
        }
        if self.waiting[i].parts.is_empty() {
            self.waiting.remove(i).map_or(Echo::Unknown, Echo::Done)
        } else {
            Echo::Part
        }
    }

    /// An error reply to the line labelled `label`: its whole message
    /// failed, and is not waited for any more.
    pub fn on_error(&mut self, label: &str) -> Option<Sent> {
        let (i, _) = self.find_label(label)?;
        self.waiting.remove(i)
    }

    /// The message and part labelled `label`.
    fn find_label(&self, label: &str) -> Option<(usize, usize)> {
        self.waiting.iter().enumerate().find_map(|(i, s)| {
            let j = s
                .parts
                .iter()
                .position(|p| p.label.as_deref() == Some(label))?;
            Some((i, j))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::RoomId;

    fn sent(chan: &str, token: &str, parts: &[(&str, Option<&str>)]) -> Sent {
        Sent {
            chan: chan.into(),
            parts: parts
                .iter()
                .enumerate()
                .map(|(index, (t, l))| Part {
                    label: l.map(str::to_owned),
                    text: (*t).into(),
                    index,
                })
                .collect(),
            token: token.into(),
            text: parts.iter().map(|p| p.0).collect::<Vec<_>>().join("\n"),
            kind: MessageKind::Normal,
            target: Target::Room(RoomId(format!("{chan}%irc.test"))),
            ids: vec![None; parts.len()],
            reply_to: None,
            quiet: false,
        }
    }

    /// The msgid an echo of `text` carries in these tests.
    fn id(text: &str) -> Option<MessageId> {
        Some(MessageId(format!("id-{text}")))
    }

    fn done(e: Echo) -> String {
        match e {
            Echo::Done(s) => s.token,
            other => panic!("not done: {other:?}"),
        }
    }

    #[test]
    fn a_split_message_is_reflected_once_at_its_last_part() {
        let mut e = Echoes::default();
        e.push(sent("#a", "t1", &[("one", None), ("two", None)]));
        assert!(matches!(
            e.on_echo("#a", None, "one", id("one")),
            Echo::Part
        ));
        assert_eq!(done(e.on_echo("#a", None, "two", id("two"))), "t1");
        assert!(matches!(
            e.on_echo("#a", None, "two", id("two")),
            Echo::Unknown
        ));
    }

    #[test]
    fn every_part_keeps_its_network_id_in_order_whatever_the_echo_order() {
        let mut e = Echoes::default();
        e.push(sent(
            "#a",
            "t1",
            &[
                ("one", Some("sb1")),
                ("two", Some("sb2")),
                ("three", Some("sb3")),
            ],
        ));
        assert!(matches!(
            e.on_echo("#a", Some("sb2"), "two", id("two")),
            Echo::Part
        ));
        assert!(matches!(
            e.on_echo("#a", Some("sb3"), "three", id("three")),
            Echo::Part
        ));
        let Echo::Done(s) = e.on_echo("#a", Some("sb1"), "one", id("one")) else {
            panic!("done at the last echo");
        };
        let ids: Vec<_> = ["one", "two", "three"].map(|t| id(t).unwrap()).into();
        assert_eq!(s.part_ids(), ids);
        // One line: its one id.
        e.push(sent("#a", "t2", &[("solo", None)]));
        let Echo::Done(s) = e.on_echo("#a", None, "solo", id("solo")) else {
            panic!()
        };
        assert_eq!(s.part_ids(), [id("solo").unwrap()]);
        // A line without msgid: the server gave no ids to map.
        e.push(sent("#a", "t3", &[("a", None), ("b", None)]));
        assert!(matches!(e.on_echo("#a", None, "a", id("a")), Echo::Part));
        let Echo::Done(s) = e.on_echo("#a", None, "b", None) else {
            panic!()
        };
        assert!(s.part_ids().is_empty());
    }

    #[test]
    fn without_labels_echoes_match_by_channel_and_text_then_order() {
        let mut e = Echoes::default();
        e.push(sent("#a", "t1", &[("hello", None)]));
        e.push(sent("#b", "t2", &[("hello", None)]));
        e.push(sent("#a", "t3", &[("world", None)]));
        assert_eq!(done(e.on_echo("#b", None, "hello", id("hello"))), "t2");
        assert_eq!(done(e.on_echo("#a", None, "world", id("world"))), "t3");
        // The server changed the text: the oldest for the channel.
        assert_eq!(
            done(e.on_echo("#a", None, "h e l l o", id("h e l l o"))),
            "t1"
        );
        assert!(matches!(e.on_echo("#a", None, "x", id("x")), Echo::Unknown));
    }

    #[test]
    fn labels_match_exactly_and_an_error_fails_the_whole_message() {
        let mut e = Echoes::default();
        e.push(sent("#a", "t1", &[("same", Some("sb1"))]));
        e.push(sent(
            "#a",
            "t2",
            &[("same", Some("sb2")), ("more", Some("sb3"))],
        ));
        assert!(matches!(
            e.on_echo("#a", Some("sb2"), "same", id("same")),
            Echo::Part
        ));
        assert_eq!(done(e.on_echo("#a", Some("sb1"), "same", id("same"))), "t1");
        assert_eq!(e.on_error("sb3").map(|s| s.token).as_deref(), Some("t2"));
        assert!(e.on_error("sb3").is_none());
        assert!(matches!(
            e.on_echo("#a", Some("sb9"), "same", id("same")),
            Echo::Unknown
        ));
    }

    #[test]
    fn the_wait_is_bounded() {
        let mut e = Echoes::default();
        for i in 0..MAX_WAITING + 10 {
            e.push(sent("#a", &format!("t{i}"), &[("x", None)]));
        }
        assert_eq!(e.waiting.len(), MAX_WAITING);
        assert_eq!(done(e.on_echo("#a", None, "x", id("x"))), "t10");
    }
}
