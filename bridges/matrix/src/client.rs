//! One user's view of a homeserver's client-server API over HTTP: the base
//! URL, the access token (sent in a header, so never part of a URL that an
//! error could show), and the error shape every endpoint shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::ErrorBody;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server could not be reached, or the answer was cut.
    #[error("cannot reach the homeserver: {}", with_cause(.0))]
    Network(#[source] reqwest::Error),
    /// The server answered with an error.
    #[error("the homeserver says {errcode} ({status}): {message}")]
    Matrix {
        /// The HTTP status.
        status: u16,
        /// `M_FORBIDDEN`, …; empty when the body had none.
        errcode: String,
        /// In the server's words.
        message: String,
        /// On 429: how long to wait.
        retry_after: Option<Duration>,
    },
    /// The answer was not the JSON expected.
    #[error("the homeserver's answer is not understood: {0}")]
    Decode(String),
}

/// An HTTP error and its innermost cause ("error sending request:
/// Connection refused"), the words a user can act on.
fn with_cause(e: &reqwest::Error) -> String {
    let mut cause = std::error::Error::source(e);
    let mut last = None;
    while let Some(inner) = cause {
        last = Some(inner);
        cause = inner.source();
    }
    match last {
        Some(inner) => format!("{e}: {inner}"),
        None => e.to_string(),
    }
}

impl ApiError {
    /// The Matrix error code, if the server gave one.
    pub fn errcode(&self) -> Option<&str> {
        match self {
            Self::Matrix { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    /// The access token is no longer valid: logged out, revoked, deleted.
    pub fn token_revoked(&self) -> bool {
        matches!(self, Self::Matrix { status: 401, errcode, .. } if errcode == "M_UNKNOWN_TOKEN")
    }

    /// The server asks to slow down, and for how long.
    pub fn rate_limited(&self) -> Option<Duration> {
        match self {
            Self::Matrix {
                status: 429,
                retry_after,
                ..
            } => Some(retry_after.unwrap_or(Duration::from_secs(5))),
            Self::Matrix {
                errcode,
                retry_after,
                ..
            } if errcode == "M_LIMIT_EXCEEDED" => {
                Some(retry_after.unwrap_or(Duration::from_secs(5)))
            }
            _ => None,
        }
    }
}

/// A homeserver's API with one user's token (or none, to log in).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<Arc<str>>,
    received: Arc<AtomicU64>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `base` (`https://matrix.example.org`).
    pub fn new(http: reqwest::Client, base: Url, token: Option<String>) -> Self {
        Self {
            http,
            base,
            token: token.map(Arc::from),
            received: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Bytes of response bodies received so far (for the sync's cost).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The URL of an API path given as segments (each percent-encoded as
    /// one segment: room ids and aliases keep their `!`, `#` and `:` safe),
    /// with a query.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .expect("a homeserver URL is http(s), which has a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// A client API path: `/_matrix/client/v3/…`.
    pub fn v3(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut all = vec!["_matrix", "client", "v3"];
        all.extend_from_slice(segments);
        self.url(&all, query)
    }

    /// Sends a request with an optional JSON body and reads a JSON answer;
    /// `timeout` bounds the whole exchange.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&(impl Serialize + ?Sized)>,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let mut request = self.http.request(method, url).timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.answer(request).await
    }

    /// Uploads a file to the media repository (`POST
    /// /_matrix/media/v3/upload`); its `mxc://` URI.
    pub async fn upload(
        &self,
        bytes: Vec<u8>,
        media_type: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<String, ApiError> {
        let url = self.url(&["_matrix", "media", "v3", "upload"], &[("filename", name)]);
        let request = self
            .http
            .post(url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(bytes);
        let uploaded: crate::api::UploadResponse = self.answer(request).await?;
        Ok(uploaded.content_uri)
    }

    /// The HTTP client without the user's token: for fetching what is not
    /// the homeserver's (a file the XMPP user shared).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The homeserver's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// A request with the user's token (in a header) added: for requests
    /// to this homeserver only.
    pub fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request with the token and reads a JSON answer.
    async fn answer<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ApiError> {
        let request = self.authorized(request);
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Network(e.without_url()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Network(e.without_url()))?;
        self.received
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()));
        }
        Err(error_of(status, &bytes))
    }

    /// `GET` a JSON answer.
    pub async fn get<T: DeserializeOwned>(
        &self,
        url: Url,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        self.call(Method::GET, url, None::<&()>, timeout).await
    }
}

/// The error an answer with this status and body stands for.
fn error_of(status: StatusCode, body: &[u8]) -> ApiError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = if parsed.error.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        parsed.error
    };
    ApiError::Matrix {
        status: status.as_u16(),
        errcode: parsed.errcode,
        message,
        retry_after: parsed.retry_after_ms.map(Duration::from_millis),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(
            reqwest::Client::new(),
            Url::parse("https://hs.example/").unwrap(),
            None,
        )
    }

    #[test]
    fn room_ids_and_aliases_stay_one_path_segment() {
        let url = client().v3(&["join", "#rust:hs.example"], &[]);
        assert_eq!(
            url.as_str(),
            "https://hs.example/_matrix/client/v3/join/%23rust:hs.example"
        );
        let url = client().v3(&["rooms", "!a/b:hs", "send", "m.room.message", "t 1"], &[]);
        assert_eq!(
            url.as_str(),
            "https://hs.example/_matrix/client/v3/rooms/!a%2Fb:hs/send/m.room.message/t%201"
        );
    }

    #[test]
    fn errors_tell_revoked_tokens_and_rate_limits() {
        let revoked = error_of(
            StatusCode::UNAUTHORIZED,
            br#"{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}"#,
        );
        assert!(revoked.token_revoked());
        assert_eq!(revoked.rate_limited(), None);
        let slow = error_of(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"errcode":"M_LIMIT_EXCEEDED","retry_after_ms":1500}"#,
        );
        assert_eq!(slow.rate_limited(), Some(Duration::from_millis(1500)));
        assert!(!slow.token_revoked());
        let bare = error_of(StatusCode::BAD_GATEWAY, b"<html>");
        assert_eq!(bare.errcode(), Some(""));
    }
}
