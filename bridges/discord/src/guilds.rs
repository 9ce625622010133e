//! What the session knows of its guilds, from READY and GUILD_CREATE: the
//! channels that become rooms (with their permission overwrites), the
//! members' names, the roles' names and permissions, the bot's own roles.
//! Nothing else of serenity's models is kept, and that compactly (each
//! user keeps their own copy, so it is memory per user): ids in sorted
//! vectors, members' names in [`Names`] tables, the channels with their
//! names and topics in one table shared by the sessions that have the same
//! ([`channel_table`]), all their overwrites in one vector.

use std::num::NonZeroU64;

use serenity::model::channel::{ChannelType, GuildChannel};
use serenity::model::gateway::Ready;
use serenity::model::guild::Guild;
use serenity::model::id::RoleId;
use serenity::model::Permissions;
use switchboard_bridge_api::{Role, RoomListing};

use crate::channel_table::{self, Entry, Shareable, Shared};
use crate::names::Names;
use crate::permissions::{self, Overwrite};

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
pub(crate) struct Channel {
    /// A thread's channel.
    parent: Option<NonZeroU64>,
    /// Where its name and topic are in [`Guilds`]' string of channel texts.
    text: TextSpan,
    /// Its guild's index in [`Guilds`]' vector of guilds (which only grows).
    guild: u32,
    position: u16,
    /// A private thread (shared-bot mode shows none).
    private: bool,
}

/// A channel's name and topic, end to end in the string of channel texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
struct TextSpan {
    start: u32,
    name: u16,
    topic: u16,
}

