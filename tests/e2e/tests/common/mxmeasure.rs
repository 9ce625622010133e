//! The measures of the Matrix bench, each on its own: bytes counted at a
//! loopback proxy, a process's RSS and CPU from `/proc`, a naive client's
//! join, the gateway's join of a room as an XMPP client sees it, and
//! message bursts both ways.
//!
//! A file takes it beside `common`, `synapse` and `bigroom`:
//! `#[path = "common/mxmeasure.rs"] mod mxmeasure;`.
#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::presence::{Presence, Type};

use crate::bigroom::Api;
use crate::common::room::muc_info;
use crate::common::Client;
use crate::synapse::encode;

/// A TCP proxy on loopback in front of Synapse that counts the bytes
/// Synapse sends back (HTTP headers and bodies, as they cross the wire),
/// in all and per request: a connection's bytes go to the last request
/// line seen going up it (HTTP/1.1 clients do not pipeline).
pub struct CountingProxy {
    pub port: u16,
    down: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// One request through the proxy: its method and path (the query cut
/// short) and the bytes answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub line: String,
    pub bytes: u64,
}

/// Appends an answer's bytes to `$MXBENCH_DUMP/<port>-<request>` when
/// that variable names a folder (to read what a request's bytes were).
fn dump(port: u16, request: usize, bytes: &[u8]) {
    use std::io::Write;
    let Some(dir) = std::env::var_os("MXBENCH_DUMP") else {
        return;
    };
    let path = std::path::Path::new(&dir).join(format!("{port}-{request}"));
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(bytes);
    }
}

/// The method and path of a request that starts this chunk, if one does.
fn request_line(chunk: &[u8]) -> Option<String> {
    let head = &chunk[..chunk.len().min(512)];
    let head = String::from_utf8_lossy(head);
    let line = head.lines().next()?;
    let (method, rest) = line.split_once(' ')?;
    if !["GET", "POST", "PUT", "DELETE"].contains(&method) {
        return None;
    }
    let target = rest.rsplit_once(' ').map_or(rest, |(t, _)| t);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let since = if query.contains("since=") {
        " (since)"
    } else {
        ""
    };
    Some(format!("{method} {path}{since}"))
}

impl CountingProxy {
    /// Listens on a free loopback port, forwarding to `target_port`.
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::clone(&down);
        let log = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let count = Arc::clone(&count);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    // The index in the log of this connection's last request.
                    let current = Arc::new(Mutex::new(None::<usize>));
                    let up = {
                        let log = Arc::clone(&log);
                        let current = Arc::clone(&current);
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = match client_read.read(&mut buf).await {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                if let Some(line) = request_line(&buf[..n]) {
                                    let mut log = log.lock().unwrap();
                                    log.push(Request { line, bytes: 0 });
                                    *current.lock().unwrap() = Some(log.len() - 1);
                                }
                                if server_write.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                            let _ = server_write.shutdown().await;
                        })
                    };
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        count.fetch_add(n as u64, Ordering::Relaxed);
                        if let Some(i) = *current.lock().unwrap() {
                            log.lock().unwrap()[i].bytes += n as u64;
                            dump(port, i, &buf[..n]);
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = client_write.shutdown().await;
                    up.abort();
                });
            }
        });
        Self {
            port,
            down,
            requests,
        }
    }

    /// Each request's bytes so far (a mark for [`Self::grown`]).
    pub fn snapshot(&self) -> Vec<u64> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.bytes)
            .collect()
    }

    /// The requests answered more bytes since `mark` (a long poll open
    /// before it too), with the bytes since.
    pub fn grown(&self, mark: &[u64]) -> Vec<Request> {
        let log = self.requests.lock().unwrap();
        log.iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let bytes = r.bytes - mark.get(i).copied().unwrap_or(0);
                (bytes > 0).then(|| Request {
                    line: r.line.clone(),
                    bytes,
                })
            })
            .collect()
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The bytes Synapse sent through this proxy so far.
    pub fn down(&self) -> u64 {
        self.down.load(Ordering::Relaxed)
    }
}

/// Resident memory of a process, in kB.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(11) + field(12)
}

