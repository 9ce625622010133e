//! HTTP clients that reach public addresses only, for everything the
//! gateway fetches on a network's or a user's word (a homeserver name, a
//! `.well-known` answer, a file's URL, a redirect): the resolver drops
//! loopback, private, link-local and other non-public addresses (the rule
//! IRC servers are held to, [`crate::address`]) unless the operator allowed
//! them, and the redirect policy refuses a redirect to such an address
//! literal. So no such name or redirect can make the gateway reach its own
//! host or network, whatever the name resolves to. Used by the core (files
//! from the networks), the Matrix bridge and [`crate::download`].

use std::net::SocketAddr;

use crate::address::non_public;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

/// The resolver: the system's, public addresses only unless `allow_private`.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    /// Whether the operator allowed non-public addresses (tests, a LAN).
    pub allow_private: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow_private || non_public(a.ip()).is_none())
                .collect();
            if kept.is_empty() {
                let why = all
                    .first()
                    .and_then(|a| non_public(a.ip()))
                    .unwrap_or("no address");
                return Err(format!("{host} resolves to no public address ({why})").into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// A client builder with [`PublicOnly`] and [`redirects`]; the caller adds
/// its timeouts.
pub fn builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(PublicOnly { allow_private }))
        .redirect(redirects(allow_private))
}

/// A URL's host when it is an IP literal (which no resolver sees).
pub fn literal(url: &reqwest::Url) -> Option<std::net::IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// An HTTP error and its causes, without the URL (a URL may hold a token).
pub fn words(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Follows up to ten redirects, never to a non-public address literal
/// (names go through [`PublicOnly`]) unless `allow_private`.
pub fn redirects(allow_private: bool) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if let Some(why) = literal(attempt.url())
            .and_then(non_public)
            .filter(|_| !allow_private)
        {
            let error = format!("a redirect to a {why} address was refused");
            attempt.error(error)
        } else if attempt.previous().len() >= 10 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn resolve(allow_private: bool, name: &str) -> Result<Vec<SocketAddr>, String> {
        PublicOnly { allow_private }
            .resolve(Name::from_str(name).unwrap())
            .await
            .map(|a| a.collect())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_name_of_a_loopback_address_is_refused_unless_allowed() {
        let refused = resolve(false, "localhost").await.unwrap_err();
        assert!(refused.contains("no public address"), "{refused}");
        assert!(refused.contains("loopback"), "{refused}");
        let allowed = resolve(true, "localhost").await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()), "{allowed:?}");
    }

    #[tokio::test]
    async fn a_redirect_to_a_private_literal_is_refused() {
        // A listener that redirects to the cloud metadata address.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let answer = "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest\r\n\
                          Content-Length: 0\r\nConnection: close\r\n\r\n";
            s.write_all(answer.as_bytes()).await.unwrap();
        });
        // The test server itself is on loopback: names may be private here,
        // literals in redirects may not.
        let client = reqwest::Client::builder()
            .redirect(redirects(false))
            .build()
            .unwrap();
        let error = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        let text = format!("{error:?}");
        assert!(text.contains("link-local"), "{text}");
    }
}
