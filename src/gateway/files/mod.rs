//! Files from the network. With an XMPP upload service (XEP-0363, asked by
//! the component, `upload.rs`), each attachment of a network message is
//! fetched (size-limited: `fetch.rs` for URLs anyone may fetch, the
//! session's `FileFetcher` for those that need its credentials), uploaded,
//! and sent as the upload's GET URL with XEP-0066 out-of-band data and
//! XEP-0447 metadata (`sfs.rs`: name, type, size, SHA-256). A message that
//! is only one file has the URL as its whole body, which is what
//! Conversations, Dino and Gajim need to show an image inline; a client
//! that knows neither extension still reads the URL.
//!
//! Without an upload service a URL anyone may fetch is passed through as it
//! is; one that needs credentials, a file over the limit, or one whose
//! upload failed and that cannot be passed through becomes a line of text
//! saying so (name, size), never dropped in silence.
//!
//! The uploads run off the session's pump (a task per message, two uploads
//! at a time per network), so other messages go on; a session's file
//! messages are delivered in the order they came. The archive records the
//! URLs the user was given.

mod fetch;
mod upload;

use std::sync::Arc;

use switchboard_bridge_api::{
    Attachment, Event, FetchError, FileFetcher, Message as NetMessage, Target,
};
use tokio::task::JoinHandle;
use tracing::{debug, warn, Instrument};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use super::message_ids::is_echo;
use super::Gateway;
use crate::config::Config;
pub(super) use upload::UploadError;
pub(crate) use upload::Uploads;

/// What a gateway holds for files: its upload service, its HTTP client for
/// network files, its limit.
pub(crate) struct Files {
    uploads: Uploads,
    /// Made at the first file (a client holds TLS roots; most gateways of
    /// IRC users never need one).
    network: std::sync::OnceLock<reqwest::Client>,
    max: u64,
    allow_private: bool,
    /// Uploads at once, over all of the network's users.
    busy: tokio::sync::Semaphore,
}

impl Files {
    /// From `[files]` and the network's own `upload_service`.
    pub(crate) fn new(config: &Config, network: &str) -> Self {
        let setting = config
            .networks
            .get(network)
            .and_then(|n| n.upload_service.clone())
            .unwrap_or_else(|| config.files.upload_service.clone());
        Self {
            uploads: Uploads::new(setting),
            network: std::sync::OnceLock::new(),
            max: config.files.max_file_size,
            allow_private: config.files.allow_private_addresses,
            busy: tokio::sync::Semaphore::new(2),
        }
    }

