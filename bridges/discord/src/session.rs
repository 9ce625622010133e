//! One user's session: serenity's gateway client feeding an actor that
//! takes the core's commands and answers with events.
//!
//! The gateway's dispatches reach the actor through a raw event handler
//! (serenity's connection, heartbeats and resume stay serenity's). Room
//! listings and joins wait until READY and every guild it named have come
//! (at most [`LOAD_WAIT`]), so that the first disco query already sees
//! the guilds' channels.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serenity::http::Http;
use serenity::model::event::Event as Dispatch;
use serenity::model::Permissions;
use switchboard_bridge_api::{
    channel, session_channels, Command, ErrorContext, ErrorKind, Event, LeaveReason, Login, Member,
    SessionEnd, SessionHandle, Token,
};

use crate::authors::Authors;
use crate::direct::Direct;
use crate::guilds::Guilds;
use crate::names::IdSet;
use crate::positions::{Positions, SAVE_EVERY};
use crate::reactions::Reactions;
use crate::typing::Typing;
use crate::webhooks::Webhooks;

mod connect;
mod join;
mod lag;
mod messages;
mod order;
mod rich;
mod send;
mod view;
use crate::register::{LINKED, TOKEN};
use crate::shared::SharedBot;
use crate::Config;
pub(crate) use connect::intents;
use connect::{connect, gateway_end, Connection, Source};
use view::View;
pub(crate) use view::FRESH;

/// How long listings and joins wait for the guilds after the session starts.
const LOAD_WAIT: Duration = Duration::from_secs(15);

/// Starts a session with the stored bot token, or as the stored linked
/// Discord account through the shared bot.
pub(crate) fn start(
    config: Arc<Config>,
    shared: Option<Arc<SharedBot>>,
    login: Login,
) -> SessionHandle {
    let (handle, end) = session_channels();
    let positions = Positions::from_state(&login.state);
    let linked = login.credentials.get(LINKED).and_then(|u| u.parse().ok());
    let source = match (linked, shared) {
        (Some(user), Some(bot)) => Source::Shared(bot, View::new(user)),
        (Some(_), None) => {
            let events = end.events;
            tokio::spawn(async move {
                let reason =
                    "the operator no longer shares a Discord bot; register with a bot token"
                        .to_owned();
                let _ = events
                    .send(Event::Disconnected {
                        reason,
                        retrying: false,
                    })
                    .await;
            });
            return handle;
        }
        (None, _) => Source::Own(login.credentials.get(TOKEN).unwrap_or_default().to_owned()),
    };
    let files = login.files;
    tokio::spawn(run(config, login.account, source, positions, files, end));
    handle
}

/// The actor's state.
struct Session {
    account: String,
    http: Arc<Http>,
    events: channel::Sender<Event>,
    guilds: Guilds,
    own_id: Option<u64>,
    own_name: String,
    /// Joined channels, each with the members the core was told of: the
    /// guild's listed members at the join, and each author as they speak.
    joined: HashMap<u64, IdSet>,
    /// Direct-message channels and contacts.
    direct: Direct,
    /// Who wrote the recent messages, for deletes.
    authors: Authors,
    /// The last message passed on per joined channel (saved as state).
    positions: Positions,
    /// Channels caught up in this session (once each).
    caught_up: HashSet<u64>,
    /// The nick the user joined each channel with (the webhook's name).
    nicks: HashMap<u64, String>,
    /// Each channel's webhook, or the bot.
    webhooks: Webhooks,
    /// Ids of messages sent through a webhook and not yet echoed, with
    /// their tokens.
    sent_ids: HashMap<u64, Token>,
    /// Nonces of messages sent and not yet echoed, with their tokens.
    pending: HashMap<String, Token>,
    /// Reactions seen on recent messages, per person.
    reactions: Reactions,
    /// Who types where; the user's last typing posts.
    typing: Typing,
    /// Makes nonces unique: the session's start time, then a counter.
    nonce_prefix: String,
    sent: u64,
    /// The avatars told to the core.
    avatars: crate::avatars::Avatars,
    /// Shared-bot mode: the linked account, whose permissions gate rooms.
    view: Option<View>,
    /// The user's own member as last told, per joined room (its role).
    own_members: HashMap<u64, Member>,
    /// Shared-bot mode: the joined channels, told to the shared connection.
    rooms: Option<crate::shared::Rooms>,
    /// Shared-bot mode: the bot.
    shared: Option<Arc<SharedBot>>,
    /// Shared-bot mode: set when the session fell behind (`session/lag.rs`).
    lagged: Option<crate::shared::Lagged>,
    /// The operator's settings (the client that fetches files).
    config: Arc<Config>,
    /// The operator's limits for the files the user sends.
    file_limits: switchboard_bridge_api::download::Limits,
    /// New messages waiting for ones sent before them (`session/order.rs`).
    held: order::Held,
}

