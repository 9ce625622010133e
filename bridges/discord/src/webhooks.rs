//! Messages from XMPP go through a channel webhook the bot owns, with the
//! XMPP user's nick as the author's name, so that Discord users see a
//! person rather than the bot. Where the bot may not manage webhooks (its
//! permissions in the channel say so: nothing is asked; or Discord refuses
//! the webhook), or the nick is one Discord refuses for a webhook, they go
//! through the bot with the nick as a bold prefix. A webhook message also
//! carries the user's own picture as `avatar_url` when the core told one
//! (`Command::SetOwnAvatar`: their XMPP avatar on the XMPP server's upload
//! service, which Discord fetches); the bot's messages cannot.

use std::collections::{HashMap, HashSet, VecDeque};

use secrecy::ExposeSecret;
use serenity::all::ChannelId;
use serenity::http::Http;

/// The name the bot gives the webhooks it makes.
const NAME: &str = "Switchboard";

/// How a channel's messages from XMPP are sent.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    /// Through the bot's webhook in the channel.
    Webhook {
        /// Its id.
        id: u64,
        /// Its token (a secret: never logged).
        token: String,
    },
    /// Through the bot, the nick as a prefix.
    Bot,
}

/// How many messages sent through a webhook are remembered (for their
/// edits and deletes, which go through the same webhook).
const SENT_KEPT: usize = 1024;

/// The route of each channel, found once.
#[derive(Default)]
pub(crate) struct Webhooks {
    routes: HashMap<u64, Route>,
    ours: HashSet<u64>,
    /// The last messages sent through a webhook of the bot's, oldest first.
    sent: VecDeque<u64>,
    /// The user's own picture's URL, for `avatar_url`.
    avatar: Option<String>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("ours", &self.ours)
            .finish()
    }
}

impl Webhooks {
    /// The channel's route: the bot's webhook there (found with `GET
    /// /channels/{id}/webhooks`, else made with `POST`), or the bot when
    /// it may not: at once when not `allowed` (the bot's permissions in
    /// the channel lack Manage Webhooks; asked again once they have it),
    /// else when Discord refuses (remembered). A webhook found stays: its
    /// token needs no permission.
    pub async fn route(&mut self, http: &Http, channel: u64, bot: u64, allowed: bool) -> Route {
        if let Some(route) = self.routes.get(&channel) {
            return route.clone();
        }
        if !allowed {
            return Route::Bot;
        }
        let route = match find_or_make(http, channel, bot).await {
            Ok(Some((id, token))) => {
                self.ours.insert(id);
                Route::Webhook { id, token }
            }
            Ok(None) => Route::Bot,
            Err(e) => {
                tracing::info!(%channel, error = %crate::errors::describe(&e), "no webhook: messages go through the bot");
                Route::Bot
            }
        };
        self.routes.insert(channel, route.clone());
        route
    }

    /// Notes that `message` went through the bot's webhook.
    pub fn note_sent(&mut self, message: u64) {
        if self.sent.contains(&message) {
            return;
        }
        if self.sent.len() == SENT_KEPT {
            self.sent.pop_front();
        }
        self.sent.push_back(message);
    }

    /// Whether `message` went through the bot's webhook (lately).
    pub fn sent_through(&self, message: u64) -> bool {
        self.sent.contains(&message)
    }

    /// The user's own picture from now on (`None`: they have none).
    pub fn set_avatar(&mut self, url: Option<String>) {
        self.avatar = url;
    }

    /// The user's own picture's URL, if they have one.
    pub fn avatar(&self) -> Option<&str> {
        self.avatar.as_deref()
    }

    /// Whether a message's webhook is one of the bot's.
    pub fn is_ours(&self, webhook: u64) -> bool {
        self.ours.contains(&webhook)
    }
}

async fn find_or_make(
    http: &Http,
    channel: u64,
    bot: u64,
) -> serenity::Result<Option<(u64, String)>> {
    let id = ChannelId::new(channel);
    let existing = http.get_channel_webhooks(id).await?;
    let ours = existing
        .into_iter()
        .find(|w| w.user.as_ref().is_some_and(|u| u.id.get() == bot) && w.token.is_some());
    let webhook = match ours {
        Some(webhook) => webhook,
        None => {
            let body = serde_json::json!({ "name": NAME });
            http.create_webhook(id, &body, None).await?
        }
    };
    Ok(webhook
        .token
        .as_ref()
        .map(|t| (webhook.id.get(), t.expose_secret().clone())))
}

/// A nick Discord takes as a webhook's author name: 1 to 80 characters,
/// without "discord" or "clyde" and not "everyone" or "here".
pub(crate) fn usable_name(nick: &str) -> Option<String> {
    let name: String = nick.trim().chars().take(80).collect();
    let lower = name.to_lowercase();
    let refused = name.is_empty()
        || lower.contains("discord")
        || lower.contains("clyde")
        || matches!(lower.as_str(), "everyone" | "here");
    (!refused).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_discord_refuses_are_not_used() {
        assert_eq!(usable_name(" alice ").as_deref(), Some("alice"));
        assert_eq!(usable_name("my Discord self"), None);
        assert_eq!(usable_name("everyone"), None);
        assert_eq!(usable_name(&"x".repeat(100)).map(|n| n.len()), Some(80));
    }
}
