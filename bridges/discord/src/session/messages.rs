//! Messages from the gateway (and from a catch-up) as events: room
//! messages in joined channels, direct messages, the user's own echoes.

use serenity::all::ChannelId;
use serenity::model::channel::{Message as DiscordMessage, Nonce};
use serenity::model::event::{MessageDeleteEvent, MessageUpdateEvent};
use switchboard_bridge_api::{Event, Member, RoomId, Target, Token};

use super::Session;
use crate::positions::CATCH_UP;
use crate::{incoming, outgoing};

impl Session {
    /// The first join of a channel with a saved position in this session:
    /// what was said after it, oldest first (at most [`CATCH_UP`]).
    pub(super) async fn catch_up(&mut self, channel: u64) -> bool {
        self.catch_up_pages(channel, 1).await
    }

    /// As [`Session::catch_up`], up to `pages` pages of [`CATCH_UP`].
    pub(super) async fn catch_up_pages(&mut self, channel: u64, pages: usize) -> bool {
        if !self.caught_up.insert(channel) {
            return true;
        }
        for _ in 0..pages {
            let Some(last) = self.positions.last(channel) else {
                return true;
            };
            let after = serenity::http::MessagePagination::After(last.into());
            let mut missed = match self
                .http
                .get_messages(ChannelId::new(channel), Some(after), Some(CATCH_UP))
                .await
            {
                Ok(missed) => missed,
                Err(e) => {
                    tracing::info!(account = %self.account, %channel, error = %crate::errors::describe(&e), "no catch-up");
                    return true;
                }
            };
            missed.sort_by_key(|m| m.id);
            let full = missed.len() == usize::from(CATCH_UP);
            tracing::debug!(account = %self.account, %channel, count = missed.len(), "caught up");
            for message in missed {
                if !self.message(message).await {
                    return false;
                }
            }
            if !full {
                break;
            }
        }
        true
    }

    /// The token of the user's own message, found by its nonce (through
    /// the bot) or its id (through a webhook).
    fn token_of(&mut self, message: &DiscordMessage) -> Option<Token> {
        match &message.nonce {
            Some(Nonce::String(nonce)) => self.pending.remove(nonce),
            Some(Nonce::Number(nonce)) => self.pending.remove(&nonce.to_string()),
            None => self.sent_ids.remove(&message.id.get()),
        }
    }

    /// Whether the user wrote it: the bot, or a webhook of the bot's (one
    /// this session uses, or any the bot's application made: a message
    /// caught up after a restart, before this session used one).
    fn is_own(&self, message: &DiscordMessage) -> bool {
        if let Some(view) = &self.view {
            // The shared bot and its webhooks speak for every linked user:
            // only what this session sent, the account itself, or the
            // bot's webhook under the user's name in this channel (sent
            // before a restart) is own.
            let sent = match &message.nonce {
                Some(Nonce::String(nonce)) => self.pending.contains_key(nonce),
                Some(Nonce::Number(nonce)) => self.pending.contains_key(&nonce.to_string()),
                None => self.sent_ids.contains_key(&message.id.get()),
            };
            let webhook = message.webhook_id.map(|w| w.get());
            let app = message.application_id.map(|a| a.get());
            return sent
                || message.author.id.get() == view.user
                || self.own_webhook_name(message.channel_id.get(), webhook, app, &message.author);
        }
        let by_bot_app = message.application_id.map(|a| a.get()) == self.own_id;
        Some(message.author.id.get()) == self.own_id
            || message
                .webhook_id
                .is_some_and(|w| self.webhooks.is_ours(w.get()) || by_bot_app)
    }

    /// MESSAGE_CREATE in a DM channel: from a contact (told as one the
    /// first time), or the bot's own in a channel whose other end is known.
    async fn direct_message(&mut self, message: DiscordMessage) -> bool {
        let channel = message.channel_id.get();
        let author = message.author.id.get();
        let own = Some(author) == self.own_id;
        let user = if own {
            match self.direct.user_in(channel) {
                Some(user) => user,
                None => return true,
            }
        } else {
            self.direct.note(channel, author);
            if self.direct.is_new_contact(author) {
                let added = Event::ContactAdded {
                    user: author.to_string().into(),
                    name: message.author.display_name().to_owned(),
                };
                if !self.emit(added).await {
                    return false;
                }
            }
            author
        };
        let token = if own { self.token_of(&message) } else { None };
        self.authors.note(message.id.get(), author);
        self.typing.stopped(channel, author);
        let target = Target::User(user.to_string().into());
        let mut message = message;
        if own && self.view.is_some() {
            // The shared bot wrote for the user: their words without their name.
            let prefix = outgoing::nick_prefix(&self.dm_name());
            if let Some(rest) = message.content.strip_prefix(&prefix) {
                message.content = rest.to_owned();
            }
        }
        let mut event = incoming::message(&message, target, &self.guilds, own, token);
        if let (true, Some(me)) = (own, self.me()) {
            event.author = me.to_string().into();
        }
        self.emit(Event::Message(event)).await
    }

    /// Shared-bot mode: whether a message of the bot's webhook (`app` is
    /// the bot's application) is under the name the user writes with in
    /// `channel`: theirs, as Discord users read it.
    fn own_webhook_name(
        &self,
        channel: u64,
        webhook: Option<u64>,
        app: Option<u64>,
        author: &serenity::model::user::User,
    ) -> bool {
        let by_bot = webhook.is_some() && app.is_some() && app == self.own_id;
        by_bot
            && self
                .nicks
                .get(&channel)
                .and_then(|nick| crate::webhooks::usable_name(nick))
                .is_some_and(|name| name == author.name)
    }

