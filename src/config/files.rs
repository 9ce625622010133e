//! `[files]`: how files from the networks reach XMPP users (XEP-0363 upload
//! to the XMPP server, `gateway/files/`), and a network's own
//! `upload_service` override.

use serde::Deserialize;
use std::str::FromStr;
use xmpp_parsers::jid::BareJid;

use super::{err, ConfigError};

/// Where the gateway uploads the networks' files (XEP-0363).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadService {
    /// Asked of the XMPP server: the first of its disco#items whose
    /// disco#info has `urn:xmpp:http:upload:0` (the default).
    Discover,
    /// This service's JID.
    At(BareJid),
    /// None: network URLs anyone may fetch are passed through as they are.
    Off,
}

/// The `[files]` section, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesConfig {
    /// The upload service of every network without its own.
    pub upload_service: UploadService,
    /// The largest file the gateway fetches and uploads, in bytes; a larger
    /// one is announced as a line of text (name, size, limit).
    pub max_file_size: u64,
    /// Whether network file URLs may point at loopback and private
    /// addresses (never, by default: a network user could otherwise make
    /// the gateway fetch from the machine's own services).
    pub allow_private_addresses: bool,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            upload_service: UploadService::Discover,
            max_file_size: 20 * 1024 * 1024,
            allow_private_addresses: false,
        }
    }
}

/// The section as written.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawFiles {
    upload_service: Option<String>,
    max_file_size: Option<u64>,
    allow_private_addresses: Option<bool>,
}

/// The keys `[files]` may hold.
pub(super) const FILES_KEYS: &[&str] =
    &["upload_service", "max_file_size", "allow_private_addresses"];

/// Checks `[files]`.
pub(super) fn check_files(raw: RawFiles, errors: &mut Vec<ConfigError>) -> FilesConfig {
    let default = FilesConfig::default();
    let upload_service = match raw.upload_service {
        Some(s) => upload_service("files.upload_service", &s, errors),
        None => default.upload_service,
    };
    let max_file_size = raw.max_file_size.unwrap_or(default.max_file_size);
    if max_file_size == 0 {
        errors.push(err("files.max_file_size", "must be at least 1 byte"));
    }
    FilesConfig {
        upload_service,
        max_file_size,
        allow_private_addresses: raw
            .allow_private_addresses
            .unwrap_or(default.allow_private_addresses),
    }
}

/// An `upload_service` value: `"discover"`, `"none"`, or a domain JID.
pub(super) fn upload_service(
    key: &str,
    value: &str,
    errors: &mut Vec<ConfigError>,
) -> UploadService {
    match value {
        "discover" => UploadService::Discover,
        "none" => UploadService::Off,
        _ => match BareJid::from_str(value) {
            Ok(jid) => UploadService::At(jid),
            Err(_) => {
                errors.push(err(
                    key,
                    &format!(
                        "{value:?} is not a JID like upload.example.org (or \"discover\", \"none\")"
                    ),
                ));
                UploadService::Off
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_mistakes() {
        let mut errors = Vec::new();
        assert_eq!(
            upload_service("k", "upload.example.org", &mut errors),
            UploadService::At("upload.example.org".parse().unwrap())
        );
        assert_eq!(upload_service("k", "none", &mut errors), UploadService::Off);
        assert_eq!(
            upload_service("k", "discover", &mut errors),
            UploadService::Discover
        );
        assert!(errors.is_empty());
        upload_service("k", "a@@b", &mut errors);
        assert_eq!(errors[0].key, "k");
        let files = check_files(
            RawFiles {
                max_file_size: Some(0),
                ..Default::default()
            },
            &mut errors,
        );
        assert_eq!(files.upload_service, UploadService::Discover);
        assert_eq!(errors[1].key, "files.max_file_size");
    }
}
