//! Files the XMPP user sends: each attachment of a `SendText` is fetched
//! with the shared downloader (`switchboard_bridge_api::download`, through
//! the bridge's HTTP client and its public-address resolver, without the
//! user's token, within `max_file_size`), uploaded to the homeserver's
//! media repository, and sent as an `m.room.message` whose `msgtype`
//! follows its media type (`m.image`, `m.video`, `m.audio`, else
//! `m.file`), with `body` = the file's name and `info` its mimetype and
//! size. Each event carries the command's token in its transaction id, as
//! a text does, so its echo is the user's own; the echo names the URL the
//! user shared (remembered here, [`SentFiles`]), not the homeserver's copy,
//! so the core shows the user their own file without fetching it again.

use std::time::Duration;

use serde_json::json;
use switchboard_bridge_api::download;
use switchboard_bridge_api::{Attachment, Target, Token};
use tracing::debug;

use crate::commands::refusal;
use crate::media_in::download_url;
use crate::rich::Refused;
pub(crate) use crate::sent_files::SentFiles;
use crate::session::Session;

/// How long an upload may take.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

impl Session {
    /// Fetches, uploads and sends each file, in order; stops at the first
    /// that fails.
    pub(crate) async fn send_files(
        &mut self,
        target: &Target,
        files: &[Attachment],
        token: &Token,
    ) -> Result<(), Refused> {
        if files.is_empty() {
            return Ok(());
        }
        let room_id = self.room_of(target)?;
        for file in files {
            let fetched = download::fetch(self.client.http(), file, self.file_limits)
                .await
                .map_err(|e| (e.kind(), e.to_string()))?;
            let size = fetched.bytes.len();
            let uri = self
                .client
                .upload(
                    fetched.bytes,
                    &fetched.media_type,
                    &fetched.name,
                    UPLOAD_TIMEOUT,
                )
                .await
                .map_err(|e| refusal(&e))?;
            let content = json!({
                "msgtype": msgtype(&fetched.media_type),
                "body": fetched.name,
                "filename": fetched.name,
                "url": uri,
                "info": { "mimetype": fetched.media_type, "size": size },
            });
            if let Some(download) = download_url(self.client.base(), &uri) {
                self.remember_sent_file(download.to_string(), file).await;
            }
            let event = self
                .send_event(&room_id, "m.room.message", token, &content)
                .await?;
            debug!(%event, size, "file sent to Matrix");
        }
        Ok(())
    }
}

/// The message type for a media type.
fn msgtype(media_type: &str) -> &'static str {
    match media_type.split('/').next().unwrap_or_default() {
        "image" => "m.image",
        "video" => "m.video",
        "audio" => "m.audio",
        _ => "m.file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_type_follows_the_media_type() {
        assert_eq!(msgtype("image/png"), "m.image");
        assert_eq!(msgtype("video/mp4"), "m.video");
        assert_eq!(msgtype("audio/ogg"), "m.audio");
        assert_eq!(msgtype("application/pdf"), "m.file");
        assert_eq!(msgtype(""), "m.file");
    }
}
