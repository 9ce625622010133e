//! The test network end to end: Prosody with the `testnet.localhost`
//! component, the gateway built with `--features test-network` and its log
//! in a file, and a typed client for the network's control channel (the
//! test listens, the network connects when its first session starts).
//!
//! A test file takes it beside `common` (the bench shares `common` and has
//! no test network): `mod common; #[path = "common/testnet.rs"] mod harness;`.
#![allow(dead_code)]

use crate::common::room::muc_info;
use crate::common::support::prosody::{Prosody, DOMAIN};
use crate::common::support::stop_child;
use crate::common::{switchboard_bin, Client, ANSWER};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};
use switchboard_bridge_api::{
    Command, ErrorKind, Event, Message as NetMessage, MessageId, MessageKind, RoomId, Target,
    UserId,
};
use switchboard_testnet::wire::{from_line, to_line, Order, Report};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpListener;
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

/// The test network's component domain.
pub const TESTNET: &str = "testnet.localhost";
/// The component's secret.
pub const SECRET: &str = "testnet-secret";

/// The gateway's config: the test network on an XMPP server's component
/// port, its control channel at `control`, and `extra` lines after the
/// network's `jid` and `secret` (keys of `[networks.testnet]`, then other
/// sections).
pub fn config(component_port: u16, control: std::net::SocketAddr, extra: &str) -> String {
    format!(
        "[xmpp]\nserver = \"127.0.0.1:{component_port}\"\n\
         [users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [log]\nlevel = \"info\"\n\
         [networks.testnet]\njid = \"{TESTNET}\"\nsecret = \"{SECRET}\"\n\
         {extra}\n\
         [networks.testnet.settings]\ncontrol = \"{control}\"\n"
    )
}

/// The JID of a room whose id needs no escaping (lower case letters,
/// digits, `-`): the id at the component domain.
pub fn room_jid(id: &str) -> String {
    assert!(
        id.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{id}: escape it as the gateway does, or pick a plain id"
    );
    format!("{id}@{TESTNET}")
}

/// An occupant's JID in a room.
pub fn occupant_jid(room: &str, nick: &str) -> Jid {
    format!("{}/{nick}", room_jid(room)).parse().unwrap()
}

/// The JID of a person on the test network, as a contact (plain ids only).
pub fn contact_jid(user: &str) -> Jid {
    room_jid(user).parse().unwrap()
}

/// Prosody, the gateway with the test network, and the control channel.
pub struct Testnet {
    pub control: Control,
    pub gateway: Gateway,
    pub prosody: Prosody,
}

impl Testnet {
    /// Stops the gateway and starts it again on the same config and
    /// database; the control channel waits for the new process's link.
    pub fn restart_gateway(&mut self) {
        self.gateway.restart();
        self.control.relink();
    }

    /// Starts Prosody and the gateway, and waits for the component to connect.
    pub async fn start() -> Self {
        Self::start_with(None, "").await
    }

    /// [`Testnet::start`], with Prosody's upload service for files up to
    /// `upload` bytes (`Prosody::start_with_upload`) and `extra` lines in
    /// the gateway's config (after the network's `jid` and `secret`: keys of
    /// `[networks.testnet]`, then other sections).
    pub async fn start_with(upload: Option<u64>, extra: &str) -> Self {
        let prosody = match upload {
            Some(limit) => Prosody::start_with_upload(&[(TESTNET, SECRET)], limit),
            None => Prosody::start(&[(TESTNET, SECRET)]),
        };
        Self::start_on(prosody, extra).await
    }

    /// Prosody with its upload service (files up to 1 MiB) and the gateway,
    /// whose network fetches the files users send, up to `[files]
    /// max_file_size` bytes, from loopback too.
    pub async fn start_with_uploads(max_file_size: u64) -> Self {
        let files =
            format!("[files]\nmax_file_size = {max_file_size}\nallow_private_addresses = true\n");
        Self::start_with(Some(1 << 20), &files).await
    }

