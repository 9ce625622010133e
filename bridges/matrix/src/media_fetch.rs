//! The session's [`FileFetcher`]: downloads the homeserver's media with
//! the user's access token (authenticated media, `GET
//! /_matrix/client/v1/media/download/{server}/{media_id}`), through the
//! bridge's HTTP client, for the core to upload to the XMPP server. The
//! token goes in a header to the user's own homeserver only: a URL that is
//! not one of its download paths is refused, and the client's redirects
//! drop the header on another host. A server that does not know
//! authenticated media yet (404 `M_UNRECOGNIZED`) is asked at the legacy
//! `/_matrix/media/v3/download`, without the token. The body is streamed
//! and stopped at the limit: no more than the limit is read.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use switchboard_bridge_api::{Attachment, BoxFuture, FetchError, FileFetcher};
use tracing::debug;

use crate::api::ErrorBody;
use crate::client::Client;
use crate::media_in::media_in;

/// How long one file may take to arrive.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The most of an error answer's body read (it is JSON of a few words).
const ERROR_BODY_LIMIT: u64 = 16 * 1024;

/// Fetches media from the user's homeserver with their token.
#[derive(Debug)]
pub(crate) struct MediaFetcher {
    client: Client,
}

impl MediaFetcher {
    /// A fetcher with this user's client.
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }
}

impl FileFetcher for MediaFetcher {
    fn fetch(
        &self,
        file: &Attachment,
        limit: u64,
    ) -> BoxFuture<'static, Result<Vec<u8>, FetchError>> {
        let client = self.client.clone();
        let url = file.url.clone();
        Box::pin(async move { download(&client, &url, limit).await })
    }
}

/// The bytes of the media at a download URL of the user's homeserver.
async fn download(client: &Client, url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
    let Some((server, media_id)) = media_in(client.base(), url) else {
        return Err(FetchError::Failed(
            "not a media download of the user's homeserver".into(),
        ));
    };
    let v1 = client.url(
        &[
            "_matrix", "client", "v1", "media", "download", &server, &media_id,
        ],
        &[],
    );
    let request = client.authorized(client.http().get(v1).timeout(TIMEOUT));
    let response = request.send().await.map_err(failed)?;
    let response = if response.status() == StatusCode::NOT_FOUND {
        let error = error_body(response).await;
        if error.errcode != "M_UNRECOGNIZED" {
            return Err(FetchError::Failed(format!(
                "the homeserver says {} (404): {}",
                error.errcode, error.error
            )));
        }
        debug!("no authenticated media on this homeserver; the legacy download is used");
        let legacy = client.url(
            &["_matrix", "media", "v3", "download", &server, &media_id],
            &[("allow_redirect", "true")],
        );
        client
            .http()
            .get(legacy)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(failed)?
    } else {
        response
    };
    if !response.status().is_success() {
        let status = response.status().as_u16();
        let error = error_body(response).await;
        return Err(FetchError::Failed(format!(
            "the homeserver says {} ({status}): {}",
            error.errcode, error.error
        )));
    }
    read_limited(response, limit).await
}

/// An answer's body, whole if it is within `limit` bytes.
async fn read_limited(mut response: Response, limit: u64) -> Result<Vec<u8>, FetchError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(FetchError::TooLarge { limit });
    }
    let announced = response.content_length().unwrap_or(0).min(limit);
    let mut bytes = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if bytes.len() as u64 + chunk.len() as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// An error answer's Matrix error (empty when it has none).
async fn error_body(response: Response) -> ErrorBody {
    let status = response.status();
    let mut error: ErrorBody = match read_limited(response, ERROR_BODY_LIMIT).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => ErrorBody::default(),
    };
    if error.error.is_empty() {
        error.error = status.canonical_reason().unwrap_or("error").to_owned();
    }
    error
}

/// A failed request in words, without its URL.
fn failed(e: reqwest::Error) -> FetchError {
    FetchError::Failed(if e.is_timeout() {
        "the download took too long".to_owned()
    } else {
        e.without_url().to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Url;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback homeserver answering each request in turn with one of
    /// `answers` (status line and headers, body); the requests it got.
    async fn homeserver(
        answers: Vec<(&'static str, Vec<u8>)>,
    ) -> (Url, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (head, body) in answers {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    if s.read(&mut byte).await.unwrap() == 0 {
                        break;
                    }
                    request.push(byte[0]);
                }
                seen.push(String::from_utf8_lossy(&request).to_lowercase());
                let head = format!(
                    "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
            seen
        });
        (
            Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
            served,
        )
    }

    fn client(base: &Url) -> Client {
        Client::new(reqwest::Client::new(), base.clone(), Some("tok-123".into()))
    }

    fn url(base: &Url) -> String {
        crate::media_in::download_url(base, "mxc://hs.example/abc")
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn authenticated_media_is_fetched_with_the_token() {
        let (base, served) = homeserver(vec![("HTTP/1.1 200 OK", b"PNGDATA".to_vec())]).await;
        let bytes = download(&client(&base), &url(&base), 100).await.unwrap();
        assert_eq!(bytes, b"PNGDATA");
        let seen = served.await.unwrap();
        assert!(
            seen[0].starts_with("get /_matrix/client/v1/media/download/hs.example/abc "),
            "{seen:?}"
        );
        assert!(
            seen[0].contains("authorization: bearer tok-123"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn an_old_homeserver_is_asked_at_the_legacy_path_without_the_token() {
        let unrecognized = br#"{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}"#;
        let (base, served) = homeserver(vec![
            ("HTTP/1.1 404 Not Found", unrecognized.to_vec()),
            ("HTTP/1.1 200 OK", b"OLD".to_vec()),
        ])
        .await;
        let bytes = download(&client(&base), &url(&base), 100).await.unwrap();
        assert_eq!(bytes, b"OLD");
        let seen = served.await.unwrap();
        assert!(
            seen[1].starts_with("get /_matrix/media/v3/download/hs.example/abc?"),
            "{seen:?}"
        );
        assert!(!seen[1].contains("authorization"), "{seen:?}");
    }

    #[tokio::test]
    async fn missing_media_is_not_asked_for_twice() {
        let missing = br#"{"errcode":"M_NOT_FOUND","error":"Not found"}"#;
        let (base, served) = homeserver(vec![("HTTP/1.1 404 Not Found", missing.to_vec())]).await;
        let error = download(&client(&base), &url(&base), 100)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the homeserver says M_NOT_FOUND (404): Not found"
        );
        assert_eq!(served.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_too_large() {
        let (base, _served) = homeserver(vec![("HTTP/1.1 200 OK", vec![7; 101])]).await;
        let error = download(&client(&base), &url(&base), 100)
            .await
            .unwrap_err();
        assert!(matches!(error, FetchError::TooLarge { limit: 100 }));
    }

    #[tokio::test]
    async fn the_token_goes_to_no_other_host() {
        let base = Url::parse("http://127.0.0.1:9/").unwrap();
        let other = "http://127.0.0.2:9/_matrix/client/v1/media/download/h/id";
        let error = download(&client(&base), other, 100).await.unwrap_err();
        assert!(matches!(error, FetchError::Failed(_)));
    }
}
