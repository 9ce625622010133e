//! Where the signals around messages enter and leave: XEP-0085 chat states
//! (`chat_states.rs`), XEP-0333 displayed markers (`markers.rs`, and the
//! `<markable/>` on delivered messages), and the
//! disco features of those and of XEP-0461 replies (`replies.rs`), each
//! advertised only where the network's capabilities have it.

use switchboard_bridge_api::{Event, Message as NetMessage, Target, UserId};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

use super::replies::Extras;
use super::Gateway;
use crate::component::Outgoing;
use crate::xmpp::reply;

impl Gateway {
    /// A client's message to a room or contact: its chat state and
    /// displayed marker, for the network.
    pub(super) async fn signals_in(&self, user: &BareJid, target: &Target, message: &Message) {
        self.chat_state_in(user, target, message).await;
        self.marker_in(user, target, message).await;
    }

    /// A network's `Typing` or `ReadUpTo`, to the user's clients.
    pub(super) async fn signal_event(&self, user: &BareJid, event: Event) {
        match event {
            Event::Typing {
                target,
                author,
                state,
            } => {
                let state: Element = super::chat_states::chat_state_of(state).into();
                self.signal_from(user, &target, &author, state).await;
            }
            Event::ReadUpTo {
                target,
                author,
                message,
            } => {
                if let Some(displayed) = self.marker_out(user, &target, &message).await {
                    self.signal_from(user, &target, &author, displayed).await;
                }
            }
            _ => {}
        }
    }

    /// A bodiless message carrying `payload` from `author`: in a room from
    /// their occupant JID (with their occupant-id) to each joined resource,
    /// in a direct chat from the contact's JID. No stanza-id: it is no
    /// message of the conversation's history.
    async fn signal_from(
        &self,
        user: &BareJid,
        target: &Target,
        author: &UserId,
        payload: Element,
    ) {
        match target {
            Target::Room(room) => {
                let (nick, key) = self.author(user, room, author, author.as_str());
                let Some(from) = self.occupant_jid(room, &nick) else {
                    return;
                };
                let occupant_id = key.id_bytes();
                self.to_joined(user, room, |to| {
                    let mut m = Message::groupchat(Some(to));
                    m.from = Some(from.clone());
                    m.payloads.push(payload.clone());
                    Some(Outgoing::from(m).with_occupant_id(occupant_id))
                })
                .await;
            }
            Target::User(peer) => {
                let Some(from) = self.contact_jid(peer) else {
                    return;
                };
                let mut m = Message::chat(Some(Jid::from(user.clone())));
                m.from = Some(from);
                m.payloads.push(payload);
                self.send(m).await;
            }
        }
    }

    /// What a network message's stanza gets besides its body and ids: its
    /// reply (`replies.rs`), its files (`files.rs`), and `<markable/>` on others' messages where the
    /// network has read markers (clients send displayed markers only for
    /// markable messages, XEP-0333 §4).
    pub(super) async fn extras_out(&self, user: &BareJid, m: &NetMessage) -> Extras {
        let mut extras = self.reply_out(user, &m.target, m.reply_to.as_ref()).await;
        // XEP-0066: the files' URLs, passed through (`files.rs`).
        let (files, oob) = super::files::files_out(&m.text, &m.attachments);
        extras.files = files;
        extras.payloads.extend(oob);
        if !m.own && self.bridge.info().capabilities.read_markers {
            extras
                .payloads
                .push(xmpp_parsers::displayed_markers::Markable.into());
        }
        extras
    }

    /// The disco features of the message signals `caps` carry (a room's,
    /// or the network's on contacts).
    pub(super) fn signal_features(
        caps: &switchboard_bridge_api::Capabilities,
    ) -> impl Iterator<Item = String> {
        [
            (caps.typing, ns::CHATSTATES),
            (caps.read_markers, ns::DISPLAYED_MARKERS),
            (caps.replies, reply::NS_REPLY),
            (caps.replies, reply::NS_FALLBACK),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, feature)| feature.to_owned())
    }
}
