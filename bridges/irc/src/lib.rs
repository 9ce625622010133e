//! Switchboard's IRC bridge: one session per user, one connection per IRC
//! server that user talks to, opened on first use.
//!
//! Rooms are `#channel%irc.example.net`, people `nick%irc.example.net`.

mod conn;
mod format;
mod ids;
mod prefixes;
mod split;
mod work;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use switchboard_bridge_api::channel;
use switchboard_bridge_api::{
    session_channels, Bridge, BridgeInfo, Capabilities, Command, Credentials, ErrorContext,
    ErrorKind, Event, FieldError, FieldKind, Login, LoginField, SessionHandle, Target,
};

pub use conn::decode;
pub use format::{irc_to_styled, styled_to_irc};
pub use ids::{parse_room, parse_user, room_id, user_id, valid_channel, valid_nick};
pub use split::message_lines;

/// Where an IRC server is, when not at its name on the standard TLS port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// `host:port`.
    pub address: String,
    /// TLS (the default) or plain TCP.
    pub tls: bool,
}

/// The IRC bridge's settings.
#[derive(Debug, Clone)]
pub struct IrcConfig {
    /// Servers by the name used in room ids; others are reached at `name:6697` with TLS.
    pub servers: BTreeMap<String, ServerAddress>,
    /// Flood control towards servers: a burst of 5 lines, then 2 a second.
    pub flood_control: bool,
}

impl Default for IrcConfig {
    fn default() -> Self {
        Self {
            servers: BTreeMap::new(),
            flood_control: true,
        }
    }
}

/// The IRC bridge.
///
/// Cheap to clone: each session holds one, and shares the description and
/// the settings with every other.
#[derive(Clone)]
pub struct IrcBridge {
    info: Arc<BridgeInfo>,
    config: Arc<IrcConfig>,
}

impl IrcBridge {
    /// A bridge with these settings.
    pub fn new(config: IrcConfig) -> Self {
        let info = BridgeInfo {
            name: "irc",
            display_name: "IRC",
            instructions: "Choose the nick you will have on IRC servers. Then join rooms \
                           like #channel%irc.example.net on this service.",
            fields: vec![
                LoginField {
                    name: "nick",
                    label: "Nickname",
                    description: "Your IRC nickname",
                    kind: FieldKind::Text,
                    required: true,
                    default: None,
                },
                // No account-wide password: a password belongs to one server
                // and is set in that server's settings, never sent to others.
                LoginField {
                    name: "realname",
                    label: "Real name",
                    description: "Shown in WHOIS",
                    kind: FieldKind::Text,
                    required: false,
                    default: None,
                },
            ],
            capabilities: Capabilities {
                direct_messages: true,
                ..Capabilities::default()
            },
            server_settings: server_fields(),
        };
        Self {
            info: Arc::new(info),
            config: Arc::new(config),
        }
    }

    fn conn_settings(
        &self,
        host: &str,
        credentials: &Credentials,
        server: Option<&Credentials>,
    ) -> conn::ConnSettings {
        let address = self
            .config
            .servers
            .get(host)
            .cloned()
            .unwrap_or_else(|| ServerAddress {
                address: format!("{host}:6697"),
                tls: true,
            });
        let nick = credentials.get("nick").unwrap_or("switchboard").to_owned();
        let mut settings = conn::ConnSettings {
            address: address.address,
            tls: address.tls,
            password: None,
            username: {
                let u: String = nick
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(9)
                    .collect();
                if u.is_empty() {
                    "user".to_owned()
                } else {
                    u
                }
            },
            realname: credentials.get("realname").unwrap_or(&nick).to_owned(),
            nick,
            flood: self.config.flood_control.then_some((5, 2.0)),
            sasl: None,
            after_connect: Vec::new(),
        };
        if let Some(server) = server {
            apply_server_settings(&mut settings, server);
        }
        settings
    }
}

impl Bridge for IrcBridge {
    fn info(&self) -> &BridgeInfo {
        &self.info
    }

    fn validate(&self, credentials: &Credentials) -> Result<(), FieldError> {
        let nick = credentials
            .get("nick")
            .ok_or_else(|| FieldError::new("nick", "this field is required"))?;
        valid_nick(nick).map_err(|reason| FieldError::new("nick", format!("the nick {reason}")))?;
        for field in ["realname"] {
            if credentials
                .get(field)
                .is_some_and(|v| v.contains(['\r', '\n', '\0']))
            {
                return Err(FieldError::new(field, "may not hold line breaks"));
            }
        }
        Ok(())
    }

