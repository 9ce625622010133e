//! What the user may do in a room. With their own bot: what the bot may,
//! its roles (its member in GUILD_CREATE) and the channel's overwrites
//! computed, so a channel hidden from the bot is neither listed nor
//! joined, and the user moderates (XEP-0425) only where the bot has
//! Manage Messages.
//!
//! Shared-bot mode: what the linked Discord account may see.
//! The shared bot sees more than any one user may; each room is shown,
//! joined and written to only where the account's permissions allow it
//! (VIEW_CHANNEL; SEND_MESSAGES, or SEND_MESSAGES_IN_THREADS in a thread,
//! to post), computed from the guild's roles, the account's roles
//! (`GET /guilds/{id}/members/{user}`: at each join, else when older than
//! [`FRESH`]) and the channel's overwrites. Every room event is gated by
//! the join, so a hidden channel's messages, edits, reactions and typing
//! never reach the user; a joined channel that becomes hidden (its
//! overwrites or a role changed; the account's roles, read again every
//! [`FRESH`]) is left.

use std::collections::HashMap;
use std::time::Duration;

use serenity::all::{GuildId, UserId};
use serenity::model::Permissions;
use switchboard_bridge_api::{Event, LeaveReason, Role};
use tokio::time::Instant;

use super::Session;
use crate::guilds::ChannelInfo;

/// `what` in a thread: sending there is SEND_MESSAGES_IN_THREADS.
fn in_thread(channel: ChannelInfo, what: Permissions) -> Permissions {
    if channel.parent.is_some() && what == Permissions::SEND_MESSAGES {
        Permissions::SEND_MESSAGES_IN_THREADS
    } else {
        what
    }
}

/// How long an account's roles in a guild are trusted before a listing
/// reads them again (a join always does), unless the operator says
/// otherwise ([`crate::Settings::linked_roles_every`]).
pub(crate) const FRESH: Duration = Duration::from_secs(5 * 60);

/// The linked account and what is known of its memberships.
#[derive(Debug)]
pub(crate) struct View {
    /// The linked Discord user.
    pub user: u64,
    /// Per guild: the account's roles, and when read.
    members: HashMap<u64, (Membership, Instant)>,
}

/// The account's roles in a guild; `None`: not a member.
type Membership = Option<Box<[u64]>>;

impl View {
    /// A view for the linked Discord user.
    pub fn new(user: u64) -> Self {
        Self {
            user,
            members: HashMap::new(),
        }
    }
}

impl Session {
    /// The Discord user the XMPP user is: the linked account in shared-bot
    /// mode, else their bot.
    pub(super) fn me(&self) -> Option<u64> {
        match &self.view {
            Some(view) => Some(view.user),
            None => self.own_id,
        }
    }

    /// Reads the account's roles in `guild` again when `force`d or stale.
    pub(super) async fn refresh_member(&mut self, guild: u64, force: bool) {
        let Some(view) = &self.view else { return };
        let user = view.user;
        let stale = view
            .members
            .get(&guild)
            .is_none_or(|(_, read)| read.elapsed() > self.config.roles_every);
        if !force && !stale {
            return;
        }
        let roles = match self
            .http
            .get_member(GuildId::new(guild), UserId::new(user))
            .await
        {
            Ok(member) => Some(member.roles.iter().map(|r| r.get()).collect()),
            Err(e) if matches!(crate::errors::status(&e), Some(404 | 403)) => None,
            Err(e) => {
                // Unknown: what was known stays (nothing, the first time).
                tracing::info!(account = %self.account, %guild, error = %crate::errors::describe(&e), "a member's roles not read");
                return;
            }
        };
        if let Some(view) = &mut self.view {
            view.members.insert(guild, (roles, Instant::now()));
        }
    }

    /// Reads the account's stale roles in `guild`, or in every guild.
    pub(super) async fn refresh_members(&mut self, guild: Option<u64>) {
        if self.view.is_none() {
            return;
        }
        let guilds: Vec<u64> = match guild {
            Some(guild) => vec![guild],
            None => self.guilds.guild_ids().collect(),
        };
        for guild in guilds {
            self.refresh_member(guild, false).await;
        }
    }

