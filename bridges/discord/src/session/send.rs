//! Messages from XMPP to Discord: to a joined channel through the bot's
//! webhook there under the user's nick (or through the bot, the nick in
//! front), to a person through the DM channel (opened when needed).

use std::time::Duration;

use serenity::all::{ChannelId, CreateAttachment, WebhookId};
use serenity::model::Permissions;
use switchboard_bridge_api::{
    Attachment, ErrorContext, ErrorKind, MessageId, MessageKind, Target, Token,
};

use super::{channel_of, Session};
use crate::webhooks::{usable_name, Route};
use crate::{errors, files, outgoing};

/// How many times a message is tried when Discord answers 429.
const RATE_LIMITED_TRIES: u32 = 4;
/// The wait after the first 429 (then twice, three times as long): a 429
/// body's `retry_after` does not reach us through serenity.
const RATE_LIMITED_WAIT: Duration = Duration::from_secs(1);

impl Session {
    /// The DM channel with a user, opened (`POST /users/@me/channels`) the
    /// first time.
    pub(super) async fn open_direct(&mut self, user: u64) -> Option<u64> {
        if let Some(channel) = self.direct.channel_with(user) {
            return Some(channel);
        }
        let body = serde_json::json!({ "recipient_id": user.to_string() });
        match self.http.create_private_channel(&body).await {
            Ok(channel) => {
                self.direct.note(channel.id.get(), user);
                Some(channel.id.get())
            }
            Err(e) => {
                tracing::info!(account = %self.account, %user, error = %errors::describe(&e), "no DM channel");
                None
            }
        }
    }

    /// Shared-bot mode: the name in front of the user's DMs: their Discord
    /// account's name in a guild, else the nick of a joined room, else
    /// their XMPP account's local part.
    pub(super) fn dm_name(&self) -> String {
        let me = self.me().unwrap_or_default();
        let listed = self
            .guilds
            .guild_ids()
            .find_map(|g| self.guilds.member_name(g, me));
        let nick = self.nicks.values().next().map(String::as_str);
        let local = self.account.split('@').next().unwrap_or(&self.account);
        listed.or(nick).unwrap_or(local).to_owned()
    }

    /// The channel whose webhook carries a channel's messages, and the
    /// thread to name: a thread's messages go through its parent's webhook.
    pub(super) fn hook_channel(&self, channel: u64) -> (u64, Option<ChannelId>) {
        match self.guilds.channel(channel).and_then(|c| c.parent) {
            Some(parent) => (parent.get(), Some(ChannelId::new(channel))),
            None => (channel, None),
        }
    }

    /// A text from XMPP for `channel`: in a room, with its members' `@nick`s found.
    pub(super) fn outgoing_text(
        &self,
        target: &Target,
        channel: u64,
        text: &str,
    ) -> outgoing::Outgoing {
        match (target, self.guilds.channel(channel)) {
            (Target::Room(_), Some(room)) => {
                let members: Vec<(u64, &str)> = self.guilds.members(room.guild).collect();
                outgoing::Outgoing::new(text, &members)
            }
            _ => outgoing::Outgoing::plain(text),
        }
    }

    /// SendText to a joined room or a person; the echo comes back through
    /// the gateway with the token (matched by the nonce, or by the id a
    /// webhook answered with). Files are fetched first (a file that cannot
    /// be had stops the message, with the reason for the user) and go as
    /// attachments, one a request, the text with the first.
    pub(super) async fn send(
        &mut self,
        target: Target,
        text: Text<'_>,
        attachments: &[Attachment],
        token: Token,
    ) -> bool {
        let channel = match &target {
            Target::Room(room) => {
                channel_of(room.as_str()).filter(|id| self.joined.contains_key(id))
            }
            // Someone who wrote through a webhook has no Discord account.
            Target::User(user) => {
                match channel_of(user.as_str()).filter(|u| !crate::people::is_webhook_person(*u)) {
                    Some(user) => self.open_direct(user).await,
                    None => None,
                }
            }
        };
        if let (Target::Room(_), Some(room)) = (&target, channel) {
            if !self.may(room, Permissions::SEND_MESSAGES) {
                let text = match self.view {
                    Some(_) => "your Discord account may not send messages in this channel",
                    None => "the bot may not send messages in this channel",
                };
                return self
                    .error(ErrorContext::Command(token), ErrorKind::Forbidden, text)
                    .await;
            }
        }
        let Some(channel) = channel else {
            let text = match target {
                Target::Room(_) => "not a joined Discord channel",
                Target::User(_) => "this Discord user cannot be written to",
            };
            return self
                .error(ErrorContext::Command(token), ErrorKind::NotFound, text)
                .await;
        };
        let client = self.config.downloads(self.file_limits.allow_private);
        let limits = files::limits(self.file_limits);
        let mut uploads = match files::fetch_all(&client, attachments, limits).await {
            Ok(uploads) => uploads.into_iter().map(Some).collect::<Vec<_>>(),
            Err(e) => {
                tracing::info!(account = %self.account, %channel, error = %e, "a file for Discord not fetched");
                return self
                    .error(ErrorContext::Command(token), e.kind(), &e.to_string())
                    .await;
            }
        };
        if uploads.is_empty() {
            uploads.push(None);
        }
        // The message ends the user's typing there.
        self.typing.idle(channel);
        let nick = match &target {
            Target::Room(_) => self.nicks.get(&channel).cloned(),
            // The shared bot writes for many: the writer's name in front.
            Target::User(_) => self.view.is_some().then(|| self.dm_name()),
        };
        let (hook_channel, thread) = self.hook_channel(channel);
        let direct = matches!(target, Target::User(_));
        let route = match (&nick, self.own_id) {
            (Some(_), Some(bot)) if text.reply_to.is_none() && !direct => {
                let allowed = self.bot_may(hook_channel, Permissions::MANAGE_WEBHOOKS);
                self.webhooks
                    .route(&self.http, hook_channel, bot, allowed)
                    .await
            }
            _ => Route::Bot,
        };
        let out = Out {
            channel,
            thread,
            route,
            webhook_name: nick.as_deref().and_then(usable_name),
            nick,
            direct,
            kind: text.kind,
            reply_to: text.reply_to.as_ref().map(|m| m.as_str().to_owned()),
        };
        let mut words = Some(self.outgoing_text(&target, channel, text.text));
        for upload in uploads {
            let text = words.take().unwrap_or_default();
            let sent = self.send_one(&out, &text, upload, &token).await;
            if let Err(e) = sent {
                tracing::warn!(account = %self.account, %channel, error = %errors::describe(&e), "Discord refused a message");
                let kind = match errors::status(&e) {
                    Some(413) => ErrorKind::TooLarge,
                    _ => ErrorKind::Other,
                };
                return self
                    .error(
                        ErrorContext::Command(token),
                        kind,
                        &format!("Discord did not take the message: {}", errors::describe(&e)),
                    )
                    .await;
            }
        }
        true
    }

