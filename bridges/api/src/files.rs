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