    fn is_server(&self, id: &str) -> bool {
        valid_host(id)
    }

    fn validate_server_settings(&self, settings: &Credentials) -> Result<(), FieldError> {
        if let Some(port) = settings.get("port") {
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(FieldError::new(
                    "port",
                    "must be a port number (1 to 65535)",
                ));
            }
        }
        if let Some(nick) = settings.get("nick") {
            valid_nick(nick).map_err(|r| FieldError::new("nick", format!("the nick {r}")))?;
        }
        for (name, value) in settings.iter() {
            if value.contains(['\r', '\n', '\0']) {
                return Err(FieldError::new(name, "may not hold line breaks"));
            }
        }
        Ok(())
    }

    fn start(&self, login: Login) -> SessionHandle {
        let (handle, mut end) = session_channels();
        let mut session = Session {
            bridge: self.clone(),
            credentials: login.credentials,
            server_settings: login.server_settings,
            conns: HashMap::new(),
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
                // A connection that ended (it left its last channel) is
                // forgotten at once, so that its channel's memory goes too.
                let next = tokio::select! {
                    command = end.commands.recv() => Ok(command),
                    host = any_closed(&session.conns) => Err(host),
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
                        continue;
                    }
                };
                // In a burst, the commands already waiting are passed on in
                // this turn, without setting up the wait above for each.
                for command in end.commands.burst(command, COMMAND_BATCH) {
                    taken += 1;
                    if session.dispatch(command).await.is_break() {
                        return;
                    }
                }
            }
        });
        handle
    }
}

/// Commands a session passes on in one turn before it looks at its
/// connections again, and a connection handles before it writes their lines.
const COMMAND_BATCH: usize = 64;

/// A user's session: their connections, one per IRC server, opened on first use.
struct Session {
    bridge: IrcBridge,
    credentials: Credentials,
    server_settings: BTreeMap<String, Credentials>,
    conns: HashMap<String, channel::Sender<Command>>,
    events: channel::Sender<Event>,
}

