//! Messages from the gateway (and from a catch-up) as events: room
//! messages in joined channels, direct messages, the user's own echoes.

use serenity::all::ChannelId;
use serenity::model::channel::{Message as DiscordMessage, Nonce};
use switchboard_bridge_api::{Event, Member, Role, RoomId, Target, Token};

use super::Session;
use crate::incoming;
use crate::positions::CATCH_UP;

impl Session {
    /// The first join of a channel with a saved position in this session:
    /// what was said after it, oldest first (at most [`CATCH_UP`]).
    pub(super) async fn catch_up(&mut self, channel: u64) -> bool {
        let Some(last) = self.positions.last(channel) else {
            return true;
        };
        if !self.caught_up.insert(channel) {
            return true;
        }
        let after = serenity::http::MessagePagination::After(last.into());
        let mut missed = match self
            .http
            .get_messages(ChannelId::new(channel), Some(after), Some(CATCH_UP))
            .await
        {
            Ok(missed) => missed,
            Err(e) => {
                tracing::info!(account = %self.account, %channel, error = %e, "no catch-up");
                return true;
            }
        };
        missed.sort_by_key(|m| m.id);
        tracing::debug!(account = %self.account, %channel, count = missed.len(), "caught up");
        for message in missed {
            if !self.message(message).await {
                return false;
            }
        }
        true
    }

    /// The token of the user's own message, found by its nonce.
    fn token_of(&mut self, message: &DiscordMessage) -> Option<Token> {
        match &message.nonce {
            Some(Nonce::String(nonce)) => self.pending.remove(nonce),
            Some(Nonce::Number(nonce)) => self.pending.remove(&nonce.to_string()),
            None => None,
        }
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
        let target = Target::User(user.to_string().into());
        let event = incoming::message(&message, target, &self.guilds, own, token);
        self.emit(Event::Message(event)).await
    }

    /// MESSAGE_CREATE: in a joined room, or a direct message.
    pub(super) async fn message(&mut self, message: DiscordMessage) -> bool {
        if message.guild_id.is_none() {
            return self.direct_message(message).await;
        }
        let channel = message.channel_id.get();
        let author = message.author.id.get();
        let Some(told) = self.joined.get_mut(&channel) else {
            return true;
        };
        if !self.positions.advance(channel, message.id.get()) {
            return true;
        }
        let name = incoming::author_name(&message);
        let new_speaker = told.insert(author);
        if let Some(guild) = message.guild_id {
            self.guilds.note_member(guild.get(), author, &name);
        }
        let room = RoomId(channel.to_string());
        if new_speaker {
            let roles = message.member.as_ref().map(|m| m.roles.as_slice());
            let role = match message.guild_id {
                Some(guild) => self.guilds.role_of(guild.get(), author, roles),
                None => Role::Member,
            };
            let member = Member {
                user: author.to_string().into(),
                nick: name,
                role,
                away: None,
            };
            if !self.emit(Event::MemberJoined { room, member }).await {
                return false;
            }
        }
        let own = Some(author) == self.own_id;
        let token = if own { self.token_of(&message) } else { None };
        let target = Target::Room(channel.to_string().into());
        let event = incoming::message(&message, target, &self.guilds, own, token);
        self.emit(Event::Message(event)).await
    }
}
