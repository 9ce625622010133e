//! XEP-0421 occupant-ids: who an occupant is, stably and without showing
//! their network id.
//!
//! An occupant's key is a keyed BLAKE2b hash of (network, room, user id)
//! under a secret derived from the installation's vault key, cut to 48
//! bits: the same person in the same room gets the same key across joins,
//! sessions and restarts, another room gives another key, and nobody without
//! the key file can compute one from a user id. The occupant-id on the wire
//! is the key in base64url (8 characters); a clashing display name's suffix
//! is the key in hex (see `occupants.rs`).
//!
//! The key is a function of (room, user id) alone, so that history and MAM
//! can put it on archived messages whose author id the archive keeps
//! ([`OccupantIds::of`]). A live occupant keeps the key it was first seen
//! with when the network renames it with a new id (IRC, where the id is the
//! nick): its occupant-id stays the same through the rename.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use switchboard_bridge_api::{RoomId, UserId};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::occupant_id::OccupantId;

use crate::crypto::Vault;

/// An occupant's key: 48 bits of the keyed hash of (network, room, user id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct OccupantKey(u64);

impl OccupantKey {
    /// How many bits a key has.
    pub(super) const BITS: u32 = 48;

    /// A key from its bits (the upper 16 are dropped).
    pub(super) fn from_bits(bits: u64) -> Self {
        Self(bits & ((1 << Self::BITS) - 1))
    }

    /// The key's bits.
    pub(super) fn bits(self) -> u64 {
        self.0
    }

    /// The XEP-0421 occupant-id: the key in base64url, 8 characters.
    pub(super) fn id(self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0.to_be_bytes()[2..])
    }

    /// The occupant-id as its 8 ASCII characters, for the writer to put on
    /// a message without building an element ([`crate::component::Outgoing`]).
    pub(super) fn id_bytes(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        let n = URL_SAFE_NO_PAD
            .encode_slice(&self.0.to_be_bytes()[2..], &mut out)
            .expect("6 bytes are 8 base64 characters");
        debug_assert_eq!(n, 8);
        out
    }

    /// `<occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>`.
    pub(super) fn element(self) -> Element {
        OccupantId { id: self.id() }.into()
    }

    /// The key's first `digits` hex digits (at most 12), for a nick suffix.
    pub(super) fn hex(self, digits: usize) -> String {
        let all = format!("{:012x}", self.0);
        all[..digits.min(all.len())].to_owned()
    }
}

/// Makes occupant keys for one network's gateway.
pub(super) struct OccupantIds {
    key: [u8; 32],
    network: String,
}

impl std::fmt::Debug for OccupantIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OccupantIds(<key>)")
    }
}

impl OccupantIds {
    /// Occupant keys for `network`, under a secret the vault derives.
    pub(super) fn new(vault: &Vault, network: &str) -> Self {
        Self::with_secret(vault.derive("xep-0421 occupant-id"), network)
    }

    fn with_secret(key: [u8; 32], network: &str) -> Self {
        Self {
            key,
            network: network.to_owned(),
        }
    }

    /// The key of `user` in `room`.
    pub(super) fn key(&self, room: &RoomId, user: &UserId) -> OccupantKey {
        let mut mac =
            <Blake2bMac<U32> as KeyInit>::new_from_slice(&self.key).expect("a 32-byte key");
        // Lengths first: no two (network, room, user) give the same input.
        for part in [self.network.as_str(), room.as_str(), user.as_str()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part.as_bytes());
        }
        let out = mac.finalize().into_bytes();
        let mut bits = [0u8; 8];
        bits.copy_from_slice(&out[..8]);
        OccupantKey::from_bits(u64::from_be_bytes(bits))
    }

    /// The XEP-0421 occupant-id of `user` in `room`, as live stanzas carry
    /// it for an occupant first seen with that id: what history and MAM
    /// give an archived message whose author id is known.
    pub(super) fn of(&self, room: &RoomId, user: &UserId) -> String {
        self.key(room, user).id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(secret: u8) -> OccupantIds {
        OccupantIds::with_secret([secret; 32], "irc")
    }

    #[test]
    fn stable_per_room_and_user_and_secret() {
        let room = RoomId::from("#rust%irc.example.net");
        let other = RoomId::from("#go%irc.example.net");
        let alex = UserId::from("alex%irc.example.net");
        let id = ids(1).of(&room, &alex);
        assert_eq!(id.len(), 8);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(ids(1).of(&room, &alex), id, "the same on every call");
        assert_ne!(ids(1).of(&other, &alex), id, "another room, another id");
        assert_ne!(ids(2).of(&room, &alex), id, "another installation");
        assert!(!id.contains("alex"));
        let bob = UserId::from("bob%irc.example.net");
        assert_ne!(ids(1).of(&room, &bob), id);
    }

    #[test]
    fn id_and_hex_show_the_same_48_bits() {
        let k = OccupantKey::from_bits(0xffff_0123_4567_89ab);
        assert_eq!(k.bits(), 0x0123_4567_89ab);
        assert_eq!(k.hex(4), "0123");
        assert_eq!(k.hex(12), "0123456789ab");
        assert_eq!(
            k.id(),
            URL_SAFE_NO_PAD.encode([1, 0x23, 0x45, 0x67, 0x89, 0xab])
        );
    }
}