    /// Whether the user may do `what` in a room: with their own bot, as
    /// the bot's permissions there say ([`Session::bot_may`]); in
    /// shared-bot mode, as the linked account's.
    pub(super) fn may(&self, room: u64, what: Permissions) -> bool {
        let Some(view) = &self.view else {
            return self.bot_may(room, what);
        };
        let Some(channel) = self.guilds.channel(room) else {
            return false;
        };
        let what = in_thread(channel, what);
        match view.members.get(&channel.guild) {
            Some((Some(roles), _)) => self
                .guilds
                .permissions(room, view.user, roles)
                .contains(what),
            _ => false,
        }
    }

    /// Whether the bot may do `what` in a room, its roles and the channel's
    /// overwrites computed; yes when its roles are unknown (its member not
    /// listed): Discord's refusal then tells.
    pub(super) fn bot_may(&self, room: u64, what: Permissions) -> bool {
        let Some(channel) = self.guilds.channel(room) else {
            return false;
        };
        self.guilds
            .own_permissions(room)
            .is_none_or(|p| p.contains(in_thread(channel, what)))
    }

    /// The user's role in a joined room with their own bot: the guild's
    /// owner stays owner, else a moderator where the bot may manage the
    /// channel's messages (the core then offers XEP-0425 moderation).
    /// Shared-bot mode: the linked account's guild-wide role.
    pub(super) fn own_role(&self, room: u64, guild: u64, own_id: u64) -> Role {
        let guild_wide = self.guilds.role_of(guild, own_id, None);
        if self.view.is_some() || guild_wide == Role::Owner {
            return guild_wide;
        }
        match self.guilds.own_permissions(room) {
            Some(p) if p.contains(Permissions::MANAGE_MESSAGES) => Role::Operator,
            Some(_) => Role::Member,
            None => guild_wide,
        }
    }

    /// With the user's own bot: their role in each joined room computed
    /// again (an overwrite, a role or the bot's roles changed), and a
    /// change told; `false` once the core is gone.
    pub(super) async fn recheck_own_roles(&mut self) -> bool {
        let (None, Some(own_id)) = (&self.view, self.own_id) else {
            return true;
        };
        let rooms: Vec<u64> = self.joined.keys().copied().collect();
        for room in rooms {
            let Some(guild) = self.guilds.channel(room).map(|c| c.guild) else {
                continue;
            };
            let role = self.own_role(room, guild, own_id);
            let Some(member) = self.own_members.get_mut(&room) else {
                continue;
            };
            if member.role == role {
                continue;
            }
            member.role = role;
            let member = member.clone();
            let room = room.to_string().into();
            if !self.emit(Event::MemberChanged { room, member }).await {
                return false;
            }
        }
        true
    }

    /// Shared-bot mode: the account's roles in the guilds of joined rooms
    /// read again once stale (every [`FRESH`]), and a room it may no
    /// longer see left: a role taken from the account on Discord (which
    /// the gateway does not tell without the privileged members intent)
    /// hides the room within that time.
    pub(super) async fn recheck_joined(&mut self) -> bool {
        if self.view.is_none() {
            return true;
        }
        let rooms: Vec<u64> = self.joined.keys().copied().collect();
        let mut guilds: Vec<u64> = rooms
            .iter()
            .filter_map(|room| self.guilds.channel(*room).map(|c| c.guild))
            .collect();
        guilds.sort_unstable();
        guilds.dedup();
        for guild in guilds {
            self.refresh_member(guild, false).await;
        }
        for room in rooms {
            if !self.leave_if_hidden(room).await {
                return false;
            }
        }
        true
    }

    /// Tells the shared connection the joined channels, when they changed.
    pub(super) fn share_rooms(&self) {
        let Some(rooms) = &self.rooms else { return };
        let mut rooms = rooms.lock().unwrap();
        if rooms.len() != self.joined.len() || self.joined.keys().any(|id| !rooms.contains(id)) {
            *rooms = self.joined.keys().copied().collect();
        }
    }

    /// After a channel changed (its overwrites): a joined room the account
    /// (the bot, with the user's own) may no longer see is left.
    pub(super) async fn leave_if_hidden(&mut self, room: u64) -> bool {
        if !self.joined.contains_key(&room) || self.may(room, Permissions::VIEW_CHANNEL) {
            return true;
        }
        self.joined.remove(&room);
        self.emit(Event::RoomLeft {
            room: room.to_string().into(),
            reason: LeaveReason::Part(Some(if self.view.is_some() {
                "your Discord account may no longer see this channel".into()
            } else {
                "the bot may no longer see this channel".into()
            })),
        })
        .await
    }
}
