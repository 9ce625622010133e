//! The user's contacts in their roster, and what they wrote from elsewhere.
//!
//! With XEP-0356 (the server's `<privilege/>` after each connect, kept per
//! user domain): a contact the network reports is put in the user's roster
//! by a roster set on their behalf, in a group named after the network, and
//! a direct message the user wrote from another client of the network is
//! delivered to their clients as a XEP-0280 `<sent/>` carbon from their own
//! bare JID. Without it (XEP-0100 §4.1, §5): the contact asks the user for a
//! subscription, subscriptions to contact JIDs are answered for the contact,
//! probes with what the network said; the message from elsewhere comes from
//! the contact, marked as the user's own. Nothing is dropped silently.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use switchboard_bridge_api::{Command, Message, UserId};
use tracing::{debug, info, warn};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message as XmppMessage};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use super::Gateway;
use crate::xmpp::privilege::{self, Privileges};

/// How the line of a message the user wrote from elsewhere starts, where
/// no carbon can carry it.
pub(super) const ELSEWHERE: &str = "[sent by you from elsewhere] ";

/// Contacts remembered per user (beyond this, older ones are not pushed
/// again and probes about them are answered unavailable).
pub(super) const MAX_CONTACTS: usize = 4096;

/// The prefix of the ids of the roster sets the gateway sends.
const ROSTER_SET_ID: &str = "sb-roster-";

/// XEP-0172 user nickname, on a subscription request.
const NS_NICK: &str = "http://jabber.org/protocol/nick";

/// Roster sets awaiting the server's answer, at most (older ones are
/// forgotten: their refusal is then only logged).
const MAX_SETS: usize = 256;

/// What the gateway knows of each user's contacts in this process.
#[derive(Default)]
pub(super) struct Contacts {
    /// Per user: contact id → (display name, whether the roster has it);
    /// also in the store (`contacts_kept.rs`).
    pub(super) users: HashMap<BareJid, HashMap<String, (String, bool)>>,
    /// What each server (user domain) granted on this link.
    granted: HashMap<String, Privileges>,
    /// Roster sets sent: (iq id, user, contact id, name), oldest first.
    sets: VecDeque<(String, BareJid, String, String)>,
}