impl Session {
    /// Passes a command to the connection it is for; breaks on `Shutdown`.
    async fn dispatch(&mut self, command: Command) -> std::ops::ControlFlow<()> {
        use std::ops::ControlFlow;
        if let Command::Shutdown = command {
            for c in self.conns.values() {
                let _ = c.send(Command::Shutdown).await;
            }
            return ControlFlow::Break(());
        }
        if let Command::ConfigureServer { server, settings } = &command {
            self.server_settings
                .insert(server.clone(), settings.clone());
            if let Some(conn) = self.conns.get(server) {
                let _ = conn.send(command).await;
            }
            return ControlFlow::Continue(());
        }
        match host_of(&command) {
            Ok(Some(host)) => self.send_to_host(host, command).await,
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

    /// Sends a command to the connection to `host`, opening one if there is
    /// none or the last one ended (it left its last channel).
    async fn send_to_host(&mut self, host: String, command: Command) {
        let mut command = command;
        if let Some(conn) = self.conns.get(&host) {
            match conn.send(command).await {
                Ok(()) => return,
                Err(channel::SendError(c)) => {
                    self.conns.remove(&host);
                    command = c;
                }
            }
        }
        let settings =
            self.bridge
                .conn_settings(&host, &self.credentials, self.server_settings.get(&host));
        let conn = conn::spawn(host.clone(), settings, self.events.clone());
        let _ = conn.send(command).await;
        self.conns.insert(host, conn);
    }
}

/// How long a session with no connection waits for a command before it
/// tells the core it is idle.
const IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// The host of the first connection whose task has ended; never, if none has.
async fn any_closed(conns: &HashMap<String, channel::Sender<Command>>) -> String {
    use std::future::Future;
    let mut waits: Vec<_> = conns
        .iter()
        .map(|(host, conn)| {
            Box::pin(async move {
                conn.closed().await;
                host.clone()
            })
        })
        .collect();
    std::future::poll_fn(|cx| {
        for wait in waits.iter_mut() {
            if let std::task::Poll::Ready(host) = wait.as_mut().poll(cx) {
                return std::task::Poll::Ready(host);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Whether `id` looks like an IRC server's host name.
fn valid_host(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 253
        && id.contains('.')
        && id
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// The per-server settings a user may make.
fn server_fields() -> Vec<LoginField> {
    let text = |name, label, description| LoginField {
        name,
        label,
        description,
        kind: FieldKind::Text,
        required: false,
        default: None,
    };
    vec![
        text(
            "nick",
            "Nickname",
            "Your nick on this server (default: the one you registered)",
        ),
        text("port", "Port", "The server's port (default 6697 with TLS)"),
        LoginField {
            name: "tls",
            label: "TLS",
            description: "Encrypt the connection (certificates are checked)",
            kind: FieldKind::Boolean,
            required: false,
            default: Some("true"),
        },
        LoginField {
            name: "password",
            label: "Server password",
            description: "Sent as PASS",
            kind: FieldKind::Password,
            required: false,
            default: None,
        },
        text(
            "sasl_user",
            "SASL account",
            "Your services account (default: your nick)",
        ),
        LoginField {
            name: "sasl_password",
            label: "SASL password",
            description: "Logs in with SASL PLAIN",
            kind: FieldKind::Password,
            required: false,
            default: None,
        },
        text("username", "Username", "The user part of your hostmask"),
        text("realname", "Real name", "Shown in WHOIS"),
        text(
            "after_connect",
            "Commands after connecting",
            "IRC commands separated by ';', e.g. PRIVMSG NickServ :IDENTIFY secret",
        ),
    ]
}

/// Applies a user's per-server settings to a connection's settings.
pub(crate) fn apply_server_settings(settings: &mut conn::ConnSettings, server: &Credentials) {
    let host = settings
        .address
        .rsplit_once(':')
        .map(|(h, _)| h.to_owned())
        .unwrap_or_default();
    if let Some(port) = server.get("port") {
        settings.address = format!("{host}:{port}");
    }
    if let Some(tls) = server.get("tls") {
        settings.tls = matches!(tls, "true" | "1");
    }
    let clean = |v: &str| -> String {
        v.chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
            .collect()
    };
    if let Some(nick) = server.get("nick").filter(|n| valid_nick(n).is_ok()) {
        settings.nick = nick.to_owned();
    }
    if let Some(p) = server.get("password") {
        settings.password = Some(clean(p));
    }
    if let Some(p) = server.get("sasl_password") {
        let user = server.get("sasl_user").unwrap_or(&settings.nick);
        settings.sasl = Some((clean(user), clean(p)));
    }
    if let Some(u) = server.get("username") {
        let u: String = u
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(9)
            .collect();
        if !u.is_empty() {
            settings.username = u;
        }
    }
    if let Some(r) = server.get("realname") {
        settings.realname = clean(r);
    }
    if let Some(cmds) = server.get("after_connect") {
        settings.after_connect = cmds
            .split(';')
            .map(|c| clean(c).trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
    }
}

/// Which server a command is for; `None` for all of them; an error event
/// when it names no valid IRC room or nick.
#[allow(clippy::result_large_err)] // rare, and sent on at once
fn host_of(command: &Command) -> Result<Option<String>, Event> {
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
        Command::SetNick { room: None, .. } | Command::ListRooms { .. } | Command::Shutdown => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(nick: &str) -> Credentials {
        let mut c = Credentials::new();
        c.set("nick", nick);
        c
    }

    #[test]
    fn validate_refuses_bad_nicks_and_line_breaks() {
        let b = IrcBridge::new(IrcConfig::default());
        assert!(b.validate(&creds("ferris")).is_ok());
        assert_eq!(b.validate(&creds("bad nick")).unwrap_err().field, "nick");
        assert_eq!(b.validate(&Credentials::new()).unwrap_err().field, "nick");
        let mut c = creds("ferris");
        c.set("realname", "a\r\nQUIT");
        assert_eq!(b.validate(&c).unwrap_err().field, "realname");
    }

    #[test]
    fn invalid_room_is_an_error_naming_the_room() {
        let cmd = Command::Join {
            room: "no-hash%irc.example.net".into(),
            nick: "x".into(),
            password: None,
        };
        match host_of(&cmd) {
            Err(Event::Error {
                context: ErrorContext::Room(r),
                kind: ErrorKind::BadRequest,
                ..
            }) => assert_eq!(r.as_str(), "no-hash%irc.example.net"),
            other => panic!("{other:?}"),
        }
    }
}
