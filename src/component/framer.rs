//! A socket wrapper that hands the XML parser whole stanzas, each within the
//! size budget, so that no stanza the server delivers can end the stream.
//!
//! It follows the stream's elements with a small byte-level scanner (tags,
//! quoted attribute values, CDATA sections, processing instructions; the
//! comments and DTDs that XMPP forbids end the stream, as do mismatched
//! tags), and holds each top-level element until it is complete. One that
//! grows past the limit is dropped, all but its start tag: what reaches
//! the parser is that start tag, an [`OVERSIZED`] marker element and the
//! matching end tag, so the gateway can answer the sender with an error. One
//! whose start tag alone is over the limit is dropped whole (it names no
//! sender that could be trusted to fit). The work is linear in the bytes
//! read; memory is one stanza's budget at most.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::warn;

mod scan;
use scan::{Lex, Scanner, Step};

/// The namespace of the marker that stands in for an oversized stanza's
/// content: `<oversized xmlns='…' limit='N'/>`.
pub const OVERSIZED: &str = "urn:xmpp:switchboard:oversized:0";

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 8 * 1024;

/// Deepest nesting of elements accepted.
const MAX_DEPTH: usize = 1024;

/// An error that ends the stream: the XML is beyond repair.
fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Splits the byte stream into what may pass and whole top-level elements.
///
/// `out` holds, in order: bytes the parser has taken (`..taken`), bytes it
/// may take (`taken..ready`), and the top-level element being gathered
/// (`ready..`), so an element that fits is never copied twice.
#[derive(Debug)]
struct Frames {
    limit: usize,
    scanner: Scanner,
    /// The names (hashed) of the open elements: the stream's, then the
    /// stanza's and its children's. Its length is the depth.
    open: Vec<u64>,
    out: Vec<u8>,
    taken: usize,
    ready: usize,
    /// The top-level element being gathered, if one is under way.
    element: Option<Gathering>,
    /// Bytes seen outside any top-level element since the last one (the
    /// stream header, white space): bounded too.
    loose: usize,
}

/// A top-level element being gathered in `out`.
#[derive(Debug)]
struct Gathering {
    /// Where it starts in `out`.
    start: usize,
    /// Length of its start tag, once that is complete.
    head: Option<usize>,
    /// Over the limit: the rest is dropped.
    dropped: bool,
    /// Bytes it had in all.
    size: usize,
}

impl Frames {
    fn new(limit: usize) -> Self {
        Self {
            limit,
            scanner: Scanner::new(),
            open: Vec::new(),
            out: Vec::new(),
            taken: 0,
            ready: 0,
            element: None,
            loose: 0,
        }
    }

    /// Scans `input`; what may pass becomes ready in `out`.
    fn feed(&mut self, input: &[u8]) -> io::Result<()> {
        let mut rest = input;
        while !rest.is_empty() {
            // Character data and quoted values are most of a stanza, and no
            // byte in them but the one that ends them changes any state:
            // find that one with memchr and take the run before it whole.
            let end = match self.scanner.lex {
                Lex::Text => memchr::memchr(b'<', rest),
                Lex::Quoted(q) => memchr::memchr(q, rest),
                _ => Some(0),
            };
            let run = end.unwrap_or(rest.len());
            if run > 0 {
                self.pass(&rest[..run])?;
                rest = &rest[run..];
                continue;
            }
            let b = rest[0];
            rest = &rest[1..];
            let lex_before = self.scanner.lex;
            let step = self.scanner.step(b);
            if self.element.is_none()
                && self.open.len() == 1
                && lex_before == Lex::Text
                && b == b'<'
            {
                // A top-level element (or the stream's end tag) begins.
                self.element = Some(Gathering {
                    start: self.out.len(),
                    head: None,
                    dropped: false,
                    size: 0,
                });
            }
            self.pass(&[b])?;
            match step {
                Step::Byte => {}
                Step::Forbidden => {
                    return Err(invalid(
                        "a comment or DTD in the stream (XMPP forbids them)".into(),
                    ))
                }
                Step::Pi if !self.open.is_empty() => {
                    return Err(invalid(
                        "a processing instruction in the stream (XMPP forbids them)".into(),
                    ))
                }
                Step::Pi => {}
                Step::StartTagEnd { self_closing, name } => {
                    if let Some(el) = self.element.as_mut() {
                        if el.head.is_none() && !el.dropped {
                            el.head = Some(self.out.len() - el.start);
                        }
                    }
                    if !self_closing {
                        if self.open.len() >= MAX_DEPTH {
                            return Err(invalid(format!(
                                "elements nested deeper than {MAX_DEPTH}"
                            )));
                        }
                        self.open.push(name);
                    } else if self.open.len() == 1 {
                        self.finish();
                    }
                }
                Step::EndTagEnd { name } => {
                    if self.open.pop() != Some(name) {
                        // The parser would refuse it too, but it would never
                        // see it: the element would not end here.
                        return Err(invalid(
                            "an end tag that does not match its start tag".into(),
                        ));
                    }
                    if self.open.len() <= 1 {
                        self.finish();
                    }
                }
            }
        }
        Ok(())
    }

