//! Files the user sends (`SendText.attachments`): the test network fetches each attachment of a
//! `SendText` with the shared downloader (`switchboard_bridge_api::download`,
//! within the operator's `[files]` limits, `Login::files`), as a network that takes uploads would, and
//! reports its bytes to the test (`Report::File`). A file that cannot be
//! fetched fails the whole message: an `Event::Error` naming the command,
//! no echo.

use std::sync::Arc;

use switchboard_bridge_api::download::{self, Limits};
use switchboard_bridge_api::{Attachment, ErrorContext, Event, Token};

use crate::hub::Hub;
use crate::wire::Report;

/// The HTTP client.
pub(crate) struct Files {
    client: reqwest::Client,
}

impl Files {
    /// A client for the files users send.
    pub(crate) fn new() -> Self {
        Self {
            client: reqwest::Client::new(),
        }
    }

    /// Fetches every file of a message and reports each; the error event
    /// for the first that fails.
    pub(crate) async fn fetch_all(
        &self,
        hub: &Arc<Hub>,
        user: &str,
        token: &Token,
        files: &[Attachment],
        limits: Limits,
    ) -> Result<(), Event> {
        for file in files {
            let fetched = download::fetch(&self.client, file, limits)
                .await
                .map_err(|e| Event::Error {
                    context: ErrorContext::Command(token.clone()),
                    kind: e.kind(),
                    text: e.to_string(),
                })?;
            hub.report(&Report::File {
                user: user.to_owned(),
                token: token.clone(),
                name: fetched.name,
                media_type: fetched.media_type,
                bytes: fetched.bytes,
            });
        }
        Ok(())
    }
}
