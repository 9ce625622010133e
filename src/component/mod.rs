//! One XEP-0114 component stream to the XMPP server: connect, handshake,
//! frame stanzas both ways, keep alive, and reconnect with capped backoff.
//!
//! One task owns the socket. It reads stanzas (each within the size budget)
//! and hands them to the gateway on a bounded channel; it writes what the
//! gateway queues on the outbox, batching what is ready before one flush.
//! What was queued while the link was down waits in the outbox and goes out
//! after the next handshake; a stanza whose write failed is sent again.

mod framer;
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

pub use framer::{Framed, OVERSIZED};
pub use wire::Outgoing;

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
    /// A stanza arrived that could not be parsed or was too large; its
    /// header is kept so that its sender can be told.
    Invalid {
        /// Who sent what.
        header: StanzaHeader,
        /// What is wrong.
        error: InvalidStanza,
    },
    /// The link is down; it reconnects by itself.
    Disconnected,
}

/// The start tag of a stanza that did not arrive whole.
#[derive(Debug, Clone)]
pub struct StanzaHeader {
    /// `iq`, `message` or `presence`.
    pub kind: &'static str,
    /// Its `from`.
    pub from: Option<String>,
    /// Its `to`.
    pub to: Option<String>,
    /// Its `id`.
    pub id: Option<String>,
    /// Its `type`.
    pub type_: Option<String>,
}

impl StanzaHeader {
    fn of(stanza: &Stanza) -> Self {
        let text = |j: Option<&Jid>| j.map(|j| j.to_string());
        match stanza {
            Stanza::Iq(iq) => Self {
                kind: "iq",
                from: text(iq.from()),
                to: text(iq.to()),
                id: Some(iq.id().to_owned()),
                type_: Some(
                    match iq {
                        Iq::Get { .. } => "get",
                        Iq::Set { .. } => "set",
                        Iq::Result { .. } => "result",
                        Iq::Error { .. } => "error",
                    }
                    .into(),
                ),
            },
            Stanza::Message(m) => Self {
                kind: "message",
                from: text(m.from.as_ref()),
                to: text(m.to.as_ref()),
                id: m.id.as_ref().map(|i| i.0.clone()),
                type_: Some(wire::message_type(&m.type_).unwrap_or("normal").into()),
            },
            Stanza::Presence(p) => Self {
                kind: "presence",
                from: text(p.from.as_ref()),
                to: text(p.to.as_ref()),
                id: p.id.clone(),
                type_: wire::presence_type(&p.type_).map(str::to_owned),
            },
        }
    }
}

/// Why a stanza could not be delivered to the gateway.
#[derive(Debug, Clone)]
pub enum InvalidStanza {
    /// It does not parse as the stanza it claims to be.
    Unparseable(String),
    /// It was larger than the limit (after the server's encoding).
    Oversized {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl std::fmt::Display for InvalidStanza {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unparseable(e) => write!(f, "invalid stanza: {e}"),
            Self::Oversized { limit } => write!(
                f,
                "stanza too large: over this gateway's limit of {limit} bytes \
                 (as the server encoded it); it was not delivered"
            ),
        }
    }
}

/// The limit named by the framer's stand-in, if this stanza is one.
fn oversized(stanza: &Stanza) -> Option<usize> {
    let marker = match stanza {
        Stanza::Iq(Iq::Get { payload, .. } | Iq::Set { payload, .. }) => Some(payload),
        Stanza::Iq(Iq::Result { payload, .. }) => payload.as_ref(),
        Stanza::Iq(Iq::Error { .. }) => None,
        Stanza::Message(m) => m.payloads.first(),
        Stanza::Presence(p) => p.payloads.first(),
    }?;
    if !marker.is("oversized", OVERSIZED) {
        return None;
    }
    marker.attr("limit").and_then(|l| l.parse().ok())
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

type Stream = XmppStream<BufStream<Framed<TcpStream>>>;

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
/// Write buffer capacity kept between batches: a few stanzas' worth. A
/// burst's batches (up to [`WRITE_BATCH`] stanzas) grow it further, and
/// give it back after each.
const BUF_KEEP: usize = 16 * 1024;
/// Stanzas of room kept between batches in the list of those being
/// written. One is about 440 bytes: a full batch's list, kept, was 112 kB
/// held for good after the first burst (the joins of a big room).
const UNSENT_KEEP: usize = 16;

/// Runs a component link until `shutdown` turns true or the outbox closes.
pub async fn run(
    settings: LinkSettings,
    inbound: mpsc::Sender<LinkEvent>,
    mut outbox: mpsc::Receiver<Outgoing>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_START;
    let mut unsent: Vec<Outgoing> = Vec::new();
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
    let io = BufStream::new(Framed::new(tcp, settings.max_stanza_size));
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
    outbox: &mut mpsc::Receiver<Outgoing>,
    unsent: &mut Vec<Outgoing>,
    shutdown: &mut watch::Receiver<bool>,
) -> End {
    let Link {
        stream,
        writer,
        buf,
    } = link;
    let mut keepalive_seq: u64 = 0;
    if !unsent.is_empty() {
        if let Err(e) =
            write_batch(writer, buf, None, outbox, unsent, settings.max_stanza_size).await
        {
            return End::Lost(format!("write failed: {e}"));
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.changed() => return End::Shutdown,
            item = stream.next() => {
                let event = match read_item(item) {
                    Read::Event(event) => event,
                    Read::Ignore => continue,
                    Read::Lost(reason) => return End::Lost(reason),
                    Read::Silence => {
                        keepalive_seq += 1;
                        let ping = keepalive_ping(&settings.domain, keepalive_seq);
                        if let Err(e) = write_batch(writer, buf, Some(ping), outbox, unsent, settings.max_stanza_size).await {
                            return End::Lost(format!("keepalive failed: {e}"));
                        }
                        continue;
                    }
                };
                if inbound.send(event).await.is_err() {
                    return End::Shutdown;
                }
            }
            out = outbox.recv() => {
                let Some(stanza) = out else { return End::Shutdown };
                if let Err(e) = write_batch(writer, buf, Some(stanza), outbox, unsent, settings.max_stanza_size).await {
                    return End::Lost(format!("write failed: {e}"));
                }
            }
        }
    }
}

/// What one item read from the stream means for the link.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Read {
    /// Hand this to the gateway.
    Event(LinkEvent),
    /// Nothing to do: an element the link ignores (logged).
    Ignore,
    /// The server was silent for the read timeout: time for a keepalive.
    Silence,
    /// The stream is over, for this reason.
    Lost(String),
}

