//! The message writer: room messages for the archive, and the id map's
//! entries (which network messages an XMPP message the user sent became),
//! are queued on the message path and written in batches, one transaction
//! each, by one task; a clean shutdown writes what is queued before it
//! returns. The archive's switch does not apply to the id map: corrections
//! and retractions need it whether rooms are archived or not.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::store::{ArchivedMessage, IdMapping, Store, ID_MAP_LIMIT};

/// Retention and switch of the archive.
#[derive(Debug, Clone, Copy)]
pub struct ArchivePolicy {
    /// Whether rooms are archived at all.
    pub enabled: bool,
    /// Messages older than this many days go.
    pub max_days: u32,
    /// At most this many messages per user and room.
    pub max_messages: u32,
}

const QUEUE: usize = 8192;
const BATCH: usize = 512;
/// Retention runs after this many writes.
const TRIM_EVERY: u64 = 5000;
/// The id map is bounded after this many entries written (so a user holds
/// at most the limit and this many).
const ID_TRIM_EVERY: u64 = 1024;

enum Job {
    Write(ArchivedMessage),
    Map(IdMapping),
    Flush(oneshot::Sender<()>),
}

/// The handle the gateways record messages through.
#[derive(Clone)]
pub struct Archive {
    tx: mpsc::Sender<Job>,
    enabled: bool,
    seq: Arc<AtomicI64>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Archive {
    /// Starts the writer task. With the archive disabled, nothing is written.
    pub fn start(store: Store, policy: ArchivePolicy) -> (Self, JoinHandle<()>) {
        Self::start_bounded(store, policy, ID_MAP_LIMIT)
    }

    /// [`Archive::start`], keeping at most about `id_map_limit` id
    /// mappings per user and network.
    pub fn start_bounded(
        store: Store,
        policy: ArchivePolicy,
        id_map_limit: i64,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_loop(store, policy, id_map_limit, rx));
        let archive = Archive {
            tx,
            enabled: policy.enabled,
            seq: Arc::new(AtomicI64::new(now_micros())),
        };
        (archive, task)
    }

    /// Whether messages are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// A fresh archive id (unique and increasing, also across restarts).
    pub fn next_id(&self) -> i64 {
        let now = now_micros();
        // Never behind the clock, never repeating.
        let mut current = self.seq.load(Ordering::Relaxed);
        loop {
            let next = current.max(now - 1) + 1;
            match self.seq.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => current = seen,
            }
        }
    }

    /// Queues a message; waits only when the writer is far behind.
    pub async fn record(&self, message: ArchivedMessage) {
        if self.enabled && self.tx.send(Job::Write(message)).await.is_err() {
            warn!("archive writer gone; a message was not archived");
        }
    }

    /// Remembers which network messages (`network_ids`, in part order) the
    /// XMPP message `xmpp_id` the user sent in `conversation` became, with
    /// the stanza-id the gateway gave it, if any. Written whether or not
    /// rooms are archived.
    pub async fn map_sent(
        &self,
        user: &str,
        network: &str,
        conversation: &str,
        xmpp_id: &str,
        stanza_id: Option<i64>,
        network_ids: impl IntoIterator<Item = String>,
    ) {
        let seq = self.next_id();
        for (part, network_id) in network_ids.into_iter().enumerate() {
            let row = IdMapping {
                user: user.to_owned(),
                network: network.to_owned(),
                conversation: conversation.to_owned(),
                xmpp_id: xmpp_id.to_owned(),
                part: part as i64,
                network_id,
                stanza_id,
                seq,
            };
            if self.tx.send(Job::Map(row)).await.is_err() {
                warn!("message writer gone; an id mapping was not kept");
                return;
            }
        }
    }

    /// Returns once everything recorded before the call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn write_loop(
    store: Store,
    policy: ArchivePolicy,
    id_map_limit: i64,
    mut rx: mpsc::Receiver<Job>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut maps: Vec<IdMapping> = Vec::new();
    let mut written: u64 = 0;
    let mut next_trim = TRIM_EVERY;
    let mut mapped: u64 = 0;
    let mut next_id_trim = ID_TRIM_EVERY;
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    // Rooms written since the last retention pass.
    let mut touched: std::collections::HashSet<(String, String, String)> = Default::default();
    // Users whose id map grew since it was last bounded.
    let mut mappers: std::collections::HashSet<(String, String)> = Default::default();
    while let Some(first) = rx.recv().await {
        let take = |job, batch: &mut Vec<_>, maps: &mut Vec<_>, waiting: &mut Vec<_>| match job {
            Job::Write(m) => batch.push(m),
            Job::Map(m) => maps.push(m),
            Job::Flush(done) => waiting.push(done),
        };
        take(first, &mut batch, &mut maps, &mut waiting);
        // Gather what is ready, and what comes within a few milliseconds.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        while batch.len() + maps.len() < BATCH && waiting.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => take(job, &mut batch, &mut maps, &mut waiting),
                _ => break,
            }
        }
        if !maps.is_empty() {
            for m in &maps {
                mappers.insert((m.user.clone(), m.network.clone()));
            }
            with_retries("id map", maps.len(), || store.map_ids(&maps)).await;
            mapped += maps.len() as u64;
            maps.clear();
            if mapped >= next_id_trim {
                next_id_trim = mapped + ID_TRIM_EVERY;
                for (user, network) in mappers.drain() {
                    if let Err(e) = store.trim_id_map(&user, &network, id_map_limit).await {
                        warn!(error = %e, "id map bound failed");
                    }
                }
            }
        }
        if batch.is_empty() {
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
            continue;
        }
        // Consecutive messages are mostly of one room: note each run once.
        let mut previous: Option<&ArchivedMessage> = None;
        for m in &batch {
            let same = previous
                .is_some_and(|p| p.room == m.room && p.user == m.user && p.network == m.network);
            if !same {
                touched.insert((m.user.clone(), m.network.clone(), m.room.clone()));
            }
            previous = Some(m);
        }
        with_retries("archive", batch.len(), || store.archive(&batch)).await;
        written += batch.len() as u64;
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if written >= next_trim {
            next_trim = written + TRIM_EVERY;
            let horizon = now_micros() - i64::from(policy.max_days) * 86_400_000_000;
            let rooms: Vec<_> = touched.drain().collect();
            if let Err(e) = store
                .trim_archive(horizon, i64::from(policy.max_messages), &rooms)
                .await
            {
                warn!(error = %e, "archive retention failed");
            }
        }
    }
}

/// Runs one batch's write, again after a failure (up to five times, waiting
/// longer each time); a batch that never goes in is logged as lost.
async fn with_retries<F, Fut>(what: &'static str, rows: usize, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::store::StoreError>>,
{
    let mut tries = 0;
    loop {
        match write().await {
            Ok(()) => return,
            Err(e) if tries < 5 => {
                tries += 1;
                warn!(error = %e, what, "write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            Err(e) => {
                warn!(error = %e, what, lost = rows, "write failed");
                return;
            }
        }
    }
}
