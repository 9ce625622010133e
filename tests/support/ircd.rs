//! A real IRC server (ngircd, Debian) on loopback, and a raw IRC client that
//! sees exactly what the server sends.

use super::{free_port, shared_tempdir, stop_child, wait_for_port};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The IRC server's name, as used in room ids (`#chan%irc.localhost`).
pub const IRC_HOST: &str = "irc.localhost";

/// A running ngircd.
pub struct Ircd {
    /// Its client port.
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Ircd {
    /// Starts ngircd on a free port.
    pub fn start() -> Self {
        let dir = shared_tempdir();
        let port = free_port();
        let conf = format!(
            "[Global]\nName = {IRC_HOST}\nInfo = test\nListen = 127.0.0.1\nPorts = {port}\n\
             MotdPhrase = \"welcome\"\nServerUID = nobody\nServerGID = nogroup\n\
             AdminInfo1 = test\nAdminInfo2 = test\nAdminEMail = test@localhost\n\
             [Limits]\nMaxNickLength = 30\nMaxJoins = 0\nMaxConnectionsIP = 0\n\
             PingTimeout = 120\nPongTimeout = 20\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n"
        );
        std::fs::write(dir.path().join("ngircd.conf"), conf).unwrap();
        let mut ircd = Ircd {
            port,
            dir,
            child: None,
        };
        ircd.launch();
        ircd
    }

    fn launch(&mut self) {
        let child = Command::new("ngircd")
            .args(["-n", "-f"])
            .arg(self.dir.path().join("ngircd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ngircd did not start: is it installed (scripts/install-test-deps)?");
        self.child = Some(child);
        assert!(
            wait_for_port(self.port, Duration::from_secs(20)),
            "ngircd did not open port {}",
            self.port
        );
    }

    /// Kills the server (connections drop at once).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Ircd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(2));
        }
    }
}

/// A raw IRC client: sends lines as given and records every line received.
pub struct IrcClient {
    /// Its nick.
    pub nick: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line received so far (without CR LF).
    pub seen: Vec<String>,
    /// The same lines as the bytes that came (for encodings).
    pub seen_raw: Vec<Vec<u8>>,
}

impl IrcClient {
    /// Connects and registers; returns once the server said 001.
    pub async fn connect(port: u16, nick: &str) -> Self {
        Self::connect_from(port, nick, [127, 0, 0, 1]).await
    }

    /// Connects from a given loopback address (servers limit clients per address).
    pub async fn connect_from(port: u16, nick: &str, source: [u8; 4]) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((source, 0)))
            .unwrap();
        let stream = socket
            .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        let (r, w) = stream.into_split();
        let mut c = IrcClient {
            nick: nick.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
            seen_raw: Vec::new(),
        };
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :{nick}")).await;
        c.expect(|l| l.split(' ').nth(1) == Some("001")).await;
        c
    }

    /// Sends one line as these bytes (CR LF added): text in any encoding.
    pub async fn send_bytes(&mut self, line: &[u8]) {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(b"\r\n");
        self.writer.write_all(&bytes).await.unwrap();
    }

    /// Sends one raw line.
    pub async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }

    /// Joins a channel and waits for the end of its names list.
    pub async fn join(&mut self, channel: &str) {
        self.send(&format!("JOIN {channel}")).await;
        self.expect(|l| l.split(' ').nth(1) == Some("366")).await;
    }

    /// Waits (15 s at most) for a line that `pick` accepts, answering PINGs.
    pub async fn expect(&mut self, pick: impl Fn(&str) -> bool) -> String {
        self.expect_within(Duration::from_secs(15), pick)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{}: expected line did not arrive; seen:\n{}",
                    self.nick,
                    self.seen.join("\n")
                )
            })
    }

    /// Waits up to `timeout` for a line that `pick` accepts.
    pub async fn expect_within(
        &mut self,
        timeout: Duration,
        pick: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut raw = Vec::new();
            let read =
                tokio::time::timeout_at(deadline, self.reader.read_until(b'\n', &mut raw)).await;
            match read {
                Err(_) => return None,
                Ok(Ok(0)) => {
                    self.seen.push("<connection closed by the server>".into());
                    return None;
                }
                Ok(Err(e)) => {
                    self.seen.push(format!("<read error: {e}>"));
                    return None;
                }
                Ok(Ok(_)) => {}
            }
            let line = String::from_utf8_lossy(&raw)
                .trim_end_matches(['\r', '\n'])
                .to_owned();
            while raw.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
                raw.pop();
            }
            self.seen_raw.push(raw);
            if let Some(token) = line.strip_prefix("PING ") {
                let pong = format!("PONG {token}");
                self.send(&pong).await;
            }
            self.seen.push(line.clone());
            if pick(&line) {
                return Some(line);
            }
        }
    }
}

