//! What the session knows of its guilds, from READY and GUILD_CREATE: the
//! channels that become rooms (with their permission overwrites), the
//! members' names, the roles' names and permissions, the bot's own roles.
//! Nothing else of serenity's models is kept.

use std::collections::{BTreeMap, HashMap, HashSet};

use serenity::model::channel::{ChannelType, GuildChannel};
use serenity::model::gateway::Ready;
use serenity::model::guild::Guild;
use serenity::model::id::RoleId;
use serenity::model::Permissions;
use switchboard_bridge_api::{Role, RoomListing};

use crate::permissions::{self, Overwrite};

/// A text or announcement channel, or a thread in one: a room.
#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub guild: u64,
    pub name: String,
    pub topic: Option<String>,
    pub position: u16,
    /// A thread's channel.
    pub parent: Option<u64>,
    /// A private thread (shared-bot mode shows none).
    pub private: bool,
    /// The permission overwrites (the bot's own permissions, and in
    /// shared-bot mode a linked account's, are computed from them); with
    /// the user's own bot, other members' are not kept.
    pub overwrites: Box<[Overwrite]>,
}

/// One guild's names.
#[derive(Debug, Default)]
struct GuildInfo {
    name: String,
    /// Display names (nick, else global name, else username) by user id.
    members: HashMap<u64, String>,
    /// Avatar hashes of the listed members who have one.
    avatars: HashMap<u64, String>,
    roles: HashMap<u64, String>,
    /// Each role's permissions (@everyone's id is the guild's).
    role_permissions: HashMap<u64, u64>,
    /// The bot's own roles, from its member object in GUILD_CREATE (or a
    /// GUILD_MEMBER_UPDATE of it, which Discord sends only with the
    /// privileged members intent); `None` when not listed.
    own_roles: Option<Box<[u64]>>,
    /// Roles that may manage messages (or administer): their holders are
    /// the rooms' moderators.
    moderator_roles: HashSet<u64>,
    /// Listed members holding one of them.
    moderators: HashSet<u64>,
    owner: u64,
}