async fn run(
    config: Arc<Config>,
    account: String,
    source: Source,
    positions: Positions,
    file_limits: switchboard_bridge_api::download::Limits,
    end: SessionEnd,
) {
    let SessionEnd {
        mut commands,
        events,
    } = end;
    let Some(Connection {
        http,
        mut dispatches,
        mut own,
        view,
        rooms,
        shared,
        lagged,
    }) = Box::pin(connect(&config, &account, source)).await
    else {
        return;
    };
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut session = Session {
        account,
        http,
        events,
        guilds: Guilds::new(view.is_some()),
        own_id: None,
        own_name: String::new(),
        joined: HashMap::new(),
        nicks: HashMap::new(),
        webhooks: Webhooks::default(),
        sent_ids: HashMap::new(),
        direct: Direct::default(),
        authors: Authors::default(),
        positions,
        caught_up: HashSet::new(),
        pending: HashMap::new(),
        reactions: Reactions::default(),
        typing: Typing::default(),
        nonce_prefix: format!("{started:x}"),
        sent: 0,
        avatars: crate::avatars::Avatars::new(config.api.as_deref()),
        view,
        own_members: HashMap::new(),
        rooms,
        shared,
        lagged,
        config: Arc::clone(&config),
        file_limits,
        held: order::Held::default(),
    };
    // The loop awaits the session's work boxed: the task's future then
    // keeps only the loop's state between events (about 3 kB), not room
    // for the largest piece of work (a join, a file's upload) the whole
    // session long; it was 12.9 kB a user.
    let mut waiting: VecDeque<Command> = VecDeque::new();
    let load_deadline = tokio::time::Instant::now() + LOAD_WAIT;
    let mut open = true;
    let mut save = tokio::time::interval(SAVE_EVERY);
    while open {
        tokio::select! {
            _ = save.tick() => {
                open = Box::pin(session.save_positions()).await && Box::pin(session.recheck_joined()).await;
                session.share_rooms();
            }
            () = tokio::time::sleep_until(session.held.until().unwrap_or(load_deadline)), if session.held.until().is_some() => {
                open = Box::pin(session.release_held()).await;
            }
            () = tokio::time::sleep_until(session.typing.next_end().unwrap_or(load_deadline)), if session.typing.next_end().is_some() => {
                open = Box::pin(session.typing_ended()).await;
            }
            () = tokio::time::sleep_until(session.typing.next_repeat().unwrap_or(load_deadline)), if session.typing.next_repeat().is_some() => {
                Box::pin(session.typing_repeats()).await;
            }
            command = commands.recv() => {
                let Some(command) = command else { break };
                if matches!(command, Command::Shutdown) {
                    Box::pin(session.release_held()).await;
                    Box::pin(session.save_positions()).await;
                    break;
                }
                if needs_guilds(&command) && (!waiting.is_empty() || !session.guilds.loaded()) && tokio::time::Instant::now() < load_deadline {
                    waiting.push_back(command);
                } else {
                    open = Box::pin(session.command(command)).await;
                }
                session.share_rooms();
            }
            dispatch = dispatches.recv() => {
                let Some(dispatch) = dispatch else {
                    if let Some(again) = Box::pin(session.fell_behind()).await {
                        dispatches = again;
                        continue;
                    }
                    // The shared bot's connection ended (its own ends below).
                    let reason = "the shared bot's gateway connection ended".to_owned();
                    Box::pin(session.save_positions()).await;
                    Box::pin(session.emit(Event::Disconnected { reason, retrying: false })).await;
                    return;
                };
                open = Box::pin(session.dispatch(*dispatch)).await;
                session.share_rooms();
                if session.guilds.loaded() {
                    while let Some(command) = waiting.pop_front() {
                        open = open && Box::pin(session.command(command)).await;
                    }
                }
            }
            () = tokio::time::sleep_until(load_deadline), if !waiting.is_empty() => {
                while let Some(command) = waiting.pop_front() {
                    open = open && Box::pin(session.command(command)).await;
                }
            }
            reason = gateway_end(&mut own) => {
                tracing::info!(account = %session.account, %reason, "Discord session ends");
                Box::pin(session.release_held()).await;
                Box::pin(session.save_positions()).await;
                Box::pin(session.emit(Event::Disconnected { reason, retrying: false })).await;
                return;
            }
        }
    }
    if let Some((shards, gateway)) = own {
        Box::pin(shards.shutdown_all()).await;
        gateway.abort();
    }
}