    /// One request: the text (and a file) through the channel's webhook or
    /// the bot; a 429 is waited out.
    async fn send_one(
        &mut self,
        out: &Out,
        text: &outgoing::Outgoing,
        file: Option<CreateAttachment>,
        token: &Token,
    ) -> serenity::Result<()> {
        let files: Vec<CreateAttachment> = file.into_iter().collect();
        let mut attempt = 1;
        loop {
            let sent = match (&out.route, &out.webhook_name) {
                (Route::Webhook { id, token: secret }, Some(name)) => {
                    let mut body = outgoing::webhook_body(text, out.kind, name);
                    if let Some(url) = self.webhooks.avatar() {
                        body["avatar_url"] = url.into();
                    }
                    if let Some(file) = files.first() {
                        files::name_in(&mut body, file);
                    }
                    let result = self
                        .http
                        .execute_webhook(
                            WebhookId::new(*id),
                            out.thread,
                            secret,
                            true,
                            files.clone(),
                            &body,
                        )
                        .await;
                    result.map(|message| {
                        if let Some(message) = message {
                            self.webhooks.note_sent(message.id.get());
                            self.sent_ids.insert(message.id.get(), token.clone());
                        }
                    })
                }
                _ => {
                    self.sent += 1;
                    let nonce = format!("{}{:x}", self.nonce_prefix, self.sent);
                    let mut body = outgoing::body(
                        text,
                        out.kind,
                        &nonce,
                        out.reply_to.as_deref(),
                        out.nick.as_deref(),
                    );
                    if let Some(file) = files.first() {
                        files::name_in(&mut body, file);
                    }
                    self.pending.insert(nonce.clone(), token.clone());
                    if let (true, Some(shared)) = (out.direct, &self.shared) {
                        // Its echo, and the answers, find the writer.
                        shared.dms.sending(&nonce, &self.account.as_str().into());
                    }
                    let result = self
                        .http
                        .send_message(ChannelId::new(out.channel), files.clone(), &body)
                        .await;
                    if result.is_err() {
                        self.pending.remove(&nonce);
                    }
                    result.map(|_| ())
                }
            };
            // serenity's rate limiter waits out 429s itself; with another
            // API base it is off, and a 429 is waited out here.
            match sent {
                Err(e) if errors::status(&e) == Some(429) && attempt < RATE_LIMITED_TRIES => {
                    tracing::info!(account = %self.account, channel = %out.channel, attempt, "rate limited: waiting");
                    tokio::time::sleep(RATE_LIMITED_WAIT * attempt).await;
                    attempt += 1;
                }
                sent => return sent,
            }
        }
    }
}

/// The words of a SendText.
pub(super) struct Text<'a> {
    /// As typed (XEP-0393).
    pub text: &'a str,
    /// Normal, action or notice.
    pub kind: MessageKind,
    /// The message it answers.
    pub reply_to: Option<MessageId>,
}

/// Where a SendText's requests go, and as whom.
struct Out {
    channel: u64,
    thread: Option<ChannelId>,
    route: Route,
    webhook_name: Option<String>,
    nick: Option<String>,
    /// To a person (a DM).
    direct: bool,
    kind: MessageKind,
    reply_to: Option<String>,
}
