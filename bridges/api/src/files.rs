//! Files that need the session's credentials: how the core gets their bytes.
//!
//! A network attachment whose URL anyone may fetch needs nothing here: the
//! core fetches it (size-limited) to upload it to the XMPP server. One that
//! needs the user's token (Matrix media behind authentication, a private
//! CDN) is marked [`Attachment::needs_credentials`](crate::Attachment) and
//! its session gives the core a [`FileFetcher`] in
//! [`SessionHandle::files`](crate::SessionHandle): the core asks it for the
//! bytes and never shows such a URL to a client.

use crate::{Attachment, BoxFuture};

/// The default size limit, when the operator set none: 20 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;

/// What the operator allows for files (`[files]` in the gateway's config),
/// both ways: the largest file fetched, and whether file URLs may name
/// non-public addresses. A session has them in [`Login::files`](crate::Login)
/// for the files its user sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest file fetched, in bytes.
    pub max_bytes: u64,
    /// Whether address literals that are not public (loopback, private
    /// networks) may be fetched: tests, a LAN.
    pub allow_private: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            allow_private: false,
        }
    }
}

/// Fetches a session's files that need its credentials.
pub trait FileFetcher: Send + Sync + std::fmt::Debug {
    /// The attachment's bytes, at most `limit` of them: a file over the
    /// limit is [`FetchError::TooLarge`], found without reading more than
    /// `limit` bytes (stream the body and stop).
    fn fetch(
        &self,
        file: &Attachment,
        limit: u64,
    ) -> BoxFuture<'static, Result<Vec<u8>, FetchError>>;
}

/// Why a file's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Over the size limit (no more than the limit was read).
    #[error("the file is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The network refused or failed; words for the log (no secret).
    #[error("{0}")]
    Failed(String),
}
