//! The XMPP user's own picture, for a network that shows it by URL
//! (`Capabilities::own_avatar`: Discord's webhook `avatar_url`).
//!
//! Where the gateway learns the picture's hash (a "claim"):
//! - the user's available presences (to the gateway, a room, a contact)
//!   with XEP-0153's `<x xmlns='vcard-temp:x:update'><photo>HASH</photo>
//!   </x>`: their client puts it there, or their server (Prosody's
//!   `mod_vcard_legacy` adds it to every presence, from the XEP-0084
//!   avatar); an empty `<photo/>` is no picture, a presence without the
//!   `<x/>` says nothing (XEP-0153: the client does not know);
//! - XEP-0084 metadata notifications from the user's PEP service to the
//!   gateway's domain (for clients that put no `<x/>` in presence, as
//!   Conversations): the domain's caps ask for
//!   `urn:xmpp:avatar:metadata+notify` (`xmpp/disco.rs`), and once the user
//!   accepts the gateway's subscription request (XEP-0100) the gateway
//!   sends its presence to their bare JID (`presence.rs`), which is when a
//!   PEP service looks at its caps and sends the last item.
//!
//! A new hash is read once: the user's vCard (a vcard-temp get to their
//! bare JID from the component's domain; with `mod_vcard_legacy` Prosody
//! answers it from the XEP-0084 nodes, published with the open access
//! model), its PHOTO's BINVAL; without one (or a vCard), the item of that
//! hash in their XEP-0084 `urn:xmpp:avatar:data` node (a PEP get to their
//! bare JID: allowed when the node is open, or, with the usual `presence`
//! access model, once the user accepted the gateway's subscription). The
//! picture must be at most [`MAX_AVATAR`] bytes and PNG, JPEG, GIF or WebP
//! by its bytes, as for the network's avatars. It is put on the XMPP
//! server's XEP-0363 upload service (`files/`), and the GET URL told to the
//! session with `Command::SetOwnAvatar` (again to each new session); no
//! picture tells `None`.
//!
//! The URL is kept per user, with the picture's hash, in memory and in the
//! store (`own_avatars`), so the same picture is not uploaded again, even
//! after a restart (whose sessions are told the stored URL at once); it is uploaded again once it is [`REUPLOAD_AFTER`]
//! old (upload services expire files: Prosody's after a week by default),
//! when the next claim comes. One read at a time per user; a claim that
//! changes meanwhile is read after it; a failed read lets the next claim
//! try again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use switchboard_bridge_api::Command;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::rxml::xml_ncname;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

use super::vcard::{UPDATE, VCARD};
use super::{image_type, sha1_hex, AVATAR_DATA, AVATAR_METADATA, MAX_AVATAR, PUBSUB};
use crate::gateway::Gateway;
use crate::store::OwnAvatar;

/// How old an upload may be and still be told: past it, the picture is
/// uploaded again (a day: well within the expiry of upload services).
const REUPLOAD_AFTER: i64 = 24 * 60 * 60;

/// What a presence says of the user's picture.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// None.
    Nothing,
    /// This hash (lower-case).
    Hash(String),
}

/// One user's own picture.
#[derive(Default)]
struct Own {
    /// What their presence said last (`None`: nothing yet, or the last
    /// read failed and the next presence tries again).
    claimed: Option<Claim>,
    /// The picture published, if any.
    published: Option<OwnAvatar>,
    /// A read and upload is under way.
    busy: bool,
}

/// The users' own pictures, for one network's gateway (an entry per
/// user with a running session who sent a presence with the `<x/>`).
#[derive(Default)]
pub(in crate::gateway) struct OwnAvatars {
    users: Mutex<HashMap<BareJid, Own>>,
}

impl OwnAvatars {
    /// The URL to tell a new session of the user's, if one is published.
    pub(in crate::gateway) fn url(&self, user: &BareJid) -> Option<String> {
        let users = self.users.lock().unwrap();
        Some(users.get(user)?.published.as_ref()?.url.clone())
    }

    /// Forgets a user (unregistered).
    pub(in crate::gateway) fn forget(&self, user: &BareJid) {
        self.users.lock().unwrap().remove(user);
    }

    /// Notes a claim; whether a read should start now (not already busy,
    /// and the claim is new or its upload is stale).
    fn note(&self, user: &BareJid, claim: Claim, now: i64) -> bool {
        let mut users = self.users.lock().unwrap();
        let own = users.entry(user.clone()).or_default();
        let stale = match (&claim, &own.published) {
            (Claim::Hash(h), Some(p)) => p.hash == *h && now - p.uploaded_at >= REUPLOAD_AFTER,
            _ => false,
        };
        if own.claimed.as_ref() == Some(&claim) && !stale {
            return false;
        }
        own.claimed = Some(claim);
        if own.busy {
            return false;
        }
        own.busy = true;
        true
    }
}