impl TextSpan {
    fn len(self) -> usize {
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
static CHANNEL_TABLES: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashSet<std::sync::Arc<channel_table::Table<Channel>>>>,
> = std::sync::LazyLock::new(Default::default);

impl Shareable for Channel {
    fn tables() -> &'static std::sync::Mutex<
        std::collections::HashSet<std::sync::Arc<channel_table::Table<Channel>>>,
    > {
        &CHANNEL_TABLES
    }
}

/// A role: its permissions and name.
#[derive(Debug)]
struct RoleInfo {
    id: u64,
    permissions: u64,
    name: Box<str>,
}

/// One guild's names.
#[derive(Debug, Default)]
struct GuildInfo {
    name: Box<str>,
    /// Display names (nick, else global name, else username) by user id.
    members: Names,
    /// Avatar hashes of the listed members who have one.
    avatars: Names,
    /// The roles by id (@everyone's id is the guild's).
    roles: Vec<RoleInfo>,
    /// The bot's own roles, from its member object in GUILD_CREATE (or a
    /// GUILD_MEMBER_UPDATE of it, which Discord sends only with the
    /// privileged members intent); `None` when not listed.
    own_roles: Option<Box<[u64]>>,
    /// Roles that may manage messages (or administer), sorted: their
    /// holders are the rooms' moderators.
    moderator_roles: Box<[u64]>,
    /// Listed members holding one of them, sorted.
    moderators: Box<[u64]>,
    owner: u64,
}

impl GuildInfo {
    fn role(&self, id: u64) -> Option<&RoleInfo> {
        let at = self.roles.binary_search_by_key(&id, |r| r.id).ok()?;
        Some(&self.roles[at])
    }
}

/// The session's guilds.
#[derive(Debug, Default)]
pub(crate) struct Guilds {
    /// By guild id, sorted (a session is in a few).
    guilds: Vec<(u64, GuildInfo)>,
    /// The rooms by channel id, sorted, and their names and topics end to
    /// end ([`TextSpan`]): shared with the sessions that have the same.
    table: Shared<Channel>,
    /// The rooms' permission overwrites, grouped by channel: each one's
    /// channel in `overwrite_channels` (sorted), itself in `overwrites`.
    overwrite_channels: Vec<u64>,
    overwrites: Vec<Overwrite>,
    /// Guilds READY announced whose GUILD_CREATE has not come yet.
    pending: Vec<u64>,
    ready: bool,
    /// The bot's user id (from READY).
    own: Option<u64>,
    /// Shared-bot mode: every member overwrite is kept (a linked
    /// account's); with the user's own bot only the bot's.
    all_members: bool,
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

/// The entry of `id` in a vector sorted by id.
fn find<T>(sorted: &[(u64, T)], id: u64) -> Result<usize, usize> {
    sorted.binary_search_by_key(&id, |(k, _)| *k)
}

fn get<T>(sorted: &[(u64, T)], id: u64) -> Option<&T> {
    find(sorted, id).ok().map(|at| &sorted[at].1)
}

/// Sets the entry of `id` in a vector sorted by id: the one before.
fn put<T>(sorted: &mut Vec<(u64, T)>, id: u64, value: T) -> Option<T> {
    match find(sorted, id) {
        Ok(at) => Some(std::mem::replace(&mut sorted[at].1, value)),
        Err(at) => {
            sorted.insert(at, (id, value));
            None
        }
    }
}

impl Guilds {
    /// No guild yet; `shared` in shared-bot mode (others' member
    /// overwrites kept).
    pub fn new(shared: bool) -> Self {
        Self {
            all_members: shared,
            ..Self::default()
        }
    }

    /// Whether an overwrite is kept: a role's, the bot's, and in
    /// shared-bot mode any member's.
    fn keeps(&self) -> impl Fn(&Overwrite) -> bool {
        let (all, own) = (self.all_members, self.own);
        move |o| all || !o.member || Some(o.id) == own
    }

    fn guild(&self, id: u64) -> Option<&GuildInfo> {
        get(&self.guilds, id)
    }

    fn guild_mut(&mut self, id: u64) -> Option<&mut GuildInfo> {
        let at = find(&self.guilds, id).ok()?;
        Some(&mut self.guilds[at].1)
    }

    /// READY: the guilds to wait for, and the bot's id.
    pub fn ready(&mut self, ready: &Ready) {
        self.ready = true;
        self.own = Some(ready.user.id.get());
        self.pending = ready.guilds.iter().map(|g| g.id.get()).collect();
    }

    /// Whether READY came and every guild it named has been created.
    pub fn loaded(&self) -> bool {
        self.ready && self.pending.is_empty()
    }

    /// GUILD_CREATE: the guild's rooms, members and roles (again).
    pub fn create(&mut self, guild: &Guild) {
        let id = guild.id.get();
        self.pending.retain(|g| *g != id);
        let sorted = |mut ids: Vec<u64>| {
            ids.sort_unstable();
            ids.dedup();
            ids.into_boxed_slice()
        };
        let moderator_roles = sorted(
            guild
                .roles
                .values()
                .filter(|r| {
                    r.permissions
                        .intersects(Permissions::MANAGE_MESSAGES | Permissions::ADMINISTRATOR)
                })
                .map(|r| r.id.get())
                .collect(),
        );
        let mut roles: Vec<RoleInfo> = guild
            .roles
            .values()
            .map(|r| RoleInfo {
                id: r.id.get(),
                permissions: r.permissions.bits(),
                name: r.name.as_str().into(),
            })
            .collect();
        roles.sort_by_key(|r| r.id);
        let avatars: Vec<(u64, String)> = guild
            .members
            .values()
            .filter_map(|m| Some((m.user.id.get(), m.user.avatar?.to_string())))
            .collect();
        let info = GuildInfo {
            moderators: sorted(
                guild
                    .members
                    .values()
                    .filter(|m| {
                        m.roles
                            .iter()
                            .any(|r| moderator_roles.binary_search(&r.get()).is_ok())
                    })
                    .map(|m| m.user.id.get())
                    .collect(),
            ),
            moderator_roles,
            owner: guild.owner_id.get(),
            name: guild.name.as_str().into(),
            members: Names::from_entries(
                guild
                    .members
                    .values()
                    .map(|m| (m.user.id.get(), m.display_name())),
            ),
            avatars: Names::from_entries(avatars.iter().map(|(id, h)| (*id, h.as_str()))),
            roles,
            own_roles: self.own.and_then(|own| {
                let member = guild.members.values().find(|m| m.user.id.get() == own)?;
                Some(member.roles.iter().map(|r| r.get()).collect())
            }),
        };
        let index = match find(&self.guilds, id) {
            Ok(at) => {
                let gone: Vec<u64> = self
                    .table
                    .get()
                    .channels
                    .iter()
                    .filter(|(_, c)| c.guild as usize == at)
                    .map(|(k, _)| *k)
                    .collect();
                for channel in gone {
                    self.forget(channel);
                }
                self.guilds[at].1 = info;
                at
            }
            Err(at) => {
                // The guilds after it move up one.
                for (_, channel) in &mut self.table.edit().channels {
                    if channel.guild as usize >= at {
                        channel.guild += 1;
                    }
                }
                self.guilds.insert(at, (id, info));
                self.guilds.shrink_to_fit();
                at
            }
        };
        // A channel listed twice: the last one counts.
        for channel in guild.channels.values().chain(&guild.threads) {
            self.place(index as u32, channel);
        }
        self.table.settle();
        self.overwrite_channels.shrink_to_fit();
        self.overwrites.shrink_to_fit();
    }

    /// A room's channel.
    pub fn channel(&self, id: u64) -> Option<ChannelInfo> {
        let channel = self.entry(id)?;
        Some(ChannelInfo {
            guild: self.guilds[channel.guild as usize].0,
            parent: channel.parent,
        })
    }

    fn entry(&self, id: u64) -> Option<&Channel> {
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

    /// A member's display name in a guild, if the guild listed them.
    pub fn member_name(&self, guild: u64, user: u64) -> Option<&str> {
        self.guild(guild)?.members.get(user)
    }

    /// Remembers a member's display name (they spoke).
    pub fn note_member(&mut self, guild: u64, user: u64, name: &str) {
        if let Some(info) = self.guild_mut(guild) {
            info.members.insert(user, name);
        }
    }

    /// A listed member's avatar hash.
    pub fn avatar(&self, guild: u64, user: u64) -> Option<&str> {
        self.guild(guild)?.avatars.get(user)
    }

    /// The members a guild listed, by id.
    pub fn members(&self, guild: u64) -> impl Iterator<Item = (u64, &str)> {
        self.guild(guild).into_iter().flat_map(|g| g.members.iter())
    }

    /// A member's standing in the guild's rooms: the owner, moderators
    /// (a role that manages messages or administers: the listed member's,
    /// or `roles` when given), everyone else a member. Guild-wide: channel
    /// overwrites are not read here (the bot's own role in a room is
    /// [`Guilds::own_permissions`]).
    pub fn role_of(&self, guild: u64, user: u64, roles: Option<&[RoleId]>) -> Role {
        let Some(info) = self.guild(guild) else {
            return Role::Member;
        };
        let moderator = match roles {
            Some(roles) => roles
                .iter()
                .any(|r| info.moderator_roles.binary_search(&r.get()).is_ok()),
            None => info.moderators.binary_search(&user).is_ok(),
        };
        if user == info.owner {
            Role::Owner
        } else if moderator {
            Role::Operator
        } else {
            Role::Member
        }
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
    fn place(&mut self, guild: u32, channel: &GuildChannel) -> Option<String> {
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
    fn forget(&mut self, channel: u64) {
        if let Ok(at) = find(&self.table.get().channels, channel) {
            self.table.edit().channels.remove(at);
        }
        self.set_overwrites(channel, Vec::new());
    }

    /// A role was made or changed (GUILD_ROLE_CREATE, GUILD_ROLE_UPDATE):
    /// its name and permissions.
    pub fn role_changed(&mut self, guild: u64, role: &serenity::model::guild::Role) {
        if let Some(info) = self.guild_mut(guild) {
            let new = RoleInfo {
                id: role.id.get(),
                permissions: role.permissions.bits(),
                name: role.name.as_str().into(),
            };
            match info.roles.binary_search_by_key(&new.id, |r| r.id) {
                Ok(at) => info.roles[at] = new,
                Err(at) => info.roles.insert(at, new),
            }
        }
    }

    /// A member's roles changed (GUILD_MEMBER_UPDATE): kept when the
    /// member is the bot.
    pub fn member_roles(&mut self, guild: u64, user: u64, roles: &[RoleId]) {
        if Some(user) != self.own {
            return;
        }
        if let Some(info) = self.guild_mut(guild) {
            info.own_roles = Some(roles.iter().map(|r| r.get()).collect());
        }
    }

    /// The bot's own permissions in a room (a thread: its channel's),
    /// from its roles and the channel's overwrites; `None` when the bot's
    /// member was not listed (then nothing is known, and nothing refused).
    pub fn own_permissions(&self, room: u64) -> Option<Permissions> {
        let channel = self.channel(room)?;
        let roles = self.guild(channel.guild)?.own_roles.as_deref()?;
        Some(self.in_channel(room, self.own?, roles))
    }

    /// A role was deleted (GUILD_ROLE_DELETE).
    pub fn role_deleted(&mut self, guild: u64, role: u64) {
        if let Some(info) = self.guild_mut(guild) {
            info.roles.retain(|r| r.id != role);
        }
    }

    /// A member's permissions in a room (a thread: its channel's), given
    /// their roles: Discord's algorithm ([`permissions`]). None in a
    /// private thread or a room the session does not know.
    pub fn permissions(&self, room: u64, user: u64, roles: &[u64]) -> Permissions {
        match self.entry(room) {
            Some(channel) if !channel.private => self.in_channel(room, user, roles),
            _ => Permissions::empty(),
        }
    }

    /// A member's permissions in a room (a thread: its channel's).
    fn in_channel(&self, room: u64, user: u64, roles: &[u64]) -> Permissions {
        let Some(channel) = self.channel(room) else {
            return Permissions::empty();
        };
        // A thread has its channel's overwrites.
        let holder = channel.parent.map_or(room, NonZeroU64::get);
        let (Some(info), Some(_)) = (self.guild(channel.guild), self.entry(holder)) else {
            return Permissions::empty();
        };
        let role = |id: u64| info.role(id).map_or(0, |r| r.permissions);
        let subject = permissions::Subject {
            guild: channel.guild,
            owner: info.owner,
            user,
            roles,
            role_permissions: &role,
        };
        permissions::in_channel(&subject, self.overwrites(holder))
    }

    /// The guilds' ids.
    pub fn guild_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.guilds.iter().map(|(id, _)| *id)
    }

    /// A role's name, for `<@&id>`.
    pub fn role_name(&self, guild: u64, role: u64) -> Option<&str> {
        Some(&self.guild(guild)?.role(role)?.name)
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

#[cfg(test)]
mod tests {
    use super::*;
    use serenity::model::id::ChannelId;
    use switchboard_discord_double::fixture;

    /// The limited bot's guild, with a member overwrite for alice in
    /// `#random` besides the bot's.
    fn guilds(shared: bool) -> Guilds {
        let mut json = fixture::bot_limited_guild();
        for channel in json["channels"].as_array_mut().unwrap() {
            if channel["id"] == fixture::RANDOM_ID {
                let alice = serde_json::json!({ "id": fixture::ALICE_ID, "type": 1, "allow": "0", "deny": "1024" });
                channel["permission_overwrites"]
                    .as_array_mut()
                    .unwrap()
                    .push(alice);
            }
        }
        let guild: Guild = serde_json::from_value(json).unwrap();
        let mut guilds = Guilds::new(shared);
        guilds.own = Some(fixture::BOT_ID.parse().unwrap());
        guilds.create(&guild);
        guilds
    }

    #[test]
    fn the_own_bot_keeps_only_its_own_member_overwrites() {
        let random: u64 = fixture::RANDOM_ID.parse().unwrap();
        let own = guilds(false);
        let kept = own.overwrites(random);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id.to_string(), fixture::BOT_ID);
        let p = own.own_permissions(random).unwrap();
        assert!(p.contains(Permissions::VIEW_CHANNEL));
        assert!(!p.intersects(Permissions::MANAGE_MESSAGES | Permissions::MANAGE_WEBHOOKS));
        // Shared-bot mode keeps alice's: a linked alice may not see it.
        let shared = guilds(true);
        assert_eq!(shared.overwrites(random).len(), 2);
        let alice = fixture::ALICE_ID.parse().unwrap();
        let mods = fixture::MODS_ROLE_ID.parse().unwrap();
        assert!(shared.permissions(random, alice, &[mods]).is_empty());
    }

    #[test]
    fn channel_texts_follow_updates_and_do_not_grow_for_ever() {
        let guild: Guild = serde_json::from_value(fixture::large_guild(50, 0, 100)).unwrap();
        let mut guilds = Guilds::new(false);
        guilds.create(&guild);
        let first: u64 = 10_000;
        assert_eq!(guilds.channel_name(first), Some("chan-0"));
        assert_eq!(guilds.topic(first), Some("Topic of channel 0"));
        let mut channel = guild.channels[&ChannelId::new(first)].clone();
        for round in 0..200 {
            channel.name = format!("renamed-{round}");
            channel.topic = (round % 2 == 0).then(|| format!("topic {round}"));
            let changed = guilds.update(&channel);
            assert_eq!(changed, Some(channel.topic.clone().unwrap_or_default()));
            // The same again: no change to tell.
            assert_eq!(guilds.update(&channel), None);
        }
        assert_eq!(guilds.channel_name(first), Some("renamed-199"));
        assert_eq!(guilds.topic(first), None, "an empty topic is none");
        assert_eq!(guilds.topic(first + 1), Some("Topic of channel 1"));
        assert_eq!(guilds.channel_name(first + 49), Some("chan-49"));
        let table = guilds.table.get();
        let live: usize = table.channels.iter().map(|(_, c)| c.text.len()).sum();
        assert_eq!(table.texts.len(), live, "no unused bytes kept");
        guilds.remove(first + 1);
        assert_eq!(guilds.channel_name(first + 1), None);
        assert_eq!(guilds.topic(first + 2), Some("Topic of channel 2"));
        // 24 bytes a channel, and its id.
        assert_eq!(std::mem::size_of::<(u64, Channel)>(), 32);
    }

    #[test]
    fn a_guild_created_before_another_in_order_keeps_each_ones_channels() {
        let mut guilds = Guilds::new(false);
        let first: Guild = serde_json::from_value(fixture::guild()).unwrap();
        guilds.create(&first);
        // A second guild whose id sorts before the first's.
        let mut json = fixture::large_guild(2, 0, 10);
        json["id"] = "1000".into();
        json["name"] = "Other".into();
        json["channels"] =
            serde_json::json!([json["channels"][5].clone(), json["channels"][6].clone()]);
        for channel in json["channels"].as_array_mut().unwrap() {
            channel["guild_id"] = "1000".into();
        }
        let other: Guild = serde_json::from_value(json).unwrap();
        let other_channels: Vec<u64> = other.channels.keys().map(|c| c.get()).collect();
        guilds.create(&other);
        let general: u64 = fixture::GENERAL_ID.parse().unwrap();
        let guild_id: u64 = fixture::GUILD_ID.parse().unwrap();
        assert_eq!(guilds.channel(general).unwrap().guild, guild_id);
        assert!(guilds
            .room_name(general)
            .unwrap()
            .starts_with(fixture::GUILD_NAME));
        for id in &other_channels {
            assert_eq!(guilds.channel(*id).unwrap().guild, 1000);
            assert!(guilds.room_name(*id).unwrap().starts_with("Other / #"));
        }
        // The first guild again (a reconnect): the other's channels stay.
        guilds.create(&first);
        assert_eq!(guilds.channel(general).unwrap().guild, guild_id);
        assert_eq!(
            guilds.listing(Some(1000), None, 50, &|_| true).len(),
            other_channels.len()
        );
        assert_eq!(guilds.channel(other_channels[0]).unwrap().guild, 1000);
    }

    /// Two users' bots in one guild: one channel table; a rename seen by
    /// one session first gives it a copy of its own until the other sees
    /// it too.
    #[test]
    fn sessions_in_the_same_guild_share_one_channel_table() {
        let json = fixture::large_guild(30, 0, 50);
        let mut a = Guilds::new(false);
        a.create(&serde_json::from_value(json.clone()).unwrap());
        // Shared-bot mode keeps other overwrites, not other channels.
        let mut b = Guilds::new(true);
        b.create(&serde_json::from_value(json.clone()).unwrap());
        assert!(a.table.shares_with(&b.table));

        let guild: Guild = serde_json::from_value(json).unwrap();
        let mut channel = guild.channels[&ChannelId::new(10_003)].clone();
        channel.name = "renamed".into();
        assert_eq!(a.update(&channel), None, "the topic did not change");
        assert!(!a.table.shares_with(&b.table));
        assert_eq!(a.channel_name(10_003), Some("renamed"));
        assert_eq!(b.channel_name(10_003), Some("chan-3"));
        b.update(&channel);
        assert!(a.table.shares_with(&b.table));
        assert_eq!(b.channel_name(10_003), Some("renamed"));
    }
}