/// Commands that need the guilds' channels.
fn needs_guilds(command: &Command) -> bool {
    matches!(
        command,
        Command::ListRooms { .. } | Command::Join { .. } | Command::SendText { .. }
    )
}

/// A room id as a channel id.
fn channel_of(room: &str) -> Option<u64> {
    room.parse().ok().filter(|id| *id != 0)
}

impl Session {
    /// Sends an event to the core; `false` once the core is gone.
    async fn emit(&self, event: Event) -> bool {
        self.events.send(event).await.is_ok()
    }

    async fn error(&self, context: ErrorContext, kind: ErrorKind, text: &str) -> bool {
        self.emit(Event::Error {
            context,
            kind,
            text: text.to_owned(),
        })
        .await
    }

    /// Saves the positions that changed; `false` once the core is gone.
    async fn save_positions(&mut self) -> bool {
        for (key, value) in self.positions.take_changed() {
            let save = Event::SaveState {
                key,
                value,
                secret: false,
            };
            if !self.emit(save).await {
                return false;
            }
        }
        true
    }

    /// A channel or thread was made or changed: a joined room's new topic.
    async fn channel_changed(&mut self, channel: &serenity::model::channel::GuildChannel) -> bool {
        let id = channel.id.get();
        match self.guilds.update(channel) {
            Some(topic) if self.joined.contains_key(&id) => {
                self.emit(Event::Topic {
                    room: id.to_string().into(),
                    topic,
                    by: None,
                })
                .await
            }
            _ => true,
        }
    }

    /// A channel or thread was deleted: a joined room is left.
    async fn channel_gone(&mut self, id: u64) -> bool {
        self.guilds.remove(id);
        if self.joined.remove(&id).is_none() {
            return true;
        }
        self.emit(Event::RoomLeft {
            room: id.to_string().into(),
            reason: LeaveReason::Part(Some("the channel was deleted".into())),
        })
        .await
    }

    /// One gateway dispatch.
    async fn dispatch(&mut self, dispatch: Dispatch) -> bool {
        // A new message waits for ones sent before it; anything else lets
        // the waiting ones go first.
        let dispatch = match dispatch {
            Dispatch::MessageCreate(created) => {
                self.held.hold(created.message);
                return true;
            }
            other => other,
        };
        if !self.release_held().await {
            return false;
        }
        match dispatch {
            Dispatch::Ready(ready) => {
                let user = &ready.ready.user;
                self.own_id = Some(user.id.get());
                self.own_name = user.display_name().to_owned();
                self.guilds.ready(&ready.ready);
                tracing::info!(account = %self.account, guilds = ready.ready.guilds.len(), "Discord gateway ready");
                let own_id = self.me().unwrap_or(user.id.get());
                self.emit(Event::Connected {
                    own_id: own_id.to_string().into(),
                    nick: self.own_name.clone(),
                })
                .await
            }
            Dispatch::GuildCreate(created) => {
                self.guilds.create(&created.guild);
                true
            }
            Dispatch::MessageUpdate(updated) => self.message_update(updated).await,
            Dispatch::MessageDelete(deleted) => self.message_delete(deleted).await,
            Dispatch::ReactionAdd(added) => self.reaction(added.reaction, true).await,
            Dispatch::ReactionRemove(removed) => self.reaction(removed.reaction, false).await,
            Dispatch::ReactionRemoveAll(removed) => {
                let guild = removed.guild_id.map(|g| g.get());
                let (channel, message) = (removed.channel_id.get(), removed.message_id.get());
                self.reactions_removed(channel, guild, message, None).await
            }
            Dispatch::ReactionRemoveEmoji(removed) => {
                let r = removed.reaction;
                let guild = r.guild_id.map(|g| g.get());
                let (channel, message) = (r.channel_id.get(), r.message_id.get());
                self.reactions_removed(channel, guild, message, Some(&r.emoji))
                    .await
            }
            Dispatch::Unknown(unknown) if unknown.kind == "MESSAGE_REACTION_REMOVE_EMOJI" => {
                self.emoji_removed(unknown.value).await
            }
            Dispatch::TypingStart(typing) => self.typing_started(typing).await,
            Dispatch::ChannelUpdate(updated) => {
                let id = updated.channel.id.get();
                self.channel_changed(&updated.channel).await
                    && self.leave_if_hidden(id).await
                    && self.recheck_own_roles().await
            }
            Dispatch::GuildRoleCreate(created) => {
                self.guilds
                    .role_changed(created.role.guild_id.get(), &created.role);
                true
            }
            Dispatch::GuildRoleUpdate(updated) => {
                self.guilds
                    .role_changed(updated.role.guild_id.get(), &updated.role);
                let joined: Vec<u64> = self.joined.keys().copied().collect();
                let mut open = true;
                for room in joined {
                    open = open && self.leave_if_hidden(room).await;
                }
                open && self.recheck_own_roles().await
            }
            Dispatch::GuildMemberUpdate(updated) => {
                let (guild, user) = (updated.guild_id.get(), updated.user.id.get());
                self.guilds.member_roles(guild, user, &updated.roles);
                self.recheck_own_roles().await
            }
            Dispatch::GuildRoleDelete(deleted) => {
                self.guilds
                    .role_deleted(deleted.guild_id.get(), deleted.role_id.get());
                self.recheck_own_roles().await
            }
            Dispatch::ThreadCreate(created) => self.channel_changed(&created.thread).await,
            Dispatch::ThreadUpdate(updated) => self.channel_changed(&updated.thread).await,
            Dispatch::ThreadDelete(deleted) => self.channel_gone(deleted.thread.id.get()).await,
            Dispatch::ChannelDelete(deleted) => self.channel_gone(deleted.channel.id.get()).await,
            _ => true,
        }
    }