/// Maps one item of the component stream to what the link does with it:
/// the link's read loop, and the fuzz target of the input path, call this.
pub fn read_item(item: Option<Result<FallibleStreamElement, ReadError>>) -> Read {
    match item {
        None | Some(Err(ReadError::StreamFooterReceived)) => {
            Read::Lost("the server closed the stream".into())
        }
        Some(Err(ReadError::HardError(e))) => Read::Lost(e.to_string()),
        Some(Err(ReadError::SoftTimeout)) => Read::Silence,
        Some(Err(ReadError::ParseError(e))) => {
            warn!(error = %e, "ignoring an element the server sent that is not XMPP");
            Read::Ignore
        }
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Stanza(s)))) => {
            Read::Event(match oversized(&s) {
                Some(limit) => LinkEvent::Invalid {
                    header: StanzaHeader::of(&s),
                    error: InvalidStanza::Oversized { limit },
                },
                None => LinkEvent::Stanza(s),
            })
        }
        Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::StreamError(e)))) => {
            Read::Lost(format!("stream error from the server: {e:?}"))
        }
        Some(Ok(FallibleStreamElement::Ok(other))) => {
            debug!(?other, "ignoring a stream element");
            Read::Ignore
        }
        Some(Ok(FallibleStreamElement::Err(StreamElementError::InvalidStanza {
            name,
            header,
            error,
            ..
        }))) => {
            warn!(kind = %name, %error, "invalid stanza from the server");
            Read::Event(LinkEvent::Invalid {
                header: StanzaHeader {
                    kind: match name.to_string().as_str() {
                        "iq" => "iq",
                        "message" => "message",
                        _ => "presence",
                    },
                    from: header.from,
                    to: header.to,
                    id: header.id,
                    type_: header.type_,
                },
                error: InvalidStanza::Unparseable(error.to_string()),
            })
        }
        Some(Ok(FallibleStreamElement::Err(e))) => {
            warn!(error = %e, "ignoring an invalid stream element");
            Read::Ignore
        }
    }
}

/// Writes what a failed write left (`unsent`), `first`, and whatever else is
/// ready, in one write. If the write fails, the whole batch is kept in
/// `unsent` and goes out again after the next handshake: a stanza may then
/// arrive twice, but none is lost.
///
/// No stanza over `max` bytes is written: the server would end the stream
/// for it (Prosody's component limit is 512 KiB). Such a stanza is dropped
/// with a warning, and an iq result becomes an error, so that the request
/// is still answered.
async fn write_batch(
    writer: &mut TcpStream,
    buf: &mut String,
    first: Option<Outgoing>,
    outbox: &mut mpsc::Receiver<Outgoing>,
    unsent: &mut Vec<Outgoing>,
    max: usize,
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
        let start = buf.len();
        wire::write_outgoing(buf, stanza);
        let size = buf.len() - start;
        if size > max {
            buf.truncate(start);
            let header = StanzaHeader::of(&stanza.stanza);
            warn!(kind = header.kind, to = ?header.to, size, max,
                  "dropped an outgoing stanza over the size limit");
            if let Some(answer) = too_large_answer(&stanza.stanza) {
                wire::write_stanza(buf, &answer);
            }
        }
    }
    writer.write_all(buf.as_bytes()).await?;
    unsent.clear();
    // A burst may have grown the buffer and the list far beyond the usual
    // batch: give them back.
    if buf.capacity() > BUF_KEEP {
        *buf = String::new();
    }
    if unsent.capacity() > UNSENT_KEEP {
        *unsent = Vec::new();
    }
    Ok(())
}

/// What goes out instead of an iq result too large to send.
fn too_large_answer(stanza: &Stanza) -> Option<Stanza> {
    let Stanza::Iq(Iq::Result { from, to, id, .. }) = stanza else {
        return None;
    };
    Some(
        crate::xmpp::errors::iq_error(
            to.as_ref(),
            from.as_ref(),
            id,
            xmpp_parsers::stanza_error::DefinedCondition::ResourceConstraint,
            "the answer is too large to send",
        )
        .into(),
    )
}

fn keepalive_ping(domain: &BareJid, seq: u64) -> Outgoing {
    let jid = Jid::from(domain.clone());
    Iq::Get {
        from: Some(jid.clone()),
        to: Some(jid),
        id: format!("keepalive-{seq}"),
        payload: Element::from(Ping),
    }
    .into()
}

#[cfg(test)]
mod tests;
