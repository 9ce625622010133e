//! Joining a channel: the room's members (the guild's listed members,
//! the user last), its name and topic, the members' avatars, then the
//! messages missed since the saved position.

use serenity::all::ChannelId;
use serenity::model::Permissions;
use switchboard_bridge_api::{ErrorContext, ErrorKind, Event, Member};

use super::{channel_of, Session};

impl Session {
    /// Join: a known channel is joined at once (the bot is in the guild);
    /// its guild's listed members follow, the bot among them.
    pub(super) async fn join(&mut self, room: &str) -> bool {
        if let Some(guild) = channel_of(room)
            .and_then(|id| self.guilds.channel(id))
            .map(|c| c.guild)
        {
            self.refresh_member(guild, true).await;
        }
        // A channel the linked account may not see is one that is not
        // there (the same words: nothing is given away).
        let visible = channel_of(room).is_some_and(|id| self.may(id, Permissions::VIEW_CHANNEL));
        let (Some(id), Some(own_id)) = (channel_of(room), self.me()) else {
            return self
                .error(
                    ErrorContext::Room(room.into()),
                    ErrorKind::NotFound,
                    "no such Discord channel",
                )
                .await;
        };
        let (Some(channel), Some(name), true) =
            (self.guilds.channel(id), self.guilds.room_name(id), visible)
        else {
            return self
                .error(
                    ErrorContext::Room(room.into()),
                    ErrorKind::NotFound,
                    "no such channel in the bot's guilds",
                )
                .await;
        };
        let guild = channel.guild;
        let topic = self.guilds.topic(id).map(str::to_owned);
        if channel.parent.is_some() {
            // A thread is joined by the bot to get its messages.
            if let Err(e) = self.http.join_thread_channel(ChannelId::new(id)).await {
                let text = format!("cannot join the thread: {}", crate::errors::describe(&e));
                return self
                    .error(ErrorContext::Room(room.into()), ErrorKind::Forbidden, &text)
                    .await;
            }
        }
        // A linked account not listed keeps the nick it joined with.
        let fallback = match &self.view {
            Some(_) => self.nicks.get(&id).unwrap_or(&self.own_name),
            None => &self.own_name,
        };
        let own_nick = self
            .guilds
            .member_name(guild, own_id)
            .unwrap_or(fallback)
            .to_owned();
        let mut members: Vec<Member> = self
            .guilds
            .members(guild)
            .filter(|(user, _)| *user != own_id)
            .map(|(user, nick)| Member {
                user: user.to_string().into(),
                nick: nick.to_owned(),
                role: self.guilds.role_of(guild, user, None),
                away: None,
            })
            .collect();
        members.sort_by(|a, b| a.nick.cmp(&b.nick));
        members.push(Member {
            user: own_id.to_string().into(),
            nick: own_nick.clone(),
            role: self.own_role(id, guild, own_id),
            away: None,
        });
        self.own_members
            .insert(id, members[members.len() - 1].clone());
        let told = members
            .iter()
            .filter_map(|m| m.user.as_str().parse().ok())
            .collect();
        self.joined.insert(id, told);
        self.share_rooms();
        let joined = Event::RoomJoined {
            room: room.into(),
            name,
            own_user: own_id.to_string().into(),
            own_nick,
            nick_changed: false,
        };
        let mut open = self.emit(joined).await
            && self
                .emit(Event::Members {
                    room: room.into(),
                    members,
                    complete: true,
                })
                .await;
        // Their avatars, once per change (the core fetches them).
        let people: Vec<u64> = self.joined[&id].iter().collect();
        for user in people {
            let hash = self.guilds.avatar(guild, user).map(str::to_owned);
            if let Some(event) = self.avatars.changed(user, hash) {
                open = open && self.emit(event).await;
            }
        }
        if let Some(topic) = topic {
            open = open
                && self
                    .emit(Event::Topic {
                        room: room.into(),
                        topic,
                        by: None,
                    })
                    .await;
        }
        open && self.catch_up(id).await
    }
}
