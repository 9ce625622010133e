//! One user's session on the test network: reports every command to the
//! test, answers what a network answers by itself, and emits what the test
//! injects.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_bridge_api::{
    channel, session_channels, Command, Event, LeaveReason, Limits, Login, Member, Message, Role,
    RoomId, SessionEnd, SessionHandle, Target, UserId,
};

use crate::hub::Hub;
use crate::sent_files::Files;
use crate::wire::Report;

/// Starts a session for the login's `username`.
pub(crate) fn start(hub: Arc<Hub>, files: Arc<Files>, login: Login) -> SessionHandle {
    let (mut handle, end) = session_channels();
    let user = login
        .credentials
        .get("username")
        .unwrap_or(&login.account)
        .to_owned();
    // Files that need credentials: fetched with the user's token.
    handle.files = Some(Arc::new(crate::files::Fetcher::new(&user)));
    let credentials = login
        .credentials
        .iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    let limits = login.files;
    tokio::spawn(run(hub, (files, limits), user, credentials, end));
    handle
}

/// A session's state: who the user is, and their nick in each room.
struct Session {
    hub: Arc<Hub>,
    user: String,
    nick: String,
    rooms: BTreeMap<RoomId, String>,
    events: channel::Sender<Event>,
}

async fn run(
    hub: Arc<Hub>,
    (files, limits): (Arc<Files>, Limits),
    user: String,
    credentials: Vec<String>,
    end: SessionEnd,
) {
    let SessionEnd {
        mut commands,
        events,
    } = end;
    let mut attached = hub.attach(&user);
    let has_token = credentials.iter().any(|c| c == "token");
    hub.report(&Report::Started {
        user: user.clone(),
        credentials,
    });
    let mut session = Session {
        hub: Arc::clone(&hub),
        nick: user.clone(),
        user: user.clone(),
        rooms: BTreeMap::new(),
        events,
    };
    let mut open = session
        .emit(Event::Connected {
            own_id: session.own_id(),
            nick: session.nick.clone(),
        })
        .await;
    if has_token {
        // A token login keeps a secret as state, as a Matrix session keeps
        // its refresh token.
        let save = Event::SaveState {
            key: "refresh".into(),
            value: crate::register::refresh(&user),
            secret: true,
        };
        open = open && session.emit(save).await;
    }
    for event in std::mem::take(&mut attached.pending) {
        hub.note_members(&event);
        open = open && session.emit(event).await;
    }
    while open {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                hub.report(&Report::Command { user: user.clone(), command: command.clone() });
                if matches!(command, Command::Shutdown) {
                    break;
                }
                if let Some(refused) = token_of(&command).and_then(|t| hub.refusal(&user, t)) {
                    open = session.emit(refused).await;
                    continue;
                }
                if let Command::SendText { token, attachments, .. } = &command {
                    if let Err(error) = files.fetch_all(&hub, &user, token, attachments, limits).await {
                        open = session.emit(error).await;
                        continue;
                    }
                }
                for event in session.answer(command) {
                    open = open && session.emit(event).await;
                }
            }
            Some(event) = attached.injected.recv() => {
                hub.note_members(&event);
                open = session.emit(event).await;
            }
        }
    }
    hub.detach(&user, attached.serial);
    hub.report(&Report::Ended { user });
}

/// The token a command names again in its error, if it has one.
fn token_of(command: &Command) -> Option<&str> {
    match command {
        Command::SendText { token, .. }
        | Command::Edit { token, .. }
        | Command::Retract { token, .. }
        | Command::React { token, .. } => Some(token),
        _ => None,
    }
}

impl Session {
    fn own_id(&self) -> UserId {
        UserId(self.user.clone())
    }

    /// The user's nick in a conversation: their room nick, else their own.
    fn nick_in(&self, target: &Target) -> String {
        match target {
            Target::Room(room) => self.rooms.get(room).unwrap_or(&self.nick).clone(),
            Target::User(_) => self.nick.clone(),
        }
    }