/// The room JID of a Matrix alias or id at the gateway `domain`, escaped
/// as the gateway does (`:` is `\3a`, a capital is `\` and its code).
pub fn room_jid(id: &str, domain: &str) -> String {
    let node: String = id
        .chars()
        .map(|c| match c {
            ':' => "\\3a".to_owned(),
            c if c.is_ascii_uppercase() => format!("\\{:02x}", c as u32),
            c => c.to_string(),
        })
        .collect();
    format!("{node}@{domain}")
}

/// What joining a room cost.
#[derive(Clone, Debug, Default)]
pub struct Join {
    /// Bytes Synapse sent for the join (through the proxy).
    pub bytes: u64,
    /// From the join's start to a message of the room on screen.
    pub first_message_ms: f64,
    /// The gateway's RSS growth (none for the naive client).
    pub rss_growth_kb: Option<i64>,
    /// The requests the bytes went to.
    pub requests: Vec<Request>,
}

/// A naive client's join: `POST /join`, an initial `/sync` with no filter,
/// then the room's newest messages (`/messages`, the default page), all
/// through `proxy`, as `user`.
pub async fn naive_join(proxy: &CountingProxy, user: &Api, room_id: &str) -> Join {
    let api = Api {
        base: proxy.url(),
        ..user.clone()
    };
    let before = proxy.down();
    let mark = proxy.snapshot();
    let start = Instant::now();
    let path = format!("join/{}", encode(room_id));
    api.client(reqwest::Method::POST, &path, Some(serde_json::json!({})))
        .await;
    let sync = api.client(reqwest::Method::GET, "sync", None).await;
    assert!(
        sync["rooms"]["join"].get(room_id).is_some(),
        "the naive sync has no {room_id}"
    );
    let path = format!("rooms/{}/messages?dir=b", encode(room_id));
    let page = api.client(reqwest::Method::GET, &path, None).await;
    assert!(page["chunk"].as_array().is_some_and(|c| !c.is_empty()));
    Join {
        bytes: proxy.down() - before,
        first_message_ms: start.elapsed().as_secs_f64() * 1000.0,
        rss_growth_kb: None,
        requests: proxy.grown(&mark),
    }
}

/// The gateway's join of `room` (a room JID) as `nick`: the MUC join
/// (no history asked), the self-presence, then a message `sender` posts
/// at once, until it reaches the client; bytes and RSS after a settle.
pub async fn gateway_join(
    client: &mut Client,
    room: &str,
    nick: &str,
    sender: &Api,
    room_id: &str,
    proxy: &CountingProxy,
    pid: u32,
) -> Join {
    let rss0 = rss_kb(pid);
    let before = proxy.down();
    let mark = proxy.snapshot();
    let occupant: Jid = format!("{room}/{nick}").parse().unwrap();
    let mut p = Presence::available().with_to(occupant.clone());
    p.payloads.push(
        "<x xmlns='http://jabber.org/protocol/muc'>\
         <history xmlns='http://jabber.org/protocol/muc' maxstanzas='0'/></x>"
            .parse()
            .unwrap(),
    );
    let start = Instant::now();
    client.send(p).await;
    // The self-presence (110): the gateway may show another nick.
    let bare = occupant.to_bare();
    client
        .wait_for(|s| match s {
            Stanza::Presence(p) if p.from.as_ref().map(Jid::to_bare) == Some(bare.clone()) => {
                match p.type_ {
                    Type::None if muc_info(p).0.iter().any(|c| c == "110") => Some(()),
                    Type::Error => panic!("join refused: {p:?}"),
                    _ => None,
                }
            }
            _ => None,
        })
        .await;
    let text = format!("first message after {nick} joined");
    sender.send(room_id, &format!("f{nick}"), &text).await;
    client
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat
                    && m.get_best_body(vec![]).is_some_and(|(_, b)| *b == text) =>
            {
                Some(())
            }
            _ => None,
        })
        .await;
    let first_message_ms = start.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Join {
        bytes: proxy.down() - before,
        first_message_ms,
        rss_growth_kb: Some(rss_kb(pid) as i64 - rss0 as i64),
        requests: proxy.grown(&mark),
    }
}

