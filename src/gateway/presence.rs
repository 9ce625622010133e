//! Presence: which of a user's resources are online, the gateway's own
//! presence (with XEP-0115 caps), subscriptions (XEP-0100 §4).

use std::sync::Arc;
use tracing::debug;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::presence::{Presence, Type};

use super::Gateway;
use crate::xmpp::disco;

impl Gateway {
    /// The gateway's own available presence, with caps.
    pub(super) fn own_presence(&self) -> Presence {
        let info = self.bridge.info();
        let caps = disco::caps_for(&disco::domain_info(info));
        let mut p = Presence::available().with_from(Jid::from(self.domain.clone()));
        p.payloads.push(caps.into());
        p
    }

    /// After each (re)connect: tell every registered user the gateway is
    /// here, probe for their resources, and their known contacts are
    /// available (`contacts_kept.rs`).
    pub(super) async fn announce(&self) {
        let users = match self.users().await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list users to announce presence");
                return;
            }
        };
        let domain = Jid::from(self.domain.clone());
        for user in users {
            let Ok(to) = user.parse::<Jid>() else {
                continue;
            };
            self.send(self.own_presence().with_to(to.clone())).await;
            self.send(Presence::probe().with_from(domain.clone()).with_to(to))
                .await;
            if let Ok(user) = user.parse() {
                self.announce_contacts(&user).await;
            }
        }
    }

    /// Whether any resource of the user is online.
    pub fn is_online(&self, user: &xmpp_parsers::jid::BareJid) -> bool {
        self.online
            .lock()
            .unwrap()
            .get(user)
            .is_some_and(|r| !r.is_empty())
    }

    pub(super) async fn handle_presence(self: &Arc<Self>, presence: Presence) {
        let Some(from) = presence.from.clone() else {
            return;
        };
        // The user's own picture, wherever the presence goes (`avatars/own.rs`).
        self.own_presence_seen(&presence);
        let to_domain = presence.to.as_ref().is_none_or(|t| t.node().is_none());
        if !to_domain {
            if presence.to.as_ref().is_some_and(|t| t.resource().is_some()) {
                self.handle_room_presence(presence).await;
            } else {
                self.contact_presence(presence).await;
            }
            return;
        }
        let user = from.to_bare();
        let registered = self.registered(&user).await.is_some();
        let domain = Jid::from(self.domain.clone());
        match presence.type_ {
            Type::None => {
                if let Ok(full) = from.try_as_full() {
                    let mut online = self.online.lock().unwrap();
                    let resources = online.entry(user.clone()).or_default();
                    if !resources.contains(full) {
                        resources.push(full.clone());
                    }
                }
                if registered {
                    self.send(self.own_presence().with_to(from)).await;
                }
            }
            Type::Unavailable => {
                let mut online = self.online.lock().unwrap();
                if let (Ok(full), Some(set)) = (from.try_as_full(), online.get_mut(&user)) {
                    set.retain(|r| r != full);
                    if set.is_empty() {
                        online.remove(&user);
                    }
                }
            }
            Type::Probe => {
                let reply = if registered {
                    self.own_presence()
                } else {
                    Presence::unavailable().with_from(domain)
                };
                self.send(reply.with_to(from)).await;
            }
            Type::Subscribe => {
                let reply = if registered {
                    Presence::subscribed()
                } else {
                    Presence::new(Type::Unsubscribed)
                };
                self.send(reply.with_from(domain).with_to(user.clone()))
                    .await;
                if registered {
                    self.send(self.own_presence().with_to(user)).await;
                }
            }
            // The user accepted the gateway's subscription: its presence
            // to their bare JID, whose caps ask their PEP service for
            // XEP-0084 notifications (`avatars/own.rs`).
            Type::Subscribed if registered && self.bridge.info().capabilities.own_avatar => {
                self.send(self.own_presence().with_to(user)).await;
            }
            Type::Subscribed | Type::Unsubscribe | Type::Unsubscribed | Type::Error => {
                debug!(?presence.type_, "presence noted");
            }
        }
    }
}
