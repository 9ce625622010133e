//! The rooms of a session's guilds: text and announcement channels and
//! their threads, each kept in a few bytes of the session's channel table
//! (shared with sessions that have the same, [`crate::channel_table`]),
//! their overwrites, names, topics and listing.

use std::num::NonZeroU64;
use std::sync::LazyLock;

use serenity::model::channel::{ChannelType, GuildChannel};
use switchboard_bridge_api::RoomListing;

use super::{find, get, put, Guilds};
use crate::channel_table::{Entry, Shareable, Tables};
use crate::permissions::Overwrite;

/// A room as the session's code sees it ([`Guilds::channel`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelInfo {
    pub guild: u64,
    /// A thread's channel.
    pub parent: Option<NonZeroU64>,
}

/// A text or announcement channel, or a thread in one: a room, as kept:
/// 24 bytes besides its id and texts. Its name and topic are in the
/// session's one string of channel texts ([`Guilds::channel_name`],
/// [`Guilds::topic`]), its permission overwrites in one vector of all
/// channels' ([`Guilds::overwrites`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Channel {
    /// A thread's channel.
    pub(super) parent: Option<NonZeroU64>,
    /// Where its name and topic are in [`Guilds`]' string of channel texts.
    pub(super) text: TextSpan,
    /// Its guild's index in [`Guilds`]' vector of guilds (which only grows).
    pub(super) guild: u32,
    position: u16,
    /// A private thread (shared-bot mode shows none).
    pub(super) private: bool,
}

/// A channel's name and topic, end to end in the string of channel texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(super) struct TextSpan {
    start: u32,
    name: u16,
    topic: u16,
}

impl TextSpan {
    pub(super) fn len(self) -> usize {
        self.name as usize + self.topic as usize
    }
}

impl Entry for Channel {
    fn texts(&self) -> (u32, usize) {
        (self.text.start, self.text.len())
    }

    fn move_texts(&mut self, start: u32) {
        self.text.start = start;
    }
}

/// The channel tables in use.
static CHANNEL_TABLES: LazyLock<Tables<Channel>> = LazyLock::new(Default::default);

impl Shareable for Channel {
    fn tables() -> &'static Tables<Channel> {
        &CHANNEL_TABLES
    }
}

/// The room a channel is: text and announcement channels, and threads
/// (public, private, announcement) with their parent (its texts not yet
/// placed).
fn room_of(guild: u32, channel: &GuildChannel) -> Option<Channel> {
    let parent = match channel.kind {
        ChannelType::Text | ChannelType::News => None,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread => {
            Some(NonZeroU64::new(channel.parent_id?.get())?)
        }
        _ => return None,
    };
    Some(Channel {
        guild,
        parent,
        text: TextSpan::default(),
        position: channel.position,
        private: channel.kind == ChannelType::PrivateThread,
    })
}

