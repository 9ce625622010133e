//! The user's contacts at rest (the `contacts` table): each contact
//! `roster.rs` remembers is stored with its name and whether the roster
//! has it, read back when the gateway starts, so that after a restart the
//! contacts are known at once: their presence is sent again when the link
//! comes up, a probe is answered available, and the network reporting one
//! again pushes no second roster item nor asks for a second subscription.
//! A contact's picture is kept alongside (`avatars/kept.rs`).

use switchboard_bridge_api::UserId;
use tracing::warn;
use xmpp_parsers::jid::{BareJid, Jid};

use super::roster::MAX_CONTACTS;
use super::Gateway;
use crate::store::StoredContact;

impl Gateway {
    /// Stores a contact of the user as `roster.rs` now knows it.
    pub(super) async fn keep_contact(
        &self,
        user: &BareJid,
        contact: &str,
        name: &str,
        in_roster: bool,
    ) {
        let stored = StoredContact {
            contact: contact.to_owned(),
            name: name.to_owned(),
            in_roster,
        };
        if let Err(e) = self
            .store
            .save_contact(&user.to_string(), &self.network, &stored)
            .await
        {
            warn!(error = %e, "cannot store a contact");
        }
        self.keep_avatar(user, &UserId(contact.to_owned())).await;
    }

    /// Forgets a stored contact of the user and their picture (removed
    /// from their roster), so that a restart does not bring them back.
    pub(super) async fn drop_kept_contact(&self, user: &BareJid, contact: &str) {
        let user = user.to_string();
        let store = &self.store;
        let (row, picture) = tokio::join!(
            store.delete_contact(&user, &self.network, contact),
            store.delete_contact_avatar(&user, &self.network, contact),
        );
        if let Err(e) = row.and(picture) {
            warn!(error = %e, "cannot forget a stored contact");
        }
    }

    /// Reads the user's stored contacts into memory (those already known
    /// in this process are left as they are), then their pictures
    /// (`avatars/kept.rs`).
    pub(super) async fn restore_contacts(&self, user: &BareJid) {
        let stored = match self
            .store
            .contacts(&user.to_string(), &self.network, MAX_CONTACTS)
            .await
        {
            Ok(stored) => stored,
            Err(e) => return warn!(error = %e, "cannot read the stored contacts"),
        };
        if stored.is_empty() {
            return;
        }
        {
            let mut contacts = self.contacts.lock().unwrap();
            let known = contacts.users.entry(user.clone()).or_default();
            for c in stored {
                if known.len() >= MAX_CONTACTS {
                    break;
                }
                known.entry(c.contact).or_insert((c.name, c.in_roster));
            }
        }
        self.restore_avatars(user).await;
    }

    /// Each known contact of the user says it is available (the link came
    /// up: after a restart the user's clients hear of them again).
    pub(super) async fn announce_contacts(&self, user: &BareJid) {
        let ids: Vec<String> = {
            let contacts = self.contacts.lock().unwrap();
            let Some(known) = contacts.users.get(user) else {
                return;
            };
            known.keys().cloned().collect()
        };
        for id in ids {
            let Some(contact) = self.id_jid(&id) else {
                continue;
            };
            let presence = self
                .contact_available(user, &UserId(id))
                .with_from(Jid::from(contact))
                .with_to(Jid::from(user.clone()));
            self.send(presence).await;
        }
    }
}