    /// Passes bytes that change no element structure: into the element
    /// being gathered (until it passes the limit), or straight through.
    fn pass(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.element.as_mut() {
            Some(el) => {
                el.size += bytes.len();
                if !el.dropped {
                    let room = self.limit - (self.out.len() - el.start);
                    if bytes.len() > room {
                        el.dropped = true;
                        self.out.truncate(el.start + el.head.unwrap_or(0));
                    } else {
                        self.out.extend_from_slice(bytes);
                    }
                }
            }
            None => {
                self.loose += bytes.len();
                if self.loose > self.limit {
                    return Err(invalid(format!(
                        "more than {} bytes outside any stanza (a stream header?)",
                        self.limit
                    )));
                }
                self.out.extend_from_slice(bytes);
                self.ready = self.out.len();
            }
        }
        Ok(())
    }

    /// A top-level element is complete: let it pass, or its stand-in.
    fn finish(&mut self) {
        let Some(el) = self.element.take() else {
            return;
        };
        self.loose = 0;
        if el.dropped {
            self.stand_in(&el);
        }
        self.ready = self.out.len();
    }

    /// Replaces what is left of a dropped element (its start tag, if that
    /// fitted) by the start tag, the marker and the end tag.
    fn stand_in(&mut self, el: &Gathering) {
        let head = &self.out[el.start..];
        let name_len = head
            .iter()
            .skip(1)
            .position(|c| c.is_ascii_whitespace() || matches!(c, b'/' | b'>'))
            .unwrap_or(0);
        // The start tag ends with `>`, not `/>`: the element had content.
        if el.head.is_none() || name_len == 0 || head.ends_with(b"/>") {
            self.out.truncate(el.start);
            warn!(
                bytes = el.size,
                limit = self.limit,
                "dropped a stanza larger than the limit whose start tag alone was too large"
            );
            return;
        }
        warn!(
            bytes = el.size,
            limit = self.limit,
            "dropped a stanza larger than the limit; its sender is told"
        );
        let name = head[1..=name_len].to_vec();
        self.out.extend_from_slice(
            format!("<oversized xmlns='{OVERSIZED}' limit='{}'/></", self.limit).as_bytes(),
        );
        self.out.extend_from_slice(&name);
        self.out.push(b'>');
    }

    /// Moves ready bytes into `buf`; whether any were ready.
    fn drain_into(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let ready = &self.out[self.taken..self.ready];
        if ready.is_empty() {
            return false;
        }
        let n = ready.len().min(buf.remaining());
        buf.put_slice(&ready[..n]);
        self.taken += n;
        if self.taken == self.out.len() {
            self.out.clear();
            (self.taken, self.ready) = (0, 0);
            // A large stanza may have grown it: give the memory back.
            if self.out.capacity() > 4 * READ_CHUNK {
                self.out = Vec::new();
            }
        } else if self.taken == self.ready && self.taken > self.out.len() / 2 {
            // Only an element under way is left: move it to the front, at
            // most as often as the bytes before it double (linear in all).
            self.out.drain(..self.taken);
            if let Some(el) = self.element.as_mut() {
                el.start -= self.taken;
            }
            (self.taken, self.ready) = (0, 0);
        }
        true
    }

    /// The bytes ready for the parser (tests).
    #[cfg(test)]
    fn ready(&self) -> &[u8] {
        &self.out[self.taken..self.ready]
    }
}

/// The framed socket: reads pass whole stanzas of at most the limit.
#[derive(Debug)]
pub struct Framed<S> {
    inner: S,
    frames: Frames,
    chunk: Box<[u8]>,
}

