//! A socket wrapper that bounds how many bytes may arrive between two
//! complete stream elements: the stanza size limit.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Counts bytes read since the last [`SizeBudget::reset`]; reading past the
/// limit fails with `InvalidData`, which ends the stream.
#[derive(Debug, Clone)]
pub struct SizeBudget {
    used: Arc<AtomicUsize>,
    limit: usize,
}

impl SizeBudget {
    /// A budget of `limit` bytes per element (plus one read buffer of slack).
    pub fn new(limit: usize) -> Self {
        Self {
            used: Arc::new(AtomicUsize::new(0)),
            limit,
        }
    }

    /// A complete element arrived: start counting again.
    pub fn reset(&self) {
        self.used.store(0, Ordering::Relaxed);
    }
}

/// The guarded socket.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    budget: SizeBudget,
}

impl<S> Guarded<S> {
    /// Wraps `inner` under `budget`.
    pub fn new(inner: S, budget: SizeBudget) -> Self {
        Self { inner, budget }
    }

    /// The budget this socket counts against.
    pub fn budget(&self) -> SizeBudget {
        self.budget.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                let used = this.budget.used.fetch_add(n, Ordering::Relaxed) + n;
                if used > this.budget.limit {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "stanza larger than the limit of {} bytes",
                            this.budget.limit
                        ),
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
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