    /// One command from the core.
    async fn command(&mut self, command: Command) -> bool {
        match command {
            Command::ListRooms {
                token,
                server,
                after,
                limit,
                ..
            } => {
                let guild = server.as_deref().and_then(crate::guild_of_server);
                let after = after.and_then(|a| a.parse().ok());
                self.refresh_members(guild).await;
                let visible = |room| self.may(room, Permissions::VIEW_CHANNEL);
                let rooms = self.guilds.listing(guild, after, limit.max(1), &visible);
                let next = (rooms.len() == limit.max(1))
                    .then(|| rooms.last().map(|r| r.room.to_string()))
                    .flatten();
                self.emit(Event::RoomList { token, rooms, next }).await
            }
            Command::Join { room, nick, .. } => {
                if let Some(id) = channel_of(room.as_str()) {
                    self.nicks.insert(id, nick);
                }
                self.join(room.as_str()).await
            }
            Command::Leave { room, .. } => {
                if let Some(id) = channel_of(room.as_str()) {
                    self.joined.remove(&id);
                }
                self.emit(Event::RoomLeft {
                    room,
                    reason: LeaveReason::Part(None),
                })
                .await
            }
            Command::SendText {
                target,
                text,
                kind,
                reply_to,
                token,
                attachments,
            } => {
                let text = send::Text {
                    text: &text,
                    kind,
                    reply_to,
                };
                self.send(target, text, &attachments, token).await
            }
            Command::FetchHistory { token, room, .. } => {
                self.emit(Event::History {
                    token,
                    room,
                    messages: vec![],
                })
                .await
            }
            Command::Typing { target, state } => self.typing(target, state).await,
            Command::MarkRead { .. }
            | Command::ConfigureServer { .. }
            | Command::RemoveContact { .. } => true,
            Command::SetOwnAvatar { url } => {
                self.webhooks.set_avatar(url);
                true
            }
            Command::Edit {
                target,
                message,
                text,
                token,
            } => self.edit(target, message, &text, token).await,
            Command::Retract {
                target,
                message,
                token,
                ..
            } => self.retract(target, message, token).await,
            Command::React {
                target,
                message,
                reactions,
                token,
            } => self.react(target, message, reactions, token).await,
            Command::SetNick { .. } | Command::SetTopic { .. } => {
                self.error(
                    ErrorContext::Session,
                    ErrorKind::Other,
                    "the Discord bridge does not do this yet",
                )
                .await
            }
            Command::Shutdown => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session's task is allocated once per user for the whole
    /// session: its future must hold the loop's state only, the work it
    /// awaits being boxed (`run`): about 3 kB (1.5 of them the session's
    /// state) in a debug build, 13 kB before.
    #[test]
    fn the_session_task_is_small() {
        let config = Arc::new(Config {
            api: None,
            roles_every: FRESH,
            client: Default::default(),
            downloads: Default::default(),
        });
        let (_handle, end) = session_channels();
        let task = run(
            config,
            "user@example.org".into(),
            Source::Own(String::new()),
            Positions::default(),
            Default::default(),
            end,
        );
        let size = std::mem::size_of_val(&task);
        let state = std::mem::size_of::<Session>();
        assert!(
            size < 4096,
            "the session's future is {size} bytes, its state {state}"
        );
    }
}
