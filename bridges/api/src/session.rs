//! The two ends of a running session's channels.

use std::sync::Arc;

use crate::{channel, Command, Event, FileFetcher, CHANNEL_BOUND};

/// The core's end of a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Commands into the session.
    pub commands: channel::Sender<Command>,
    /// Events out of the session. The session ends when this closes.
    pub events: channel::Receiver<Event>,
    /// Where the core gets the bytes of the session's attachments that need
    /// its credentials ([`Attachment::needs_credentials`](crate::Attachment));
    /// `None` (what [`session_channels`] makes) for a network whose files
    /// anyone may fetch. Without one, such a file is announced as a line
    /// of text, not shown.
    pub files: Option<Arc<dyn FileFetcher>>,
}

/// The bridge's end of a running session.
#[derive(Debug)]
pub struct SessionEnd {
    /// Commands from the core.
    pub commands: channel::Receiver<Command>,
    /// Events to the core.
    pub events: channel::Sender<Event>,
}

/// Makes the two ends of a session's channels.
pub fn session_channels() -> (SessionHandle, SessionEnd) {
    let (command_tx, command_rx) = channel::channel(CHANNEL_BOUND);
    let (event_tx, event_rx) = channel::channel(CHANNEL_BOUND);
    (
        SessionHandle {
            commands: command_tx,
            events: event_rx,
            files: None,
        },
        SessionEnd {
            commands: command_rx,
            events: event_tx,
        },
    )
}
