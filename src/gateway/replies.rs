//! XEP-0461 replies (with their XEP-0428 fallback) ↔ the contract's
//! `reply_to`, in rooms and direct chats, where the network has replies.
//!
//! Client → network: the `<reply id=…/>` names the message by the id the
//! client saw (`recent.rs` finds its network id); the quote the client put
//! in the body (its `<fallback/>` range) is taken out, since the network
//! shows the reply itself. A network without replies, or a reply to a
//! message the gateway does not know, gets the body as typed, quote and all.
//!
//! Network → client: a message with `reply_to` gets `<reply to=… id=…/>`
//! naming the id the client saw (the stanza-id in a room) and its author's
//! occupant (or contact) JID, and its body starts with a `> ` quote of the
//! original, marked as the reply's fallback, so clients without replies
//! read it as a quote. A reply to a message the gateway never saw is
//! delivered as plain text.

use std::borrow::Cow;
use switchboard_bridge_api::{MessageId, Target};
use tracing::debug;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;

use super::Gateway;
use crate::xmpp::reply;

/// What a network message's stanza gets besides its body and ids: a
/// reply's quote and `<reply/>` (here), a `<markable/>` (`signals.rs`),
/// files' URLs and `<x xmlns='jabber:x:oob'/>` (`files.rs`).
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// The quote the body starts with (may be empty).
    pub quote: String,
    /// The files' URLs the body ends with, one a line (may be empty).
    pub files: String,
    /// `<reply/>` and, with a quote, its `<fallback/>`; `<markable/>`.
    pub payloads: Vec<Element>,
}

impl Extras {
    /// The body: the quote, then the text, then the files' URLs (the text
    /// itself without either).
    pub(super) fn body(&self, text: String) -> String {
        if self.quote.is_empty() && self.files.is_empty() {
            return text;
        }
        let mut body = String::with_capacity(self.quote.len() + text.len() + self.files.len());
        body.push_str(&self.quote);
        body.push_str(&text);
        body.push_str(&self.files);
        body
    }
}

impl Gateway {
    /// A client's message body as the network gets it, and the network id
    /// of the message it replies to.
    pub(super) async fn reply_in<'a>(
        &self,
        user: &BareJid,
        target: &Target,
        message: &Message,
        body: &'a str,
    ) -> (Cow<'a, str>, Option<MessageId>) {
        let Some(reply) = reply::reply_of(&message.payloads) else {
            return (Cow::Borrowed(body), None);
        };
        if !self.capabilities(user, target).replies {
            return (Cow::Borrowed(body), None);
        }
        let Some(id) = self.network_id_of(user, target, &reply.id).await else {
            debug!("a reply to a message the gateway does not know; sent with its quote");
            return (Cow::Borrowed(body), None);
        };
        let text = match reply::strip_fallback(&message.payloads, body) {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(body),
        };
        (text, Some(id))
    }

    /// What a network message that replies to `reply_to` adds to its
    /// stanza; nothing when it replies to nothing the gateway knows.
    pub(super) async fn reply_out(
        &self,
        user: &BareJid,
        target: &Target,
        reply_to: Option<&MessageId>,
    ) -> Extras {
        let Some(reply_to) = reply_to else {
            return Extras::default();
        };
        let Some(seen) = self
            .seen_by_network_id(user, target, reply_to.as_str())
            .await
        else {
            debug!("a reply to a message the gateway never saw; delivered as plain text");
            return Extras::default();
        };
        // The author: their occupant in a room, the contact (or the user)
        // in a direct chat.
        let to = match target {
            Target::Room(room) if !seen.nick.is_empty() => {
                let (nick, _) = self.author(user, room, &seen.author, &seen.nick);
                self.occupant_jid(room, &nick).map(|j| j.to_string())
            }
            Target::Room(_) => None,
            Target::User(_) if seen.own => Some(user.to_string()),
            Target::User(peer) => self.contact_jid(peer).map(|j| j.to_string()),
        };
        let id = seen.client_id(target);
        let mut out = Extras {
            quote: String::new(),
            files: String::new(),
            payloads: vec![reply::reply_element(&id, to.as_deref())],
        };
        if let Some(text) = seen.text.as_deref() {
            out.quote = reply::quote(text);
            out.payloads
                .push(reply::fallback_element(out.quote.chars().count()));
        }
        out
    }
}
