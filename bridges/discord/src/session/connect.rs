//! How a session reaches Discord's gateway: a serenity client of the
//! user's own bot, or a place among the shared bot's sessions.

use std::sync::Arc;

use serenity::all::{ClientBuilder, Context, GatewayIntents, RawEventHandler};
use serenity::http::Http;
use serenity::model::event::Event as Dispatch;
use tokio::sync::mpsc;

use super::view::View;
use crate::register;
use crate::shared::SharedBot;
use crate::Config;

/// What the session asks of the gateway: guilds and their channels,
/// messages with their text, direct messages, reactions and typing.
pub(crate) fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::GUILD_MESSAGE_REACTIONS
        | GatewayIntents::DIRECT_MESSAGE_REACTIONS
        | GatewayIntents::GUILD_MESSAGE_TYPING
        | GatewayIntents::DIRECT_MESSAGE_TYPING
}

/// Where a session's dispatches come from.
pub(super) enum Source {
    /// The user's own bot, with its token: a connection of its own.
    Own(String),
    /// The operator's shared bot's one connection, as this linked user.
    Shared(Arc<SharedBot>, View),
}

/// Hands each dispatch to the actor, boxed: a tokio channel allocates its
/// slots 32 at a time and keeps a block of them, and serenity's event is
/// some 1.5 kB (48 kB a user unboxed, 256 bytes boxed).
struct Forward(mpsc::Sender<Box<Dispatch>>);

#[serenity::async_trait]
impl RawEventHandler for Forward {
    async fn raw_event(&self, _ctx: Context, event: Dispatch) {
        let _ = self.0.send(Box::new(event)).await;
    }
}

/// A session's own gateway connection: its shards and its task.
pub(super) type OwnGateway = (
    Arc<serenity::gateway::ShardManager>,
    tokio::task::JoinHandle<serenity::Result<()>>,
);

/// The gateway connection a session reads: its own (ended by aborting
/// its task and shutting its shards down), or the shared bot's.
pub(super) struct Connection {
    pub(super) http: Arc<Http>,
    pub(super) dispatches: mpsc::Receiver<Box<Dispatch>>,
    pub(super) own: Option<OwnGateway>,
    pub(super) view: Option<View>,
    /// Shared-bot mode: where the session says which channels it joined.
    pub(super) rooms: Option<crate::shared::Rooms>,
    /// Shared-bot mode: the bot (its reactions' claims).
    pub(super) shared: Option<Arc<SharedBot>>,
    /// Shared-bot mode: set when the session fell behind.
    pub(super) lagged: Option<crate::shared::Lagged>,
}

/// Connects: a client of the user's own bot, or a place among the shared
/// bot's sessions.
pub(super) async fn connect(config: &Config, account: &str, source: Source) -> Option<Connection> {
    let token = match source {
        Source::Shared(bot, view) => {
            let place = bot.subscribe(account);
            return Some(Connection {
                http: bot.http(),
                dispatches: place.dispatches,
                own: None,
                view: Some(view),
                rooms: Some(place.rooms),
                lagged: Some(place.lagged),
                shared: Some(bot),
            });
        }
        Source::Own(token) => token,
    };
    let (tx, dispatches) = mpsc::channel(256);
    let http = register::http(config, &token);
    drop(token);
    let client = ClientBuilder::new_with_http(http, intents())
        .raw_event_handler(Forward(tx))
        .await;
    let mut client = match client {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(%account, error = %crate::errors::describe(&e), "Discord client not built");
            return None;
        }
    };
    let shards = Arc::clone(&client.shard_manager);
    let http = Arc::clone(&client.http);
    let gateway = tokio::spawn(async move { client.start().await });
    Some(Connection {
        http,
        dispatches,
        own: Some((shards, gateway)),
        view: None,
        rooms: None,
        shared: None,
        lagged: None,
    })
}

/// Waits for the session's own gateway task to end (never, for the
/// shared bot's: its end is the end of the dispatches).
pub(super) async fn gateway_end(own: &mut Option<OwnGateway>) -> String {
    let Some((_, gateway)) = own else {
        return std::future::pending().await;
    };
    match gateway.await {
        Ok(Ok(())) => "the gateway connection ended".to_owned(),
        Ok(Err(e)) => format!(
            "the gateway connection failed: {}",
            crate::errors::describe(&e)
        ),
        Err(_) => "the gateway task stopped".to_owned(),
    }
}
