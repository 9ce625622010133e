//! Edits, retractions, reactions and typing, both ways, in joined channels
//! and direct messages.
//!
//! XMPP → Discord: an edit or delete of a message sent through the bot's
//! webhook goes through that webhook (`PATCH`/`DELETE
//! /webhooks/{id}/{token}/messages/{id}`), of any other through the bot
//! (`PATCH`/`DELETE /channels/{id}/messages/{id}`); reactions are the
//! difference from the bot's set ([`crate::reactions`]); typing is
//! throttled ([`crate::typing`]). Discord's gateway echoes each change,
//! and the echo is what the core reflects to the user.
//!
//! Discord → XMPP: reaction dispatches become each person's full set;
//! MESSAGE_REACTION_REMOVE_EMOJI reaches us as an unknown event (serenity
//! 0.12's model wants `burst` and `type`, which Discord's documented
//! payload lacks, and its event enum then falls back to `Unknown`), and is
//! read here from its raw fields.

use serde::Deserialize;
use serenity::all::{ChannelId, MessageId as DiscordId, WebhookId};
use serenity::model::channel::{Reaction, ReactionType};
use serenity::model::event::TypingStartEvent;
use switchboard_bridge_api::{
    ErrorContext, ErrorKind, Event, MessageId, Target, Token, TypingState,
};

use std::sync::Arc;

use super::{channel_of, Session};
use crate::shared::SharedBot;
use crate::webhooks::Route;
use crate::{errors, outgoing};

/// MESSAGE_REACTION_REMOVE_EMOJI's documented fields.
#[derive(Deserialize)]
pub(super) struct RemoveEmoji {
    channel_id: ChannelId,
    guild_id: Option<serenity::all::GuildId>,
    message_id: DiscordId,
    emoji: ReactionType,
}

impl Session {
    /// The conversation a channel's dispatch belongs to: a joined room, or
    /// a direct conversation with a known person.
    fn target_in(&self, channel: u64, in_guild: bool) -> Option<Target> {
        if in_guild {
            self.joined
                .contains_key(&channel)
                .then(|| Target::Room(channel.to_string().into()))
        } else {
            self.direct
                .user_in(channel)
                .map(|user| Target::User(user.to_string().into()))
        }
    }

    /// The channel of a conversation the user acts in, and the message id.
    async fn command_channel(
        &mut self,
        target: &Target,
        message: &MessageId,
        token: &Token,
    ) -> Option<(u64, u64)> {
        let channel = match target {
            Target::Room(room) => {
                channel_of(room.as_str()).filter(|id| self.joined.contains_key(id))
            }
            Target::User(user) => match channel_of(user.as_str()) {
                Some(user) => self.open_direct(user).await,
                None => None,
            },
        };
        let found = channel.zip(channel_of(message.as_str()));
        if found.is_none() {
            let context = ErrorContext::Command(token.clone());
            self.error(context, ErrorKind::NotFound, "no such Discord message")
                .await;
        }
        found
    }

    /// The webhook (id, token) a message went through, if it was the
    /// bot's (its route looked up when this session has not used it yet:
    /// a message caught up after a restart).
    async fn webhook_of(&mut self, channel: u64, message: u64) -> Option<(u64, String)> {
        let (hook_channel, _) = self.hook_channel(channel);
        let bot = self.own_id?;
        if !self.webhooks.sent_through(message) {
            return None;
        }
        let allowed = self.bot_may(hook_channel, serenity::model::Permissions::MANAGE_WEBHOOKS);
        match self
            .webhooks
            .route(&self.http, hook_channel, bot, allowed)
            .await
        {
            Route::Webhook { id, token } => Some((id, token)),
            Route::Bot => None,
        }
    }

    /// Tells the user why Discord refused a change; `false` once the core is gone.
    async fn refused<T>(&self, result: serenity::Result<T>, token: Token, what: &str) -> bool {
        match result {
            Ok(_) => true,
            Err(e) => {
                tracing::info!(account = %self.account, error = %errors::describe(&e), "Discord refused a {what}");
                let kind = match errors::status(&e) {
                    Some(403) => ErrorKind::Forbidden,
                    Some(404) => ErrorKind::NotFound,
                    _ => ErrorKind::Other,
                };
                let text = format!("Discord refused the {what}: {}", errors::describe(&e));
                self.error(ErrorContext::Command(token), kind, &text).await
            }
        }
    }

