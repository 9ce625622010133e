//! Shared-bot mode: one bot the operator configured, one gateway
//! connection for every linked user. The connection starts when first
//! needed (a registration asks for a code, or a linked user's session
//! starts) and its dispatches are handed to each linked user's session,
//! which keeps only what that user's Discord account may see
//! (`session/view.rs`). A new session first gets READY and the latest
//! GUILD_CREATE of each guild (with the channel, thread and role changes
//! since applied), then the live dispatches, in order.
//!
//! Direct messages to the bot are not fanned out: a code-shaped one links
//! its sender (a one-time code, [`crate::links`]); the bot's own DMs (a
//! linked user's, by nonce) and the answers to them go to the one linked
//! user whose conversation they are ([`crate::dms`]).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serenity::all::{ChannelId, ClientBuilder, Context, RawEventHandler};
use serenity::http::Http;
use serenity::model::channel::Nonce;
use serenity::model::event::Event as Dispatch;
use tokio::sync::mpsc;

use crate::claims::Claims;
use crate::dms::Conversations;
use crate::links::{self, Links};
use crate::Config;

/// How many dispatches wait for a session, beyond the replayed ones: a
/// session further behind falls out of the fan-out and catches up
/// (`session/lag.rs`). Boxed, so a queue costs memory only while full.
const QUEUE: usize = 1024;

/// The operator's shared bot.
pub(crate) struct SharedBot {
    config: Arc<Config>,
    /// The bot token; never logged.
    token: String,
    /// The REST client every linked user's session shares (one rate
    /// limiter for the one bot).
    http: OnceLock<Arc<Http>>,
    /// The codes waiting for a direct message.
    pub links: Links,
    /// Which linked users want each of the bot's reactions.
    pub claims: Claims,
    /// Whose conversation each DM is.
    pub dms: Conversations,
    hub: Mutex<Hub>,
}

/// The gateway connection's state.
#[derive(Default)]
struct Hub {
    /// A connection is running or being made.
    started: bool,
    /// READY, as last received.
    ready: Option<Dispatch>,
    /// Each guild's GUILD_CREATE, kept up to date.
    guilds: BTreeMap<u64, Dispatch>,
    /// The linked users' sessions.
    sessions: Vec<Subscriber>,
}

/// The channels a session has joined, which it keeps up to date: a
/// channel's messages, edits, deletes, reactions and typing go only to
/// the sessions that joined it (which the account's permissions allowed).
pub(crate) type Rooms = Arc<Mutex<HashSet<u64>>>;

/// Set when a session fell behind: its queue was full, so it was dropped
/// from the fan-out (its dispatches end) and should subscribe again and
/// catch up.
pub(crate) type Lagged = Arc<AtomicBool>;

/// One linked user's session.
#[derive(Clone)]
struct Subscriber {
    /// The XMPP account (its DMs are routed to it).
    account: Arc<str>,
    dispatches: mpsc::Sender<Box<Dispatch>>,
    rooms: Rooms,
    lagged: Lagged,
}

/// A session's place in the fan-out.
pub(crate) struct Subscription {
    /// Its dispatches: the replay, then the live ones.
    pub dispatches: mpsc::Receiver<Box<Dispatch>>,
    /// The channels it joined, which it keeps up to date.
    pub rooms: Rooms,
    /// Whether it fell behind (see [`Lagged`]).
    pub lagged: Lagged,
}

impl std::fmt::Debug for SharedBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedBot(<token>)")
    }
}

impl SharedBot {
    /// The shared bot with this token.
    pub fn new(config: Arc<Config>, token: String) -> Self {
        Self {
            config,
            token,
            http: OnceLock::new(),
            links: Links::default(),
            claims: Claims::default(),
            dms: Conversations::default(),
            hub: Mutex::default(),
        }
    }

    /// The REST client.
    pub fn http(&self) -> Arc<Http> {
        Arc::clone(
            self.http
                .get_or_init(|| Arc::new(crate::register::http(&self.config, &self.token))),
        )
    }

