//! One XEP-0114 component stream to the XMPP server: connect, handshake,
//! frame stanzas both ways, keep alive, and reconnect with capped backoff.
//!
//! One task owns the socket. It reads stanzas (each within the size budget)
//! and hands them to the gateway on a bounded channel; it writes what the
//! gateway queues on the outbox, batching what is ready before one flush.
//! What was queued while the link was down waits in the outbox and goes out
//! after the next handshake; a stanza whose write failed is sent again.

mod guard;
pub mod wire;

use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, BufStream};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, ReadError, StreamElementError, StreamHeader, Timeouts,
    XmppStream, XmppStreamElement,
};
use tracing::{debug, info, warn};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::ping::Ping;
use xmpp_parsers::stanza::Stanza;

pub use guard::{Guarded, SizeBudget};

/// How many stanzas may wait to be written.
pub const OUTBOX_BOUND: usize = 4096;

/// Where a component connects and as whom.
#[derive(Clone)]
pub struct LinkSettings {
    /// The component's domain.
    pub domain: BareJid,
    /// The shared secret (never logged).
    pub secret: String,
    /// The server's component address, `host:port`.
    pub server: String,
    /// Largest element accepted, in bytes.
    pub max_stanza_size: usize,
    /// Silence before a keepalive ping.
    pub keepalive: Duration,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSettings")
            .field("domain", &self.domain)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// What the link tells the gateway.
// Stanzas are the common case; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum LinkEvent {
    /// The handshake succeeded (first time or after a reconnect).
    Connected,
    /// A stanza arrived.
    Stanza(Stanza),
    /// A stanza arrived that could not be parsed; its header is kept so that
    /// a request can be answered with `bad-request`.
    Invalid {
        /// `iq`, `message` or `presence`.
        kind: &'static str,
        /// Its `from`.
        from: Option<String>,
        /// Its `id`.
        id: Option<String>,
        /// Its `type`.
        type_: Option<String>,
        /// What is wrong.
        error: String,
    },
    /// The link is down; it reconnects by itself.
    Disconnected,
}

/// Errors while bringing a link up.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// TCP or stream-level I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server sent no stream id.
    #[error("the server sent no stream id")]
    NoStreamId,
    /// The server refused the handshake (wrong secret or unknown domain).
    #[error("the server refused the handshake: {0}")]
    Refused(String),
    /// No answer in time.
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
}

type Stream = XmppStream<BufStream<Guarded<TcpStream>>>;

/// A link after its handshake: stanzas are read through `stream` and written
/// as bytes on `writer`, a second handle on the same socket (see [`wire`]).
struct Link {
    stream: Stream,
    writer: TcpStream,
    /// Bytes of the batch being written, kept to reuse the allocation.
    buf: String,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const STABLE_AFTER: Duration = Duration::from_secs(30);
const WRITE_BATCH: usize = 256;
/// Write buffer capacity kept between batches.
const BUF_KEEP: usize = 64 * 1024;

/// Runs a component link until `shutdown` turns true or the outbox closes.
pub async fn run(
    settings: LinkSettings,
    inbound: mpsc::Sender<LinkEvent>,
    mut outbox: mpsc::Receiver<Stanza>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_START;
    let mut unsent: Vec<Stanza> = Vec::new();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let started = Instant::now();
        let connected = tokio::select! {
            r = tokio::time::timeout(CONNECT_TIMEOUT, connect(&settings)) => {
                r.unwrap_or(Err(LinkError::Timeout(CONNECT_TIMEOUT)))
            }
            _ = shutdown.changed() => return,
        };
        match connected {
            Ok(mut link) => {
                info!(domain = %settings.domain, server = %settings.server, "component connected");
                if inbound.send(LinkEvent::Connected).await.is_err() {
                    return;
                }
                let end = serve(
                    &mut link,
                    &settings,
                    &inbound,
                    &mut outbox,
                    &mut unsent,
                    &mut shutdown,
                )
                .await;
                match end {
                    End::Shutdown => {
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            link.writer.write_all(b"</stream:stream>").await?;
                            link.writer.shutdown().await
                        })
                        .await;
                        info!(domain = %settings.domain, "component stream closed");
                        return;
                    }
                    End::Lost(reason) => {
                        warn!(domain = %settings.domain, %reason, "component stream lost; reconnecting");
                    }
                }
                if inbound.send(LinkEvent::Disconnected).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(domain = %settings.domain, server = %settings.server, error = %e,
                      retry_in = ?backoff, "component cannot connect");
            }
        }
        if started.elapsed() > STABLE_AFTER {
            backoff = BACKOFF_START;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Connects and completes the XEP-0114 handshake.
async fn connect(settings: &LinkSettings) -> Result<Link, LinkError> {
    let tcp = TcpStream::connect(&settings.server).await?;
    tcp.set_nodelay(true)?;
    // A second handle on the socket for writing; the first stays in the XML stream.
    let tcp = tcp.into_std()?;
    let writer = TcpStream::from_std(tcp.try_clone()?)?;
    let tcp = TcpStream::from_std(tcp)?;
    let budget = SizeBudget::new(settings.max_stanza_size);
    let io = BufStream::new(Guarded::new(tcp, budget));
    let timeouts = Timeouts {
        read_timeout: settings.keepalive,
        response_timeout: settings.keepalive.max(Duration::from_secs(10)),
    };
    let domain = settings.domain.to_string();
    let header = StreamHeader {
        to: Some(domain.as_str().into()),
        ..Default::default()
    };
    let mut pending = initiate_stream(io, ns::COMPONENT, header, timeouts).await?;
    let id = pending
        .take_header()
        .id
        .ok_or(LinkError::NoStreamId)?
        .into_owned();
    let mut stream: Stream = pending.skip_features();
    let handshake = Handshake::from_stream_id_and_password(id, &settings.secret);
    stream
        .send(&XmppStreamElement::ComponentHandshake(handshake))
        .await?;
    loop {
        match stream.next().await {
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::ComponentHandshake(_)))) => {
                return Ok(Link {
                    stream,
                    writer,
                    buf: String::new(),
                })
            }
            Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                return Err(LinkError::Refused(format!("{e:?}")))
            }
            Some(Ok(other)) => {
                return Err(LinkError::Refused(format!(
                    "unexpected answer to the handshake: {other:?}"
                )))
            }
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(ReadError::HardError(e))) => return Err(e.into()),
            Some(Err(e)) => return Err(LinkError::Refused(e.to_string())),
            None => return Err(LinkError::Refused("stream closed".into())),
        }
    }
}