    /// MESSAGE_CREATE: in a joined room, or a direct message.
    pub(super) async fn message(&mut self, mut message: DiscordMessage) -> bool {
        if message.guild_id.is_none() {
            return self.direct_message(message).await;
        }
        let channel = message.channel_id.get();
        let own = self.is_own(&message);
        if !own {
            // Someone writing through a webhook: the person its name is.
            crate::people::name_message_author(&mut message);
        }
        let author = message.author.id.get();
        let Some(told) = self.joined.get_mut(&channel) else {
            return true;
        };
        // serenity hands each dispatch to a task of its own, so two close
        // together can reach the session swapped: an older message not
        // passed on yet goes late rather than never; one passed on (a
        // catch-up's overlap with the gateway) is not passed twice.
        let newer = self.positions.advance(channel, message.id.get());
        if !newer && self.authors.knows(message.id.get()) {
            return true;
        }
        // Others appear as they speak; the user (the bot or its webhook) is
        // in the room already.
        if !own && told.insert(author) {
            let name = incoming::author_name(&message);
            let roles = message.member.as_ref().map(|m| m.roles.as_slice());
            let guild = message.guild_id.map(|g| g.get()).unwrap_or_default();
            self.guilds.note_member(guild, author, &name);
            let member = Member {
                user: author.to_string().into(),
                nick: name,
                role: self.guilds.role_of(guild, author, roles),
                away: None,
            };
            let room = RoomId(channel.to_string());
            if !self.emit(Event::MemberJoined { room, member }).await {
                return false;
            }
            let hash = message.author.avatar.map(|h| h.to_string());
            if let Some(event) = self.avatars.changed(author, hash) {
                if !self.emit(event).await {
                    return false;
                }
            }
        }
        let token = if own { self.token_of(&message) } else { None };
        self.typing.stopped(channel, author);
        if own && message.webhook_id.is_some() {
            self.webhooks.note_sent(message.id.get());
        }
        if let (true, Some(nick)) = (own, self.nicks.get(&channel)) {
            // The bot spoke for the user: their words without the nick.
            let prefix = outgoing::nick_prefix(nick);
            if let Some(rest) = message.content.strip_prefix(&prefix) {
                message.content = rest.to_owned();
            }
        }
        let target = Target::Room(channel.to_string().into());
        let mut event = incoming::message(&message, target, &self.guilds, own, token);
        if let (true, Some(me)) = (own, self.me()) {
            // Through the webhook the author is the webhook: the user it is.
            event.author = me.to_string().into();
        }
        if let Ok(author) = event.author.as_str().parse() {
            self.authors.note(message.id.get(), author);
        }
        self.emit(Event::Message(event)).await
    }

    /// MESSAGE_UPDATE with new text: an edit in a joined room, or in a
    /// direct conversation with a contact. The user's own messages (the
    /// bot's, its webhooks') are told with the user as author.
    pub(super) async fn message_update(&mut self, update: MessageUpdateEvent) -> bool {
        let channel = update.channel_id.get();
        let Some(author) = update.author.as_ref().map(|a| a.id.get()) else {
            return true;
        };
        let webhook = update.webhook_id.flatten().map(|w| w.get());
        let own = match &self.view {
            Some(view) => {
                author == view.user
                    || self.webhooks.sent_through(update.id.get())
                    || update.author.as_ref().is_some_and(|a| {
                        let app = update.application_id.flatten().map(|a| a.get());
                        self.own_webhook_name(channel, webhook, app, a)
                    })
            }
            None => {
                Some(author) == self.own_id || webhook.is_some_and(|w| self.webhooks.is_ours(w))
            }
        };
        let mut update = update;
        if let (false, Some(author)) = (own, update.author.as_mut()) {
            crate::people::name_author(author, webhook);
        }
        let target = if update.guild_id.is_some() {
            if !self.joined.contains_key(&channel) {
                return true;
            }
            Target::Room(channel.to_string().into())
        } else {
            match self.direct.user_in(channel) {
                Some(user) => Target::User(user.to_string().into()),
                None => return true,
            }
        };
        if let (true, None, Some(nick), Some(content)) = (
            own,
            webhook,
            self.nicks.get(&channel),
            update.content.as_mut(),
        ) {
            // The bot's edit of what it said for the user: their words
            // without the nick in front.
            if let Some(rest) = content.strip_prefix(&outgoing::nick_prefix(nick)) {
                *content = rest.to_owned();
            }
        }
        let Some(mut event) = incoming::edit(&update, target, &self.guilds) else {
            return true;
        };
        if let (true, Some(me), Event::Edited { author, .. }) = (own, self.me(), &mut event) {
            *author = me.to_string().into();
        }
        self.emit(event).await
    }

    /// MESSAGE_DELETE of a message passed on lately: a retraction by its
    /// author (Discord does not say who deleted it; a moderator's delete
    /// reads as the author's). Others are not told (see [`crate::authors`]).
    pub(super) async fn message_delete(&mut self, deleted: MessageDeleteEvent) -> bool {
        let channel = deleted.channel_id.get();
        let target = if deleted.guild_id.is_some() {
            if !self.joined.contains_key(&channel) {
                return true;
            }
            Target::Room(channel.to_string().into())
        } else {
            match self.direct.user_in(channel) {
                Some(user) => Target::User(user.to_string().into()),
                None => return true,
            }
        };
        let Some(author) = self.authors.take(deleted.message_id.get()) else {
            tracing::debug!(account = %self.account, %channel, "a delete of a message not seen lately");
            return true;
        };
        self.emit(Event::Retracted {
            target,
            message: deleted.message_id.to_string().into(),
            by: author.to_string().into(),
        })
        .await
    }
}
