//! Shared-bot mode's direct messages: whose conversation each one is. The
//! shared bot has one DM channel with each Discord user, whichever linked
//! users write to them through it (each message starts with the writer's
//! name in bold). The bot's message is its writer's; an answer that
//! replies to one of them (Discord's reply) goes to that writer, any other
//! to whoever wrote last in that channel. The last [`KEPT`] messages and
//! channels are remembered; an answer nobody can be found for gets a word
//! from the bot.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many messages, nonces and channels are remembered.
pub(crate) const KEPT: usize = 1024;

/// Who wrote what through the shared bot's DMs.
#[derive(Debug, Default)]
pub(crate) struct Conversations {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Messages being sent: (nonce, writer).
    sending: VecDeque<(Box<str>, Arc<str>)>,
    /// The bot's DMs: (message id, writer).
    sent: VecDeque<(u64, Arc<str>)>,
    /// The last writer in each DM channel: (channel, writer), latest last.
    last: VecDeque<(u64, Arc<str>)>,
}

/// Pushes onto a list kept at [`KEPT`].
fn push<T>(list: &mut VecDeque<T>, item: T) {
    if list.len() == KEPT {
        list.pop_front();
    }
    list.push_back(item);
}

impl Conversations {
    /// `account` is about to send a DM with `nonce`.
    pub fn sending(&self, nonce: &str, account: &Arc<str>) {
        let mut inner = self.inner.lock().unwrap();
        push(&mut inner.sending, (nonce.into(), Arc::clone(account)));
    }

    /// The bot's DM with `nonce` came back as `message` in `channel`: its
    /// writer, who is now the channel's last.
    pub fn echoed(&self, nonce: &str, message: u64, channel: u64) -> Option<Arc<str>> {
        let mut inner = self.inner.lock().unwrap();
        let at = inner.sending.iter().position(|(n, _)| **n == *nonce)?;
        let (_, account) = inner.sending.remove(at)?;
        push(&mut inner.sent, (message, Arc::clone(&account)));
        inner.last.retain(|(c, _)| *c != channel);
        push(&mut inner.last, (channel, Arc::clone(&account)));
        Some(account)
    }

    /// Whose conversation an answer in `channel` is: the writer of the
    /// bot's message it `replies` to, else the channel's last writer.
    pub fn answer_to(&self, channel: u64, replies: Option<u64>) -> Option<Arc<str>> {
        let inner = self.inner.lock().unwrap();
        let replied = replies.and_then(|m| {
            inner
                .sent
                .iter()
                .rev()
                .find(|(id, _)| *id == m)
                .map(|(_, a)| Arc::clone(a))
        });
        replied.or_else(|| {
            inner
                .last
                .iter()
                .rev()
                .find(|(c, _)| *c == channel)
                .map(|(_, a)| Arc::clone(a))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_goes_to_whom_it_replies_to_else_the_last_writer() {
        let dms = Conversations::default();
        let (alice, carol): (Arc<str>, Arc<str>) = ("alice".into(), "carol".into());
        assert_eq!(dms.answer_to(7, None), None, "nobody wrote there");
        dms.sending("n1", &alice);
        dms.sending("n2", &carol);
        assert_eq!(dms.echoed("n1", 100, 7), Some(Arc::clone(&alice)));
        assert_eq!(dms.echoed("n1", 100, 7), None, "once");
        assert_eq!(dms.echoed("n2", 101, 7), Some(Arc::clone(&carol)));
        assert_eq!(dms.answer_to(7, None), Some(Arc::clone(&carol)), "the last");
        assert_eq!(
            dms.answer_to(7, Some(100)),
            Some(alice),
            "the one replied to"
        );
        assert_eq!(dms.answer_to(8, None), None, "another channel");
    }
}
