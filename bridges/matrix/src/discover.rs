//! From what the user typed as their homeserver to its API's base URL: a
//! URL is taken as it is; a server name is looked up in its
//! `.well-known/matrix/client`, and without one is taken as
//! `https://NAME`. Either way the server must answer
//! `/_matrix/client/versions`.

use std::net::IpAddr;

use std::time::Duration;
use switchboard_bridge_api::address::non_public;

use reqwest::Url;

use crate::api::WellKnown;
use crate::client::Client;

/// How long each discovery request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why no homeserver was found, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Neither a URL nor a server name.
    #[error("{0:?} is neither a server name nor an http(s) URL")]
    NotAServer(String),
    /// A loopback or private address, which the operator did not allow.
    #[error("{0} is a private address, which this gateway does not connect to")]
    Private(String),
    /// Nothing answered as a Matrix homeserver.
    #[error("no Matrix homeserver answers at {0}")]
    NoServer(String),
}

/// The base URL of the homeserver the user named.
pub async fn base_url(
    http: &reqwest::Client,
    typed: &str,
    allow_private: bool,
) -> Result<Url, DiscoveryError> {
    let typed = typed.trim();
    let base = if typed.starts_with("http://") || typed.starts_with("https://") {
        parse_base(typed)?
    } else {
        let name = parse_base(&format!("https://{typed}"))?;
        check_address(&name, allow_private)?;
        well_known(http, &name).await.unwrap_or(name)
    };
    check_address(&base, allow_private)?;
    let client = Client::new(http.clone(), base.clone(), None);
    let versions = client.url(&["_matrix", "client", "versions"], &[]);
    match client.get::<serde_json::Value>(versions, TIMEOUT).await {
        Ok(v) if v.get("versions").is_some() => Ok(base),
        _ => Err(DiscoveryError::NoServer(base.to_string())),
    }
}

/// A base URL: http(s), a host, no query or fragment, ending in `/`.
fn parse_base(text: &str) -> Result<Url, DiscoveryError> {
    let not = || DiscoveryError::NotAServer(text.to_owned());
    let mut url = Url::parse(text).map_err(|_| not())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(not());
    }
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Refuses a non-public address literal (loopback, private, link-local,
/// CGNAT, …, as for IRC servers) and `localhost` unless the operator
/// allowed them, with a clear word at registration. Names are checked
/// again where they are resolved (`resolve.rs`), at every connection.
fn check_address(url: &Url, allow_private: bool) -> Result<(), DiscoveryError> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let private = match bare.parse::<IpAddr>() {
        Ok(ip) => non_public(ip).is_some(),
        Err(_) => bare.eq_ignore_ascii_case("localhost") || bare.ends_with(".localhost"),
    };
    if private {
        Err(DiscoveryError::Private(host.to_owned()))
    } else {
        Ok(())
    }
}

/// The base URL a server name's `.well-known` gives, if it gives one.
async fn well_known(http: &reqwest::Client, name: &Url) -> Option<Url> {
    let client = Client::new(http.clone(), name.clone(), None);
    let url = client.url(&[".well-known", "matrix", "client"], &[]);
    let found: WellKnown = client.get(url, TIMEOUT).await.ok()?;
    parse_base(&found.homeserver.base_url).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_ends_in_a_slash_and_has_no_query() {
        let url = parse_base("https://matrix.example.org/prefix?x=1#f").unwrap();
        assert_eq!(url.as_str(), "https://matrix.example.org/prefix/");
        assert!(parse_base("ftp://matrix.example.org").is_err());
        assert!(parse_base("https://").is_err());
    }

    #[test]
    fn private_addresses_need_the_operators_leave() {
        for private in [
            "http://127.0.0.1:8008/",
            "http://10.1.2.3/",
            "http://[::1]:8008/",
            "http://localhost:8008/",
            "http://[fd00::1]/",
        ] {
            let url = parse_base(private).unwrap();
            assert!(check_address(&url, false).is_err(), "{private}");
            assert!(check_address(&url, true).is_ok(), "{private}");
        }
        let public = parse_base("https://matrix.org").unwrap();
        assert!(check_address(&public, false).is_ok());
    }
}