    /// Edit: the new text through the webhook or the bot, whichever sent it.
    pub(super) async fn edit(
        &mut self,
        target: Target,
        message: MessageId,
        text: &str,
        token: Token,
    ) -> bool {
        let Some((channel, id)) = self.command_channel(&target, &message, &token).await else {
            return true;
        };
        let text = self.outgoing_text(&target, channel, text);
        let result = match self.webhook_of(channel, id).await {
            Some((hook, secret)) => {
                let (_, thread) = self.hook_channel(channel);
                let body = outgoing::edit_body(&text, None);
                self.http
                    .edit_webhook_message(
                        WebhookId::new(hook),
                        thread,
                        &secret,
                        DiscordId::new(id),
                        &body,
                        vec![],
                    )
                    .await
                    .map(drop)
            }
            None => {
                // The name in front stays: the nick in a room, the
                // writer's name in a shared bot's DM.
                let prefix = match target {
                    Target::Room(_) => self.nicks.get(&channel).cloned(),
                    Target::User(_) => self.view.is_some().then(|| self.dm_name()),
                };
                let body = outgoing::edit_body(&text, prefix.as_deref());
                self.http
                    .edit_message(ChannelId::new(channel), DiscordId::new(id), &body, vec![])
                    .await
                    .map(drop)
            }
        };
        self.refused(result, token, "edit").await
    }

    /// Retract: a delete through the webhook or the bot.
    pub(super) async fn retract(
        &mut self,
        target: Target,
        message: MessageId,
        token: Token,
    ) -> bool {
        let Some((channel, id)) = self.command_channel(&target, &message, &token).await else {
            return true;
        };
        let result = match self.webhook_of(channel, id).await {
            Some((hook, secret)) => {
                let (_, thread) = self.hook_channel(channel);
                self.http
                    .delete_webhook_message(
                        WebhookId::new(hook),
                        thread,
                        &secret,
                        DiscordId::new(id),
                    )
                    .await
            }
            None => {
                self.http
                    .delete_message(ChannelId::new(channel), DiscordId::new(id), None)
                    .await
            }
        };
        self.refused(result, token, "delete").await
    }

    /// React: the bot's reactions on the message become `reactions`.
    pub(super) async fn react(
        &mut self,
        target: Target,
        message: MessageId,
        reactions: Vec<String>,
        token: Token,
    ) -> bool {
        let Some((channel, id)) = self.command_channel(&target, &message, &token).await else {
            return true;
        };
        let Some(bot) = self.own_id else {
            return true;
        };
        if let Some(shared) = self.shared.clone() {
            return self
                .react_shared(&shared, channel, id, reactions, target, token)
                .await;
        }
        let change = self.reactions.replace(id, bot, &reactions);
        let (channel, id) = (ChannelId::new(channel), DiscordId::new(id));
        for emoji in &change.remove {
            let emoji = self.reactions.emoji_of(emoji);
            let result = self.http.delete_reaction_me(channel, id, &emoji).await;
            if !self.refused(result, token.clone(), "reaction").await {
                return false;
            }
        }
        for emoji in &change.add {
            let emoji = self.reactions.emoji_of(emoji);
            let result = self.http.create_reaction(channel, id, &emoji).await;
            if !self.refused(result, token.clone(), "reaction").await {
                return false;
            }
        }
        true
    }

    /// Shared-bot mode's React: the user's set is theirs (kept under the
    /// linked account); the bot's reaction is added by the first linked
    /// user who wants it and taken off when the last one no longer does
    /// ([`crate::claims`]); the set is told back at once, as the bot's
    /// echo is nobody's in particular.
    async fn react_shared(
        &mut self,
        shared: &SharedBot,
        channel: u64,
        id: u64,
        reactions: Vec<String>,
        target: Target,
        token: Token,
    ) -> bool {
        let Some(me) = self.me() else { return true };
        let who: Arc<str> = self.account.as_str().into();
        let change = self.reactions.replace(id, me, &reactions);
        let (on, message) = (ChannelId::new(channel), DiscordId::new(id));
        for emoji in &change.remove {
            if shared.claims.release(id, emoji, &who) {
                let reaction = self.reactions.emoji_of(emoji);
                let result = self.http.delete_reaction_me(on, message, &reaction).await;
                if !self.refused(result, token.clone(), "reaction").await {
                    return false;
                }
            }
        }
        for emoji in &change.add {
            if shared.claims.claim(id, emoji, &who) {
                let reaction = self.reactions.emoji_of(emoji);
                let result = self.http.create_reaction(on, message, &reaction).await;
                if result.is_err() {
                    shared.claims.release(id, emoji, &who);
                    self.reactions.remove(id, me, emoji);
                }
                if !self.refused(result, token.clone(), "reaction").await {
                    return false;
                }
            }
        }
        let guild = self.guilds.channel(channel).map(|c| c.guild);
        let set = self.reactions.set(id, me);
        self.tell_reactions(target, id, guild, me, set).await
    }

    /// Typing: an active state is posted (throttled, repeated while it
    /// lasts); Discord has no other.
    pub(super) async fn typing(&mut self, target: Target, state: TypingState) -> bool {
        let channel = match &target {
            Target::Room(room) => {
                channel_of(room.as_str()).filter(|id| self.joined.contains_key(id))
            }
            // Typing alone does not open a DM channel.
            Target::User(user) => {
                channel_of(user.as_str()).and_then(|u| self.direct.channel_with(u))
            }
        };
        let Some(channel) = channel else {
            return true;
        };
        if state != TypingState::Active {
            self.typing.idle(channel);
        } else if self.typing.composing(channel, tokio::time::Instant::now()) {
            self.post_typing(channel).await;
        }
        true
    }