/// The `<photo/>` of a presence's XEP-0153 `<x/>`, if it has one.
fn claim_of(presence: &Presence) -> Option<Claim> {
    let x = presence.payloads.iter().find(|p| p.is("x", UPDATE))?;
    let photo = x.get_child("photo", UPDATE)?;
    let hash = photo.text().trim().to_ascii_lowercase();
    Some(if hash.is_empty() {
        Claim::Nothing
    } else {
        Claim::Hash(hash)
    })
}

/// What a XEP-0084 metadata notification says: the new item's id (the
/// hash), or no picture (an empty `<metadata/>`).
fn metadata_claim(message: &Message) -> Option<Claim> {
    let items = message
        .payloads
        .iter()
        .find(|p| p.is("event", EVENT))?
        .get_child("items", EVENT)
        .filter(|items| items.attr("node") == Some(AVATAR_METADATA))?;
    let item = items.get_child("item", EVENT)?;
    let metadata = item.get_child("metadata", AVATAR_METADATA)?;
    if metadata.children().next().is_none() {
        return Some(Claim::Nothing);
    }
    let hash = item.attr("id")?.trim().to_ascii_lowercase();
    (!hash.is_empty()).then_some(Claim::Hash(hash))
}

/// XEP-0060's event namespace.
const EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// The picture in a vCard's PHOTO: its bytes, if BINVAL is base64 of at
/// most [`MAX_AVATAR`] bytes.
fn photo_bytes(vcard: &Element) -> Result<Vec<u8>, &'static str> {
    let binval = vcard
        .get_child("PHOTO", VCARD)
        .and_then(|p| p.get_child("BINVAL", VCARD))
        .ok_or("the vCard has no PHOTO")?;
    decode(&binval.text())
}

/// The picture in a XEP-0084 data item (`<pubsub><items><item><data/>`).
fn data_bytes(pubsub: &Element) -> Result<Vec<u8>, &'static str> {
    let data = pubsub
        .get_child("items", PUBSUB)
        .and_then(|items| items.get_child("item", PUBSUB))
        .and_then(|item| item.get_child("data", AVATAR_DATA))
        .ok_or("no XEP-0084 data item")?;
    decode(&data.text())
}

/// Base64 (whitespace ignored) of at most [`MAX_AVATAR`] bytes.
fn decode(text: &str) -> Result<Vec<u8>, &'static str> {
    let text: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if text.len() as u64 > MAX_AVATAR.div_ceil(3) * 4 {
        return Err("the picture is too large");
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| "the picture is not base64")
}

/// The file name an upload takes for a picture of this type.
fn file_name(media_type: &str) -> &'static str {
    match media_type {
        "image/jpeg" => "avatar.jpg",
        "image/gif" => "avatar.gif",
        "image/webp" => "avatar.webp",
        _ => "avatar.png",
    }
}

/// Now, in seconds since the epoch (the archive's clock).
fn now() -> i64 {
    crate::archive::now_micros() / 1_000_000
}

impl Gateway {
    /// A presence from a user: a new picture hash in it is read and
    /// published off the router (see the module's doc).
    pub(in crate::gateway) fn own_presence_seen(self: &Arc<Self>, presence: &Presence) {
        if !self.bridge.info().capabilities.own_avatar || presence.type_ != Type::None {
            return;
        }
        let Some(from) = &presence.from else { return };
        let Some(claim) = claim_of(presence) else {
            return;
        };
        self.own_claim(from.to_bare(), claim);
    }

    /// A message to the domain that is a XEP-0084 metadata notification
    /// from a user's PEP service (sent to the gateway once it is
    /// subscribed to the user's presence, as its caps ask for
    /// `urn:xmpp:avatar:metadata+notify`): read as a presence's hash is.
    /// Whether it was one (taken; no chat command).
    pub(in crate::gateway) fn own_avatar_event(self: &Arc<Self>, message: &Message) -> bool {
        let Some(claim) = metadata_claim(message) else {
            return false;
        };
        if let (true, Some(from)) = (self.bridge.info().capabilities.own_avatar, &message.from) {
            self.own_claim(from.to_bare(), claim);
        }
        true
    }

