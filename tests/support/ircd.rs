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
        };
        c.send(&format!("NICK {nick}")).await;
        c.send(&format!("USER {nick} 0 * :{nick}")).await;
        c.expect(|l| l.split(' ').nth(1) == Some("001")).await;
        c
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