/// A fresh id for a roster set.
fn next_set_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{ROSTER_SET_ID}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Gateway {
    /// A new link: what the last one was granted is void until the server
    /// says it again.
    pub(super) fn forget_privileges(&self) {
        self.contacts.lock().unwrap().granted.clear();
    }

    /// Notes the `<privilege/>` of a message to the domain, if it has one
    /// (then it is consumed): only from a server (a bare domain) whose users
    /// may register. Contacts already reported are put in the roster now,
    /// stored rooms in the bookmarks (`bookmarks.rs`).
    pub(super) async fn note_privileges(
        self: &Arc<Self>,
        message: &xmpp_parsers::message::Message,
    ) -> bool {
        let Some(granted) = privilege::privileges_of(&message.payloads) else {
            return false;
        };
        let Some(from) = &message.from else {
            return true;
        };
        if from.node().is_some() || from.resource().is_some() {
            warn!(from = %from, "a <privilege/> not from a server; ignored");
            return true;
        }
        if !self.config.may_register(from) {
            debug!(from = %from, "privileges for a domain whose users may not register; ignored");
            return true;
        }
        let domain = from.domain().as_str().to_owned();
        info!(server = %domain, roster = granted.roster_set, messages = granted.message_outgoing,
            "XEP-0356 privileges granted");
        let waiting: Vec<(BareJid, String, String)> = {
            let mut contacts = self.contacts.lock().unwrap();
            contacts.granted.insert(domain.clone(), granted);
            if granted.pubsub_iq {
                let gateway = Arc::clone(self);
                let domain = domain.clone();
                tokio::spawn(async move { gateway.bookmark_stored_rooms(&domain).await });
            }
            if !granted.roster_set {
                return true;
            }
            contacts
                .users
                .iter()
                .filter(|(user, _)| user.domain().as_str() == domain)
                .flat_map(|(user, known)| {
                    known
                        .iter()
                        .filter(|(_, (_, pushed))| !pushed)
                        .map(|(id, (name, _))| (user.clone(), id.clone(), name.clone()))
                })
                .collect()
        };
        for (user, id, name) in waiting {
            self.contact_added(&user, UserId(id), name).await;
        }
        true
    }

    /// What the user's server granted.
    pub(super) fn privileges(&self, user: &BareJid) -> Privileges {
        let contacts = self.contacts.lock().unwrap();
        contacts
            .granted
            .get(user.domain().as_str())
            .copied()
            .unwrap_or_default()
    }

    /// A contact the network reported: in the user's roster under the
    /// network's name (privileged), or asking for a subscription; then
    /// available. Pushed once per name and process.
    pub(super) async fn contact_added(&self, user: &BareJid, peer: UserId, name: String) {
        let Some(contact) = self.id_jid(peer.as_str()) else {
            return;
        };
        let granted = self.privileges(user);
        let (new, remembered) = {
            let mut contacts = self.contacts.lock().unwrap();
            let known = contacts.users.entry(user.clone()).or_default();
            let full = known.len() >= MAX_CONTACTS;
            match known.get_mut(peer.as_str()) {
                Some((old, pushed)) if *old == name && (*pushed || !granted.roster_set) => {
                    (false, false)
                }
                Some(entry) => {
                    *entry = (name.clone(), granted.roster_set);
                    (true, true)
                }
                None if full => (true, false),
                None => {
                    known.insert(peer.0.clone(), (name.clone(), granted.roster_set));
                    (true, true)
                }
            }
        };
        if remembered {
            self.keep_contact(user, peer.as_str(), &name, granted.roster_set)
                .await;
        }
        if new && granted.roster_set {
            let id = next_set_id();
            {
                let mut contacts = self.contacts.lock().unwrap();
                if contacts.sets.len() >= MAX_SETS {
                    contacts.sets.pop_front();
                }
                let set = (id.clone(), user.clone(), peer.0.clone(), name.clone());
                contacts.sets.push_back(set);
            }
            let set = Iq::Set {
                from: Some(Jid::from(self.domain.clone())),
                to: Some(Jid::from(user.clone())),
                id,
                payload: privilege::roster_item(&contact, &name, self.bridge.info().display_name),
            };
            self.send(set).await;
        } else if new {
            self.ask_subscription(user, &contact, name).await;
        }
        self.send(
            self.contact_available(user, &peer)
                .with_from(Jid::from(contact))
                .with_to(Jid::from(user.clone())),
        )
        .await;
    }

    /// A contact's name as the network reported it, if they are one.
    pub(super) fn contact_name(&self, user: &BareJid, peer: &UserId) -> Option<String> {
        let contacts = self.contacts.lock().unwrap();
        let (name, _) = contacts.users.get(user)?.get(peer.as_str())?;
        Some(name.clone())
    }

    /// The contact asks the user for a subscription (XEP-0100 §4.1, the
    /// name as XEP-0172 nick).
    async fn ask_subscription(&self, user: &BareJid, contact: &BareJid, name: String) {
        let mut ask = Presence::subscribe()
            .with_from(Jid::from(contact.clone()))
            .with_to(Jid::from(user.clone()));
        if !name.is_empty() {
            ask.payloads
                .push(Element::builder("nick", NS_NICK).append(name).build());
        }
        self.send(ask).await;
    }

    /// The user removed a contact (a roster removal sends an unsubscribe,
    /// RFC 6121 §3.3.2; XEP-0100 §6.3): forgotten here, and the session
    /// ends the direct chat at the network (`Command::RemoveContact`).
    async fn contact_removed(self: &Arc<Self>, user: &BareJid, contact: &Jid) {
        let Some(id) = self.jid_id(contact) else {
            return;
        };
        if let Some(known) = self.contacts.lock().unwrap().users.get_mut(user) {
            known.remove(&id);
        }
        self.drop_kept_contact(user, &id).await;
        let remove = Command::RemoveContact { user: UserId(id) };
        if self.command(user, remove).await.is_err() {
            debug!("a contact's removal was not sent to the network");
        }
    }

    /// The user unregistered: the contacts reported in this process leave
    /// their roster (a roster remove where it was pushed; otherwise both
    /// subscriptions cancelled, XEP-0100 §4.3) and are forgotten.
    pub(super) async fn forget_contacts(&self, user: &BareJid) {
        let known = self.contacts.lock().unwrap().users.remove(user);
        self.avatars.forget(user);
        let granted = self.privileges(user);
        for (id, (_, pushed)) in known.into_iter().flatten() {
            let Some(contact) = self.id_jid(&id) else {
                continue;
            };
            if pushed && granted.roster_set {
                let remove = privilege::roster_removal(&contact);
                self.send(Iq::Set {
                    from: Some(Jid::from(self.domain.clone())),
                    to: Some(Jid::from(user.clone())),
                    id: next_set_id(),
                    payload: remove,
                })
                .await;
                continue;
            }
            for p in [
                Presence::unsubscribe(),
                Presence::new(Type::Unsubscribed),
                Presence::unavailable(),
            ] {
                self.send(
                    p.with_from(Jid::from(contact.clone()))
                        .with_to(Jid::from(user.clone())),
                )
                .await;
            }
        }
    }

    /// The server's answer to an iq the gateway sent: for a roster set it
    /// refused (ejabberd 23.01 fails every one, its issue 3942), the
    /// contact asks for a subscription instead. Other answers need nothing.
    pub(super) async fn roster_answered(&self, iq: Iq) {
        let (id, refused) = match &iq {
            Iq::Result { id, .. } => (id, None),
            Iq::Error { id, error, .. } => (id, Some(error.defined_condition.clone())),
            _ => return,
        };
        if !id.starts_with(ROSTER_SET_ID) {
            return;
        }
        let set = {
            let mut contacts = self.contacts.lock().unwrap();
            let set = contacts
                .sets
                .iter()
                .position(|(i, ..)| i == id)
                .and_then(|at| contacts.sets.remove(at));
            if let (Some((_, user, contact, _)), Some(_)) = (&set, &refused) {
                if let Some((_, pushed)) = contacts
                    .users
                    .get_mut(user)
                    .and_then(|k| k.get_mut(contact))
                {
                    *pushed = false;
                }
            }
            set
        };
        let Some(condition) = refused else { return };
        let Some((_, user, contact, name)) = set else {
            warn!(?condition, "the server refused a roster set");
            return;
        };
        self.keep_contact(&user, &contact, &name, false).await;
        warn!(
            ?condition,
            "the server refused a roster set; asking for a subscription instead"
        );
        if let Some(jid) = self.id_jid(&contact) {
            self.ask_subscription(&user, &jid, name).await;
        }
    }

    /// A presence to a contact JID (RFC 6121, XEP-0100 §4.1): a
    /// subscription is approved for the contact (for registered users), an
    /// unsubscription acknowledged, a probe answered with what the network
    /// said (available once reported, in this process or stored).
    pub(super) async fn contact_presence(self: &Arc<Self>, presence: Presence) {
        let (Some(from), Some(to)) = (presence.from, presence.to) else {
            return;
        };
        let user = from.to_bare();
        let contact = to.to_bare();
        let reply = match presence.type_ {
            Type::Subscribe if self.is_registered(&user).await => {
                self.send(
                    Presence::subscribed()
                        .with_from(Jid::from(contact.clone()))
                        .with_to(Jid::from(user.clone())),
                )
                .await;
                self.contact_available(&user, &UserId(self.jid_id(&to).unwrap_or_default()))
            }
            Type::Unsubscribe if self.is_registered(&user).await => {
                self.contact_removed(&user, &to).await;
                Presence::new(Type::Unsubscribed)
            }
            Type::Subscribe | Type::Unsubscribe => Presence::new(Type::Unsubscribed),
            Type::Probe => {
                let id = self.jid_id(&to).unwrap_or_default();
                let known = self
                    .contacts
                    .lock()
                    .unwrap()
                    .users
                    .get(&user)
                    .is_some_and(|k| k.contains_key(&id));
                if known && self.is_registered(&user).await {
                    self.contact_available(&user, &UserId(id))
                } else {
                    Presence::unavailable()
                }
            }
            other => {
                debug!(?other, "presence to a contact noted");
                return;
            }
        };
        self.send(reply.with_from(Jid::from(contact)).with_to(Jid::from(user)))
            .await;
    }

    /// A direct message the user wrote from another client of the network
    /// (`own`, no token): a `<sent/>` carbon where the server lets the
    /// gateway send on the user's behalf, else a marked line from the contact.
    pub(super) async fn own_elsewhere(&self, user: &BareJid, m: &Message, peer: &UserId) {
        let Some(contact) = self.id_jid(peer.as_str()) else {
            warn!(peer = %peer.as_str().escape_debug(), "own message to an id that is no JID; dropped");
            return;
        };
        let text = super::action::body_of(m.kind, &m.text);
        let id = Some(m.id.as_str().to_owned()).filter(|i| !i.is_empty());
        let granted = self.privileges(user);
        if granted.message_outgoing {
            let payload =
                privilege::carbon(granted.namespace, user, &contact, id.as_deref(), &text);
            let server = Jid::from(BareJid::from_parts(None, user.domain()));
            let mut wrapper = XmppMessage::new(Some(server));
            wrapper.from = Some(Jid::from(self.domain.clone()));
            wrapper.payloads.push(payload);
            return self.send(wrapper).await;
        }
        let mut line = XmppMessage::chat(Some(Jid::from(user.clone())))
            .with_body(Lang::new(), format!("{ELSEWHERE}{text}"));
        line.from = Some(Jid::from(contact));
        line.id = id.map(Id);
        self.send(line).await;
    }
}