    /// A claim of the user's: noted, and read unless known.
    fn own_claim(self: &Arc<Self>, user: BareJid, claim: Claim) {
        // Only a user whose session runs (every registered user's, on a
        // network that never idles, as Discord's): no one else's presence
        // takes memory.
        if !self.sessions.lock().unwrap().contains_key(&user) {
            return;
        }
        if !self.own_avatars.note(&user, claim, now()) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move { this.publish_own(user).await });
    }

    /// Reads and publishes the user's claimed picture until the claim
    /// stops changing, telling the session each result.
    async fn publish_own(self: Arc<Self>, user: BareJid) {
        loop {
            let claim = {
                let users = self.own_avatars.users.lock().unwrap();
                users.get(&user).and_then(|o| o.claimed.clone())
            };
            let outcome = match &claim {
                _ if !self.is_registered(&user).await => Err(()),
                None => Err(()),
                Some(Claim::Nothing) => Ok(None),
                Some(Claim::Hash(hash)) => self.own_picture(&user, hash).await.map(Some),
            };
            let told = {
                let mut users = self.own_avatars.users.lock().unwrap();
                let Some(own) = users.get_mut(&user) else {
                    return;
                };
                let told = match outcome {
                    Ok(published) => {
                        let before = own.published.as_ref().map(|p| p.url.clone());
                        own.published = published;
                        let after = own.published.as_ref().map(|p| p.url.clone());
                        (before != after).then_some(after)
                    }
                    Err(()) => {
                        // The next presence tries again.
                        if own.claimed == claim {
                            own.claimed = None;
                        }
                        None
                    }
                };
                if own.claimed == claim || own.claimed.is_none() {
                    own.busy = false;
                }
                (told, !own.busy)
            };
            let (told, done) = told;
            if let Some(url) = told {
                debug!(user = %user, some = url.is_some(), "own picture told to the session");
                self.command_if_running(&user, Command::SetOwnAvatar { url })
                    .await;
            }
            if done {
                return;
            }
        }
    }

    /// The published picture of this hash: the one this process or the
    /// store knows when fresh, else read from the vCard and uploaded.
    async fn own_picture(&self, user: &BareJid, hash: &str) -> Result<OwnAvatar, ()> {
        let fresh = |p: &OwnAvatar| p.hash == hash && now() - p.uploaded_at < REUPLOAD_AFTER;
        let known = {
            let users = self.own_avatars.users.lock().unwrap();
            users.get(user).and_then(|o| o.published.clone())
        };
        if let Some(p) = known.filter(fresh) {
            return Ok(p);
        }
        let who = user.to_string();
        match self.store.own_avatar(&who, &self.network).await {
            Ok(Some(p)) if fresh(&p) => return Ok(p),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot read the user's stored picture"),
        }
        let bytes = match self.own_vcard_photo(user).await {
            Ok(bytes) => bytes,
            Err(vcard) => match self.own_pep_photo(user, hash).await {
                Ok(bytes) => bytes,
                Err(pep) => {
                    info!(user = %user, %vcard, %pep, "the user's picture could not be read");
                    return Err(());
                }
            },
        };
        let Some(media_type) = image_type(&bytes) else {
            info!(user = %user, "the user's picture is not PNG, JPEG, GIF or WebP: not shown");
            return Err(());
        };
        let real = sha1_hex(&bytes);
        if real != hash {
            debug!(user = %user, "the vCard's picture is not the one the presence named");
        }
        let url = match self
            .upload_small(file_name(media_type), media_type, bytes)
            .await
        {
            Ok(Some(url)) => url,
            Ok(None) => {
                info!("no upload service takes the user's picture: it is not shown");
                return Err(());
            }
            Err(e) => {
                warn!(error = %e, "could not upload the user's picture");
                return Err(());
            }
        };
        let published = OwnAvatar {
            hash: hash.to_owned(),
            url,
            uploaded_at: now(),
        };
        if let Err(e) = self
            .store
            .save_own_avatar(&who, &self.network, &published)
            .await
        {
            warn!(error = %e, "cannot store the user's published picture");
        }
        info!(user = %user, "the user's picture published");
        Ok(published)
    }

    /// At start-up, before the user's session starts: their stored picture,
    /// if under a day old, is taken as published, so the new session is
    /// told it before any presence comes (a client stays in its rooms
    /// across a restart of the gateway, and says nothing new). A claim of
    /// another hash replaces it as usual.
    pub(in crate::gateway) async fn restore_own_avatar(&self, user: &BareJid) {
        if !self.bridge.info().capabilities.own_avatar {
            return;
        }
        let stored = match self
            .store
            .own_avatar(&user.to_string(), &self.network)
            .await
        {
            Ok(Some(p)) if now() - p.uploaded_at < REUPLOAD_AFTER => p,
            Ok(_) => return,
            Err(e) => return warn!(error = %e, "cannot read the user's stored picture"),
        };
        let mut users = self.own_avatars.users.lock().unwrap();
        let own = users.entry(user.clone()).or_default();
        if own.published.is_none() {
            own.published = Some(stored);
        }
    }

    /// The picture in the user's vCard (a vcard-temp get to their bare JID).
    async fn own_vcard_photo(&self, user: &BareJid) -> Result<Vec<u8>, String> {
        let get = Element::builder("vCard", VCARD).build();
        match self.ask(&Jid::from(user.clone()), get).await {
            Ok(Some(card)) if card.is("vCard", VCARD) => photo_bytes(&card).map_err(str::to_owned),
            Ok(_) => Err("no vCard".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The picture of this hash in the user's XEP-0084 data node (their
    /// PEP service lets the gateway read it when the node is open, or when
    /// the user accepted the gateway's presence subscription).
    async fn own_pep_photo(&self, user: &BareJid, hash: &str) -> Result<Vec<u8>, String> {
        let item = Element::builder("item", PUBSUB).attr(xml_ncname!("id").into(), hash);
        let get = Element::builder("pubsub", PUBSUB)
            .append(
                Element::builder("items", PUBSUB)
                    .attr(xml_ncname!("node").into(), AVATAR_DATA)
                    .append(item),
            )
            .build();
        match self.ask(&Jid::from(user.clone()), get).await {
            Ok(Some(answer)) => data_bytes(&answer).map_err(str::to_owned),
            Ok(None) => Err("no XEP-0084 data".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(x: Option<&str>) -> Presence {
        let mut p = Presence::available();
        if let Some(hash) = x {
            p.payloads.push(super::super::update_element(
                (!hash.is_empty()).then_some(hash),
            ));
        }
        p
    }

    #[test]
    fn a_presence_claims_a_hash_nothing_or_says_nothing() {
        assert_eq!(claim_of(&presence(None)), None);
        assert_eq!(claim_of(&presence(Some(""))), Some(Claim::Nothing));
        assert_eq!(
            claim_of(&presence(Some("AB12"))),
            Some(Claim::Hash("ab12".into()))
        );
    }

    #[test]
    fn a_metadata_notification_claims_its_item() {
        let event = |metadata: Element| {
            let mut m = Message::new(None);
            m.payloads.push(
                Element::builder("event", EVENT)
                    .append(
                        Element::builder("items", EVENT)
                            .attr(xml_ncname!("node").into(), AVATAR_METADATA)
                            .append(
                                Element::builder("item", EVENT)
                                    .attr(xml_ncname!("id").into(), "AB12")
                                    .append(metadata),
                            ),
                    )
                    .build(),
            );
            m
        };
        let info = Element::builder("info", AVATAR_METADATA)
            .attr(xml_ncname!("id").into(), "ab12")
            .build();
        let with = Element::builder("metadata", AVATAR_METADATA)
            .append(info)
            .build();
        assert_eq!(
            metadata_claim(&event(with)),
            Some(Claim::Hash("ab12".into()))
        );
        let none = Element::builder("metadata", AVATAR_METADATA).build();
        assert_eq!(metadata_claim(&event(none)), Some(Claim::Nothing));
        assert_eq!(metadata_claim(&Message::new(None)), None);
    }

    #[test]
    fn a_claim_is_read_once_unless_its_upload_is_stale() {
        let avatars = OwnAvatars::default();
        let user: BareJid = "alice@localhost".parse().unwrap();
        let hash = Claim::Hash("ab".into());
        assert!(avatars.note(&user, hash.clone(), 1000));
        // Busy: a second claim waits for the read under way.
        assert!(!avatars.note(&user, Claim::Nothing, 1000));
        {
            let mut users = avatars.users.lock().unwrap();
            let own = users.get_mut(&user).unwrap();
            own.busy = false;
            own.claimed = Some(hash.clone());
            own.published = Some(OwnAvatar {
                hash: "ab".into(),
                url: "https://up/avatar.png".into(),
                uploaded_at: 1000,
            });
        }
        assert!(!avatars.note(&user, hash.clone(), 2000));
        assert_eq!(avatars.url(&user).as_deref(), Some("https://up/avatar.png"));
        assert!(avatars.note(&user, hash, 1000 + REUPLOAD_AFTER));
    }

    #[test]
    fn the_photo_is_read_within_the_limit() {
        let card = |binval: &str| {
            Element::builder("vCard", VCARD)
                .append(
                    Element::builder("PHOTO", VCARD)
                        .append(Element::builder("BINVAL", VCARD).append(binval.to_owned())),
                )
                .build()
        };
        assert_eq!(photo_bytes(&card("iVBO\nRw0K")).unwrap(), b"\x89PNG\r\n");
        assert!(photo_bytes(&Element::builder("vCard", VCARD).build()).is_err());
        assert!(photo_bytes(&card("%%%")).is_err());
        let item = Element::builder("pubsub", PUBSUB)
            .append(
                Element::builder("items", PUBSUB).append(
                    Element::builder("item", PUBSUB)
                        .append(Element::builder("data", AVATAR_DATA).append("iVBORw0K")),
                ),
            )
            .build();
        assert_eq!(data_bytes(&item).unwrap(), b"\x89PNG\r\n");
        let big = "A".repeat((MAX_AVATAR as usize / 3 + 2) * 4);
        assert_eq!(photo_bytes(&card(&big)), Err("the picture is too large"));
    }
}
