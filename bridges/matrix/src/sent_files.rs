//! The files the user sent lately, for their echoes: the homeserver's
//! download URL of each and the attachment as the user's client shared
//! it. The echo of the user's own message names the shared URL instead of
//! the homeserver's copy, so the core shows the user their own file
//! without fetching and uploading it again.
//!
//! Kept across restarts: each file is saved as state (`sent.N` = JSON, N
//! the file's number modulo [`SENT_KEPT`], so at most that many rows,
//! each overwritten in turn) before its event is sent. A restart between
//! the send and the sync that brings its echo (which a resumed sync then
//! repeats) still knows the file.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use switchboard_bridge_api::{Attachment, Event, Message};
use tracing::debug;

use crate::session::Session;

/// How many sent files are remembered for their echoes.
const SENT_KEPT: u64 = 32;

/// The prefix of the state keys of sent files.
const SENT_PREFIX: &str = "sent.";

/// A sent file as saved.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    /// The file's number: which one is newest after a restart.
    seq: u64,
    /// The homeserver's download URL of the file.
    download: String,
    /// The attachment as the user's client shared it.
    shared: Attachment,
}

/// The files the user sent lately, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SentFiles {
    files: VecDeque<(String, Attachment)>,
    /// The number of the next file sent.
    next: u64,
}

impl SentFiles {
    /// The files an earlier session saved (`sent.N` state).
    pub(crate) fn load(&mut self, state: &BTreeMap<String, String>) {
        let mut saved: Vec<Saved> = state
            .iter()
            .filter(|(key, _)| key.starts_with(SENT_PREFIX))
            .filter_map(|(_, value)| match serde_json::from_str(value) {
                Ok(saved) => Some(saved),
                Err(e) => {
                    debug!(error = %e, "a saved sent file unread");
                    None
                }
            })
            .collect();
        saved.sort_by_key(|s| s.seq);
        for file in saved {
            self.next = self.next.max(file.seq + 1);
            self.push(file.download, file.shared);
        }
    }

    /// Remembers a file sent, known on the homeserver at `download`: the
    /// state to save for it (key, value).
    fn remember(&mut self, download: String, shared: &Attachment) -> (String, String) {
        let seq = self.next;
        self.next += 1;
        let saved = Saved {
            seq,
            download: download.clone(),
            shared: shared.clone(),
        };
        self.push(download, shared.clone());
        let value = serde_json::to_string(&saved).expect("a sent file serializes");
        (format!("{SENT_PREFIX}{}", seq % SENT_KEPT), value)
    }

    fn push(&mut self, download: String, shared: Attachment) {
        if self.files.len() as u64 >= SENT_KEPT {
            self.files.pop_front();
        }
        self.files.push_back((download, shared));
    }

    /// The echo of a message the user sent from XMPP (it has a token)
    /// names the files as the user shared them, where they are known.
    pub(crate) fn restore(&mut self, echo: &mut Message) {
        if echo.token.is_none() {
            return;
        }
        for file in &mut echo.attachments {
            if let Some(at) = self.files.iter().position(|(url, _)| *url == file.url) {
                if let Some((_, shared)) = self.files.remove(at) {
                    *file = shared;
                }
            }
        }
    }
}

impl Session {
    /// Remembers a file about to be sent, here and as saved state.
    pub(crate) async fn remember_sent_file(&mut self, download: String, shared: &Attachment) {
        let (key, value) = self.sent_files.remember(download, shared);
        self.emit(Event::SaveState {
            key,
            value,
            secret: false,
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(name: &str) -> Attachment {
        Attachment {
            url: format!("https://upload.example/slot/{name}"),
            name: Some(name.into()),
            media_type: Some("image/png".into()),
            size: Some(3),
            needs_credentials: false,
            sha256: None,
        }
    }

    fn echo(download: &str, of: &Attachment) -> Message {
        Message {
            id: "$e".into(),
            target: switchboard_bridge_api::Target::Room("!r:hs".into()),
            author: "@me:hs".into(),
            author_nick: "me".into(),
            text: String::new(),
            kind: Default::default(),
            reply_to: None,
            attachments: vec![Attachment {
                url: download.into(),
                needs_credentials: true,
                ..of.clone()
            }],
            timestamp: None,
            own: true,
            token: Some("x1".into()),
            parts: vec![],
        }
    }

    #[test]
    fn the_echo_of_a_sent_file_names_the_shared_url() {
        let a = shared("a.png");
        let download = "https://hs/_matrix/client/v1/media/download/hs/x";
        let mut sent = SentFiles::default();
        sent.remember(download.into(), &a);
        let mut message = echo(download, &a);
        sent.restore(&mut message);
        assert_eq!(message.attachments, [a]);
    }

    #[test]
    fn saved_files_are_known_after_a_restart_newest_kept() {
        let mut sent = SentFiles::default();
        let mut state = BTreeMap::new();
        for i in 0..SENT_KEPT + 3 {
            let (key, value) = sent.remember(format!("https://hs/d/{i}"), &shared("f"));
            state.insert(key, value);
        }
        assert_eq!(state.len() as u64, SENT_KEPT, "the rows are reused");
        state.insert("sent.junk".into(), "not json".into());
        let mut after = SentFiles::default();
        after.load(&state);
        assert_eq!(after.next, SENT_KEPT + 3);
        assert_eq!(after.files.len() as u64, SENT_KEPT);
        assert_eq!(after.files[0].0, "https://hs/d/3", "the oldest three gone");
        let last = format!("https://hs/d/{}", SENT_KEPT + 2);
        let mut message = echo(&last, &shared("f"));
        after.restore(&mut message);
        assert_eq!(message.attachments, [shared("f")]);
        // The next file takes the oldest row.
        let (key, _) = after.remember("https://hs/d/new".into(), &shared("g"));
        assert_eq!(key, format!("sent.{}", (SENT_KEPT + 3) % SENT_KEPT));
    }
}