    /// A small file's bytes in memory (an avatar), at most `limit`: from
    /// the session's fetcher when it needs credentials, else over HTTP.
    pub(super) async fn fetch_small(
        &self,
        file: &Attachment,
        fetcher: Option<&dyn FileFetcher>,
        limit: u64,
    ) -> Result<Vec<u8>, FetchError> {
        if file.needs_credentials {
            let Some(fetcher) = fetcher else {
                return Err(FetchError::Failed(
                    "the network gives no way to fetch it".into(),
                ));
            };
            return fetcher.fetch(file, limit).await;
        }
        let allow_private = self.allow_private;
        let client = self.network.get_or_init(|| fetch::client(allow_private));
        match fetch::fetch(client, &file.url, limit, allow_private)
            .await?
            .body
        {
            fetch::Body::Whole(bytes) => Ok(bytes),
            fetch::Body::Stream { mut response, size } => {
                let mut bytes = Vec::with_capacity(size as usize);
                while let Some(chunk) = response
                    .chunk()
                    .await
                    .map_err(|e| FetchError::Failed(fetch::words(e)))?
                {
                    if (bytes.len() + chunk.len()) as u64 > limit {
                        return Err(FetchError::TooLarge { limit });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(bytes)
            }
        }
    }

    /// An iq result or error the component waited for is taken (`None`);
    /// any other comes back.
    pub(crate) fn answered(&self, iq: xmpp_parsers::iq::Iq) -> Option<xmpp_parsers::iq::Iq> {
        self.uploads.answered(iq)
    }
}

/// A session pump's file work: the session's fetcher, and the last file
/// message still on its way (the next waits for it, to keep their order).
pub(super) struct FileQueue {
    fetcher: Option<Arc<dyn FileFetcher>>,
    last: Option<JoinHandle<()>>,
}

impl FileQueue {
    pub(super) fn new(fetcher: Option<Arc<dyn FileFetcher>>) -> Self {
        Self {
            fetcher,
            last: None,
        }
    }
}

/// Why one file is not shown.
enum NotShown {
    TooLarge(u64),
    Failed(String),
}

impl Gateway {
    /// Puts a small file held in memory (the user's own picture) on the
    /// upload service: its GET URL, `Ok(None)` when there is no service
    /// or it takes no file this large.
    pub(super) async fn upload_small(
        &self,
        name: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<String>, UploadError> {
        let Some(service) = self.upload_service().await else {
            return Ok(None);
        };
        if service.max.is_some_and(|max| bytes.len() as u64 > max) {
            return Ok(None);
        }
        let (url, _) = self
            .upload(&service, name, media_type, fetch::Body::Whole(bytes))
            .await?;
        Ok(Some(url))
    }

    /// A session event, unless it is a message with files that takes a
    /// task of its own (fetch and upload; an avatar: `avatars/`); that task
    /// delivers it. An event that may refer to a message still on its way (a correction,
    /// retraction or reaction; a reply) waits until it is delivered.
    pub(super) async fn files_first(
        self: &Arc<Self>,
        user: &BareJid,
        event: Event,
        queue: &mut FileQueue,
    ) -> Option<Event> {
        if let Event::AvatarChanged {
            user: person,
            avatar,
        } = event
        {
            self.avatar_changed(user, person, avatar, queue.fetcher.clone());
            return None;
        }
        let refers = match &event {
            Event::Edited { .. } | Event::Retracted { .. } | Event::Reacted { .. } => true,
            Event::Message(m) => m.reply_to.is_some(),
            _ => false,
        };
        if refers {
            if let Some(before) = queue.last.take() {
                let _ = before.await;
            }
        }
        let m = match event {
            Event::Message(m) if !m.attachments.is_empty() => m,
            other => return Some(other),
        };
        // The echo of the user's own direct message is not shown (`direct.rs`).
        if m.own && matches!(m.target, Target::User(_)) {
            return Some(Event::Message(m));
        }
        // The echo of the user's own room message, with files anyone may
        // fetch (the URLs the client sent, on networks that echo them): its
        // reflection shows them as they were sent, not a second upload.
        if is_echo(&m) && m.attachments.iter().all(|a| !a.needs_credentials) {
            return Some(Event::Message(m));
        }
        if self.files.uploads.off() {
            return Some(Event::Message(self.without_upload(m)));
        }
        let this = Arc::clone(self);
        let user = user.clone();
        let fetcher = queue.fetcher.clone();
        let before = queue.last.take();
        let task = async move {
            let m = this.prepare_files(m, fetcher).await;
            if let Some(before) = before {
                let _ = before.await;
            }
            Box::pin(this.deliver_message(&user, m)).await;
        };
        queue.last = Some(tokio::spawn(task.in_current_span()));
        None
    }

    /// Delivers a network message (room or direct).
    async fn deliver_message(&self, user: &BareJid, m: NetMessage) {
        if matches!(m.target, Target::Room(_)) {
            self.room_event(user, Event::Message(m)).await;
        } else {
            self.direct_message(user, m).await;
        }
    }

    /// No upload service: URLs anyone may fetch are passed through, the
    /// others announced.
    fn without_upload(&self, mut m: NetMessage) -> NetMessage {
        let (shown, hidden): (Vec<_>, Vec<_>) = std::mem::take(&mut m.attachments)
            .into_iter()
            .partition(|a| !a.needs_credentials);
        for file in hidden {
            let why = NotShown::Failed("no upload service to put it on".into());
            add_line(&mut m.text, &not_shown(&file, &why));
        }
        m.attachments = shown;
        m
    }

    /// Each file uploaded to the XMPP server (its URL, type, size and hash
    /// replaced), or passed through, or announced in the text.
    async fn prepare_files(
        &self,
        mut m: NetMessage,
        fetcher: Option<Arc<dyn FileFetcher>>,
    ) -> NetMessage {
        let Some(service) = self.upload_service().await else {
            return self.without_upload(m);
        };
        let limit = service
            .max
            .map_or(self.files.max, |m| m.min(self.files.max));
        let mut shown = Vec::with_capacity(m.attachments.len());
        for file in std::mem::take(&mut m.attachments) {
            match self
                .upload_one(&service, &file, fetcher.as_deref(), limit)
                .await
            {
                Ok(uploaded) => shown.push(uploaded),
                Err(NotShown::Failed(why)) if !file.needs_credentials => {
                    debug!(error = %why, "file not uploaded; its URL passed through");
                    shown.push(file);
                }
                Err(why) => add_line(&mut m.text, &not_shown(&file, &why)),
            }
        }
        m.attachments = shown;
        m
    }

    /// Fetches one file (at most `limit` bytes) and uploads it.
    async fn upload_one(
        &self,
        service: &upload::Service,
        file: &Attachment,
        fetcher: Option<&dyn FileFetcher>,
        limit: u64,
    ) -> Result<Attachment, NotShown> {
        if file.size.is_some_and(|size| size > limit) {
            return Err(NotShown::TooLarge(limit));
        }
        let _turn = self.files.busy.acquire().await;
        let fetched = if file.needs_credentials {
            let Some(fetcher) = fetcher else {
                return Err(NotShown::Failed(
                    "the network gives no way to fetch it".into(),
                ));
            };
            fetcher
                .fetch(file, limit)
                .await
                .map(|bytes| fetch::Fetched {
                    body: fetch::Body::Whole(bytes),
                    media_type: None,
                })
        } else {
            let allow_private = self.files.allow_private;
            let client = self
                .files
                .network
                .get_or_init(|| fetch::client(allow_private));
            fetch::fetch(client, &file.url, limit, allow_private).await
        };
        let fetched = fetched.map_err(|e| match e {
            FetchError::TooLarge { limit } => NotShown::TooLarge(limit),
            FetchError::Failed(why) => {
                warn!(error = %why, "could not fetch a network file");
                NotShown::Failed(why)
            }
        })?;
        let name = file_name(file);
        let media_type = file
            .media_type
            .clone()
            .or(fetched.media_type)
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let size = fetched.body.size();
        let (url, sha256) = self
            .upload(service, &name, &media_type, fetched.body)
            .await
            .map_err(|e| {
                warn!(error = %e, "could not upload a network file");
                NotShown::Failed(e.to_string())
            })?;
        Ok(Attachment {
            url,
            name: Some(name),
            media_type: Some(media_type),
            size: Some(size),
            needs_credentials: false,
            sha256: Some(sha256),
        })
    }
}

/// The file's name: the network's, else the URL's last segment, else `file`.
fn file_name(file: &Attachment) -> String {
    file.name
        .clone()
        .or_else(|| {
            let path = file.url.split(['?', '#']).next()?;
            let last = path.rsplit('/').next()?;
            (!last.is_empty() && !path.ends_with("//")).then(|| last.to_owned())
        })
        .filter(|n| !n.contains(['\n', '\r']))
        .unwrap_or_else(|| "file".to_owned())
}

/// A line for a file not shown: its name and size, and why.
fn not_shown(file: &Attachment, why: &NotShown) -> String {
    let name = file_name(file);
    let size = file
        .size
        .map(|s| format!(" ({})", human(s)))
        .unwrap_or_default();
    match why {
        NotShown::TooLarge(limit) => format!(
            "[file {name}{size} not shown: it is over the {} limit for files]",
            human(*limit)
        ),
        NotShown::Failed(_) => format!("[file {name}{size} could not be shown here]"),
    }
}

/// Bytes for people: `20 MB`, `1.5 MB`, `300 kB`, `12 bytes`.
fn human(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    match bytes {
        b if b >= MB => {
            let tenths = b * 10 / MB;
            if tenths % 10 == 0 {
                format!("{} MB", tenths / 10)
            } else {
                format!("{}.{} MB", tenths / 10, tenths % 10)
            }
        }
        b if b >= 1024 => format!("{} kB", b / 1024),
        b => format!("{b} bytes"),
    }
}

/// Appends a line to a message's text.
fn add_line(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line);
}

/// The body's lines for a message's files (each URL on its own line, after
/// the text) and their payloads: `<x xmlns='jabber:x:oob'/>` for each, and
/// XEP-0447 `<file-sharing/>` for those the gateway uploaded.
pub(super) fn files_out(text: &str, attachments: &[Attachment]) -> (String, Vec<Element>) {
    let mut lines = String::new();
    for file in attachments {
        if !(text.is_empty() && lines.is_empty()) {
            lines.push('\n');
        }
        lines.push_str(&file.url);
    }
    (lines, crate::xmpp::sfs::file_payloads(attachments))
}

/// The archive's `extra` for a message's files, with what join history and
/// MAM replay them with (URL, name, type, size, hash); `None` without
/// files, or for a URL or name no line can hold.
pub(crate) fn files_extra(attachments: &[Attachment]) -> Option<String> {
    if attachments.is_empty() {
        return None;
    }
    crate::xmpp::rich::Extra::Files(attachments.to_vec()).encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::oob::Oob;

    fn file(url: &str, name: Option<&str>) -> Attachment {
        Attachment {
            url: url.into(),
            name: name.map(Into::into),
            media_type: None,
            size: None,
            needs_credentials: false,
            sha256: None,
        }
    }

    #[test]
    fn a_lone_file_is_the_whole_body() {
        let (lines, payloads) = files_out("", &[file("https://h/a.png", Some("a.png"))]);
        assert_eq!(lines, "https://h/a.png");
        let oob = Oob::try_from(payloads[0].clone()).unwrap();
        assert_eq!(oob.url, "https://h/a.png");
        assert_eq!(oob.desc.as_deref(), Some("a.png"));
    }

    #[test]
    fn files_after_text_are_lines_of_their_own() {
        let (lines, payloads) = files_out(
            "look",
            &[file("https://h/a", None), file("https://h/b", None)],
        );
        assert_eq!(lines, "\nhttps://h/a\nhttps://h/b");
        assert_eq!(payloads.len(), 2);
    }

    #[test]
    fn files_survive_the_archive_column() {
        use crate::xmpp::rich::Extra;
        let files = [
            file("https://h/a", Some("a.png")),
            file("https://h/b", None),
        ];
        let extra = files_extra(&files).unwrap();
        assert_eq!(Extra::decode(&extra), Some(Extra::Files(files.to_vec())));
        assert_eq!(files_extra(&[]), None);
    }
}

#[cfg(test)]
mod notice_tests {
    use super::*;

    #[test]
    fn notices_name_the_file_its_size_and_the_limit() {
        let mut file = Attachment {
            url: "https://cdn/x/big.mov?sig=1".into(),
            name: None,
            media_type: None,
            size: Some(25 * 1024 * 1024),
            needs_credentials: false,
            sha256: None,
        };
        assert_eq!(
            not_shown(&file, &NotShown::TooLarge(20 * 1024 * 1024)),
            "[file big.mov (25 MB) not shown: it is over the 20 MB limit for files]"
        );
        file.size = Some(1536 * 1024);
        file.name = Some("a.pdf".into());
        assert_eq!(
            not_shown(&file, &NotShown::Failed("x".into())),
            "[file a.pdf (1.5 MB) could not be shown here]"
        );
        assert_eq!(human(300 * 1024 + 5), "300 kB");
        assert_eq!(human(12), "12 bytes");
    }
}
