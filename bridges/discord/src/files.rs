//! Files XMPP users send, as Discord attachments: fetched with the shared
//! download (`switchboard_bridge_api::download`, the operator's limits)
//! and uploaded in the message's multipart request (`files[0]` and
//! `payload_json`, whose `attachments` names the file), so that Discord
//! users see the file itself, not a link to the XMPP server.
//!
//! Discord takes at most [`DISCORD_MAX_BYTES`] per request from a bot or a
//! webhook in a guild without boosts (boosted guilds take more; the bridge
//! keeps to the floor every guild takes), and answers a larger one with
//! 413 (code 40005): the bridge stops at that size before fetching more.
//!
//! serenity numbers a raw request's files `files[0]` each (its numbering is
//! private to its builders), so each file goes in a request of its own:
//! the text with the first, each further one as a message of its own.

use serde_json::{json, Value};
use serenity::all::CreateAttachment;
use switchboard_bridge_api::download::{self, DownloadError, Limits};
use switchboard_bridge_api::Attachment;

/// Discord's upload limit for a request without boosts: 10 MiB (lowered
/// from 25 MiB in 2024; guilds of boost level 2 and 3 take 50 and 100 MiB).
pub(crate) const DISCORD_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// The limits a file for Discord is fetched within: the operator's, and
/// no more than Discord takes.
pub(crate) fn limits(operator: Limits) -> Limits {
    Limits {
        max_bytes: operator.max_bytes.min(DISCORD_MAX_BYTES),
        allow_private: operator.allow_private,
    }
}

/// Fetches every file, in order; the first that fails stops it, with
/// words for the user.
pub(crate) async fn fetch_all(
    client: &reqwest::Client,
    files: &[Attachment],
    limits: Limits,
) -> Result<Vec<CreateAttachment>, DownloadError> {
    let mut out = Vec::with_capacity(files.len());
    for file in files {
        let fetched = download::fetch(client, file, limits).await?;
        out.push(CreateAttachment::bytes(fetched.bytes, fetched.name));
    }
    Ok(out)
}

/// Adds the `attachments` field that names the request's one file
/// (`files[0]`) to a message body.
pub(crate) fn name_in(body: &mut Value, file: &CreateAttachment) {
    body["attachments"] = json!([{ "id": "0", "filename": file.filename }]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lower_of_the_operators_and_discords_limit_applies() {
        let big = Limits {
            max_bytes: 100 << 20,
            allow_private: true,
        };
        assert_eq!(limits(big).max_bytes, 10 << 20);
        assert!(limits(big).allow_private);
        let small = Limits {
            max_bytes: 1000,
            allow_private: false,
        };
        assert_eq!(limits(small), small);
    }
}