/// The session's guilds.
#[derive(Debug, Default)]
pub(crate) struct Guilds {
    guilds: HashMap<u64, GuildInfo>,
    channels: BTreeMap<u64, Channel>,
    /// Guilds READY announced whose GUILD_CREATE has not come yet.
    pending: HashSet<u64>,
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
        name: channel.name.clone(),
        topic: channel.topic.clone().filter(|t| !t.is_empty()),
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
        self.pending.remove(&id);
        self.channels.retain(|_, c| c.guild != id);
        for channel in guild.channels.values().chain(&guild.threads) {
            if let Some(mut room) = room_of(channel, self.keeps()) {
                room.guild = id;
                self.channels.insert(channel.id.get(), room);
            }
        }
        let moderator_roles: HashSet<u64> = guild
            .roles
            .values()
            .filter(|r| {
                r.permissions
                    .intersects(Permissions::MANAGE_MESSAGES | Permissions::ADMINISTRATOR)
            })
            .map(|r| r.id.get())
            .collect();
        let info = GuildInfo {
            moderators: guild
                .members
                .values()
                .filter(|m| m.roles.iter().any(|r| moderator_roles.contains(&r.get())))
                .map(|m| m.user.id.get())
                .collect(),
            moderator_roles,
            owner: guild.owner_id.get(),
            name: guild.name.clone(),
            members: guild
                .members
                .values()
                .map(|m| (m.user.id.get(), m.display_name().to_owned()))
                .collect(),
            avatars: guild
                .members
                .values()
                .filter_map(|m| Some((m.user.id.get(), m.user.avatar?.to_string())))
                .collect(),
            roles: guild
                .roles
                .values()
                .map(|r| (r.id.get(), r.name.clone()))
                .collect(),
            role_permissions: guild
                .roles
                .values()
                .map(|r| (r.id.get(), r.permissions.bits()))
                .collect(),
            own_roles: self.own.and_then(|own| {
                let member = guild.members.values().find(|m| m.user.id.get() == own)?;
                Some(member.roles.iter().map(|r| r.get()).collect())
            }),
        };
        self.guilds.insert(id, info);
    }

    /// A room's channel.
    pub fn channel(&self, id: u64) -> Option<&Channel> {
        self.channels.get(&id)
    }

    /// A channel's name, for `<#id>`.
    pub fn channel_name(&self, id: u64) -> Option<&str> {
        self.channels.get(&id).map(|c| c.name.as_str())
    }

    /// A room's display name: `Guild / #channel`, a thread's
    /// `Guild / #channel / thread`.
    pub fn room_name(&self, id: u64) -> Option<String> {
        let channel = self.channels.get(&id)?;
        let guild = self.guilds.get(&channel.guild)?;
        Some(match channel.parent.and_then(|p| self.channels.get(&p)) {
            Some(parent) => format!("{} / #{} / {}", guild.name, parent.name, channel.name),
            None => format!("{} / #{}", guild.name, channel.name),
        })
    }

    /// A member's display name in a guild, if the guild listed them.
    pub fn member_name(&self, guild: u64, user: u64) -> Option<&str> {
        self.guilds
            .get(&guild)?
            .members
            .get(&user)
            .map(String::as_str)
    }

    /// Remembers a member's display name (they spoke).
    pub fn note_member(&mut self, guild: u64, user: u64, name: &str) {
        if let Some(info) = self.guilds.get_mut(&guild) {
            if info.members.get(&user).map(String::as_str) != Some(name) {
                info.members.insert(user, name.to_owned());
            }
        }
    }

    /// A listed member's avatar hash.
    pub fn avatar(&self, guild: u64, user: u64) -> Option<&str> {
        self.guilds
            .get(&guild)?
            .avatars
            .get(&user)
            .map(String::as_str)
    }

    /// The members a guild listed, by id.
    pub fn members(&self, guild: u64) -> impl Iterator<Item = (u64, &str)> {
        self.guilds
            .get(&guild)
            .into_iter()
            .flat_map(|g| g.members.iter().map(|(id, name)| (*id, name.as_str())))
    }

    /// A member's standing in the guild's rooms: the owner, moderators
    /// (a role that manages messages or administers: the listed member's,
    /// or `roles` when given), everyone else a member. Guild-wide: channel
    /// overwrites are not read here (the bot's own role in a room is
    /// [`Guilds::own_permissions`]).
    pub fn role_of(&self, guild: u64, user: u64, roles: Option<&[RoleId]>) -> Role {
        let Some(info) = self.guilds.get(&guild) else {
            return Role::Member;
        };
        let moderator = match roles {
            Some(roles) => roles
                .iter()
                .any(|r| info.moderator_roles.contains(&r.get())),
            None => info.moderators.contains(&user),
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
        let Some(room) = room_of(channel, self.keeps()) else {
            self.channels.remove(&channel.id.get());
            return None;
        };
        let before = self.channels.insert(channel.id.get(), room.clone());
        match before {
            Some(before) if before.topic != room.topic => Some(room.topic.unwrap_or_default()),
            _ => None,
        }
    }

    /// THREAD_DELETE (or a channel deleted): no longer a room.
    pub fn remove(&mut self, channel: u64) {
        self.channels.remove(&channel);
    }

    /// A role was made or changed (GUILD_ROLE_CREATE, GUILD_ROLE_UPDATE):
    /// its name and permissions.
    pub fn role_changed(&mut self, guild: u64, role: &serenity::model::guild::Role) {
        if let Some(info) = self.guilds.get_mut(&guild) {
            info.roles.insert(role.id.get(), role.name.clone());
            info.role_permissions
                .insert(role.id.get(), role.permissions.bits());
        }
    }

    /// A member's roles changed (GUILD_MEMBER_UPDATE): kept when the
    /// member is the bot.
    pub fn member_roles(&mut self, guild: u64, user: u64, roles: &[RoleId]) {
        if Some(user) != self.own {
            return;
        }
        if let Some(info) = self.guilds.get_mut(&guild) {
            info.own_roles = Some(roles.iter().map(|r| r.get()).collect());
        }
    }

    /// The bot's own permissions in a room (a thread: its channel's),
    /// from its roles and the channel's overwrites; `None` when the bot's
    /// member was not listed (then nothing is known, and nothing refused).
    pub fn own_permissions(&self, room: u64) -> Option<Permissions> {
        let channel = self.channels.get(&room)?;
        let roles = self.guilds.get(&channel.guild)?.own_roles.as_deref()?;
        Some(self.in_channel(room, self.own?, roles))
    }

    /// A role was deleted (GUILD_ROLE_DELETE).
    pub fn role_deleted(&mut self, guild: u64, role: u64) {
        if let Some(info) = self.guilds.get_mut(&guild) {
            info.roles.remove(&role);
            info.role_permissions.remove(&role);
        }
    }

    /// A member's permissions in a room (a thread: its channel's), given
    /// their roles: Discord's algorithm ([`permissions`]). None in a
    /// private thread or a room the session does not know.
    pub fn permissions(&self, room: u64, user: u64, roles: &[u64]) -> Permissions {
        match self.channels.get(&room) {
            Some(channel) if !channel.private => self.in_channel(room, user, roles),
            _ => Permissions::empty(),
        }
    }

    /// A member's permissions in a room (a thread: its channel's).
    fn in_channel(&self, room: u64, user: u64, roles: &[u64]) -> Permissions {
        let Some(channel) = self.channels.get(&room) else {
            return Permissions::empty();
        };
        let (Some(info), Some(holder)) = (
            self.guilds.get(&channel.guild),
            channel
                .parent
                .map_or(Some(channel), |p| self.channels.get(&p)),
        ) else {
            return Permissions::empty();
        };
        let role = |id: u64| info.role_permissions.get(&id).copied().unwrap_or(0);
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
        self.guilds.keys().copied()
    }

    /// A role's name, for `<@&id>`.
    pub fn role_name(&self, guild: u64, role: u64) -> Option<&str> {
        self.guilds
            .get(&guild)?
            .roles
            .get(&role)
            .map(String::as_str)
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
            .filter(|(id, c)| guild.is_none_or(|g| g == c.guild) && visible(**id))
            .filter_map(|(id, c)| {
                let guild = self.guilds.get(&c.guild)?.name.as_str();
                Some(match c.parent {
                    Some(p) => (guild, self.channels.get(&p)?.position, p, true, *id),
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
                    topic: self.channels.get(&id)?.topic.clone(),
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
