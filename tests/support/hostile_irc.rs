//! A scripted IRC server for tests: it accepts connections on loopback,
//! answers registration (`001` once it has `USER`) and PINGs, records every
//! line it receives, and sends whatever lines the test gives it, as fast as
//! the socket takes them. A test plays a hostile server with it.
//!
//! Started with [`HostileIrc::start_offering`], it also offers IRCv3
//! capabilities (`CAP LS`, every `CAP REQ` acknowledged, `001` held until
//! `CAP END`) and extra `005` tokens.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The server's name, as used in ids (`#chan%irc.hostile.localhost`).
pub const HOSTILE_HOST: &str = "irc.hostile.localhost";

/// How long [`HostileIrc::wait_for`] waits.
const WAIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct State {
    /// Every line received, on every connection, in order.
    received: Vec<String>,
    /// Connections accepted so far.
    connections: usize,
    /// The nick the client registered with (the last `NICK`).
    nick: String,
    /// Capabilities offered in `CAP LS` (none: `CAP` is not answered).
    caps: String,
    /// Tokens added to the `005` line.
    isupport: String,
}

/// A running scripted server.
pub struct HostileIrc {
    /// Its port on 127.0.0.1.
    pub port: u16,
    state: Arc<Mutex<State>>,
    /// The newest connection's sending half.
    writer: Arc<tokio::sync::Mutex<Option<OwnedWriteHalf>>>,
    accept: JoinHandle<()>,
}

impl HostileIrc {
    /// Listens on a free loopback port.
    pub async fn start() -> Self {
        Self::start_offering("", "").await
    }

    /// Listens on a free loopback port, offering `caps` (space-separated,
    /// as in `CAP LS`) and adding `isupport` to its `005` line.
    pub async fn start_offering(caps: &str, isupport: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            caps: caps.to_owned(),
            isupport: isupport.to_owned(),
            ..State::default()
        }));
        let writer = Arc::new(tokio::sync::Mutex::new(None));
        let accept = {
            let (state, writer) = (Arc::clone(&state), Arc::clone(&writer));
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    let (r, w) = socket.into_split();
                    state.lock().unwrap().connections += 1;
                    *writer.lock().await = Some(w);
                    tokio::spawn(serve(
                        BufReader::new(r),
                        Arc::clone(&state),
                        Arc::clone(&writer),
                    ));
                }
            })
        };
        HostileIrc {
            port,
            state,
            writer,
            accept,
        }
    }

    /// The nick the client registered with.
    pub fn nick(&self) -> String {
        self.state.lock().unwrap().nick.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    /// Every line received so far.
    pub fn received(&self) -> Vec<String> {
        self.state.lock().unwrap().received.clone()
    }

    /// Sends lines (each given without its CR LF) on the newest connection.
    pub async fn send<S: AsRef<str>>(&self, lines: impl IntoIterator<Item = S>) {
        let mut out = Vec::new();
        for l in lines {
            out.extend_from_slice(l.as_ref().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.send_bytes(&out).await;
    }

    /// Sends raw bytes on the newest connection (a test may send anything).
    pub async fn send_bytes(&self, bytes: &[u8]) {
        let mut w = self.writer.lock().await;
        let w = w.as_mut().expect("no connection yet");
        // A gateway that closed the connection is what some tests check for.
        let _ = w.write_all(bytes).await;
        let _ = w.flush().await;
    }

    /// Closes the newest connection from the server's side.
    pub async fn hang_up(&self) {
        if let Some(mut w) = self.writer.lock().await.take() {
            let _ = w.shutdown().await;
        }
    }

    /// Waits for a received line `pick` accepts (earlier ones included) and
    /// returns it; panics after 30 s.
    pub async fn wait_for(&self, pick: impl Fn(&str) -> bool) -> String {
        self.wait_for_from(0, pick).await
    }

    /// [`HostileIrc::wait_for`] among the lines received after the first `skip`.
    pub async fn wait_for_from(&self, skip: usize, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(l) = self
                .state
                .lock()
                .unwrap()
                .received
                .iter()
                .skip(skip)
                .find(|l| pick(l))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "the IRC server got no such line within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the client has sent `USER` (the server answers `001`
    /// at once) and returns its nick.
    pub async fn registered(&self) -> String {
        self.wait_for(|l| l.starts_with("USER ")).await;
        self.nick()
    }
}

impl Drop for HostileIrc {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: records lines, answers registration, CAP and PINGs.
async fn serve(
    mut r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    state: Arc<Mutex<State>>,
    writer: Arc<tokio::sync::Mutex<Option<OwnedWriteHalf>>>,
) {
    let mut raw = Vec::new();
    // This connection's registration: USER seen, CAP negotiation under way.
    let (mut user, mut negotiating) = (false, false);
    loop {
        raw.clear();
        match r.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_owned();
        let answer = {
            let mut s = state.lock().unwrap();
            s.received.push(line.clone());
            if let Some(nick) = line.strip_prefix("NICK ") {
                s.nick = nick.to_owned();
            }
            let welcome = |s: &State| {
                let extra = match s.isupport.as_str() {
                    "" => String::new(),
                    tokens => format!(" {tokens}"),
                };
                Some(format!(
                    ":{HOSTILE_HOST} 001 {} :Welcome\r\n:{HOSTILE_HOST} 005 {} CHANTYPES=# PREFIX=(ov)@+{} :are supported\r\n",
                    s.nick, s.nick, extra
                ))
            };
            if line.starts_with("CAP LS") && !s.caps.is_empty() {
                negotiating = true;
                Some(format!(":{HOSTILE_HOST} CAP * LS :{}\r\n", s.caps))
            } else if let Some(wanted) = line.strip_prefix("CAP REQ :") {
                negotiating.then(|| format!(":{HOSTILE_HOST} CAP * ACK :{wanted}\r\n"))
            } else if line == "CAP END" && negotiating {
                negotiating = false;
                if user {
                    welcome(&s)
                } else {
                    None
                }
            } else if line.starts_with("USER ") {
                user = true;
                if negotiating {
                    None
                } else {
                    welcome(&s)
                }
            } else {
                line.strip_prefix("PING ")
                    .map(|t| format!(":{HOSTILE_HOST} PONG {HOSTILE_HOST} {t}\r\n"))
            }
        };
        if let Some(a) = answer {
            if let Some(w) = writer.lock().await.as_mut() {
                let _ = w.write_all(a.as_bytes()).await;
            }
        }
    }
}
