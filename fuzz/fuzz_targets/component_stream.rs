//! The component's stanza input path: the bytes an XMPP server sends after
//! the stream header and the handshake are read the way the link reads them
//! (tokio-xmpp's XML stream over the framed socket (component::Framed), xso stanzas), routed
//! through a real gateway (in-memory SQLite store, archive on, a bridge whose
//! sessions take every command and answer room lists with nothing), and every
//! reply is written with the link's writer and must parse back as XML.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use libfuzzer_sys::fuzz_target;
use switchboard::archive::{Archive, ArchivePolicy};
use switchboard::component::{read_item, wire, Framed, LinkEvent, Outgoing, Read};
use switchboard::config::Config;
use switchboard::crypto::Vault;
use switchboard::gateway::{Gateway, Shared};
use switchboard::store::Store;
use switchboard_bridge_api::{
    session_channels, Bridge, BridgeInfo, Command, Credentials, Event, FieldError, Login,
    SessionHandle,
};
use switchboard_irc::{IrcBridge, IrcConfig};
use tokio::io::BufStream;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, StreamHeader, Timeouts, XmppStreamElement,
};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

mod memory_socket;
use memory_socket::MemorySocket;

const DOMAIN: &str = "irc.example.org";
const SERVER_OPENING: &str = "<?xml version='1.0'?><stream:stream \
    xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' \
    id='fuzz-stream' from='irc.example.org'><handshake/>";
const CONFIG: &str = r#"
    [users]
    allowed_domains = ["example.org"]
    admins = ["admin@example.org"]
    [networks.irc]
    jid = "irc.example.org"
    secret = "fuzz"
"#;
/// The link's default stanza size limit.
const MAX_STANZA: usize = 64 * 1024;

/// What lasts between inputs: the runtime and what the gateway shares.
struct Harness {
    runtime: Runtime,
    shared: Shared,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let shared = runtime.block_on(async {
            let config = Config::parse(CONFIG, std::path::Path::new("/tmp"), |_| None)
                .expect("the fuzz config parses");
            let store = Store::connect("sqlite::memory:").await.expect("a store");
            let policy = ArchivePolicy {
                enabled: true,
                max_days: 7,
                max_messages: 100,
            };
            let (archive, _writer) = Archive::start(store.clone(), policy);
            Shared {
                config: Arc::new(config),
                archive,
                store,
                vault: Arc::new(Vault::from_key(&[7; 32])),
            }
        });
        Harness { runtime, shared }
    })
}

/// The IRC bridge's description and checks, with sessions that connect
/// nowhere: they take every command and list no rooms.
struct QuietBridge(IrcBridge);

impl Bridge for QuietBridge {
    fn info(&self) -> &BridgeInfo {
        self.0.info()
    }

    fn validate(&self, credentials: &Credentials) -> Result<(), FieldError> {
        self.0.validate(credentials)
    }

    fn is_server(&self, id: &str) -> bool {
        self.0.is_server(id)
    }

    fn validate_server_settings(&self, settings: &Credentials) -> Result<(), FieldError> {
        self.0.validate_server_settings(settings)
    }

    fn start(&self, _login: Login) -> SessionHandle {
        let (handle, mut end) = session_channels();
        tokio::spawn(async move {
            while let Some(command) = end.commands.recv().await {
                match command {
                    Command::Shutdown => break,
                    Command::ListRooms { token, .. } => {
                        let list = Event::RoomList {
                            token,
                            rooms: Vec::new(),
                            next: None,
                        };
                        let _ = end.events.send(list).await;
                    }
                    _ => {}
                }
            }
        });
        handle
    }
}

/// Reads the stream as the link does and hands each element to the gateway
/// as the link would. Returns when the input ends or the link would drop it.
async fn read_stream(data: &[u8], inbound: mpsc::Sender<LinkEvent>) {
    let mut bytes = SERVER_OPENING.as_bytes().to_vec();
    bytes.extend_from_slice(data);
    let io = BufStream::new(Framed::new(MemorySocket::new(bytes), MAX_STANZA));
    let timeouts = Timeouts {
        read_timeout: Duration::from_secs(3600),
        response_timeout: Duration::from_secs(3600),
    };
    let header = StreamHeader {
        to: Some(DOMAIN.into()),
        ..Default::default()
    };
    let mut pending = initiate_stream(io, ns::COMPONENT, header, timeouts)
        .await
        .expect("the fixed stream header");
    let id = pending.take_header().id.expect("a stream id").into_owned();
    let mut stream = pending.skip_features();
    let handshake = Handshake::from_stream_id_and_password(id, "fuzz");
    stream
        .send(&XmppStreamElement::ComponentHandshake(handshake))
        .await
        .expect("writes go nowhere");
    match stream.next().await {
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {}
        other => panic!("the fixed handshake answer: {other:?}"),
    }
    let _ = inbound.send(LinkEvent::Connected).await;
    // The link's own mapping (component/mod.rs, `read_item`).
    loop {
        let event = match read_item(stream.next().await) {
            Read::Event(event) => event,
            Read::Ignore | Read::Silence => continue,
            Read::Lost(_) => return,
        };
        if inbound.send(event).await.is_err() {
            return;
        }
    }
}

/// Writes a reply as the link would and checks the bytes are one element.
fn check_reply(stanza: &Outgoing) {
    let mut out = String::new();
    wire::write_outgoing(&mut out, stanza);
    // Stanzas are written in the stream's default namespace.
    let wrapped = format!("<wrap xmlns='jabber:component:accept'>{out}</wrap>");
    let parsed: Element = wrapped
        .parse()
        .unwrap_or_else(|e| panic!("a reply is not XML ({e}): {out}"));
    assert_eq!(
        parsed.children().count(),
        1,
        "one stanza written as several: {out}"
    );
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    h.runtime.block_on(async {
        let (out_tx, mut out_rx) = mpsc::channel(switchboard::component::OUTBOX_BOUND);
        let bridge = Arc::new(QuietBridge(IrcBridge::new(IrcConfig::default())));
        let domain: BareJid = DOMAIN.parse().unwrap();
        let gateway = Gateway::new("irc", domain, bridge, h.shared.clone(), out_tx);
        let replies = Arc::new(Mutex::new(Vec::new()));
        let drain = {
            let replies = Arc::clone(&replies);
            tokio::spawn(async move {
                while let Some(stanza) = out_rx.recv().await {
                    replies.lock().unwrap().push(stanza);
                }
            })
        };
        let (in_tx, in_rx) = mpsc::channel(1024);
        let routed = tokio::spawn(Arc::clone(&gateway).run(in_rx));
        read_stream(data, in_tx).await;
        routed.await.expect("the gateway's loop does not panic");
        // Let the tasks the stanzas started run before the sessions end.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        gateway.stop_sessions().await;
        drop(gateway);
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        drain.abort();
        for stanza in replies.lock().unwrap().iter() {
            check_reply(stanza);
        }
    });
});