enum End {
    Shutdown,
    Lost(String),
}

async fn serve(
    link: &mut Link,
    settings: &LinkSettings,
    inbound: &mpsc::Sender<LinkEvent>,
    outbox: &mut mpsc::Receiver<Stanza>,
    unsent: &mut Vec<Stanza>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let Link {
        stream,
        writer,
        buf,
    } = link;
    let budget = stream.get_stream().get_ref().budget();
    let mut keepalive_seq: u64 = 0;
    if !unsent.is_empty() {
        if let Err(e) = write_batch(writer, buf, None, outbox, unsent).await {
            return End::Lost(format!("write failed: {e}"));
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => return End::Shutdown,
            item = stream.next() => {
                let event = match item {
                    None | Some(Err(ReadError::StreamFooterReceived)) => {
                        return End::Lost("the server closed the stream".into())
                    }
                    Some(Err(ReadError::HardError(e))) => return End::Lost(e.to_string()),
                    Some(Err(ReadError::SoftTimeout)) => {
                        keepalive_seq += 1;
                        let ping = keepalive_ping(&settings.domain, keepalive_seq);
                        if let Err(e) = write_batch(writer, buf, Some(ping), outbox, unsent).await {
                            return End::Lost(format!("keepalive failed: {e}"));
                        }
                        continue;
                    }
                    Some(Err(ReadError::ParseError(e))) => {
                        budget.reset();
                        warn!(error = %e, "ignoring an element the server sent that is not XMPP");
                        continue;
                    }
                    Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)))) => {
                        budget.reset();
                        LinkEvent::Stanza(s)
                    }
                    Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
                        return End::Lost(format!("stream error from the server: {e:?}"))
                    }
                    Some(Ok(FallibleStreamElement::Ok(other))) => {
                        budget.reset();
                        debug!(?other, "ignoring a stream element");
                        continue;
                    }
                    Some(Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza {
                        name, header, error, ..
                    }))) => {
                        budget.reset();
                        warn!(kind = %name, %error, "invalid stanza from the server");
                        LinkEvent::Invalid {
                            kind: match name.to_string().as_str() {
                                "iq" => "iq",
                                "message" => "message",
                                _ => "presence",
                            },
                            from: header.from,
                            id: header.id,
                            type_: header.type_,
                            error: error.to_string(),
                        }
                    }
                    Some(Ok(FallibleStreamElement::Err(e))) => {
                        budget.reset();
                        warn!(error = %e, "ignoring an invalid stream element");
                        continue;
                    }
                };
                if inbound.send(event).await.is_err() {
                    return End::Shutdown;
                }
            }
            out = outbox.recv() => {
                let Some(stanza) = out else { return End::Shutdown };
                if let Err(e) = write_batch(writer, buf, Some(stanza), outbox, unsent).await {
                    return End::Lost(format!("write failed: {e}"));
                }
            }
        }
    }
}

/// Writes what a failed write left (`unsent`), `first`, and whatever else is
/// ready, in one write. If the write fails, the whole batch is kept in
/// `unsent` and goes out again after the next handshake: a stanza may then
/// arrive twice, but none is lost.
async fn write_batch(
    writer: &mut TcpStream,
    buf: &mut String,
    first: Option<Stanza>,
    outbox: &mut mpsc::Receiver<Stanza>,
    unsent: &mut Vec<Stanza>,
) -> Result<(), std::io::Error> {
    unsent.extend(first);
    while unsent.len() < WRITE_BATCH {
        match outbox.try_recv() {
            Ok(stanza) => unsent.push(stanza),
            Err(_) => break,
        }
    }
    buf.clear();
    for stanza in unsent.iter() {
        wire::write_stanza(buf, stanza);
    }
    writer.write_all(buf.as_bytes()).await?;
    unsent.clear();
    // A burst may have grown the buffer far beyond the usual batch: give it back.
    if buf.capacity() > BUF_KEEP {
        *buf = String::new();
    }
    Ok(())
}

fn keepalive_ping(domain: &BareJid, seq: u64) -> Stanza {
    let jid = Jid::from(domain.clone());
    Iq::Get {
        from: Some(jid.clone()),
        to: Some(jid),
        id: format!("keepalive-{seq}"),
        payload: Element::from(Ping),
    }
    .into()
}
