//! Fetching a network's file over HTTP, size-limited: never more than the
//! limit is read (a `Content-Length` over it stops before the body, a body
//! growing past it stops mid-way). Unless the operator allows it
//! (`[files] allow_private_addresses`), the URL's host must be public: a
//! name resolving only to loopback or private addresses, such a literal, or
//! a redirect to one is refused (`switchboard_bridge_api::address`), so
//! that a network user cannot make the gateway fetch from the machine's own
//! services.

use std::time::Duration;

use switchboard_bridge_api::address::non_public;
use switchboard_bridge_api::public_http::{self, literal};
use switchboard_bridge_api::FetchError;

pub(super) use switchboard_bridge_api::public_http::words;

/// A fetched file: its body and the type the server gave.
pub(super) struct Fetched {
    pub body: Body,
    pub media_type: Option<String>,
}

/// A file's bytes: in memory, or still coming, of a length the server
/// gave (then they go on to the upload as they come, never held whole).
pub(super) enum Body {
    /// All of it.
    Whole(Vec<u8>),
    /// A response whose `Content-Length` (within the limit) is `size`.
    Stream {
        response: reqwest::Response,
        size: u64,
    },
}

impl Body {
    /// The file's size in bytes.
    pub(super) fn size(&self) -> u64 {
        match self {
            Body::Whole(bytes) => bytes.len() as u64,
            Body::Stream { size, .. } => *size,
        }
    }
}

/// The HTTP client for network files (public addresses only unless
/// allowed: `public_http`).
pub(super) fn client(allow_private: bool) -> reqwest::Client {
    public_http::builder(allow_private)
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("the HTTP client's TLS set-up")
}

/// Fetches `url`, at most `limit` bytes: a body of a given length is
/// handed on unread ([`Body::Stream`]), one of no given length is read
/// into memory up to the limit.
pub(super) async fn fetch(
    client: &reqwest::Client,
    url: &str,
    limit: u64,
    allow_private: bool,
) -> Result<Fetched, FetchError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| FetchError::Failed("not a URL".into()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::Failed("not an http(s) URL".into()));
    }
    if let Some(why) = literal(&parsed)
        .and_then(non_public)
        .filter(|_| !allow_private)
    {
        return Err(FetchError::Failed(format!("a {why} address was refused")));
    }
    let failed = |e: reqwest::Error| FetchError::Failed(words(e));
    let mut response = client
        .get(parsed)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    let media_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match response.content_length() {
        Some(n) if n > limit => return Err(FetchError::TooLarge { limit }),
        Some(size) => {
            let body = Body::Stream { response, size };
            return Ok(Fetched { body, media_type });
        }
        None => {}
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(FetchError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        body: Body::Whole(bytes),
        media_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loopback_is_refused_unless_allowed() {
        let client = client(false);
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost:9/x",
            "http://[::1]:9/x",
        ] {
            let Err(FetchError::Failed(why)) = fetch(&client, url, 10, false).await else {
                panic!("{url} was fetched");
            };
            assert!(
                why.contains("loopback") || why.contains("public"),
                "{url}: {why}"
            );
        }
        let Err(FetchError::Failed(why)) = fetch(&client, "file:///etc/passwd", 10, false).await
        else {
            panic!("a file URL was fetched");
        };
        assert!(why.contains("http"), "{why}");
    }

    #[tokio::test]
    async fn no_more_than_the_limit_is_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            // Twice: once with a length, once chunked without one.
            for length in [true, false] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let head = if length {
                    "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
                } else {
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
                };
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&[7u8; 100_000]).await;
            }
        });
        let client = client(true);
        let url = format!("http://127.0.0.1:{port}/big");
        for _ in 0..2 {
            let got = fetch(&client, &url, 1000, true).await;
            assert!(matches!(got, Err(FetchError::TooLarge { limit: 1000 })));
        }
    }
}
