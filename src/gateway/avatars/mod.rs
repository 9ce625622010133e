//! People's avatars from the network (XEP-0153 over XEP-0054).
//!
//! A session tells `Event::AvatarChanged { user, avatar }`; the picture is
//! fetched off the session's pump (`files/`: public URLs over HTTP, the
//! session's `FileFetcher` for those that need credentials), at most
//! [`MAX_AVATAR`] bytes, and kept only when its bytes are PNG, JPEG, GIF or
//! WebP. A URL is fetched once while its picture is cached (one fetch at a
//! time per network, so a picture several users' sessions tell at once is
//! fetched once), and pictures are kept by their SHA-1 (the XEP-0153 hash).
//! Then every presence of that person carries the hash (occupants in each
//! of the user's rooms, the contact; `vcard.rs` builds the `<x/>`) and a
//! new presence is sent where it changed; a vcard-temp get to the
//! occupant's or the contact's JID is answered with the picture, and a
//! XEP-0084 items get on a contact's JID (`pep.rs`). A contact's picture
//! is also stored, and read back at start-up (`kept.rs`).
//!
//! The XMPP user's own picture, for networks that show it by URL, is
//! `own.rs`.
//!
//! Bounds: pictures [`MAX_BYTES`] in all (oldest dropped first; a person
//! whose picture was dropped keeps the hash in presence, and their vCard has
//! no PHOTO until the network tells it again), [`MAX_URLS`] URLs,
//! [`MAX_PEOPLE`] people per user (past it, one is forgotten),
//! [`MAX_WAITING`] changes waiting for their fetch.

mod kept;
mod own;
mod pep;
mod vcard;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use sha1::{Digest, Sha1};
use switchboard_bridge_api::{AvatarRef, FileFetcher, UserId};
use tracing::{debug, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::presence::Presence;

use super::Gateway;

pub(super) use own::OwnAvatars;
pub(super) use pep::{PepAnswer, DATA as AVATAR_DATA, METADATA as AVATAR_METADATA, PUBSUB};
pub(super) use vcard::{update_element, VCARD};

/// The largest picture fetched, in bytes.
pub(super) const MAX_AVATAR: u64 = 128 * 1024;
/// All pictures kept, in bytes, per network (64 of the largest).
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// URLs remembered with their picture's hash, per network.
const MAX_URLS: usize = 4096;
/// People whose avatar is known, per user.
const MAX_PEOPLE: usize = 4096;
/// Avatar changes waiting for a fetch, per network: past it, a change is
/// dropped (logged), so a bridge telling thousands at a join cannot pile
/// up tasks.
const MAX_WAITING: usize = 1024;

/// A picture.
#[derive(Clone)]
pub(super) struct Image {
    /// Its bytes.
    pub bytes: Arc<[u8]>,
    /// Its type, read from the bytes.
    pub media_type: &'static str,
}

/// What a network's gateway knows of avatars.
#[derive(Default)]
pub(super) struct Avatars {
    state: Mutex<State>,
    /// One fetch at a time (see the module's doc).
    fetching: tokio::sync::Mutex<()>,
    /// Changes taken and not yet done.
    waiting: std::sync::atomic::AtomicUsize,
}

/// Counts a change as waiting while it lives.
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Default)]
struct State {
    /// Pictures by SHA-1 (lower-case hex).
    images: HashMap<Arc<str>, Image>,
    /// The same hashes, oldest first.
    order: VecDeque<Arc<str>>,
    /// The bytes of all `images`.
    bytes: usize,
    /// URL → its picture's hash.
    by_url: HashMap<String, Arc<str>>,
    /// Per user: person → their picture's hash (`None`: they have none).
    people: HashMap<BareJid, HashMap<UserId, Option<Arc<str>>>>,
}

impl State {
    fn keep(&mut self, hash: Arc<str>, image: Image) {
        if self.images.contains_key(&hash) {
            return;
        }
        self.bytes += image.bytes.len();
        self.images.insert(Arc::clone(&hash), image);
        self.order.push_back(hash);
        while self.bytes > MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.images.remove(&old) {
                self.bytes -= gone.bytes.len();
            }
        }
    }

    /// The cached hash of this URL's picture, if the picture is still kept.
    fn cached(&self, url: &str) -> Option<Arc<str>> {
        self.by_url
            .get(url)
            .filter(|h| self.images.contains_key(*h))
            .cloned()
    }
}

impl Avatars {
    /// A person's picture hash: `None` when unknown, `Some(None)` when
    /// they have none.
    pub(super) fn hash(&self, user: &BareJid, person: &UserId) -> Option<Option<Arc<str>>> {
        let state = self.state.lock().unwrap();
        state.people.get(user)?.get(person).cloned()
    }

    /// A person's picture, if kept.
    pub(super) fn image(&self, user: &BareJid, person: &UserId) -> Option<Image> {
        let state = self.state.lock().unwrap();
        let hash = state.people.get(user)?.get(person)?.as_ref()?;
        state.images.get(hash).cloned()
    }

    /// Notes a person's hash; whether it changed.
    fn set(&self, user: &BareJid, person: UserId, hash: Option<Arc<str>>) -> bool {
        let mut state = self.state.lock().unwrap();
        let people = state.people.entry(user.clone()).or_default();
        if people.get(&person) == Some(&hash) {
            return false;
        }
        if people.len() >= MAX_PEOPLE && !people.contains_key(&person) {
            if let Some(any) = people.keys().next().cloned() {
                people.remove(&any);
            }
        }
        people.insert(person, hash);
        true
    }

