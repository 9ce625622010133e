//! Contacts' pictures at rest (the `contact_avatars` table): a contact's
//! picture is stored with its URL when it changes (or when a person whose
//! picture is known becomes a contact), and read back with the contacts at
//! start-up into the cache, so that after a restart the contact's presence
//! carries the same XEP-0153 hash, a vCard or XEP-0084 data get is answered
//! with the picture, and the network telling the same URL again fetches
//! nothing. The bytes are stored, not just the URL: a picture is at most
//! [`MAX_AVATAR`](super::MAX_AVATAR) bytes, and a URL alone would need a fetch (and may have
//! expired). The hash and type are read from the bytes when loaded.
//! Occupants who are no contact are not stored. Every stored picture is
//! read at start-up, and the cache's bound holds for them too: past
//! `MAX_BYTES` a network's oldest are dropped, and such a contact keeps
//! the hash in presence but has no PHOTO, and their URL is fetched again,
//! until the network tells it (as before this module).

use std::sync::Arc;

use switchboard_bridge_api::UserId;
use tracing::warn;
use xmpp_parsers::jid::BareJid;

use super::{image_type, sha1_hex, Avatars, Image, MAX_URLS};
use crate::gateway::roster::MAX_CONTACTS;
use crate::gateway::Gateway;
use crate::store::StoredAvatar;

impl Avatars {
    /// A person's kept picture and the URL it came from (empty when that
    /// was forgotten, [`MAX_URLS`]), if the picture is kept.
    fn picture_of(&self, user: &BareJid, person: &UserId) -> Option<(String, Image)> {
        let state = self.state.lock().unwrap();
        let hash = state.people.get(user)?.get(person)?.as_ref()?;
        let image = state.images.get(hash)?.clone();
        let url = state
            .by_url
            .iter()
            .find(|(_, h)| *h == hash)
            .map(|(url, _)| url.clone())
            .unwrap_or_default();
        Some((url, image))
    }

    /// Puts a stored picture in the cache as the person's, unless this
    /// process already knows theirs; false if its bytes are no picture.
    fn restore(&self, user: &BareJid, person: UserId, url: String, bytes: Vec<u8>) -> bool {
        let Some(media_type) = image_type(&bytes) else {
            return false;
        };
        let hash: Arc<str> = sha1_hex(&bytes).into();
        let mut state = self.state.lock().unwrap();
        let image = Image {
            bytes: bytes.into(),
            media_type,
        };
        state.keep(Arc::clone(&hash), image);
        if !url.is_empty() {
            if state.by_url.len() >= MAX_URLS {
                state.by_url.clear();
            }
            state.by_url.insert(url, Arc::clone(&hash));
        }
        state
            .people
            .entry(user.clone())
            .or_default()
            .entry(person)
            .or_insert(Some(hash));
        true
    }
}

impl Gateway {
    /// Stores the person's picture as now known (or forgets the stored one
    /// when they have none), if they are the user's contact.
    pub(in crate::gateway) async fn keep_avatar(&self, user: &BareJid, person: &UserId) {
        if self.contact_name(user, person).is_none() {
            return;
        }
        let (who, network) = (user.to_string(), &self.network);
        let done = match self.avatars.hash(user, person) {
            None => return,
            Some(None) => {
                self.store
                    .delete_contact_avatar(&who, network, person.as_str())
                    .await
            }
            Some(Some(_)) => {
                let Some((url, image)) = self.avatars.picture_of(user, person) else {
                    return;
                };
                let stored = StoredAvatar {
                    contact: person.0.clone(),
                    url,
                    bytes: image.bytes.to_vec(),
                };
                self.store.save_contact_avatar(&who, network, &stored).await
            }
        };
        if let Err(e) = done {
            warn!(error = %e, "cannot store a contact's picture");
        }
    }

    /// Reads the user's stored contacts' pictures into the cache (start-up,
    /// after the contacts).
    pub(in crate::gateway) async fn restore_avatars(&self, user: &BareJid) {
        let stored = match self
            .store
            .contact_avatars(&user.to_string(), &self.network, MAX_CONTACTS)
            .await
        {
            Ok(stored) => stored,
            Err(e) => return warn!(error = %e, "cannot read the stored contacts' pictures"),
        };
        for a in stored {
            if !self
                .avatars
                .restore(user, UserId(a.contact), a.url, a.bytes)
            {
                warn!("a stored contact's picture is no picture: ignored");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_picture_is_the_persons_and_its_urls_unless_known() {
        let avatars = Avatars::default();
        let user: BareJid = "alice@localhost".parse().unwrap();
        let png = b"\x89PNG\r\n\x1a\nbob".to_vec();
        let hash: Arc<str> = sha1_hex(&png).into();
        assert!(!avatars.restore(&user, UserId("bob".into()), "u".into(), b"<svg".to_vec()));
        assert_eq!(avatars.hash(&user, &UserId("bob".into())), None);

        assert!(avatars.restore(&user, UserId("bob".into()), "u".into(), png.clone()));
        assert_eq!(
            avatars.hash(&user, &UserId("bob".into())),
            Some(Some(Arc::clone(&hash)))
        );
        assert_eq!(avatars.state.lock().unwrap().cached("u"), Some(hash));
        let (url, image) = avatars.picture_of(&user, &UserId("bob".into())).unwrap();
        assert_eq!((url.as_str(), &*image.bytes), ("u", &png[..]));

        // What this process already knows wins over the stored picture.
        avatars.set(&user, UserId("carol".into()), None);
        assert!(avatars.restore(&user, UserId("carol".into()), "v".into(), png));
        assert_eq!(avatars.hash(&user, &UserId("carol".into())), Some(None));
    }
}