    /// The user still composes: typing posted again where due.
    pub(super) async fn typing_repeats(&mut self) {
        for channel in self.typing.repeats(tokio::time::Instant::now()) {
            self.post_typing(channel).await;
        }
    }

    async fn post_typing(&self, channel: u64) {
        if let Err(e) = self.http.broadcast_typing(ChannelId::new(channel)).await {
            tracing::debug!(account = %self.account, %channel, error = %errors::describe(&e), "typing not posted");
        }
    }

    /// The name a reactor is shown by in a room: the bot's own, a listed
    /// member's, else their id.
    fn reactor_name(&self, guild: Option<u64>, user: u64) -> String {
        guild
            .and_then(|g| self.guilds.member_name(g, user))
            .map(str::to_owned)
            .or_else(|| (Some(user) == self.own_id).then(|| self.own_name.clone()))
            .unwrap_or_else(|| user.to_string())
    }

    /// Tells someone's reactions on a message, as a full set.
    async fn tell_reactions(
        &self,
        target: Target,
        message: u64,
        guild: Option<u64>,
        user: u64,
        reactions: Vec<String>,
    ) -> bool {
        self.emit(Event::Reacted {
            target,
            message: message.to_string().into(),
            author: user.to_string().into(),
            author_nick: self.reactor_name(guild, user),
            reactions,
        })
        .await
    }

    /// MESSAGE_REACTION_ADD and _REMOVE: the reactor's set now.
    pub(super) async fn reaction(&mut self, reaction: Reaction, added: bool) -> bool {
        let (Some(user), channel) = (reaction.user_id, reaction.channel_id.get()) else {
            return true;
        };
        let guild = reaction.guild_id.map(|g| g.get());
        let Some(target) = self.target_in(channel, guild.is_some()) else {
            return true;
        };
        if let (Some(guild), Some(member)) = (guild, &reaction.member) {
            let name = member
                .nick
                .clone()
                .unwrap_or_else(|| member.user.display_name().to_owned());
            self.guilds.note_member(guild, user.get(), &name);
        }
        let emoji = self.reactions.text_of(&reaction.emoji);
        let (message, user) = (reaction.message_id.get(), user.get());
        let set = if added {
            self.reactions.add(message, user, &emoji)
        } else {
            self.reactions.remove(message, user, &emoji)
        };
        self.tell_reactions(target, message, guild, user, set).await
    }

    /// MESSAGE_REACTION_REMOVE_ALL (`emoji` none) and _REMOVE_EMOJI: the
    /// sets of everyone who had one of them.
    pub(super) async fn reactions_removed(
        &mut self,
        channel: u64,
        guild: Option<u64>,
        message: u64,
        emoji: Option<&ReactionType>,
    ) -> bool {
        let Some(target) = self.target_in(channel, guild.is_some()) else {
            return true;
        };
        let emoji = emoji.map(|e| self.reactions.text_of(e));
        for (user, set) in self.reactions.remove_all(message, emoji.as_deref()) {
            if !self
                .tell_reactions(target.clone(), message, guild, user, set)
                .await
            {
                return false;
            }
        }
        true
    }

    /// MESSAGE_REACTION_REMOVE_EMOJI as serenity hands it: an unknown
    /// event, read from its documented fields.
    pub(super) async fn emoji_removed(&mut self, raw: serde_json::Value) -> bool {
        match serde_json::from_value::<RemoveEmoji>(raw) {
            Ok(e) => {
                let guild = e.guild_id.map(|g| g.get());
                self.reactions_removed(
                    e.channel_id.get(),
                    guild,
                    e.message_id.get(),
                    Some(&e.emoji),
                )
                .await
            }
            Err(e) => {
                tracing::info!(account = %self.account, error = %e, "an unreadable MESSAGE_REACTION_REMOVE_EMOJI");
                true
            }
        }
    }

    /// TYPING_START: someone (not the bot) types.
    pub(super) async fn typing_started(&mut self, typing: TypingStartEvent) -> bool {
        let (channel, user) = (typing.channel_id.get(), typing.user_id.get());
        if Some(user) == self.own_id {
            return true;
        }
        let Some(target) = self.target_in(channel, typing.guild_id.is_some()) else {
            return true;
        };
        if !self
            .typing
            .started(channel, user, tokio::time::Instant::now())
        {
            return true;
        }
        self.emit(Event::Typing {
            target,
            author: user.to_string().into(),
            state: TypingState::Active,
        })
        .await
    }

    /// Typing indicators that ran out: those people stopped.
    pub(super) async fn typing_ended(&mut self) -> bool {
        for (channel, user) in self.typing.ended(tokio::time::Instant::now()) {
            let in_guild = self.joined.contains_key(&channel);
            let Some(target) = self.target_in(channel, in_guild) else {
                continue;
            };
            let stopped = Event::Typing {
                target,
                author: user.to_string().into(),
                state: TypingState::Inactive,
            };
            if !self.emit(stopped).await {
                return false;
            }
        }
        true
    }
}