    /// Sends an event to the core, keeping track of the rooms it names;
    /// `false` once the core is gone.
    async fn emit(&mut self, event: Event) -> bool {
        match &event {
            Event::RoomJoined { room, own_nick, .. } => {
                self.rooms.insert(room.clone(), own_nick.clone());
                self.hub.enter(room, &self.user);
            }
            Event::RoomLeft { room, .. } => {
                self.rooms.remove(room);
                self.hub.leave(room, &self.user);
            }
            _ => {}
        }
        self.events.send(event).await.is_ok()
    }

    /// What the network answers to a command by itself.
    fn answer(&mut self, command: Command) -> Vec<Event> {
        match command {
            Command::SendText {
                target,
                text,
                kind,
                reply_to,
                attachments,
                token,
            } => {
                let id = self.hub.message_id();
                vec![Event::Message(Message {
                    parts: vec![id.clone()],
                    id,
                    author: self.own_id(),
                    author_nick: self.nick_in(&target),
                    target,
                    text,
                    kind,
                    reply_to,
                    attachments,
                    timestamp: None,
                    own: true,
                    token: Some(token),
                })]
            }
            Command::Edit {
                target,
                message,
                text,
                ..
            } => vec![Event::Edited {
                author: self.own_id(),
                author_nick: self.nick_in(&target),
                target,
                message,
                text,
            }],
            Command::Retract {
                target, message, ..
            } => vec![Event::Retracted {
                by: self.own_id(),
                target,
                message,
            }],
            Command::React {
                target,
                message,
                reactions,
                ..
            } => vec![Event::Reacted {
                author: self.own_id(),
                author_nick: self.nick_in(&target),
                target,
                message,
                reactions,
            }],
            Command::Join { room, nick, .. } => {
                let member = Member {
                    user: self.own_id(),
                    nick: nick.clone(),
                    role: Role::Member,
                    away: None,
                };
                vec![
                    Event::RoomJoined {
                        name: room.0.clone(),
                        room: room.clone(),
                        own_nick: nick,
                        own_user: self.own_id(),
                        nick_changed: false,
                    },
                    Event::Members {
                        members: self
                            .hub
                            .members(&room, &self.own_id())
                            .into_iter()
                            .chain([member])
                            .collect(),
                        room,
                        complete: true,
                    },
                ]
            }
            Command::Leave { room, reason } if self.rooms.contains_key(&room) => {
                vec![Event::RoomLeft {
                    room,
                    reason: LeaveReason::Part(reason),
                }]
            }
            Command::SetNick { room, nick } => self.rename(room, nick),
            Command::SetTopic { room, topic } => vec![Event::Topic {
                by: Some(self.nick_in(&Target::Room(room.clone()))),
                room,
                topic,
            }],
            Command::ListRooms {
                token,
                after,
                limit,
                ..
            } => {
                let (rooms, next) = self.hub.rooms(after.as_deref(), limit);
                vec![Event::RoomList { token, rooms, next }]
            }
            Command::FetchHistory { token, room, .. } => vec![Event::History {
                token,
                room,
                messages: vec![],
            }],
            // Nothing a network says back: the user's own typing and read
            // markers, settings, a leave from a room the user is not in.
            Command::Leave { .. }
            | Command::Typing { .. }
            | Command::MarkRead { .. }
            | Command::ConfigureServer { .. }
            | Command::RemoveContact { .. }
            | Command::SetOwnAvatar { .. }
            | Command::Shutdown => vec![],
        }
    }

    /// A nick change in one room, or in every room and for the network.
    fn rename(&mut self, room: Option<RoomId>, nick: String) -> Vec<Event> {
        if room.is_none() {
            self.nick = nick.clone();
        }
        let user = self.own_id();
        self.rooms
            .iter_mut()
            .filter(|(id, _)| room.as_ref().is_none_or(|r| r == *id))
            .map(|(id, old)| Event::MemberRenamed {
                room: Some(id.clone()),
                user: user.clone(),
                new_user: None,
                new_nick: {
                    old.clone_from(&nick);
                    nick.clone()
                },
                own: true,
            })
            .collect()
    }
}
