//! What the session knows of its guilds, from READY and GUILD_CREATE: the
//! channels that become rooms (with their permission overwrites), the
//! members' names, the roles' names and permissions, the bot's own roles.
//! Nothing else of serenity's models is kept, and that compactly (each
//! user keeps their own copy, so it is memory per user): ids in sorted
//! vectors, members' names in [`Names`] tables, the channels with their
//! names and topics in one table shared by the sessions that have the same
//! ([`crate::channel_table`]), all their overwrites in one vector. The
//! channels' side is `guilds/channels.rs`, the tests `guilds/tests.rs`.

use std::num::NonZeroU64;

use serenity::model::gateway::Ready;
use serenity::model::guild::Guild;
use serenity::model::id::RoleId;
use serenity::model::Permissions;
use switchboard_bridge_api::Role;

use crate::channel_table::Shared;
use crate::names::Names;
use crate::permissions::{self, Overwrite};

mod channels;
#[cfg(test)]
mod tests;

use channels::Channel;
pub(crate) use channels::ChannelInfo;

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
}
