//! A user's session: one connection per IRC server, opened on first use,
//! within the operator's policy and the user's limits.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use switchboard_bridge_api::channel;
use switchboard_bridge_api::{
    session_channels, Command, Credentials, ErrorContext, ErrorKind, Event, Login, RoomId,
    SessionHandle, Target,
};

use crate::host::normalise;
use crate::ids::{parse_room, parse_user, valid_nick};
use crate::small_map::SmallMap;
use crate::{conn, connect, IrcBridge};

/// Commands a session passes on in one turn before it looks at its
/// connections again, and a connection handles before it writes their lines.
pub(crate) const COMMAND_BATCH: usize = 64;

/// How long a session with no connection waits for a command before it
/// tells the core it is idle.
const IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts a user's session; returns the core's end of its channels.
pub(crate) fn start(bridge: IrcBridge, login: Login) -> SessionHandle {
    let (handle, mut end) = session_channels();
    let mut session = Session {
        bridge,
        credentials: login.credentials,
        server_settings: login.server_settings,
        conns: SmallMap::new(),
        rooms: SmallMap::new(),
        events: end.events.clone(),
    };
    tokio::spawn(async move {
        // Commands taken, and the count last told as idle.
        let mut taken: u64 = 0;
        let mut told_idle = None;
        loop {
            // With no connection the session holds nothing the user needs:
            // after a moment without commands (a user who registers joins
            // a room next), the core may end it and start another later.
            let idle = session.conns.is_empty() && told_idle != Some(taken);
            // A connection that ended (it left its last channel, or gave up)
            // is forgotten at once, so that its channel's memory goes too.
            let next = tokio::select! {
                command = end.commands.recv() => Ok(command),
                host = any_closed(&mut session.conns) => Err(host),
                _ = tokio::time::sleep(IDLE_AFTER), if idle => {
                    told_idle = Some(taken);
                    let _ = end.events.send(Event::Idle { commands: taken }).await;
                    continue;
                }
            };
            let command = match next {
                Ok(Some(command)) => command,
                Ok(None) => break,
                Err(host) => {
                    session.conns.remove(&host);
                    session.rooms.remove(&host);
                    continue;
                }
            };
            // Boxed: passing commands on is the larger part of the task's
            // state, and a session waits for commands most of its life.
            let burst = session.pass_on(&mut end.commands, command, &mut taken);
            if Box::pin(burst).await.is_break() {
                return;
            }
        }
    });
    handle
}

/// A user's session: their connections, one per IRC server, opened on first use.
struct Session {
    bridge: IrcBridge,
    credentials: Credentials,
    server_settings: BTreeMap<String, Credentials>,
    /// Connections by server, in its one spelling ([`crate::host::Host`]).
    conns: SmallMap<String, conn::Handle>,
    /// Rooms joined or being joined, by server: what the room limit counts.
    rooms: SmallMap<String, Vec<RoomId>>,
    events: channel::Sender<Event>,
}

impl Session {
    /// Passes on `first` and, in a burst, the commands already waiting (in
    /// this turn, without a wait for each), counting them in `taken`;
    /// breaks on `Shutdown`.
    async fn pass_on(
        &mut self,
        commands: &mut channel::Receiver<Command>,
        first: Command,
        taken: &mut u64,
    ) -> ControlFlow<()> {
        for command in commands.burst(first, COMMAND_BATCH) {
            *taken += 1;
            self.dispatch(command).await?;
        }
        ControlFlow::Continue(())
    }