    /// Whether the network told any picture to this user's session.
    pub(super) fn knows_any(&self, user: &BareJid) -> bool {
        self.state.lock().unwrap().people.contains_key(user)
    }

    /// Forgets a user's people (unregistered).
    pub(super) fn forget(&self, user: &BareJid) {
        self.state.lock().unwrap().people.remove(user);
    }
}

/// The type of a picture, from its first bytes: PNG, JPEG, GIF or WebP only.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The XEP-0153 hash: SHA-1 of the bytes, lower-case hex.
fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Gateway {
    /// `Event::AvatarChanged`: fetched off the pump, then announced where
    /// the hash changed.
    pub(super) fn avatar_changed(
        self: &Arc<Self>,
        user: &BareJid,
        person: UserId,
        avatar: Option<AvatarRef>,
        fetcher: Option<Arc<dyn FileFetcher>>,
    ) {
        use std::sync::atomic::Ordering;
        if self.avatars.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING {
            self.avatars.waiting.fetch_sub(1, Ordering::Relaxed);
            static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !TOLD.swap(true, Ordering::Relaxed) {
                warn!("too many avatar changes waiting: changes are dropped (logged once)");
            }
            return;
        }
        let this = Arc::clone(self);
        let user = user.clone();
        tokio::spawn(async move {
            let _waiting = Waiting(&this.avatars.waiting);
            let hash = match avatar {
                None => None,
                Some(avatar) => match this.avatar_hash(&avatar, fetcher.as_deref()).await {
                    Some(hash) => Some(hash),
                    None => return,
                },
            };
            if this.avatars.set(&user, person.clone(), hash) {
                this.announce_avatar(&user, &person).await;
                this.keep_avatar(&user, &person).await;
            }
        });
    }

    /// The picture's hash, fetched unless its URL's picture is kept.
    async fn avatar_hash(
        &self,
        avatar: &AvatarRef,
        fetcher: Option<&dyn FileFetcher>,
    ) -> Option<Arc<str>> {
        if let Some(hash) = self.avatars.state.lock().unwrap().cached(&avatar.url) {
            return Some(hash);
        }
        let _one = self.avatars.fetching.lock().await;
        if let Some(hash) = self.avatars.state.lock().unwrap().cached(&avatar.url) {
            return Some(hash);
        }
        let file = avatar.as_attachment();
        let bytes = match self.files.fetch_small(&file, fetcher, MAX_AVATAR).await {
            Ok(bytes) => bytes,
            Err(e) => {
                warn!(error = %e, "could not fetch an avatar");
                return None;
            }
        };
        let Some(media_type) = image_type(&bytes) else {
            warn!("an avatar that is not PNG, JPEG, GIF or WebP was ignored");
            return None;
        };
        let hash: Arc<str> = sha1_hex(&bytes).into();
        debug!(%hash, size = bytes.len(), "avatar fetched");
        let mut state = self.avatars.state.lock().unwrap();
        let image = Image {
            bytes: bytes.into(),
            media_type,
        };
        state.keep(Arc::clone(&hash), image);
        if state.by_url.len() >= MAX_URLS {
            state.by_url.clear();
        }
        state.by_url.insert(avatar.url.clone(), Arc::clone(&hash));
        Some(hash)
    }

    /// A changed picture: the person's occupant presence again in each of
    /// the user's rooms with them, and the contact's presence and XEP-0084
    /// metadata notification (`pep.rs`) if they are one.
    async fn announce_avatar(&self, user: &BareJid, person: &UserId) {
        self.occupant_again(user, person).await;
        if self.contact_name(user, person).is_some() {
            if let Some(contact) = self.id_jid(person.as_str()) {
                let p = self
                    .contact_available(user, person)
                    .with_from(Jid::from(contact.clone()));
                self.send(p.with_to(Jid::from(user.clone()))).await;
                if let Some(m) = self.avatar_notification(user, person, &contact) {
                    self.send(m).await;
                }
            }
        }
    }

    /// An available presence from a person, with their picture's hash if known.
    pub(super) fn contact_available(&self, user: &BareJid, person: &UserId) -> Presence {
        let mut p = Presence::available();
        p.payloads.extend(self.photo(user, person));
        p
    }

    /// The `<x xmlns='vcard-temp:x:update'/>` for a person, if their
    /// picture (or that they have none) is known.
    pub(super) fn photo(
        &self,
        user: &BareJid,
        person: &UserId,
    ) -> Option<xmpp_parsers::minidom::Element> {
        self.avatars
            .hash(user, person)
            .map(|h| update_element(h.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_from_the_bytes() {
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg xmlns="), None);
        assert_eq!(image_type(b""), None);
    }

    #[test]
    fn the_hash_is_sha1_hex() {
        // FIPS 180 example.
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn pictures_are_bounded_by_bytes() {
        let mut state = State::default();
        let big = || Image {
            bytes: vec![0u8; MAX_BYTES / 2].into(),
            media_type: "image/png",
        };
        state.keep("a".into(), big());
        state.keep("b".into(), big());
        state.keep("c".into(), big());
        assert!(!state.images.contains_key("a"));
        assert!(state.images.contains_key("c"));
        assert!(state.bytes <= MAX_BYTES);
    }
}
