//! What the session knows of its guilds, from READY and GUILD_CREATE: the
//! channels that become rooms (with their permission overwrites), the
//! members' names, the roles' names and permissions, the bot's own roles.
//! Nothing else of serenity's models is kept, and that compactly (each
//! user keeps their own copy, so it is memory per user): ids in sorted
//! vectors, names and topics in [`Names`] tables (one string each).

use serenity::model::channel::{ChannelType, GuildChannel};
use serenity::model::gateway::Ready;
use serenity::model::guild::Guild;
use serenity::model::id::RoleId;
use serenity::model::Permissions;
use switchboard_bridge_api::{Role, RoomListing};

use crate::names::Names;
use crate::permissions::{self, Overwrite};

/// A text or announcement channel, or a thread in one: a room (its name
/// and topic are kept apart, [`Guilds::channel_name`], [`Guilds::topic`]).
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub guild: u64,
    pub position: u16,
    /// A private thread (shared-bot mode shows none).
    pub private: bool,
    /// A thread's channel.
    pub parent: Option<u64>,
    /// The permission overwrites (the bot's own permissions, and in
    /// shared-bot mode a linked account's, are computed from them); with
    /// the user's own bot, other members' are not kept.
    pub overwrites: Box<[Overwrite]>,
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
    /// The rooms by channel id, sorted.
    channels: Vec<(u64, Channel)>,
    /// The rooms' names, by channel id.
    channel_names: Names,
    /// The rooms' topics that are not empty, by channel id.
    topics: Names,
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
/// (public, private, announcement) with their parent.
fn room_of(channel: &GuildChannel, keep: impl Fn(&Overwrite) -> bool) -> Option<Channel> {
    let parent = match channel.kind {
        ChannelType::Text | ChannelType::News => None,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread => {
            Some(channel.parent_id?.get())
        }
        _ => return None,
    };
    Some(Channel {
        guild: channel.guild_id.get(),
        position: channel.position,
        parent,
        private: channel.kind == ChannelType::PrivateThread,
        overwrites: channel
            .permission_overwrites
            .iter()
            .map(Overwrite::from_model)
            .filter(keep)
            .collect(),
    })
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
        let gone = |c: &Channel| c.guild == id;
        let before: Vec<u64> = self
            .channels
            .iter()
            .filter(|(_, c)| gone(c))
            .map(|(k, _)| *k)
            .collect();
        self.channels.retain(|(_, c)| !gone(c));
        self.channel_names.retain(|k| !before.contains(&k));
        self.topics.retain(|k| !before.contains(&k));
        let mut names = Vec::new();
        let mut topics = Vec::new();
        for channel in guild.channels.values().chain(&guild.threads) {
            if let Some(mut room) = room_of(channel, self.keeps()) {
                room.guild = id;
                let key = channel.id.get();
                self.channels.push((key, room));
                names.push((key, channel.name.as_str()));
                topics.extend(topic_of(channel).map(|t| (key, t)));
            }
        }
        // A channel listed twice: the last one counts.
        self.channels.reverse();
        self.channels.sort_by_key(|(k, _)| *k);
        self.channels.dedup_by_key(|(k, _)| *k);
        self.channels.shrink_to_fit();
        let merged = Names::from_entries(self.channel_names.iter().chain(names));
        self.channel_names = merged;
        let merged = Names::from_entries(self.topics.iter().chain(topics));
        self.topics = merged;
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
        put(&mut self.guilds, id, info);
    }

    /// A room's channel.
    pub fn channel(&self, id: u64) -> Option<&Channel> {
        get(&self.channels, id)
    }

    /// A channel's name, for `<#id>`.
    pub fn channel_name(&self, id: u64) -> Option<&str> {
        self.channel_names.get(id)
    }

    /// A room's topic, when it has one.
    pub fn topic(&self, id: u64) -> Option<&str> {
        self.topics.get(id)
    }

    /// A room's display name: `Guild / #channel`, a thread's
    /// `Guild / #channel / thread`.
    pub fn room_name(&self, id: u64) -> Option<String> {
        let channel = self.channel(id)?;
        let guild = self.guild(channel.guild)?;
        let name = self.channel_name(id)?;
        Some(match channel.parent.and_then(|p| self.channel_name(p)) {
            Some(parent) => format!("{} / #{} / {}", guild.name, parent, name),
            None => format!("{} / #{}", guild.name, name),
        })
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
        let id = channel.id.get();
        let Some(room) = room_of(channel, self.keeps()) else {
            self.remove(id);
            return None;
        };
        let topic = topic_of(channel);
        let known = put(&mut self.channels, id, room).is_some();
        let before = self.topics.get(id).map(str::to_owned);
        self.channel_names.insert(id, &channel.name);
        match topic {
            Some(topic) => self.topics.insert(id, topic),
            None => self.topics.remove(id),
        }
        (known && before.as_deref() != topic).then(|| topic.unwrap_or_default().to_owned())
    }

    /// THREAD_DELETE (or a channel deleted): no longer a room.
    pub fn remove(&mut self, channel: u64) {
        if let Ok(at) = find(&self.channels, channel) {
            self.channels.remove(at);
        }
        self.channel_names.remove(channel);
        self.topics.remove(channel);
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
        match self.channel(room) {
            Some(channel) if !channel.private => self.in_channel(room, user, roles),
            _ => Permissions::empty(),
        }
    }

    /// A member's permissions in a room (a thread: its channel's).
    fn in_channel(&self, room: u64, user: u64, roles: &[u64]) -> Permissions {
        let Some(channel) = self.channel(room) else {
            return Permissions::empty();
        };
        let (Some(info), Some(holder)) = (
            self.guild(channel.guild),
            channel.parent.map_or(Some(channel), |p| self.channel(p)),
        ) else {
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
        permissions::in_channel(&subject, &holder.overwrites)
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
            .channels
            .iter()
            .filter(|(id, c)| guild.is_none_or(|g| g == c.guild) && visible(*id))
            .filter_map(|(id, c)| {
                let guild = &*self.guild(c.guild)?.name;
                Some(match c.parent {
                    Some(p) => (guild, self.channel(p)?.position, p, true, *id),
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
        let kept = &own.channel(random).unwrap().overwrites;
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id.to_string(), fixture::BOT_ID);
        let p = own.own_permissions(random).unwrap();
        assert!(p.contains(Permissions::VIEW_CHANNEL));
        assert!(!p.intersects(Permissions::MANAGE_MESSAGES | Permissions::MANAGE_WEBHOOKS));
        // Shared-bot mode keeps alice's: a linked alice may not see it.
        let shared = guilds(true);
        assert_eq!(shared.channel(random).unwrap().overwrites.len(), 2);
        let alice = fixture::ALICE_ID.parse().unwrap();
        let mods = fixture::MODS_ROLE_ID.parse().unwrap();
        assert!(shared.permissions(random, alice, &[mods]).is_empty());
    }
}
