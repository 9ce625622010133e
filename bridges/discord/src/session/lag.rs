//! Shared-bot mode: a session that fell behind. The shared connection
//! never waits for one session (that would hold back every linked user):
//! when a session's queue is full, because its user's client or server
//! takes the events slowly or the session is stuck, the fan-out drops it
//! (`shared.rs`). The session then finds its dispatches ended with its
//! `lagged` mark set: it tells the user, takes a new place in the fan-out
//! (the guilds' state again, then live dispatches) and fetches each
//! joined channel's messages since the last one it passed on, up to
//! [`LAG_PAGES`] pages. Edits, deletes, reactions and typing made
//! meanwhile are not fetched: the notice says so.

use std::sync::atomic::Ordering;

use serenity::model::event::Event as Dispatch;
use switchboard_bridge_api::Event;
use tokio::sync::mpsc;

use super::Session;

/// How many pages of 100 messages a channel's catch-up after a lag takes.
pub(super) const LAG_PAGES: usize = 20;

/// What the user is told.
const NOTICE: &str = "Switchboard fell behind Discord's events for you (your client or server took them too slowly). \
Fetching the messages you missed, up to 2,000 per room; edits, deletions and reactions made meanwhile are not shown.";

impl Session {
    /// The session's dispatches ended: when it fell behind, it tells the
    /// user, subscribes again and catches up, and returns its new
    /// dispatches; `None` when the shared connection itself ended.
    pub(super) async fn fell_behind(&mut self) -> Option<mpsc::Receiver<Box<Dispatch>>> {
        let shared = self.shared.clone()?;
        let lagged = self.lagged.as_ref()?;
        if !lagged.swap(false, Ordering::SeqCst) {
            return None;
        }
        tracing::info!(account = %self.account, "the session fell behind the shared bot: catching up");
        let notice = Event::Notice {
            text: NOTICE.to_owned(),
            server: None,
        };
        if !self.emit(notice).await || !self.release_held().await {
            return None;
        }
        let place = shared.subscribe(&self.account);
        self.rooms = Some(place.rooms);
        self.lagged = Some(place.lagged);
        self.share_rooms();
        let joined: Vec<u64> = self.joined.keys().copied().collect();
        for channel in joined {
            self.caught_up.remove(&channel);
            if !self.catch_up_pages(channel, LAG_PAGES).await {
                return None;
            }
        }
        Some(place.dispatches)
    }
}
