//! A real XMPP client (tokio-xmpp) and the switchboard process.
#![allow(dead_code)]

#[path = "../../../support/mod.rs"]
pub mod support;

pub mod history;
pub mod relay;
pub mod room;

use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio_xmpp::connect::{DnsConfig, TcpServerConnector};
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

/// How long any one answer may take.
pub const ANSWER: Duration = Duration::from_secs(30);

/// The gateway binary, built by `cargo build --bin switchboard --features
/// test-network` beforehand (the test network's tests need the feature).
pub fn switchboard_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_BIN") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/switchboard");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --bin switchboard --features test-network` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// The switchboard process with a config in a temporary folder.
pub struct Switchboard {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
}

impl Switchboard {
    /// Writes `config` and starts the process.
    pub fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("switchboard.toml");
        std::fs::write(&path, config).unwrap();
        let mut s = Switchboard {
            dir,
            config: path,
            child: None,
        };
        s.launch();
        s
    }

    fn launch(&mut self) {
        let child = Command::new(switchboard_bin())
            .arg("--config")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Stops it with SIGTERM (a clean shutdown).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            support::stop_child(&mut c, Duration::from_secs(10));
        }
    }

    /// Stops and starts it again with the same config and database.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

impl Drop for Switchboard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A logged-in XMPP client (tokio-xmpp's stanza stream).
///
/// It uses `StanzaStream` directly rather than `tokio_xmpp::Client`: in
/// tokio-xmpp 6.0 the client splits the stream behind a mutex whose receiving
/// half returns `Pending` without a wake-up when the sending half holds the
/// lock, so a stanza that arrives while one is being sent can stall the
/// receiver for good.
pub struct Client {
    inner: StanzaStream,
    pub jid: BareJid,
    next_id: u64,
    /// Stanzas that arrived while waiting for something else, oldest first.
    backlog: std::collections::VecDeque<Stanza>,
}

impl Client {
    /// Logs in over plain TCP (loopback only) and sends initial presence.
    pub async fn login(jid: &str, password: &str, port: u16) -> Self {
        assert_eq!(
            xmpp_parsers::ns::DEFAULT_NS,
            "jabber:client",
            "xmpp-parsers was built with the component feature: run this crate alone (-p switchboard-e2e)"
        );
        let full: Jid = jid.parse().unwrap();
        let bare = full.to_bare();
        let mut inner = StanzaStream::new_c2s(
            TcpServerConnector::from(DnsConfig::addr(&format!("127.0.0.1:{port}"))),
            full,
            password.to_owned(),
            Timeouts::tight(),
            16,
        );
        let online = tokio::time::timeout(ANSWER, async {
            loop {
                match inner.next().await {
                    Some(Event::Stream(StreamEvent::Reset { .. })) => return,
                    Some(_) => {}
                    None => panic!("{jid}: stream ended before login"),
                }
            }
        })
        .await;
        assert!(online.is_ok(), "{jid} did not log in within {ANSWER:?}");
        let mut c = Client {
            inner,
            jid: bare,
            next_id: 0,
            backlog: Default::default(),
        };
        // Ask for the roster first, as clients do: only such "interested"
        // resources get subscription requests (RFC 6121 §2.1.6).
        let roster = c
            .iq(
                &c.jid.to_string(),
                false,
                Element::builder("query", "jabber:iq:roster").build(),
            )
            .await;
        assert!(
            matches!(roster, Iq::Result { .. }),
            "roster get failed: {roster:?}"
        );
        c.send(Presence::available()).await;
        c
    }

    pub async fn send(&mut self, stanza: impl Into<Stanza>) {
        let _token = self.inner.send(Box::new(stanza.into())).await;
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("t{}", self.next_id)
    }

    /// Sends an iq get or set and waits for its result or error.
    pub async fn iq(&mut self, to: &str, set: bool, payload: Element) -> Iq {
        let id = self.id();
        let to: Jid = to.parse().unwrap();
        let iq = if set {
            Iq::Set {
                from: None,
                to: Some(to),
                id: id.clone(),
                payload,
            }
        } else {
            Iq::Get {
                from: None,
                to: Some(to),
                id: id.clone(),
                payload,
            }
        };
        self.send(iq).await;
        self.wait_for(|s| match s {
            Stanza::Iq(iq @ (Iq::Result { .. } | Iq::Error { .. })) if iq.id() == id => {
                Some(iq.clone())
            }
            _ => None,
        })
        .await
    }

    /// Registers with a gateway by chat command, retrying while its
    /// component is still connecting.
    pub async fn register_by_chat(&mut self, gateway: &str, fields: &str) {
        let from: Jid = gateway.parse().unwrap();
        for _ in 0..40 {
            self.say(gateway, &format!("register {fields}")).await;
            let answer = self
                .maybe(Duration::from_secs(2), |s| match s {
                    Stanza::Message(m) if m.from.as_ref() == Some(&from) => {
                        m.get_best_body(vec![]).map(|(_, b)| b.clone())
                    }
                    _ => None,
                })
                .await;
            if answer.is_some_and(|a| a.contains("You are registered")) {
                return;
            }
        }
        panic!("{}: could not register with {gateway}", self.jid);
    }

    /// Sends a chat message.
    pub async fn say(&mut self, to: &str, body: &str) {
        let mut m =
            Message::chat(Some(to.parse::<Jid>().unwrap())).with_body(Lang::new(), body.to_owned());
        m.id = Some(xmpp_parsers::message::Id(self.id()));
        self.send(m).await;
    }

    /// Waits for a chat message from `from` and returns its body.
    pub async fn reply_from(&mut self, from: &str) -> String {
        let from: Jid = from.parse().unwrap();
        self.wait_for(|s| match s {
            Stanza::Message(m)
                if m.from.as_ref() == Some(&from) && m.type_ != MessageType::Error =>
            {
                m.get_best_body(vec![]).map(|(_, b)| b.clone())
            }
            _ => None,
        })
        .await
    }

    /// Waits for the first stanza `pick` accepts (earlier unclaimed ones first).
    pub async fn wait_for<T>(&mut self, pick: impl FnMut(&Stanza) -> Option<T>) -> T {
        let jid = self.jid.clone();
        self.maybe(ANSWER, pick)
            .await
            .unwrap_or_else(|| panic!("{jid}: nothing expected arrived within {ANSWER:?}"))
    }

    /// Waits up to `timeout` for a stanza `pick` accepts; the others are kept.
    pub async fn maybe<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&Stanza) -> Option<T>,
    ) -> Option<T> {
        if let Some(pos) = self.backlog.iter().position(|s| pick(s).is_some()) {
            let s = self.backlog.remove(pos).unwrap();
            return pick(&s);
        }
        let backlog = &mut self.backlog;
        let inner = &mut self.inner;
        tokio::time::timeout(timeout, async {
            loop {
                match inner.next().await {
                    Some(Event::Stanza(s)) => {
                        if let Some(t) = pick(&s) {
                            return t;
                        }
                        backlog.push_back(s);
                        if backlog.len() > 500 {
                            backlog.pop_front();
                        }
                    }
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await
        .ok()
    }
}

/// The payload of an iq result, or a panic naming the error.
pub fn result_payload(iq: Iq) -> Option<Element> {
    match iq {
        Iq::Result { payload, .. } => payload,
        Iq::Error { error, .. } => {
            panic!("expected a result, got error {:?}", error.defined_condition)
        }
        _ => unreachable!(),
    }
}

/// Fills in and submits the ad-hoc `configure` form of `to` (a server or
/// room JID) with `fields`; returns the final step's status and note.
pub async fn configure(client: &mut Client, to: &str, fields: &[(&str, &str)]) -> (String, String) {
    const COMMANDS: &str = "http://jabber.org/protocol/commands";
    let start: Element = format!("<command xmlns='{COMMANDS}' node='configure' action='execute'/>")
        .parse()
        .unwrap();
    let step = result_payload(client.iq(to, true, start).await).unwrap();
    let session = step.attr("sessionid").unwrap().to_owned();
    let f: String = fields
        .iter()
        .map(|(k, v)| format!("<field var='{k}'><value>{v}</value></field>"))
        .collect();
    let submit: Element = format!(
        "<command xmlns='{COMMANDS}' node='configure' action='execute' sessionid='{session}'>\
         <x xmlns='jabber:x:data' type='submit'>{f}</x></command>"
    )
    .parse()
    .unwrap();
    let step = result_payload(client.iq(to, true, submit).await).unwrap();
    let note = step
        .get_child("note", COMMANDS)
        .map(|n| n.text())
        .unwrap_or_default();
    (step.attr("status").unwrap_or_default().to_owned(), note)
}

/// The condition of an iq error, as its element name.
pub fn error_condition(iq: &Iq) -> String {
    match iq {
        Iq::Error { error, .. } => Element::from(error.defined_condition.clone())
            .name()
            .to_owned(),
        _ => panic!("expected an error, got {iq:?}"),
    }
}
