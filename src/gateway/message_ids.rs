//! The one id policy (XEP-0359), for room and direct messages alike:
//!
//! - the user's own messages keep the id (and, in rooms, the origin-id)
//!   the client sent them with; others carry the network's id as their
//!   `id`;
//! - every message the gateway delivers carries a stanza-id it assigned
//!   (a unique increasing stamp: in rooms, the archive id, `by` the room's
//!   JID; in a direct conversation, `by` the contact's JID, the address the
//!   gateway serves that conversation from, as a room's is for a room);
//! - when the network echoes a message the user sent with its own ids
//!   (`Message::parts`), each part's id is mapped to the XMPP id (and
//!   stanza-id) in the id map, scoped to the conversation. An echo without
//!   them (IRC without `echo-message` and `msgid`: the bridge's ids, which
//!   nothing on the network can refer to) maps nothing.
//!
//! Direct messages: a client trusts a stanza-id only from the entity it
//! knows assigns them (XEP-0359 §4: its own server for one-to-one chats),
//! so the user's server adds its own when it archives the message; the
//! gateway's is for the gateway's own references. One-to-one corrections,
//! retractions, reactions and replies name a message by its `id`, which
//! is the network's id (incoming) or the client's (sent).

use switchboard_bridge_api::Message;
use xmpp_parsers::jid::BareJid;

use super::Gateway;

/// Whether `m` is the network's echo of a message sent from XMPP (its
/// token is the XMPP id it was sent with).
pub(super) fn is_echo(m: &Message) -> bool {
    m.own && m.token.as_deref().is_some_and(|t| !t.is_empty())
}

/// The XMPP `id` a network message is delivered with: the client's id for
/// the echo of the user's own, else the network's id.
pub(super) fn xmpp_id(m: &Message) -> String {
    match &m.token {
        Some(token) if is_echo(m) => token.clone(),
        _ => m.id.0.clone(),
    }
}

impl Gateway {
    /// Maps the network's ids of an echoed message's parts to its XMPP id
    /// (and the stanza-id it was delivered with), in `conversation` (a room
    /// id or a contact id); nothing when the network gave none. Queued:
    /// written in batches.
    pub(super) async fn map_echo(
        &self,
        user: &BareJid,
        conversation: &str,
        m: &Message,
        xmpp_id: &str,
        stanza_id: Option<i64>,
    ) {
        if m.parts.is_empty() {
            return;
        }
        self.archive
            .map_sent(
                &user.to_string(),
                &self.network,
                conversation,
                xmpp_id,
                stanza_id,
                m.parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_bridge_api::{MessageId, MessageKind, RoomId, Target, UserId};

    fn message(own: bool, token: Option<&str>, parts: &[&str]) -> Message {
        Message {
            id: MessageId("n2".into()),
            target: Target::Room(RoomId("#a%x".into())),
            author: UserId("me%x".into()),
            author_nick: "me".into(),
            text: "hi".into(),
            kind: MessageKind::Normal,
            reply_to: None,
            attachments: Vec::new(),
            timestamp: None,
            own,
            token: token.map(str::to_owned),
            parts: parts.iter().map(|p| MessageId((*p).into())).collect(),
        }
    }

    #[test]
    fn an_echo_keeps_the_clients_id() {
        let echo = message(true, Some("c1"), &["n1", "n2"]);
        assert!(is_echo(&echo));
        assert_eq!(xmpp_id(&echo), "c1");
        // From the user's other client: no token, the network's id.
        let elsewhere = message(true, None, &[]);
        assert!(!is_echo(&elsewhere));
        assert_eq!(xmpp_id(&elsewhere), "n2");
        // Someone else's, even with a token: the network's id.
        assert_eq!(xmpp_id(&message(false, Some("c1"), &[])), "n2");
        // A client that sent no id: nothing to map.
        assert!(!is_echo(&message(true, Some(""), &[])));
    }
}