    /// The same with Prosody granting the component XEP-0356 privileges
    /// (see [`Prosody::start_privileged`]).
    pub async fn start_privileged(privileges: &str) -> Self {
        Self::start_on(
            Prosody::start_privileged(&[(TESTNET, SECRET)], privileges),
            "",
        )
        .await
    }

    /// Prosody and the gateway, whose network's settings get `settings`
    /// lines besides `control` (`without = ["reactions"]`,
    /// `max_reactions_per_user = 1`, `reaction_allowlist = [...]`: see
    /// `switchboard_testnet::Settings`).
    pub async fn start_with_settings(settings: &str) -> Self {
        Self::start_on_with(Prosody::start(&[(TESTNET, SECRET)]), "", settings).await
    }

    /// Prosody given, `extra` lines after the network's keys.
    async fn start_on(prosody: Prosody, extra: &str) -> Self {
        Self::start_on_with(prosody, extra, "").await
    }

    /// Prosody given, `extra` lines after the network's keys, `settings`
    /// lines in `[networks.testnet.settings]` (its last section).
    async fn start_on_with(prosody: Prosody, extra: &str, settings: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = config(
            prosody.component_port,
            listener.local_addr().unwrap(),
            extra,
        );
        config.push_str(settings);
        config.push('\n');
        let gateway = Gateway::start(&config);
        Self {
            control: Control::new(listener),
            gateway,
            prosody,
        }
    }

    /// An XMPP account `name@localhost`, logged in and registered with the
    /// test network as `username=name`, once its session has started.
    pub async fn user(&mut self, name: &str) -> Client {
        self.prosody.register(name, DOMAIN, "pass");
        let mut client =
            Client::login(&format!("{name}@{DOMAIN}"), "pass", self.prosody.c2s_port).await;
        client
            .register_by_chat(TESTNET, &format!("username={name}"))
            .await;
        self.control.started(name).await;
        client
    }
}

/// Joins a test network room as `nick`; returns the self-presence (after
/// the `Join` command, which the network answers by itself).
pub async fn join(client: &mut Client, room: &str, nick: &str) -> Presence {
    join_at(client, &room_jid(room), nick).await
}

