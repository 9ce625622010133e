//! A room listing (`LIST`) in progress. It keeps only the page it will
//! answer with (the first rooms after the cursor, by id), however many
//! `RPL_LIST` lines the server sends, stops reading at
//! [`MAX_LIST_ENTRIES`] lines, and answers within [`ROOM_LIST_BYTES`].

use std::collections::BTreeMap;

use switchboard_bridge_api::{Event, RoomId, RoomListing, Token};

use crate::format::irc_to_styled;
use crate::ids::{room_id, valid_channel};
use crate::limits::{truncate, LIST_TOPIC_BYTES, MAX_LIST_ENTRIES, MAX_PAGE, ROOM_LIST_BYTES};

/// Bytes counted for a room's fixed fields (member count, markup around it).
const ROOM_OVERHEAD: usize = 64;

/// One listing asked by a `ListRooms` command.
pub struct Listing {
    token: Token,
    after: Option<String>,
    limit: usize,
    /// The first `limit + 1` rooms after `after` (one more tells whether a page follows).
    rooms: BTreeMap<RoomId, RoomListing>,
    /// `RPL_LIST` lines read.
    read: usize,
}

impl Listing {
    /// A listing for a page of at most `limit` rooms (at most [`MAX_PAGE`]) after `after`.
    pub fn new(token: Token, after: Option<String>, limit: usize) -> Self {
        Self {
            token,
            after,
            limit: limit.clamp(1, MAX_PAGE),
            rooms: BTreeMap::new(),
            read: 0,
        }
    }

    /// Takes one `RPL_LIST` entry. Returns false once the listing has read
    /// [`MAX_LIST_ENTRIES`] lines: it should be answered now.
    pub fn add(
        &mut self,
        host: &str,
        chan: &str,
        members: Option<&str>,
        topic: Option<&str>,
    ) -> bool {
        self.read += 1;
        // A name IRC would not take (too long, say) cannot be joined either.
        if valid_channel(chan) {
            let room = room_id(chan, host);
            let after_cursor = self.after.as_deref().is_none_or(|a| room.as_str() > a);
            let in_page = self.rooms.len() <= self.limit
                || self
                    .rooms
                    .last_key_value()
                    .is_some_and(|(last, _)| &room < last);
            if after_cursor && in_page {
                let topic = topic.map(|t| {
                    let mut raw = t.to_owned();
                    truncate(&mut raw, LIST_TOPIC_BYTES);
                    let mut styled = irc_to_styled(&raw);
                    truncate(&mut styled, LIST_TOPIC_BYTES);
                    styled
                });
                let listing = RoomListing {
                    room: room.clone(),
                    name: chan.to_owned(),
                    members: members.and_then(|n| n.parse().ok()),
                    topic,
                    group: false,
                };
                self.rooms.insert(room, listing);
                if self.rooms.len() > self.limit + 1 {
                    self.rooms.pop_last();
                }
            }
        }
        self.read < MAX_LIST_ENTRIES
    }

    /// The page, as the event that answers the listing.
    pub fn finish(self) -> Event {
        let mut rooms: Vec<RoomListing> = Vec::new();
        let mut bytes = 0;
        let mut next = None;
        for (i, r) in self.rooms.into_values().enumerate() {
            let size = r.room.as_str().len()
                + r.name.len()
                + r.topic.as_ref().map_or(0, String::len)
                + ROOM_OVERHEAD;
            if i == self.limit || (!rooms.is_empty() && bytes + size > ROOM_LIST_BYTES) {
                next = rooms.last().map(|l| l.room.to_string());
                break;
            }
            bytes += size;
            rooms.push(r);
        }
        Event::RoomList {
            token: self.token,
            rooms,
            next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(event: Event) -> (Vec<String>, Option<String>) {
        match event {
            Event::RoomList { rooms, next, .. } => {
                (rooms.into_iter().map(|r| r.name).collect(), next)
            }
            other => panic!("not a room list: {other:?}"),
        }
    }

    #[test]
    fn keeps_only_the_page_whatever_the_server_sends() {
        let mut l = Listing::new("t".into(), None, 3);
        for i in (0..10_000).rev() {
            assert!(l.add("irc.x", &format!("#c{i:05}"), Some("5"), Some("topic")));
        }
        assert_eq!(l.rooms.len(), 4);
        let (names, next) = page(l.finish());
        assert_eq!(names, ["#c00000", "#c00001", "#c00002"]);
        assert_eq!(next.as_deref(), Some("#c00002%irc.x"));
    }

    #[test]
    fn an_endless_listing_stops_at_the_bound() {
        let mut l = Listing::new("t".into(), None, 10);
        let mut read = 0;
        while l.add("irc.x", &format!("#c{read}"), None, None) {
            read += 1;
        }
        assert_eq!(read + 1, MAX_LIST_ENTRIES);
    }

    #[test]
    fn a_page_stays_within_its_bytes_and_long_names_are_skipped() {
        let mut l = Listing::new("t".into(), Some("#c0%irc.x".into()), 10_000);
        let topic = "t".repeat(5_000);
        l.add("irc.x", &format!("#{}", "n".repeat(300)), None, None);
        for i in 0..1_000 {
            l.add("irc.x", &format!("#c{i:04}"), None, Some(&topic));
        }
        let Event::RoomList { rooms, next, .. } = l.finish() else {
            unreachable!()
        };
        let bytes: usize = rooms
            .iter()
            .map(|r| r.room.as_str().len() + r.name.len() + r.topic.as_ref().unwrap().len())
            .sum();
        assert!(bytes <= ROOM_LIST_BYTES, "{bytes}");
        assert!(rooms
            .iter()
            .all(|r| r.topic.as_ref().unwrap().len() <= LIST_TOPIC_BYTES));
        assert!(rooms.iter().all(|r| r.name.len() < 300));
        assert_eq!(next, rooms.last().map(|r| r.room.to_string()));
        assert!(rooms.len() < MAX_PAGE);
    }
}