    /// Passes a command to the connection it is for; breaks on `Shutdown`.
    async fn dispatch(&mut self, command: Command) -> ControlFlow<()> {
        if let Command::Shutdown = command {
            for c in self.conns.values() {
                let _ = c.commands.send(Command::Shutdown).await;
            }
            return ControlFlow::Break(());
        }
        if let Command::ConfigureServer { server, settings } = &command {
            let key = normalise(server).map_or_else(|_| server.clone(), |h| h.to_string());
            self.server_settings.insert(key.clone(), settings.clone());
            if let Some(conn) = self.conns.get(&key) {
                let _ = conn.commands.send(command).await;
            }
            return ControlFlow::Continue(());
        }
        match host_of(&command) {
            Ok(Some(host)) => match self.admit(&host, &command) {
                Ok(Some(key)) => self.send_to_host(key, command).await,
                Ok(None) => {}
                Err(event) => {
                    if let Some(event) = event {
                        let _ = self.events.send(event).await;
                    }
                }
            },
            // For every server: each connection gets its own copy.
            Ok(None) => {
                let hosts: Vec<String> = self.conns.keys().cloned().collect();
                for host in hosts {
                    self.send_to_host(host, command.clone()).await;
                }
            }
            Err(event) => {
                let _ = self.events.send(event).await;
            }
        }
        ControlFlow::Continue(())
    }

    /// Checks a command for a server against the operator's policy, the
    /// server's spelling and the user's limits, before anything is opened.
    /// Gives the connection's key, `None` when there is nothing to do, or
    /// the error for the user (if the command warrants one).
    #[allow(clippy::result_large_err)] // rare, and sent on at once
    fn admit(&mut self, raw: &str, command: &Command) -> Result<Option<String>, Option<Event>> {
        let fail = |kind, text: String| error_for(command, kind, text);
        let host = normalise(raw).map_err(|e| fail(ErrorKind::BadRequest, e))?;
        let key = host.to_string();
        let open = self
            .conns
            .get(&key)
            .is_some_and(|c| !c.commands.is_closed());
        if !open {
            let settings =
                self.bridge
                    .conn_settings(&key, &self.credentials, self.server_settings.get(&key));
            connect::check_named(&settings).map_err(|e| fail(ErrorKind::Forbidden, e))?;
        }
        if key != raw {
            return Err(fail(
                ErrorKind::BadRequest,
                format!("{raw} is spelt {key} on this gateway: use that name"),
            ));
        }
        let limits = &self.bridge.config.limits;
        match command {
            // Nothing to leave where nothing is open: no connection for it.
            Command::Leave { room, .. } => {
                if let Some(rooms) = self.rooms.get_mut(&key) {
                    rooms.retain(|r| r != room);
                }
                if !open {
                    return Ok(None);
                }
            }
            Command::Join { room, .. } => {
                let joined: usize = self.rooms.values().map(Vec::len).sum();
                let known = self.rooms.get(&key).is_some_and(|r| r.contains(room));
                if !known && joined >= limits.max_rooms_per_user {
                    return Err(fail(
                        ErrorKind::Forbidden,
                        format!(
                            "you are in {joined} IRC rooms, the most this gateway allows \
                             (set by its operator); leave one first"
                        ),
                    ));
                }
            }
            _ => {}
        }
        if !open {
            let servers = self
                .conns
                .values()
                .filter(|c| !c.commands.is_closed())
                .count();
            if servers >= limits.max_servers_per_user {
                return Err(fail(
                    ErrorKind::Forbidden,
                    format!(
                        "you are connected to {servers} IRC servers, the most this gateway \
                         allows (set by its operator); leave the rooms of one first"
                    ),
                ));
            }
        }
        if let Command::Join { room, .. } = command {
            let rooms = self.rooms.get_or_default(key.clone());
            if !rooms.contains(room) {
                crate::small_map::grow(rooms);
                rooms.push(room.clone());
            }
        }
        Ok(Some(key))
    }

    /// Sends a command to the connection to `host`, opening one if there is
    /// none or the last one ended (it left its last channel).
    async fn send_to_host(&mut self, host: String, command: Command) {
        let mut command = command;
        if let Some(conn) = self.conns.get(&host) {
            match conn.commands.send(command).await {
                Ok(()) => return,
                Err(channel::SendError(c)) => {
                    self.conns.remove(&host);
                    command = c;
                }
            }
        }
        // Boxed: opening a connection is rare, and its state would
        // otherwise be part of the session's task for good.
        Box::pin(self.open_conn(host, command)).await;
    }