/// A burst one way.
#[derive(Clone, Copy, Debug, Default)]
pub struct Burst {
    pub per_second: f64,
    pub lost: usize,
    pub cpu_ms_per_1000: f64,
}

/// How long a burst waits for one more message before it counts the rest lost.
const STALL: Duration = Duration::from_secs(20);

/// Matrix → XMPP: the senders post `count` messages (8 at once); the
/// client counts them arriving; the gateway's CPU meanwhile.
pub async fn matrix_to_xmpp(
    client: &mut Client,
    senders: &[Api],
    room_id: &str,
    count: usize,
    pid: u32,
) -> Burst {
    let cpu0 = cpu_ticks(pid);
    let start = Instant::now();
    let posting = {
        let senders = senders.to_vec();
        let room_id = room_id.to_owned();
        tokio::spawn(async move {
            futures::stream::iter(0..count)
                .map(|n| {
                    let sender = senders[n % senders.len()].clone();
                    let room_id = room_id.clone();
                    async move {
                        sender
                            .send(&room_id, &format!("in{n}"), &format!("in {n}"))
                            .await
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<String>>()
                .await;
        })
    };
    let mut seen = HashSet::new();
    while seen.len() < count {
        let got = client
            .maybe(STALL, |s| match s {
                Stanza::Message(m) if m.type_ == MessageType::Groupchat => m
                    .get_best_body(vec![])
                    .and_then(|(_, b)| b.strip_prefix("in ")?.parse::<usize>().ok()),
                _ => None,
            })
            .await;
        let Some(n) = got else { break };
        seen.insert(n);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(pid) - cpu0;
    posting.await.unwrap();
    Burst {
        per_second: seen.len() as f64 / elapsed,
        lost: count - seen.len(),
        cpu_ms_per_1000: cpu as f64 * 10.0 / count as f64 * 1000.0,
    }
}

/// XMPP → Matrix: the client sends `count` messages to `room`; `reader`
/// (a member) counts them in its `/sync`; the gateway's CPU meanwhile.
pub async fn xmpp_to_matrix(
    client: &mut Client,
    room: &str,
    reader: &Api,
    room_id: &str,
    count: usize,
    pid: u32,
) -> Burst {
    let filter = |limit: usize| {
        format!(
            r#"{{"presence":{{"types":[]}},"account_data":{{"types":[]}},"room":{{"rooms":["{room_id}"],"timeline":{{"limit":{limit},"types":["m.room.message"]}},"state":{{"types":[]}},"ephemeral":{{"types":[]}},"account_data":{{"types":[]}}}}}}"#
        )
    };
    let first = reader
        .client(
            reqwest::Method::GET,
            &format!("sync?filter={}", urlencode(&filter(1))),
            None,
        )
        .await;
    let mut since = first["next_batch"].as_str().unwrap().to_owned();
    let cpu0 = cpu_ticks(pid);
    let start = Instant::now();
    let to: Jid = room.parse().unwrap();
    for n in 0..count {
        let mut m = Message::groupchat(Some(to.clone())).with_body(Lang::new(), format!("out {n}"));
        m.id = Some(xmpp_parsers::message::Id(format!("out{n}")));
        client.send(m).await;
    }
    let mut seen = HashSet::new();
    let mut last_news = Instant::now();
    while seen.len() < count && last_news.elapsed() < STALL {
        let path = format!(
            "sync?timeout=5000&since={since}&filter={}",
            urlencode(&filter(1000))
        );
        let answer = reader.client(reqwest::Method::GET, &path, None).await;
        since = answer["next_batch"].as_str().unwrap().to_owned();
        let timeline = &answer["rooms"]["join"][room_id]["timeline"];
        if timeline["limited"] == Value::Bool(true) {
            eprintln!("the reader's sync was limited: some messages may be counted lost");
        }
        for e in timeline["events"].as_array().into_iter().flatten() {
            let n = e["content"]["body"]
                .as_str()
                .and_then(|b| b.strip_prefix("out "))
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(n) = n {
                if seen.insert(n) {
                    last_news = Instant::now();
                }
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_ticks(pid) - cpu0;
    Burst {
        per_second: seen.len() as f64 / elapsed,
        lost: count - seen.len(),
        cpu_ms_per_1000: cpu as f64 * 10.0 / count as f64 * 1000.0,
    }
}

/// Percent-encodes a query value (JSON filters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The path of simplified sliding sync (MSC4186) as Synapse serves it.
const SLIDING: &str = "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync";

/// A minimal simplified sliding sync (MSC4186) request: one list of
/// rooms with the state the gateway reads (name, alias, topic,
/// encryption, power levels, creation, the user's and the timeline's
/// senders' memberships), a timeline of one event, no extension (so no
/// device lists, receipts or typing).
fn sliding_body() -> Value {
    serde_json::json!({
        "lists": {"rooms": {
            "ranges": [[0, 99]],
            "timeline_limit": 1,
            "required_state": [
                ["m.room.name", ""], ["m.room.canonical_alias", ""],
                ["m.room.topic", ""], ["m.room.encryption", ""],
                ["m.room.power_levels", ""], ["m.room.create", ""],
                ["m.room.member", "$ME"], ["m.room.member", "$LAZY"]
            ]
        }}
    })
}

/// One sliding sync request from `pos` (none: the first), held open
/// `timeout_ms`; its answer.
async fn sliding_sync(api: &Api, pos: Option<&str>, timeout_ms: u64) -> Value {
    let mut path = format!("{SLIDING}?timeout={timeout_ms}");
    if let Some(pos) = pos {
        path.push_str(&format!("&pos={}", urlencode(pos)));
    }
    api.call(reqwest::Method::POST, &path, Some(sliding_body()))
        .await
}

/// A password login with a device of its own (sliding sync keeps its
/// connections per device; the admin's logins have none).
pub async fn device_login(base: &Api, localpart: &str, password: &str) -> Api {
    let body = serde_json::json!({
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": localpart},
        "password": password,
        "initial_device_display_name": "mxbench",
    });
    let answer: Value = base
        .http
        .post(format!("{}/_matrix/client/v3/login", base.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Api {
        token: answer["access_token"].as_str().unwrap().to_owned(),
        ..base.clone()
    }
}

/// What the same join costs a client of simplified sliding sync
/// (MSC4186) with the gateway's needs ([`sliding_body`]): after a first
/// sync (not counted), `POST /join`, syncs until the room is there, then
/// until a message `sender` posts arrives; all through `proxy`, as `user`.
pub async fn sliding_join(proxy: &CountingProxy, user: &Api, room_id: &str, sender: &Api) -> Join {
    let api = Api {
        base: proxy.url(),
        ..user.clone()
    };
    let first = sliding_sync(&api, None, 0).await;
    let mut pos = first["pos"]
        .as_str()
        .expect("a sliding sync position")
        .to_owned();
    let before = proxy.down();
    let mark = proxy.snapshot();
    let start = Instant::now();
    let path = format!("join/{}", encode(room_id));
    api.client(reqwest::Method::POST, &path, Some(serde_json::json!({})))
        .await;
    let mut timeout = 0;
    loop {
        let answer = sliding_sync(&api, Some(&pos), timeout).await;
        pos = answer["pos"].as_str().unwrap().to_owned();
        if answer["rooms"].get(room_id).is_some() {
            break;
        }
        timeout = 10_000;
    }
    let text = format!("first message after a sliding join of {room_id}");
    sender
        .send(
            room_id,
            &format!("s{}", pos.len() + start.elapsed().as_nanos() as usize),
            &text,
        )
        .await;
    loop {
        let answer = sliding_sync(&api, Some(&pos), 10_000).await;
        pos = answer["pos"].as_str().unwrap().to_owned();
        let timeline = &answer["rooms"][room_id]["timeline"];
        let seen = timeline
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| e["content"]["body"].as_str() == Some(text.as_str()));
        if seen {
            break;
        }
    }
    Join {
        bytes: proxy.down() - before,
        first_message_ms: start.elapsed().as_secs_f64() * 1000.0,
        rss_growth_kb: None,
        requests: proxy.grown(&mark),
    }
}