impl<S> Framed<S> {
    /// Wraps `inner`; stanzas over `limit` bytes are dropped.
    pub fn new(inner: S, limit: usize) -> Self {
        Self {
            inner,
            frames: Frames::new(limit),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Framed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.frames.drain_into(buf) {
                return Poll::Ready(Ok(()));
            }
            let mut chunk = ReadBuf::new(&mut this.chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(())) => {
                    let read = chunk.filled();
                    if read.is_empty() {
                        return Poll::Ready(Ok(())); // end of stream
                    }
                    this.frames.feed(read)?;
                }
                other => return other,
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Framed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
                          xmlns:stream='http://etherx.jabber.org/streams' id='x'>";

    /// Feeds `input` in pieces of `piece` bytes and returns what passed.
    fn pass(limit: usize, input: &str, piece: usize) -> String {
        let mut f = Frames::new(limit);
        for part in input.as_bytes().chunks(piece.max(1)) {
            f.feed(part).unwrap();
        }
        String::from_utf8(f.ready().to_vec()).unwrap()
    }

    #[test]
    fn small_stanzas_pass_unchanged_in_any_pieces() {
        let input = format!(
            "{HEADER}<message from='a@b/c' to='irc.localhost'><body>it's &lt;fine&gt; \
             a/b > c</body></message> <presence from='a@b' x=\"/>\"/><iq type='get' id='1'>\
             <ping xmlns='urn:xmpp:ping'/></iq><message><body><![CDATA[</message>]]>\
             </body></message></stream:stream>"
        );
        for piece in [1, 2, 7, 64, 4096] {
            assert_eq!(pass(1024, &input, piece), input, "pieces of {piece}");
        }
    }

    #[test]
    fn runs_taken_whole_give_what_bytes_one_at_a_time_give_at_every_limit() {
        let input = format!(
            "{HEADER}<message to='a' x=\"it's > <\"><body>{}</body></message><presence/>\
             <message><body>short</body></message>",
            "text ".repeat(40)
        );
        // Around the first message's size (about 250 bytes), where it starts to be dropped.
        for limit in (200..300).chain([HEADER.len() + 1, 4096]) {
            assert_eq!(
                pass(limit, &input, input.len()),
                pass(limit, &input, 1),
                "limit {limit}"
            );
        }
    }

    #[test]
    fn nothing_passes_until_the_stanza_is_complete() {
        let mut f = Frames::new(1024);
        f.feed(format!("{HEADER}<message><body>half").as_bytes())
            .unwrap();
        assert_eq!(String::from_utf8_lossy(f.ready()), HEADER);
        f.feed(b"</body></message>").unwrap();
        assert!(String::from_utf8_lossy(f.ready()).ends_with("half</body></message>"));
    }

    #[test]
    fn an_oversized_stanza_becomes_its_start_tag_and_a_marker() {
        let big = "&apos;".repeat(50_000);
        let input = format!(
            "{HEADER}<message from='a@b/c' to='irc.localhost' id='m1' type='chat'><body>{big}</body></message>\
             <message id='next'><body>ok</body></message>"
        );
        let out = pass(65_536, &input, 1000);
        assert_eq!(
            out,
            format!(
                "{HEADER}<message from='a@b/c' to='irc.localhost' id='m1' type='chat'>\
                 <oversized xmlns='{OVERSIZED}' limit='65536'/></message>\
                 <message id='next'><body>ok</body></message>"
            )
        );
    }

    #[test]
    fn a_stanza_whose_start_tag_is_too_large_is_dropped_whole() {
        let input = format!(
            "{HEADER}<message from='{}'><body>x</body></message><presence/>",
            "a".repeat(5000)
        );
        assert_eq!(pass(1000, &input, 100), format!("{HEADER}<presence/>"));
        // Self-closing and too large: dropped, the stream goes on.
        let input = format!("{HEADER}<presence x='{}'/><presence/>", "a".repeat(5000));
        assert_eq!(pass(1000, &input, 3), format!("{HEADER}<presence/>"));
    }

    #[test]
    fn mismatched_tags_are_an_error_not_a_stall() {
        let mut f = Frames::new(1024);
        let broken = format!("{HEADER}<message><body>oops</message>");
        assert!(f.feed(broken.as_bytes()).is_err());
    }

    #[test]
    fn comments_dtds_and_processing_instructions_are_errors() {
        for bad in [
            "<!DOCTYPE x [<!ENTITY a 'b'>]>",
            "<!-- x -->",
            "<message><!-- x --></message>",
            "<?pi x?>",
        ] {
            let mut f = Frames::new(1024);
            let input = format!("{HEADER}{bad}");
            assert!(f.feed(input.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_endless_stream_header_is_an_error() {
        let mut f = Frames::new(100);
        let endless = format!("<stream:stream a='{}'>", "x".repeat(200));
        assert!(f.feed(endless.as_bytes()).is_err());
    }

    #[test]
    fn memory_stays_within_the_limit_for_any_size() {
        let mut f = Frames::new(10_000);
        f.feed(HEADER.as_bytes()).unwrap();
        f.feed(b"<message><body>").unwrap();
        for i in 0..1000 {
            f.feed(&[b'x'; 1000]).unwrap();
            // The element passes the limit with its 10,016th byte.
            assert_eq!(f.element.as_ref().unwrap().dropped, i >= 9);
            assert!(f.out.capacity() <= 4 * 10_000);
        }
        f.feed(b"</body></message>").unwrap();
        assert!(f.element.is_none());
    }
}
