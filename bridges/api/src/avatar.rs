//! People's pictures: where the core fetches them.
//!
//! A bridge tells a person's avatar with
//! [`Event::AvatarChanged`](crate::Event::AvatarChanged), once when it learns
//! it and again when it changes; the person is the same in every room and as
//! a contact. The core fetches the picture (once per URL, size-limited, only
//! PNG, JPEG, GIF or WebP), keeps it by its SHA-1 and shows it to XMPP
//! clients (XEP-0153 hashes in presence, vcard-temp on the person's JIDs).

use crate::Attachment;

/// Where a person's picture is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AvatarRef {
    /// Its URL: an `http(s)` URL anyone may fetch, or, when
    /// `needs_credentials`, whatever the session's
    /// [`FileFetcher`](crate::FileFetcher) understands. It names one
    /// picture: a changed picture has a new URL (the core fetches a URL
    /// once).
    pub url: String,
    /// The URL needs the session's credentials: the core asks the session's
    /// [`FileFetcher`](crate::FileFetcher), as for a file.
    #[cfg_attr(feature = "serde", serde(default))]
    pub needs_credentials: bool,
}

impl AvatarRef {
    /// The picture as the attachment a [`FileFetcher`](crate::FileFetcher) takes.
    pub fn as_attachment(&self) -> Attachment {
        Attachment {
            url: self.url.clone(),
            name: None,
            media_type: None,
            size: None,
            needs_credentials: self.needs_credentials,
            sha256: None,
        }
    }
}