/// The longest prefix of `text` that fits a [`TextSpan`]'s length (Discord's
/// names and topics are far shorter).
fn clipped(text: &str) -> &str {
    let mut end = text.len().min(u16::MAX as usize);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A channel's topic, when it has one.
fn topic_of(channel: &GuildChannel) -> Option<&str> {
    channel.topic.as_deref().filter(|t| !t.is_empty())
}

impl Guilds {
    /// A room's channel.
    pub fn channel(&self, id: u64) -> Option<ChannelInfo> {
        let channel = self.entry(id)?;
        Some(ChannelInfo {
            guild: self.guilds[channel.guild as usize].0,
            parent: channel.parent,
        })
    }

    pub(super) fn entry(&self, id: u64) -> Option<&Channel> {
        get(&self.table.get().channels, id)
    }

    /// A channel's name, for `<#id>`.
    pub fn channel_name(&self, id: u64) -> Option<&str> {
        Some(self.name_at(self.entry(id)?.text))
    }

    /// A room's topic, when it has one.
    pub fn topic(&self, id: u64) -> Option<&str> {
        Some(self.topic_at(self.entry(id)?.text)).filter(|t| !t.is_empty())
    }

    fn name_at(&self, span: TextSpan) -> &str {
        &self.table.get().texts[span.start as usize..][..span.name as usize]
    }

    fn topic_at(&self, span: TextSpan) -> &str {
        &self.table.get().texts[span.start as usize + span.name as usize..][..span.topic as usize]
    }

    /// Appends a channel's name and topic to the string of channel texts
    /// (the table is settled after the change).
    fn push_text(&mut self, name: &str, topic: &str) -> TextSpan {
        let texts = &mut self.table.edit().texts;
        let start = texts.len() as u32;
        texts.push_str(name);
        texts.push_str(topic);
        TextSpan {
            start,
            name: name.len() as u16,
            topic: topic.len() as u16,
        }
    }

    /// A channel's permission overwrites (those kept).
    pub fn overwrites(&self, channel: u64) -> &[Overwrite] {
        let from = self.overwrite_channels.partition_point(|c| *c < channel);
        let to = self.overwrite_channels.partition_point(|c| *c <= channel);
        &self.overwrites[from..to]
    }

    /// Sets a channel's permission overwrites.
    fn set_overwrites(&mut self, channel: u64, kept: Vec<Overwrite>) {
        let from = self.overwrite_channels.partition_point(|c| *c < channel);
        let to = self.overwrite_channels.partition_point(|c| *c <= channel);
        if from == to && kept.is_empty() {
            return;
        }
        let n = kept.len();
        self.overwrite_channels
            .splice(from..to, std::iter::repeat_n(channel, n));
        self.overwrites.splice(from..to, kept);
    }

    /// A room's display name: `Guild / #channel`, a thread's
    /// `Guild / #channel / thread`.
    pub fn room_name(&self, id: u64) -> Option<String> {
        let channel = self.channel(id)?;
        let guild = self.guild(channel.guild)?;
        let name = self.channel_name(id)?;
        Some(
            match channel.parent.and_then(|p| self.channel_name(p.get())) {
                Some(parent) => format!("{} / #{} / {}", guild.name, parent, name),
                None => format!("{} / #{}", guild.name, name),
            },
        )
    }

    /// CHANNEL_UPDATE, THREAD_CREATE, THREAD_UPDATE: a room's new name and
    /// topic; the topic when it changed.
    pub fn update(&mut self, channel: &GuildChannel) -> Option<String> {
        let Ok(guild) = find(&self.guilds, channel.guild_id.get()) else {
            self.remove(channel.id.get());
            return None;
        };
        let changed = self.place(guild as u32, channel);
        self.table.settle();
        changed
    }

    /// Keeps a channel of `guild` (a room) or forgets it (not a room): the
    /// topic when it changed. The table is settled after.
    pub(super) fn place(&mut self, guild: u32, channel: &GuildChannel) -> Option<String> {
        let id = channel.id.get();
        let Some(mut room) = room_of(guild, channel) else {
            self.forget(id);
            return None;
        };
        let name = clipped(&channel.name);
        let topic = clipped(topic_of(channel).unwrap_or_default());
        let before = self.entry(id).map(|c| c.text);
        let topic_changed = before.is_some_and(|span| self.topic_at(span) != topic);
        room.text = match before {
            Some(span) if !topic_changed && self.name_at(span) == name => span,
            _ => self.push_text(name, topic),
        };
        if self.entry(id) != Some(&room) {
            put(&mut self.table.edit().channels, id, room);
        }
        let kept = channel
            .permission_overwrites
            .iter()
            .map(Overwrite::from_model)
            .filter(self.keeps())
            .collect();
        self.set_overwrites(id, kept);
        topic_changed.then(|| topic.to_owned())
    }

    /// THREAD_DELETE (or a channel deleted): no longer a room.
    pub fn remove(&mut self, channel: u64) {
        self.forget(channel);
        self.table.settle();
    }

    /// No longer a room (the table is settled after).
    pub(super) fn forget(&mut self, channel: u64) {
        if let Ok(at) = find(&self.table.get().channels, channel) {
            self.table.edit().channels.remove(at);
        }
        self.set_overwrites(channel, Vec::new());
    }

    /// The rooms of one guild (or of all, guild by guild) that `visible`
    /// lets through, by position, after the channel id `after` (the page
    /// cursor), at most `limit`.
    pub fn listing(
        &self,
        guild: Option<u64>,
        after: Option<u64>,
        limit: usize,
        visible: &dyn Fn(u64) -> bool,
    ) -> Vec<RoomListing> {
        // Guild, then the channel's position (a thread's parent's), the
        // channel, its threads after it.
        type Key<'a> = (&'a str, u16, u64, bool, u64);
        let mut rooms: Vec<Key> = self
            .table
            .get()
            .channels
            .iter()
            .filter(|(id, c)| {
                guild.is_none_or(|g| g == self.guilds[c.guild as usize].0) && visible(*id)
            })
            .filter_map(|(id, c)| {
                let guild = &*self.guilds[c.guild as usize].1.name;
                Some(match c.parent {
                    Some(p) => (guild, self.entry(p.get())?.position, p.get(), true, *id),
                    None => (guild, c.position, *id, false, *id),
                })
            })
            .collect();
        rooms.sort();
        let skip = after
            .and_then(|a| rooms.iter().position(|r| r.4 == a).map(|p| p + 1))
            .unwrap_or(0);
        rooms
            .into_iter()
            .skip(skip)
            .take(limit)
            .filter_map(|(_, _, _, _, id)| {
                Some(RoomListing {
                    room: id.to_string().into(),
                    name: self.room_name(id)?,
                    members: None,
                    topic: self.topic(id).map(str::to_owned),
                    group: false,
                })
            })
            .collect()
    }
}
