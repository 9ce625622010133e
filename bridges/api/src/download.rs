//! Fetching a file the XMPP user shared (the URL their client uploaded it
//! to, XEP-0363, named in the message with XEP-0066 or XEP-0447), for a
//! bridge to upload it to its network: http(s) only, never an address
//! literal that is not public (`address::non_public`) unless the operator
//! allowed private addresses, streamed and stopped at the operator's size
//! limit. Names go through the bridge's own HTTP client, whose resolver
//! applies the same rule (the Matrix bridge's does).
//!
//! The whole file is held in memory (at most the limit): the networks'
//! upload APIs want a length.

use std::time::Duration;

use crate::address::non_public;
use crate::{Attachment, ErrorKind};

/// How long one file may take to arrive.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

pub use crate::files::{Limits, DEFAULT_MAX_BYTES};

/// A fetched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Its bytes, all of them.
    pub bytes: Vec<u8>,
    /// Its name: the one the user's client gave, else the URL's last path
    /// segment, else `file`.
    pub name: String,
    /// Its media type: the one the client gave, else the server's
    /// `Content-Type`, else `application/octet-stream`.
    pub media_type: String,
}

/// Why a file was not fetched, in words for the user.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DownloadError {
    /// Not an http or https URL.
    #[error("{name}: only http and https links can be sent as files")]
    NotHttp {
        /// The file's name.
        name: String,
    },
    /// An address literal the gateway does not reach.
    #[error("{name}: the gateway does not fetch files from a {why} address")]
    NonPublic {
        /// The file's name.
        name: String,
        /// What kind of address.
        why: &'static str,
    },
    /// Over the limit (said by the client, by the server, or counted).
    #[error("{name} is too large: files up to {} can be sent", human(*.limit))]
    TooLarge {
        /// The file's name.
        name: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file's server answered with an error.
    #[error("{name} could not be fetched: its server answered {status}")]
    Status {
        /// The file's name.
        name: String,
        /// The HTTP status.
        status: u16,
    },
    /// The connection failed or timed out.
    #[error("{name} could not be fetched: {reason}")]
    Fetch {
        /// The file's name.
        name: String,
        /// Why.
        reason: String,
    },
}

impl DownloadError {
    /// The error kind an [`Event::Error`](crate::Event::Error) for it carries.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::NotHttp { .. } | Self::NonPublic { .. } => ErrorKind::BadRequest,
            Self::Status { .. } | Self::Fetch { .. } => ErrorKind::Other,
        }
    }
}

/// A size in words: `900 bytes`, `12 KiB`, `20 MiB`.
fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The name a file goes by: the client's, else the URL's last path
/// segment, else `file`.
pub fn file_name(file: &Attachment) -> String {
    if let Some(name) = file.name.as_deref().filter(|n| !n.trim().is_empty()) {
        return name.to_owned();
    }
    reqwest::Url::parse(&file.url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "file".to_owned())
}

/// Fetches `file` with the bridge's `client`, within `limits`.
pub async fn fetch(
    client: &reqwest::Client,
    file: &Attachment,
    limits: Limits,
) -> Result<Fetched, DownloadError> {
    let name = file_name(file);
    let too_large = || DownloadError::TooLarge {
        name: name.clone(),
        limit: limits.max_bytes,
    };
    let url = reqwest::Url::parse(&file.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| DownloadError::NotHttp { name: name.clone() })?;
    if let Some(why) = crate::public_http::literal(&url)
        .and_then(non_public)
        .filter(|_| !limits.allow_private)
    {
        return Err(DownloadError::NonPublic { name, why });
    }
    if file.size.is_some_and(|s| s > limits.max_bytes) {
        return Err(too_large());
    }
    let failed = |e: reqwest::Error| DownloadError::Fetch {
        name: name.clone(),
        reason: if e.is_timeout() {
            "it took too long".to_owned()
        } else {
            // Without the URL: it can hold a token.
            crate::public_http::words(e)
        },
    };
    let mut response = client
        .get(url)
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(failed)?;
    if !response.status().is_success() {
        return Err(DownloadError::Status {
            name,
            status: response.status().as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|n| n > limits.max_bytes)
    {
        return Err(too_large());
    }
    let served_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty());
    // Room for what the server announced (within the limit) at once, so
    // the buffer does not double past the file's size as it grows.
    let announced = response.content_length().unwrap_or(0).min(limits.max_bytes);
    let mut bytes = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if bytes.len() as u64 + chunk.len() as u64 > limits.max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let media_type = file
        .media_type
        .clone()
        .filter(|t| !t.is_empty())
        .or(served_type)
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(Fetched {
        bytes,
        name,
        media_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn file(url: &str) -> Attachment {
        Attachment {
            url: url.to_owned(),
            name: None,
            media_type: None,
            size: None,
            needs_credentials: false,
            sha256: None,
        }
    }

    /// A one-shot HTTP server on loopback answering with `body`, its
    /// length announced or not; its URL.
    async fn serve(body: Vec<u8>, announce_length: bool) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let head = if announce_length {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                )
            } else {
                "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_owned()
            };
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&body).await;
        });
        format!("http://127.0.0.1:{port}/up/a%20b/photo.png")
    }

    const OPEN: Limits = Limits {
        max_bytes: 1000,
        allow_private: true,
    };

    #[tokio::test]
    async fn a_file_within_the_limit_arrives_whole_with_its_type() {
        let body: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let url = serve(body.clone(), true).await;
        let got = fetch(&reqwest::Client::new(), &file(&url), OPEN)
            .await
            .unwrap();
        assert_eq!(got.bytes, body);
        assert_eq!(got.name, "photo.png");
        assert_eq!(got.media_type, "image/png");
    }

    #[tokio::test]
    async fn a_file_over_the_limit_stops_with_a_clear_error() {
        for announce in [true, false] {
            let url = serve(vec![0; 1001], announce).await;
            let error = fetch(&reqwest::Client::new(), &file(&url), OPEN)
                .await
                .unwrap_err();
            assert_eq!(error.kind(), ErrorKind::TooLarge);
            assert_eq!(
                error.to_string(),
                "photo.png is too large: files up to 1000 bytes can be sent"
            );
        }
        // Said by the client: not fetched at all.
        let mut said = file("https://upload.example/x.bin");
        said.size = Some(2 << 20);
        let limits = Limits {
            max_bytes: 1 << 20,
            allow_private: false,
        };
        let error = fetch(&reqwest::Client::new(), &said, limits)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.bin is too large: files up to 1 MiB can be sent"
        );
    }

    #[tokio::test]
    async fn only_public_http_addresses_are_fetched() {
        let closed = Limits {
            max_bytes: 1000,
            allow_private: false,
        };
        let client = reqwest::Client::new();
        let error = fetch(&client, &file("http://127.0.0.1:9/a"), closed)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            DownloadError::NonPublic {
                why: "loopback",
                ..
            }
        ));
        let error = fetch(&client, &file("http://[::ffff:10.0.0.1]/a"), closed)
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            DownloadError::NonPublic { why: "private", .. }
        ));
        let error = fetch(&client, &file("file:///etc/passwd"), OPEN)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "passwd: only http and https links can be sent as files"
        );
    }
}
