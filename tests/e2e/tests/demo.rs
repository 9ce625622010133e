//! `scripts/demo` as a new user meets it: it starts Prosody, ngircd and the
//! switchboard binary on loopback, its account joins the demo room at once
//! (no registration step, as phone clients need), Prosody offers STARTTLS,
//! and SIGTERM stops every process it started.

mod common;

use common::{switchboard_bin, Client};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::{Presence, Type};

const ROOM: &str = "#switchboard%irc.localhost@irc.localhost";

/// A running demo: the script's process and what it printed.
struct Demo {
    child: Child,
    printed: Vec<String>,
    /// The processes below the script once it said it runs.
    started: HashSet<u32>,
    _certs: tempfile::TempDir,
}

impl Demo {
    /// Starts the demo and waits until it says it is running.
    fn start() -> Demo {
        let certs = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/demo");
        let mut child = Command::new("bash")
            .arg(script)
            .env("SWITCHBOARD_BIN", switchboard_bin())
            .env("SWITCHBOARD_DEMO_CERTS", certs.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            // Read to the end, even once nobody listens: a closed pipe
            // would kill the script with SIGPIPE at its next line (its
            // "stopping" on SIGTERM), before it stops what it started.
            for line in out.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut printed = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) => {
                    let done = line.starts_with("Press Ctrl-C");
                    printed.push(line);
                    if done {
                        break;
                    }
                }
                Err(e) => panic!("the demo did not start ({e}); it printed:\n{printed:#?}"),
            }
        }
        Demo {
            started: descendants(child.id()),
            child,
            printed,
            _certs: certs,
        }
    }

    /// The rest of the printed line that starts with `prefix` (trimmed).
    fn value(&self, prefix: &str) -> String {
        self.printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {:#?}", self.printed))
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }

    fn c2s_port(&self) -> u16 {
        let line = self
            .printed
            .iter()
            .find(|l| l.trim().starts_with("XMPP server:"))
            .unwrap();
        line.split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let script = self.child.id();
        let _ = Command::new("kill").arg(script.to_string()).status();
        for _ in 0..100 {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Whatever the demo left behind (a failing test) goes too.
        for pid in self.started.iter().chain([&script]).filter(|p| alive(**p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = self.child.wait();
    }
}

/// The processes below `root`, from /proc.
fn descendants(root: u32) -> HashSet<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so after the last ')'.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = rest.split(' ').nth(1).unwrap().parse().unwrap();
        parents.push((pid, ppid));
    }
    let mut found = HashSet::from([root]);
    loop {
        let before = found.len();
        for (pid, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    found.remove(&root);
    found
}

/// Whether a process runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
}

/// The command line of a process, for messages.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_works_for_a_new_user_and_sigterm_stops_all_it_started() {
    let mut demo = Demo::start();
    let started = demo.started.clone();
    let names: Vec<String> = started.iter().map(|p| cmdline(*p)).collect();
    for wanted in ["prosody", "ngircd", "switchboard --config"] {
        assert!(
            names.iter().any(|n| n.contains(wanted)),
            "{wanted} is not running under the demo: {names:#?}"
        );
    }
    let password = demo.value("password:");
    let port = demo.c2s_port();
    assert!(
        demo.printed
            .iter()
            .any(|l| l.contains("/sub allow irc.localhost")),
        "the instructions name the subscription prompt"
    );

    // Dino needs STARTTLS: the stream features offer it.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    tcp.write_all(
        b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' \
          xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
    )
    .await
    .unwrap();
    let mut features = String::new();
    let mut buf = [0u8; 4096];
    while !features.contains("</stream:features>") {
        let n = tokio::time::timeout(common::ANSWER, tcp.read(&mut buf))
            .await
            .expect("stream features")
            .unwrap();
        assert!(n > 0, "stream closed: {features}");
        features.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        features.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'"),
        "no STARTTLS offered: {features}"
    );

    // As from a phone client: no chat with the gateway, straight into the room
    // with a nick of one's own; the greeter says hello to that nick.
    let mut user = Client::login("demo@localhost", &password, port).await;
    let occupant: Jid = format!("{ROOM}/visitor").parse().unwrap();
    let mut p = Presence::available().with_to(occupant.clone());
    p.payloads
        .push(Element::builder("x", "http://jabber.org/protocol/muc").build());
    user.send(p).await;
    user.wait_for(|s| match s {
        Stanza::Presence(p) if p.from.as_ref() == Some(&occupant) && p.type_ == Type::None => {
            Some(())
        }
        Stanza::Presence(p) if p.type_ == Type::Error => panic!("join refused: {p:?}"),
        _ => None,
    })
    .await;
    let greeting = user
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.from
                    .as_ref()
                    .is_some_and(|f| f.resource().is_some_and(|r| r.as_str() == "greeter")) =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await;
    assert_eq!(
        greeting,
        "Hello visitor, welcome to IRC through Switchboard!"
    );

    // SIGTERM (not Ctrl-C): every process the demo started ends with it.
    drop(user);
    let status = Command::new("kill")
        .args(["-TERM", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exited = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        demo.child.try_wait().unwrap().is_some()
    });
    assert!(exited, "the demo did not end on SIGTERM");
    let left: Vec<String> = started
        .iter()
        .filter(|p| alive(**p))
        .map(|p| format!("{p}: {}", cmdline(*p)))
        .collect();
    assert!(left.is_empty(), "left running after SIGTERM: {left:#?}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the XMPP port still answers"
    );
}
