//! The test network's files that need credentials
//! ([`Attachment::needs_credentials`]): fetched with the header
//! `Authorization: Bearer testnet-<username>`, as a Matrix session fetches
//! authenticated media with its token. The test serves the file from a
//! loopback HTTP server that refuses requests without that header.

use switchboard_bridge_api::{Attachment, BoxFuture, FetchError, FileFetcher};

/// The session's file fetcher: an HTTP client and the user's token.
#[derive(Debug)]
pub(crate) struct Fetcher {
    http: reqwest::Client,
    token: String,
}

impl Fetcher {
    /// A fetcher for this username's files.
    pub(crate) fn new(user: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            token: token(user),
        }
    }
}

/// The bearer token the test network's file server expects from `user`.
pub fn token(user: &str) -> String {
    format!("testnet-{user}")
}

impl FileFetcher for Fetcher {
    fn fetch(
        &self,
        file: &Attachment,
        limit: u64,
    ) -> BoxFuture<'static, Result<Vec<u8>, FetchError>> {
        let request = self.http.get(&file.url).bearer_auth(&self.token);
        Box::pin(async move {
            let failed = |e: reqwest::Error| FetchError::Failed(e.without_url().to_string());
            let mut response = request
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(failed)?;
            if response.content_length().is_some_and(|n| n > limit) {
                return Err(FetchError::TooLarge { limit });
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(failed)? {
                if (bytes.len() + chunk.len()) as u64 > limit {
                    return Err(FetchError::TooLarge { limit });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        })
    }
}