/// Joins the room at this bare JID (written as the gateway lists it) as
/// `nick`; returns the self-presence, asserted to come from that occupant
/// JID (one join at a time: the next self-presence is this join's).
pub async fn join_at(client: &mut Client, room: &str, nick: &str) -> Presence {
    let to: Jid = format!("{room}/{nick}").parse().unwrap();
    let mut p = Presence::available().with_to(to.clone());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    client.send(p).await;
    let own = client
        .wait_for(|s| match s {
            Stanza::Presence(p)
                if p.type_ == Type::None && muc_info(p).0.contains(&"110".to_owned()) =>
            {
                Some(p.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(own.from.as_ref(), Some(&to), "the self-presence's JID");
    own
}

/// The switchboard process with the test network, its log in a file.
pub struct Gateway {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Gateway {
    /// Starts the binary and waits until its component has connected.
    pub fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("switchboard.toml"), config).unwrap();
        let mut gateway = Self { dir, child: None };
        gateway.launch();
        gateway
    }

    /// The running gateway's `VmRSS` and `VmHWM` in kB (from `/proc`): a
    /// figure printed by measurements, not checked.
    pub fn memory_kb(&self) -> (u64, u64) {
        let pid = self.child.as_ref().expect("the gateway runs").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// Stops the process and starts it again (same config, database, key).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Stops the process (SIGTERM, a clean shutdown); [`Gateway::launch`]
    /// starts it again.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(10));
        }
    }

    /// Runs the binary, its log appended to the file, and waits until its
    /// component has connected.
    pub fn launch(&mut self) {
        let connected = |log: &str| log.matches("component connected").count();
        let before = connected(&self.log());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Process::new(switchboard_bin())
            .arg("--config")
            .arg(self.dir.path().join("switchboard.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + ANSWER;
        while connected(&self.log()) == before {
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            assert!(
                exited.is_none(),
                "the gateway exited ({exited:?}); was it built with \
                 `cargo build --bin switchboard --features test-network`? Its log:\n{}",
                self.log()
            );
            assert!(Instant::now() < deadline, "the component did not connect");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("gateway.log")
    }

    /// The gateway's SQLite database (the default, beside its config).
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("switchboard.db")
    }

    /// Everything the gateway has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::from_secs(10));
        }
        if std::thread::panicking() {
            eprintln!("--- gateway log ---\n{}", self.log());
        }
    }
}

/// The test's end of the control channel.
pub struct Control {
    listener: TcpListener,
    link: Option<(Lines<BufReader<OwnedReadHalf>>, OwnedWriteHalf)>,
    /// Reports read but not yet claimed, oldest first.
    unclaimed: VecDeque<Report>,
    /// Every command each session got so far, in order.
    seen: HashMap<String, Vec<Command>>,
}

impl Control {
    /// The test's end of the control channel, listening on `listener`
    /// (the address the gateway's `[networks.testnet.settings] control`
    /// names).
    pub fn new(listener: TcpListener) -> Self {
        Self {
            listener,
            link: None,
            unclaimed: VecDeque::new(),
            seen: HashMap::new(),
        }
    }

    /// The link, once the network has connected (at its first session).
    async fn link(&mut self) -> &mut (Lines<BufReader<OwnedReadHalf>>, OwnedWriteHalf) {
        if self.link.is_none() {
            let (stream, _) = tokio::time::timeout(ANSWER, self.listener.accept())
                .await
                .expect("the test network did not connect: has a session started?")
                .unwrap();
            let (read, write) = stream.into_split();
            self.link = Some((BufReader::new(read).lines(), write));
        }
        self.link.as_mut().unwrap()
    }

    /// Emits `event` from `user`'s session (held until it starts, if none runs).
    pub async fn inject(&mut self, user: &str, event: Event) {
        let line = to_line(&Order::Inject {
            user: user.to_owned(),
            event,
        });
        self.link()
            .await
            .1
            .write_all(line.as_bytes())
            .await
            .unwrap();
    }

    /// Has `user`'s session refuse their command with this token (the
    /// stanza's id) with this error, in place of the network's answer.
    /// Ordered before the stanza is sent: the control channel is loopback,
    /// the stanza goes through the XMPP server and the gateway.
    pub async fn refuse(&mut self, user: &str, token: &str, kind: ErrorKind, text: &str) {
        let line = to_line(&Order::Refuse {
            user: user.to_owned(),
            token: token.to_owned(),
            kind,
            text: text.to_owned(),
        });
        self.link()
            .await
            .1
            .write_all(line.as_bytes())
            .await
            .unwrap();
    }

    /// The first unclaimed report `pick` takes, waiting for it.
    async fn claim<T>(&mut self, what: &str, mut pick: impl FnMut(&Report) -> Option<T>) -> T {
        if let Some(i) = self.unclaimed.iter().position(|r| pick(r).is_some()) {
            return pick(&self.unclaimed.remove(i).unwrap()).unwrap();
        }
        let deadline = tokio::time::Instant::now() + ANSWER;
        loop {
            let lines = &mut self.link().await.0;
            let line = tokio::time::timeout_at(deadline, lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("test network: no {what} within {ANSWER:?}"))
                .unwrap()
                .expect("the test network closed its control channel");
            let report: Report = from_line(&line).unwrap();
            if let Report::Command { user, command } = &report {
                self.seen
                    .entry(user.clone())
                    .or_default()
                    .push(command.clone());
            }
            if let Some(t) = pick(&report) {
                return t;
            }
            self.unclaimed.push_back(report);
        }
    }

    /// Waits for `user`'s session to start.
    pub async fn started(&mut self, user: &str) {
        self.started_with(user).await;
    }

    /// Waits for `user`'s session to start; the names of the credentials
    /// it started with (what registration stored), sorted.
    pub async fn started_with(&mut self, user: &str) -> Vec<String> {
        self.claim(&format!("start of {user}'s session"), |r| match r {
            Report::Started {
                user: u,
                credentials,
            } if u == user => Some(credentials.clone()),
            _ => None,
        })
        .await
    }

    /// Forgets the link to a gateway that has gone (the next one connects
    /// anew); reports not yet claimed are dropped.
    pub fn relink(&mut self) {
        self.link = None;
        self.unclaimed.clear();
    }

    /// The next file `user`'s session fetched from a message: (token,
    /// name, media type, bytes).
    pub async fn file(&mut self, user: &str) -> (String, String, String, Vec<u8>) {
        self.claim(&format!("file from {user}"), |r| match r {
            Report::File {
                user: u,
                token,
                name,
                media_type,
                bytes,
            } if u == user => Some((
                token.clone(),
                name.clone(),
                media_type.clone(),
                bytes.clone(),
            )),
            _ => None,
        })
        .await
    }

    /// The next command `user`'s session got.
    pub async fn next_command(&mut self, user: &str) -> Command {
        self.claim(&format!("command for {user}"), |r| match r {
            Report::Command { user: u, command } if u == user => Some(command.clone()),
            _ => None,
        })
        .await
    }

    /// The next command `user`'s session got that `want` accepts; the ones
    /// before it are passed over (they stay in [`Control::seen`]).
    pub async fn expect_command(
        &mut self,
        user: &str,
        mut want: impl FnMut(&Command) -> bool,
    ) -> Command {
        loop {
            let command = self.next_command(user).await;
            if want(&command) {
                return command;
            }
        }
    }

    /// Every command `user`'s sessions got so far (as read from the channel).
    pub fn seen(&self, user: &str) -> &[Command] {
        self.seen.get(user).map(Vec::as_slice).unwrap_or_default()
    }
}

/// The gateway's log lines that contain every one of `parts`.
pub fn log_lines(log: &str, parts: &[&str]) -> Vec<String> {
    log.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .map(str::to_owned)
        .collect()
}

/// A message from `author` on the network, with the network's id.
pub fn from_network(id: &str, target: Target, author: &str, text: &str) -> Event {
    Event::Message(NetMessage {
        id: MessageId::from(id),
        target,
        author: UserId::from(author),
        author_nick: author.to_owned(),
        text: text.to_owned(),
        kind: MessageKind::Normal,
        reply_to: None,
        attachments: vec![],
        timestamp: None,
        own: false,
        token: None,
        parts: vec![],
    })
}

/// The room `lobby` as a conversation.
pub fn lobby() -> Target {
    Target::Room(RoomId::from("lobby"))
}

/// Requests per path, as a [`file_server`] counted them.
pub type Counts = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

/// A loopback HTTP server standing for the test network's file host:
/// path → bytes, as `image/png`; a path under `/private/` needs
/// `Authorization: Bearer testnet-alice` (the test network's credentials,
/// which its `FileFetcher` sends), else 403; an unknown path is 404.
/// Returns its port and the count of requests per path.
pub async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> (u16, Counts) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts: Counts = Default::default();
    let seen = std::sync::Arc::clone(&counts);
    let files = std::sync::Arc::new(files);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let files = std::sync::Arc::clone(&files);
            let seen = std::sync::Arc::clone(&seen);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if s.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                *seen.lock().unwrap().entry(path.clone()).or_default() += 1;
                let authorised = head
                    .to_lowercase()
                    .contains("authorization: bearer testnet-alice");
                let answer = match files.iter().find(|(p, _)| *p == path) {
                    Some(_) if path.starts_with("/private/") && !authorised => Err("403 Forbidden"),
                    Some((_, bytes)) => Ok(bytes),
                    None => Err("404 Not Found"),
                };
                match answer {
                    Ok(bytes) => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\
                             Connection: close\r\n\r\n",
                            bytes.len()
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                        let _ = s.write_all(bytes).await;
                    }
                    Err(status) => {
                        let head = format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        );
                        let _ = s.write_all(head.as_bytes()).await;
                    }
                }
            });
        }
    });
    (port, counts)
}