    /// Starts the gateway connection unless it runs.
    pub fn ensure_started(self: &Arc<Self>) {
        {
            let mut hub = self.hub.lock().unwrap();
            if hub.started {
                return;
            }
            hub.started = true;
        }
        let bot = Arc::clone(self);
        tokio::spawn(async move {
            let http = crate::register::http(&bot.config, &bot.token);
            let built = ClientBuilder::new_with_http(http, crate::session::intents())
                .raw_event_handler(Forward(Arc::clone(&bot)))
                .await;
            match built {
                Ok(mut client) => {
                    tracing::info!("Discord shared bot connecting");
                    if let Err(e) = client.start().await {
                        tracing::warn!(error = %crate::errors::describe(&e), "Discord shared bot's gateway connection failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %crate::errors::describe(&e), "Discord shared bot's client not built");
                }
            }
            // The sessions see their dispatches end; the next one starts again.
            *bot.hub.lock().unwrap() = Hub::default();
        });
    }

    /// Whether the connection is up (READY came), waiting up to `wait`
    /// for it: a code shown before would reach nobody.
    pub async fn connected(self: &Arc<Self>, wait: std::time::Duration) -> bool {
        self.ensure_started();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.hub.lock().unwrap().ready.is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// A linked user's session joins: what it has missed of the guilds,
    /// then every dispatch in turn (none in direct messages).
    pub fn subscribe(self: &Arc<Self>, account: &str) -> Subscription {
        self.ensure_started();
        let mut hub = self.hub.lock().unwrap();
        let replay: Vec<&Dispatch> = hub.ready.iter().chain(hub.guilds.values()).collect();
        let (tx, rx) = mpsc::channel(QUEUE + replay.len());
        for dispatch in replay {
            // Room was made for them.
            let _ = tx.try_send(Box::new(dispatch.clone()));
        }
        let subscriber = Subscriber {
            account: account.into(),
            dispatches: tx,
            rooms: Rooms::default(),
            lagged: Lagged::default(),
        };
        hub.sessions.push(subscriber.clone());
        Subscription {
            dispatches: rx,
            rooms: subscriber.rooms,
            lagged: subscriber.lagged,
        }
    }

    /// Keeps what a later session needs; whether to hand the dispatch on.
    fn keep(&self, dispatch: &Dispatch) -> bool {
        let mut hub = self.hub.lock().unwrap();
        match dispatch {
            Dispatch::Ready(_) => {
                hub.ready = Some(dispatch.clone());
                hub.guilds.clear();
            }
            Dispatch::GuildCreate(created) => {
                hub.guilds.insert(created.guild.id.get(), dispatch.clone());
            }
            Dispatch::GuildDelete(deleted) => {
                hub.guilds.remove(&deleted.guild.id.get());
            }
            Dispatch::ChannelCreate(e) => update_guild(&mut hub, e.channel.guild_id.get(), |g| {
                g.channels.insert(e.channel.id, e.channel.clone());
            }),
            Dispatch::ChannelUpdate(e) => update_guild(&mut hub, e.channel.guild_id.get(), |g| {
                g.channels.insert(e.channel.id, e.channel.clone());
            }),
            Dispatch::ChannelDelete(e) => update_guild(&mut hub, e.channel.guild_id.get(), |g| {
                g.channels.remove(&e.channel.id);
            }),
            Dispatch::ThreadCreate(e) => update_guild(&mut hub, e.thread.guild_id.get(), |g| {
                g.threads.retain(|t| t.id != e.thread.id);
                g.threads.push(e.thread.clone());
            }),
            Dispatch::ThreadUpdate(e) => update_guild(&mut hub, e.thread.guild_id.get(), |g| {
                g.threads.retain(|t| t.id != e.thread.id);
                g.threads.push(e.thread.clone());
            }),
            Dispatch::ThreadDelete(e) => update_guild(&mut hub, e.thread.guild_id.get(), |g| {
                g.threads.retain(|t| t.id != e.thread.id);
            }),
            Dispatch::GuildRoleCreate(e) => update_guild(&mut hub, e.role.guild_id.get(), |g| {
                g.roles.insert(e.role.id, e.role.clone());
            }),
            Dispatch::GuildRoleUpdate(e) => update_guild(&mut hub, e.role.guild_id.get(), |g| {
                g.roles.insert(e.role.id, e.role.clone());
            }),
            Dispatch::GuildRoleDelete(e) => update_guild(&mut hub, e.guild_id.get(), |g| {
                g.roles.remove(&e.role_id);
            }),
            // A moderator took the bot's reactions off: nobody holds them.
            Dispatch::ReactionRemoveAll(e) => self.claims.clear(e.message_id.get(), None),
            Dispatch::ReactionRemoveEmoji(e) => {
                let emoji = crate::reactions::plain_text_of(&e.reaction.emoji);
                self.claims.clear(e.reaction.message_id.get(), Some(&emoji));
            }
            Dispatch::Unknown(e) if e.kind == "MESSAGE_REACTION_REMOVE_EMOJI" => {
                let message = e
                    .value
                    .get("message_id")
                    .and_then(|m| m.as_str()?.parse().ok());
                let emoji = e
                    .value
                    .get("emoji")
                    .cloned()
                    .and_then(|e| serde_json::from_value(e).ok());
                if let Some(message) = message {
                    let emoji = emoji.map(|e| crate::reactions::plain_text_of(&e));
                    self.claims.clear(message, emoji.as_deref());
                }
            }
            _ => {}
        }
        !in_direct_messages(dispatch)
    }

    /// Hands a dispatch to every session it concerns (a channel's to
    /// those that joined it), never waiting: a session whose queue is full
    /// (its user's client or server is slow, or it is stuck) is dropped
    /// from the fan-out and marked [`Lagged`], so that the others go on;
    /// it subscribes again and catches up (`session/lag.rs`). Sessions
    /// that ended are dropped too.
    fn fan_out(&self, dispatch: Dispatch) {
        let room = room_of(&dispatch);
        self.hand_on(dispatch, |session| {
            room.is_none_or(|room| session.rooms.lock().unwrap().contains(&room))
        });
    }

    /// Hands a dispatch to the sessions `wanted` picks, as [`Self::fan_out`] does.
    fn hand_on(&self, dispatch: Dispatch, wanted: impl Fn(&Subscriber) -> bool) {
        let sessions = self.hub.lock().unwrap().sessions.clone();
        let mut gone = false;
        for session in sessions.iter().filter(|s| wanted(s)) {
            match session.dispatches.try_send(Box::new(dispatch.clone())) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    if !session.lagged.swap(true, Ordering::SeqCst) {
                        tracing::info!(
                            "a linked user's session fell behind the shared bot; it catches up"
                        );
                    }
                    gone = true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone = true,
            }
        }
        if gone {
            let mut hub = self.hub.lock().unwrap();
            hub.sessions
                .retain(|s| !s.dispatches.is_closed() && !s.lagged.load(Ordering::SeqCst));
        }
    }

    /// A direct message to the bot: the bot's own goes to the linked user
    /// who wrote it (found by its nonce); a code links its sender, and the
    /// bot says whether it did; any other is an answer, handed to the
    /// linked user whose conversation it is, else told how to answer.
    async fn direct_message(&self, event: Dispatch) {
        let Dispatch::MessageCreate(created) = &event else {
            return;
        };
        let message = &created.message;
        let channel = message.channel_id.get();
        if message.author.bot {
            let nonce = match &message.nonce {
                Some(Nonce::String(nonce)) => nonce.clone(),
                Some(Nonce::Number(nonce)) => nonce.to_string(),
                None => return,
            };
            if let Some(account) = self.dms.echoed(&nonce, message.id.get(), channel) {
                self.hand_on(event, |s| s.account == account);
            }
            return;
        }
        let answer = if links::normalise(&message.content).is_some() {
            let user = message.author.id.get();
            if self.links.claim(&message.content, user) {
                tracing::info!(%user, "a Discord user sent a link code");
                "Linked. Go back to your XMPP client and finish the registration."
            } else {
                "That code is unknown, used or expired. Ask the gateway for a new one."
            }
        } else {
            let replies = message
                .message_reference
                .as_ref()
                .and_then(|r| r.message_id)
                .map(|m| m.get());
            match self.dms.answer_to(channel, replies) {
                Some(account) => return self.hand_on(event, |s| s.account == account),
                None => "This bot carries messages for the people of an XMPP gateway; nobody has written to you through it lately.",
            }
        };
        let body = serde_json::json!({ "content": answer, "allowed_mentions": { "parse": [] } });
        if let Err(e) = self
            .http()
            .send_message(ChannelId::new(channel), vec![], &body)
            .await
        {
            tracing::info!(error = %crate::errors::describe(&e), "no answer to a direct message");
        }
    }
}

/// Changes a kept GUILD_CREATE.
fn update_guild(
    hub: &mut Hub,
    guild: u64,
    change: impl FnOnce(&mut serenity::model::guild::Guild),
) {
    if let Some(Dispatch::GuildCreate(created)) = hub.guilds.get_mut(&guild) {
        change(&mut created.guild);
    }
}

/// Whether a dispatch is about a direct-message channel.
fn in_direct_messages(dispatch: &Dispatch) -> bool {
    match dispatch {
        Dispatch::MessageCreate(e) => e.message.guild_id.is_none(),
        Dispatch::MessageUpdate(e) => e.guild_id.is_none(),
        Dispatch::MessageDelete(e) => e.guild_id.is_none(),
        Dispatch::MessageDeleteBulk(e) => e.guild_id.is_none(),
        Dispatch::ReactionAdd(e) => e.reaction.guild_id.is_none(),
        Dispatch::ReactionRemove(e) => e.reaction.guild_id.is_none(),
        Dispatch::ReactionRemoveAll(e) => e.guild_id.is_none(),
        Dispatch::ReactionRemoveEmoji(e) => e.reaction.guild_id.is_none(),
        Dispatch::TypingStart(e) => e.guild_id.is_none(),
        Dispatch::ChannelPinsUpdate(e) => e.guild_id.is_none(),
        Dispatch::Unknown(e) => e.value.get("guild_id").is_none_or(|g| g.is_null()),
        _ => false,
    }
}

/// The channel of a dispatch that only those in it need (messages,
/// reactions, typing); `None` for the others, which every session gets.
fn room_of(dispatch: &Dispatch) -> Option<u64> {
    let channel = match dispatch {
        Dispatch::MessageCreate(e) => e.message.channel_id,
        Dispatch::MessageUpdate(e) => e.channel_id,
        Dispatch::MessageDelete(e) => e.channel_id,
        Dispatch::MessageDeleteBulk(e) => e.channel_id,
        Dispatch::ReactionAdd(e) => e.reaction.channel_id,
        Dispatch::ReactionRemove(e) => e.reaction.channel_id,
        Dispatch::ReactionRemoveAll(e) => e.channel_id,
        Dispatch::ReactionRemoveEmoji(e) => e.reaction.channel_id,
        Dispatch::TypingStart(e) => e.channel_id,
        Dispatch::Unknown(e) if e.kind == "MESSAGE_REACTION_REMOVE_EMOJI" => {
            return e.value.get("channel_id")?.as_str()?.parse().ok();
        }
        _ => return None,
    };
    Some(channel.get())
}

/// The shared connection's raw event handler.
struct Forward(Arc<SharedBot>);

#[serenity::async_trait]
impl RawEventHandler for Forward {
    async fn raw_event(&self, _ctx: Context, event: Dispatch) {
        if let Dispatch::MessageCreate(created) = &event {
            if created.message.guild_id.is_none() {
                return self.0.direct_message(event).await;
            }
        }
        if self.0.keep(&event) {
            self.0.fan_out(event);
        }
    }
}
