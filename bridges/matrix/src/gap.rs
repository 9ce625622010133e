//! A timeline's news and its gaps. A limited timeline (more events than
//! the sync's limit since the last answer) is back-filled with
//! `/messages`, at most [`GAP_LIMIT`] events a room (more: the user is
//! told the older ones are not shown). After a `/sync` the gap is bounded
//! by the previous sync position (`to`); sliding sync has no stream token
//! for that, so its gaps are paged back (small pages first, growing) to
//! the last event the session delivered in the room, which is remembered
//! per room and saved (`last.<room id>`), so a restart, an expired
//! connection or an upgrade from `/sync` neither loses nor repeats events.

use std::time::Duration;

use switchboard_bridge_api::Event;
use tracing::{debug, info};

use crate::api::{MessagesResponse, RoomEvent, Timeline};
use crate::session::{Session, LAST_PREFIX};
use crate::sync::is_join_of;

/// The most events fetched to fill one room's gap.
pub(crate) const GAP_LIMIT: usize = 100;

/// The first page of a sliding sync gap (most gaps are a few events);
/// each next page is four times bigger, up to [`GAP_LIMIT`] in all.
const FIRST_PAGE: usize = 5;

impl Session {
    /// The events of a room's timeline to show, oldest first: after the
    /// last one delivered (sliding sync, which may send it again), after
    /// the user's own join for a room joined by command (`joining`) or
    /// their invitation for one joined by accepting it (`invited`), and
    /// with a gap before them filled.
    pub(crate) async fn news(
        &mut self,
        room_id: &str,
        timeline: Timeline,
        joining: bool,
        invited: bool,
        sliding: bool,
    ) -> Vec<RoomEvent> {
        let Timeline {
            mut events,
            limited,
            prev_batch,
        } = timeline;
        let mut seen = false;
        if sliding {
            if let Some(last) = self.delivered.get(room_id) {
                if let Some(at) = events.iter().position(|e| &e.event_id == last) {
                    events.drain(..=at);
                    seen = true;
                }
            }
        }
        // A room just joined by command: what its first timeline holds
        // up to the user's own join is history, not news (and no gap
        // before it is filled); without that join (a room the user was
        // already in), it is news as usual.
        let own = self.own.clone();
        if invited {
            if let Some(at) = events.iter().rposition(|e| is_invite_of(e, &own)) {
                events.drain(..=at);
                seen = true;
            }
        }
        let cut = joining && self.skip_past(room_id, &mut events).await;
        if limited && !seen && !cut {
            if let Some(from) = prev_batch {
                let mut missed = if sliding {
                    self.fill_back(room_id, &from, joining, invited).await
                } else {
                    self.fill_gap(room_id, &from).await
                };
                missed.append(&mut events);
                events = missed;
                if joining {
                    self.skip_past(room_id, &mut events).await;
                }
            }
        }
        events
    }

    /// Remembers the newest event of a room's timeline as delivered (to
    /// be saved with the sync position).
    pub(crate) fn delivered_up_to(&mut self, room_id: &str, event_id: Option<String>) {
        let Some(event_id) = event_id.filter(|id| !id.is_empty()) else {
            return;
        };
        if self.delivered.get(room_id) != Some(&event_id) {
            self.delivered.insert(room_id.to_owned(), event_id);
            self.delivered_changed.insert(room_id.to_owned());
        }
    }

    /// Saves the rooms' last delivered events that changed (before the
    /// sync position, so a position is never saved ahead of them).
    pub(crate) async fn save_delivered(&mut self) {
        let mut changed: Vec<String> = self.delivered_changed.drain().collect();
        changed.sort();
        for room_id in changed {
            let value = self.delivered.get(&room_id).cloned().unwrap_or_default();
            self.emit(Event::SaveState {
                key: format!("{LAST_PREFIX}{room_id}"),
                value,
                secret: false,
            })
            .await;
        }
    }

    /// A sliding sync gap: the events before `from`, back to the last one
    /// delivered in the room (or the user's own join, `joining`, or
    /// invitation, `invited`), oldest first, at most [`GAP_LIMIT`].
    async fn fill_back(
        &mut self,
        room_id: &str,
        from: &str,
        joining: bool,
        invited: bool,
    ) -> Vec<RoomEvent> {
        let stop = self.delivered.get(room_id).cloned();
        let own = self.own.clone();
        let mut back: Vec<RoomEvent> = Vec::new();
        let mut from = from.to_owned();
        let mut page = FIRST_PAGE;
        let mut bounded = false;
        while back.len() <= GAP_LIMIT {
            let limit = page.min(GAP_LIMIT + 1 - back.len()).to_string();
            let query = [("dir", "b"), ("from", from.as_str()), ("limit", &limit)];
            let url = self.client.v3(&["rooms", room_id, "messages"], &query);
            let chunk = match self
                .client
                .get::<MessagesResponse>(url, Duration::from_secs(30))
                .await
            {
                Ok(MessagesResponse { chunk, end }) => match end {
                    Some(end) if !chunk.is_empty() => {
                        from = end;
                        chunk
                    }
                    _ => {
                        bounded = true;
                        chunk
                    }
                },
                Err(e) => {
                    debug!(error = %e, "cannot fill a sync gap");
                    bounded = true;
                    Vec::new()
                }
            };
            for event in chunk {
                let last = stop.as_deref() == Some(event.event_id.as_str());
                if last
                    || (joining && is_join_of(&event, &own))
                    || (invited && is_invite_of(&event, &own))
                {
                    bounded = true;
                    break;
                }
                back.push(event);
            }
            if bounded {
                break;
            }
            page *= 4;
        }
        if !bounded && back.len() > GAP_LIMIT {
            back.truncate(GAP_LIMIT);
            self.gap_notice(room_id).await;
        }
        back.reverse();
        info!(events = back.len(), "Matrix sync gap filled");
        back
    }

    /// Tells the user a gap was bigger than [`GAP_LIMIT`].
    async fn gap_notice(&mut self, room_id: &str) {
        let core = self.core_id(room_id);
        let text = format!(
            "More than {GAP_LIMIT} events were missed in {core}: only the last \
             {GAP_LIMIT} are shown."
        );
        self.emit(Event::Notice { text, server: None }).await;
    }

    /// A `/sync` gap: the events between the previous sync position and `from` (a
    /// limited timeline's start), oldest first, at most [`GAP_LIMIT`].
    pub(crate) async fn fill_gap(&mut self, room_id: &str, from: &str) -> Vec<RoomEvent> {
        let Some(to) = self.since.clone() else {
            return Vec::new();
        };
        let limit = GAP_LIMIT.to_string();
        let query = [
            ("dir", "b"),
            ("from", from),
            ("to", to.as_str()),
            ("limit", limit.as_str()),
        ];
        let url = self.client.v3(&["rooms", room_id, "messages"], &query);
        match self
            .client
            .get::<MessagesResponse>(url, Duration::from_secs(30))
            .await
        {
            Ok(page) => {
                if page.chunk.len() >= GAP_LIMIT && page.end.is_some() {
                    self.gap_notice(room_id).await;
                }
                let mut events = page.chunk;
                events.reverse();
                info!(events = events.len(), "Matrix sync gap filled");
                events
            }
            Err(e) => {
                debug!(error = %e, "cannot fill a sync gap");
                Vec::new()
            }
        }
    }
}

/// Whether an event is `user`'s invitation.
fn is_invite_of(event: &RoomEvent, user: &str) -> bool {
    event.kind == "m.room.member"
        && event.state_key.as_deref() == Some(user)
        && crate::api::text_field(&event.content, "membership") == Some("invite")
}