    /// Starts a connection to `host` and gives it its first command.
    async fn open_conn(&mut self, host: String, command: Command) {
        let mut settings =
            self.bridge
                .conn_settings(&host, &self.credentials, self.server_settings.get(&host));
        if let Some(nick) = first_nick(&command, self.server_settings.get(&host)) {
            settings.nick = nick.to_owned();
        }
        let conn = conn::spawn(host.clone(), settings, self.events.clone());
        let _ = conn.commands.send(command).await;
        self.conns.insert(host, conn);
    }
}

/// The nick a new connection registers with when a join opens it: the
/// join's own (as the user asked for it in that join), unless the user set a
/// nick for this server, which wins; `None` to keep the registered nick.
fn first_nick<'a>(command: &'a Command, server: Option<&Credentials>) -> Option<&'a str> {
    let Command::Join { nick, .. } = command else {
        return None;
    };
    let set_for_server = server
        .and_then(|s| s.get("nick"))
        .is_some_and(|n| valid_nick(n).is_ok());
    (!set_for_server && valid_nick(nick).is_ok()).then_some(nick.as_str())
}

/// The host of the first connection whose task has ended; never, if none has.
async fn any_closed(conns: &mut SmallMap<String, conn::Handle>) -> String {
    use std::future::Future;
    std::future::poll_fn(|cx| {
        for (host, conn) in conns.iter_mut() {
            if std::pin::Pin::new(&mut conn.task).poll(cx).is_ready() {
                return std::task::Poll::Ready(host.clone());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The room a command is about, if any.
pub(crate) fn command_room(command: &Command) -> Option<&RoomId> {
    match command {
        Command::Join { room, .. }
        | Command::Leave { room, .. }
        | Command::SetTopic { room, .. }
        | Command::FetchHistory { room, .. }
        | Command::SetNick {
            room: Some(room), ..
        } => Some(room),
        Command::SendText { target, .. }
        | Command::Edit { target, .. }
        | Command::Retract { target, .. }
        | Command::React { target, .. }
        | Command::Typing { target, .. }
        | Command::MarkRead { target, .. } => match target {
            Target::Room(room) => Some(room),
            Target::User(_) => None,
        },
        _ => None,
    }
}

/// The error that answers a command that was not carried out: about its
/// room, its token, or the session; `None` for commands nobody waits on
/// (typing, read markers).
pub(crate) fn error_for(command: &Command, kind: ErrorKind, text: String) -> Option<Event> {
    let context = match command {
        Command::Join { room, .. }
        | Command::Leave { room, .. }
        | Command::SetTopic { room, .. }
        | Command::FetchHistory { room, .. }
        | Command::SetNick {
            room: Some(room), ..
        } => ErrorContext::Room(room.clone()),
        Command::SendText { token, .. }
        | Command::Edit { token, .. }
        | Command::Retract { token, .. }
        | Command::React { token, .. }
        | Command::ListRooms { token, .. } => ErrorContext::Command(token.clone()),
        Command::Typing { .. } | Command::MarkRead { .. } => return None,
        _ => ErrorContext::Session,
    };
    Some(Event::Error {
        context,
        kind,
        text,
    })
}

/// Which server a command is for; `None` for all of them; an error event
/// when it names no valid IRC room or nick.
#[allow(clippy::result_large_err)] // rare, and sent on at once
pub(crate) fn host_of(command: &Command) -> Result<Option<String>, Event> {
    let room_host = |room: &switchboard_bridge_api::RoomId| {
        parse_room(room)
            .map(|(_, h)| h.to_owned())
            .ok_or_else(|| Event::Error {
                context: ErrorContext::Room(room.clone()),
                kind: ErrorKind::BadRequest,
                text: format!("{room} is not an IRC channel: use #channel%irc.example.net"),
            })
    };
    let target_host = |target: &Target, token: &str| match target {
        Target::Room(room) => room_host(room),
        Target::User(user) => {
            parse_user(user)
                .map(|(_, h)| h.to_owned())
                .ok_or_else(|| Event::Error {
                    context: ErrorContext::Command(token.to_owned()),
                    kind: ErrorKind::BadRequest,
                    text: format!("{user} is not an IRC user: use nick%irc.example.net"),
                })
        }
    };
    Ok(match command {
        Command::Join { room, .. }
        | Command::Leave { room, .. }
        | Command::SetTopic { room, .. }
        | Command::FetchHistory { room, .. } => Some(room_host(room)?),
        Command::SetNick {
            room: Some(room), ..
        } => Some(room_host(room)?),
        Command::SendText { target, token, .. }
        | Command::Edit { target, token, .. }
        | Command::Retract { target, token, .. }
        | Command::React { target, token, .. } => Some(target_host(target, token)?),
        Command::Typing { target, .. } | Command::MarkRead { target, .. } => {
            Some(target_host(target, "")?)
        }
        Command::ListRooms {
            server: Some(server),
            ..
        }
        | Command::ConfigureServer { server, .. } => Some(server.clone()),
        // IRC has no contact list to leave: the connections ignore it.
        Command::SetNick { room: None, .. }
        | Command::ListRooms { .. }
        | Command::RemoveContact { .. }
        | Command::SetOwnAvatar { .. }
        | Command::Shutdown => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IrcConfig, Policy};
    use switchboard_bridge_api::Bridge;

    fn login() -> Login {
        let mut credentials = Credentials::new();
        credentials.set("nick", "ferris");
        Login {
            account: "ferris".to_owned(),
            credentials,
            state: BTreeMap::new(),
            server_settings: BTreeMap::new(),
            files: Default::default(),
        }
    }

    async fn join_error(handle: &mut SessionHandle, room: &str) -> String {
        handle
            .commands
            .send(Command::Join {
                room: RoomId::from(room),
                nick: "ferris".into(),
                password: None,
            })
            .await
            .unwrap();
        loop {
            match handle.events.recv().await.unwrap() {
                Event::Error {
                    context: ErrorContext::Room(r),
                    text,
                    ..
                } => {
                    assert_eq!(r.as_str(), room);
                    return text;
                }
                _ => continue,
            }
        }
    }

    #[test]
    fn a_join_opening_a_connection_gives_its_nick_unless_the_server_has_one() {
        let join = |nick: &str| Command::Join {
            room: RoomId::from("#x%irc.example.net"),
            nick: nick.into(),
            password: None,
        };
        assert_eq!(first_nick(&join("alicejoin"), None), Some("alicejoin"));
        let mut server = Credentials::new();
        assert_eq!(
            first_nick(&join("alicejoin"), Some(&server)),
            Some("alicejoin")
        );
        server.set("nick", "alice_here");
        assert_eq!(first_nick(&join("alicejoin"), Some(&server)), None);
        // A nick IRC cannot carry keeps the registered one.
        assert_eq!(first_nick(&join("two words"), None), None);
        assert_eq!(first_nick(&Command::Shutdown, None), None);
    }

    #[tokio::test]
    async fn a_second_spelling_of_an_allowed_server_is_refused_with_the_one_to_use() {
        let bridge = IrcBridge::new(IrcConfig {
            policy: Policy {
                allow_private_addresses: true,
                ..Policy::default()
            },
            ..IrcConfig::default()
        });
        let mut handle = bridge.start(login());
        for (room, canonical) in [
            ("#x%127.1", "127.0.0.1"),
            ("#x%2130706433", "127.0.0.1"),
            ("#x%irc.example.net.", "irc.example.net"),
            ("#x%[0::1]", "[::1]"),
        ] {
            let text = join_error(&mut handle, room).await;
            assert!(
                text.contains(&format!("spelt {canonical}")),
                "{room}: {text}"
            );
        }
        let text = join_error(&mut handle, "#x%bad_name.example").await;
        assert!(text.contains("not a server name"), "{text}");
    }

    #[tokio::test]
    async fn an_unlisted_server_is_refused_when_the_operator_lists_servers() {
        let bridge = IrcBridge::new(IrcConfig {
            policy: Policy {
                allowed_servers: vec!["*.libera.chat".into()],
                ..Policy::default()
            },
            ..IrcConfig::default()
        });
        let mut handle = bridge.start(login());
        let text = join_error(&mut handle, "#x%irc.example.net").await;
        assert!(
            text.contains(crate::policy::REFUSED) && text.contains("*.libera.chat"),
            "{text}"
        );
    }
}
