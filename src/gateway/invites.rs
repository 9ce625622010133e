//! Invitations to the network's rooms, both ways of answering them.
//!
//! A session's `Event::Invited` reaches the user as a XEP-0249 direct
//! invitation, from the inviter's contact JID (the gateway's own JID when
//! the inviter is unknown or no JID), with a body for clients that do not
//! show invitations:
//!
//! ```xml
//! <message from='@bob\3ahs@matrix.example.org' to='alice@example.org'>
//!   <body>bob invites you to Lounge (!r\3ahs@matrix.example.org) …</body>
//!   <x xmlns='jabber:x:conference' jid='!r\3ahs@matrix.example.org' reason='come'/>
//! </message>
//! ```
//!
//! Accepting is joining the room JID (the usual `Command::Join`).
//! Declining is `Command::Leave` for the room, sent on a XEP-0045 decline
//! to the room JID (what a client's "decline" button sends for an
//! invitation it was shown)
//!
//! ```xml
//! <message to='!r\3ahs@matrix.example.org'>
//!   <x xmlns='http://jabber.org/protocol/muc#user'><decline/></x>
//! </message>
//! ```
//!
//! or on the chat command `decline ROOM-JID`, for clients without one.

use std::sync::Arc;

use switchboard_bridge_api::{Command, Event};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message};
use xmpp_parsers::minidom::rxml::NcName;
use xmpp_parsers::minidom::Element;

use super::Gateway;

/// XEP-0249's namespace.
const NS_CONFERENCE: &str = "jabber:x:conference";
/// XEP-0045's user namespace, of a `<decline/>`.
const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";

/// Whether a message to a room JID declines an invitation (XEP-0045
/// §7.8.2); the reason it gives, if any.
pub(super) fn decline_of(message: &Message) -> Option<Option<String>> {
    message
        .payloads
        .iter()
        .filter(|p| p.is("x", NS_MUC_USER))
        .find_map(|x| x.get_child("decline", NS_MUC_USER))
        .map(|d| {
            d.get_child("reason", NS_MUC_USER)
                .map(Element::text)
                .filter(|r| !r.trim().is_empty())
        })
}

impl Gateway {
    /// Shows the user an invitation of their session (`Event::Invited`)
    /// as XEP-0249.
    pub(super) async fn invited(&self, user: &BareJid, event: Event) {
        let Event::Invited {
            room,
            name,
            by,
            reason,
        } = event
        else {
            return;
        };
        let (by, reason) = (by.as_ref(), reason.as_deref());
        let Some(room_jid) = self.room_jid(&room) else {
            tracing::debug!("an invitation to a room that is no JID; dropped");
            return;
        };
        let from = by
            .and_then(|b| self.contact_jid(b))
            .unwrap_or_else(|| Jid::from(self.domain.clone()));
        let who = by.map_or("Someone", |b| b.as_str());
        let mut body = format!("{who} invites you to {name} ({room_jid}).");
        if let Some(reason) = reason {
            body.push_str(&format!(" \u{201c}{reason}\u{201d}"));
        }
        body.push_str(&format!(
            " Join the room to accept; to decline, decline in your client or send \
             \"decline {room_jid}\" to {}.",
            self.domain
        ));
        let an = |name: &str| NcName::try_from(name).expect("a valid attribute name");
        let mut x = Element::builder("x", NS_CONFERENCE).attr(an("jid"), room_jid.to_string());
        if let Some(reason) = reason {
            x = x.attr(an("reason"), reason);
        }
        let mut message = Message::new(Some(Jid::from(user.clone()))).with_body(Lang::new(), body);
        message.from = Some(from);
        message.payloads.push(x.build());
        self.send(message).await;
    }

    /// Declines an invitation to the room this JID stands for: the session
    /// leaves the room it was invited to.
    pub(super) async fn decline(
        self: &Arc<Self>,
        user: &BareJid,
        room_jid: &Jid,
        reason: Option<String>,
    ) -> bool {
        let room = self.room_of(room_jid);
        if room.as_str().is_empty() {
            return false;
        }
        self.command(user, Command::Leave { room, reason })
            .await
            .is_ok()
    }

    /// The chat command `decline ROOM-JID`.
    pub(super) async fn chat_decline(
        self: &Arc<Self>,
        user: &BareJid,
        arg: Option<&str>,
    ) -> String {
        let Some(arg) = arg else {
            return "Say which room: decline ROOM-JID".to_owned();
        };
        let room = arg
            .parse::<Jid>()
            .ok()
            .filter(|j| j.node().is_some() && j.domain() == self.domain.domain());
        let Some(room) = room else {
            return format!("\"{arg}\" is not a room of this gateway.");
        };
        if self.decline(user, &room, None).await {
            format!("You declined the invitation to {arg}.")
        } else {
            "Register with this gateway first.".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_muc_decline_is_found_with_its_reason() {
        // XEP-0045 Example 60, sent to the room.
        let declined: Element = "<message xmlns='jabber:component:accept' \
             from='hecate@shakespeare.lit/broom' to='coven@chat.shakespeare.lit'>\
             <x xmlns='http://jabber.org/protocol/muc#user'>\
             <decline to='crone1@shakespeare.lit'>\
             <reason>Sorry, I'm too busy right now.</reason></decline></x></message>"
            .parse()
            .unwrap();
        let message = Message::try_from(declined).unwrap();
        assert_eq!(
            decline_of(&message),
            Some(Some("Sorry, I'm too busy right now.".to_owned()))
        );
        let plain: Element = "<message xmlns='jabber:component:accept' \
             to='coven@chat.shakespeare.lit'><body>hi</body></message>"
            .parse()
            .unwrap();
        assert_eq!(decline_of(&Message::try_from(plain).unwrap()), None);
    }
}