/// The IRCv3 modules InspIRCd 3 ships (Debian's `inspircd`): away-notify,
/// account-notify and extended-join (`ircv3`), batch, cap-notify, chghost,
/// message-tags (`ircv3_ctctags`), echo-message, invite-notify,
/// labeled-response, msgid, server-time and setname.
pub const INSPIRCD_IRCV3_MODULES: &[&str] = &[
    "cap",
    "ircv3",
    "ircv3_accounttag",
    "ircv3_batch",
    "ircv3_capnotify",
    "ircv3_chghost",
    "ircv3_ctctags",
    "ircv3_echomessage",
    "ircv3_invitenotify",
    "ircv3_labeledresponse",
    "ircv3_msgid",
    "ircv3_servertime",
    "setname",
];

/// A running InspIRCd 3 with its IRCv3 modules, named [`IRC_HOST`].
pub struct InspIrcd {
    /// Its client port.
    pub port: u16,
    /// Its TLS client port, when started with [`InspIrcd::start_tls`].
    pub tls_port: Option<u16>,
    _dir: tempfile::TempDir,
    child: Option<Child>,
}

impl InspIrcd {
    /// Starts InspIRCd on a free port, flood limits off, every module of
    /// [`INSPIRCD_IRCV3_MODULES`] loaded.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts it as [`InspIrcd::start`] does, with also a TLS port
    /// (`m_ssl_gnutls`) presenting `cert` (PEM, the server's certificate
    /// and then any intermediates) with its `key`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::launch(Some((cert, key)))
    }

    fn launch(tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let dir = shared_tempdir();
        let port = free_port();
        let modules: String = INSPIRCD_IRCV3_MODULES
            .iter()
            .map(|m| format!("<module name=\"{m}\">\n"))
            .collect();
        let mut tls_port = None;
        let tls_conf = match tls {
            None => String::new(),
            Some((cert, key)) => {
                // Copied in, so that the unprivileged server can read them.
                std::fs::copy(cert, dir.path().join("cert.pem")).unwrap();
                std::fs::copy(key, dir.path().join("key.pem")).unwrap();
                let p = free_port();
                tls_port = Some(p);
                format!(
                    "<module name=\"ssl_gnutls\">\n\
                     <sslprofile name=\"Clients\" provider=\"gnutls\" certfile=\"{d}/cert.pem\" \
                     keyfile=\"{d}/key.pem\" dhfile=\"\" hash=\"sha256\">\n\
                     <bind address=\"127.0.0.1\" port=\"{p}\" type=\"clients\" sslprofile=\"Clients\">\n",
                    d = dir.path().display()
                )
            }
        };
        let conf = format!(
            "<server name=\"{IRC_HOST}\" description=\"test\" network=\"test\">\n\
             <admin name=\"test\" nick=\"test\" email=\"test@localhost\">\n\
             <bind address=\"127.0.0.1\" port=\"{port}\" type=\"clients\">\n\
             {tls_conf}\
             <class name=\"all\" commands=\"*\" privs=\"*\" usermodes=\"*\" chanmodes=\"*\">\n\
             <connect name=\"main\" allow=\"*\" commandrate=\"1000000\" threshold=\"1000000\" \
             fakelag=\"no\" localmax=\"1000\" globalmax=\"1000\" maxchans=\"100\" limit=\"1000\" \
             pingfreq=\"600\" timeout=\"60\" resolvehostnames=\"no\" useident=\"no\">\n\
             {modules}<pid file=\"{}/inspircd.pid\">\n<dns timeout=\"1\">\n\
             <limits maxnick=\"30\" maxchan=\"64\">\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("inspircd.conf"), conf).unwrap();
        super::open_up(dir.path());
        // InspIRCd refuses to run as root.
        let child = super::unprivileged("inspircd")
            .args(["--nofork", "--config"])
            .arg(dir.path().join("inspircd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("inspircd did not start: is it installed (scripts/install-test-deps)?");
        let ircd = InspIrcd {
            port,
            tls_port,
            _dir: dir,
            child: Some(child),
        };
        for p in std::iter::once(port).chain(tls_port) {
            assert!(
                wait_for_port(p, Duration::from_secs(20)),
                "inspircd did not open port {p}"
            );
        }
        ircd
    }
}

impl Drop for InspIrcd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(2));
        }
    }
}

impl IrcClient {
    /// Connects, asks for the IRCv3 capabilities `caps` (space-separated)
    /// and registers; returns once the server said 001.
    pub async fn connect_with_caps(port: u16, nick: &str, caps: &str) -> Self {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let (r, w) = stream.into_split();
        let mut c = IrcClient {
            nick: nick.to_owned(),
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
            seen_raw: Vec::new(),
        };
        c.send("CAP LS 302").await;
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :{nick}")).await;
        c.send(&format!("CAP REQ :{caps}")).await;
        c.expect(|l| l.contains(" CAP ") && (l.contains(" ACK ") || l.contains(" NAK ")))
            .await;
        c.send("CAP END").await;
        c.expect(|l| l.split(' ').any(|w| w == "001")).await;
        c
    }
}
