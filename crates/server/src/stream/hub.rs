//! The hub of the live stream: numbers every message, keeps the newest in a ring for clients
//! that reconnect, fans them out to connected clients, and writes them to the database so a
//! client can resume after the ring has moved on (or the server restarted).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use hivesched_policy::Time;
use hivesched_store::{Store, StreamEvent};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc};

use crate::clock;
use crate::error::ApiError;
use crate::stream::StreamKind;

/// Messages kept in memory for replay. At the demo's rate (one tick a second: a decision, a
/// forecast and a few agent changes) this is over ten minutes; older ones come from the
/// database.
pub const RING: usize = 4096;
/// How far a connected client may fall behind the newest message before it is closed. The
/// broadcast channel keeps one shared buffer and one position per client, so this is each
/// client's own bound and a slow one costs the others nothing.
pub const CLIENT_QUEUE: usize = 1024;
/// Most messages one resume replays from the database; a client further behind gets a `gap`
/// for the rest.
pub const REPLAY_MAX: u32 = 10_000;
/// Messages older than this are deleted from the database.
pub const RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// Most messages written to the database in one transaction.
const PERSIST_BATCH: usize = 500;

/// One message, serialized once for every client.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Its sequence number.
    pub seq: u64,
    /// Its JSON text.
    pub text: Utf8Bytes,
    /// When it was published, for live messages (replayed ones from the database have none):
    /// the delivery histogram measures from here.
    pub published: Option<Instant>,
}

/// What a resuming client is sent before the live messages.
#[derive(Debug, Default)]
pub struct Replay {
    /// Messages after the client's `since` that are no longer held: `(first, last)` seq.
    pub gap: Option<(u64, u64)>,
    /// The held messages after `since`, in order.
    pub frames: Vec<Frame>,
}

/// The stream's metric families.
#[derive(Debug, Clone)]
pub struct StreamMetrics {
    /// Clients connected now.
    pub clients: Gauge,
    /// Messages published.
    pub published: Counter,
    /// Clients closed because they fell behind.
    pub lagged: Counter,
    /// Messages that could not be written to the database.
    pub persist_failures: Counter,
    /// Seconds from publishing a live message to having written it to a client's socket, per
    /// client and message.
    pub delivery: Histogram,
}

impl Default for StreamMetrics {
    fn default() -> Self {
        StreamMetrics {
            clients: Gauge::default(),
            published: Counter::default(),
            lagged: Counter::default(),
            persist_failures: Counter::default(),
            // 0.1 ms to ~6.5 s: loopback delivery is well under a millisecond, a client at its
            // queue limit is seconds behind.
            delivery: Histogram::new(exponential_buckets(0.0001, 2.0, 17)),
        }
    }
}

impl StreamMetrics {
    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hivesched_stream_clients",
            "Live stream clients connected",
            self.clients.clone(),
        );
        registry.register(
            "hivesched_stream_messages",
            "Live stream messages published",
            self.published.clone(),
        );
        registry.register(
            "hivesched_stream_lagged_clients",
            "Live stream clients closed because they fell behind",
            self.lagged.clone(),
        );
        registry.register(
            "hivesched_stream_delivery_seconds",
            "Time from publishing a live stream message to writing it to a client's socket",
            self.delivery.clone(),
        );
        registry.register(
            "hivesched_stream_persist_failures",
            "Live stream messages the database did not take (they stay in the memory ring)",
            self.persist_failures.clone(),
        );
    }
}

struct Numbering {
    next: u64,
    ring: VecDeque<Frame>,
}

struct Inner {
    numbering: Mutex<Numbering>,
    live: broadcast::Sender<Frame>,
    persist: mpsc::UnboundedSender<StreamEvent>,
    store: Store,
    metrics: StreamMetrics,
}

/// The live stream's hub; cheap to clone.
#[derive(Clone)]
pub struct StreamHub {
    inner: Arc<Inner>,
}

impl StreamHub {
    /// A hub continuing the numbering stored in `store` (so `seq` keeps growing across
    /// restarts), with its database writer running.
    pub async fn start(store: Store, metrics: StreamMetrics) -> Result<StreamHub, ApiError> {
        let last = store.last_stream_seq().await?;
        let (live, _) = broadcast::channel(CLIENT_QUEUE);
        let (persist, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_events(store.clone(), rx, metrics.clone()));
        Ok(StreamHub {
            inner: Arc::new(Inner {
                numbering: Mutex::new(Numbering {
                    next: u64::try_from(last).unwrap_or(0) + 1,
                    ring: VecDeque::with_capacity(RING),
                }),
                live,
                persist,
                store,
                metrics,
            }),
        })
    }

    /// The metric families.
    pub fn metrics(&self) -> &StreamMetrics {
        &self.inner.metrics
    }

    /// Numbers, keeps, sends and stores one message; returns its `seq`. Never waits: clients
    /// read from the shared buffer at their own pace and the database writer runs behind.
    pub fn publish(&self, kind: StreamKind, data: serde_json::Value) -> u64 {
        let now = clock::now();
        let mut n = self
            .inner
            .numbering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let seq = n.next;
        n.next += 1;
        let text = message(seq, kind.as_str(), now, &data);
        let frame = Frame {
            seq,
            text: Utf8Bytes::from(text),
            published: Some(Instant::now()),
        };
        if n.ring.len() == RING {
            n.ring.pop_front();
        }
        n.ring.push_back(frame.clone());
        // Sent under the lock, so every client sees the messages in `seq` order.
        let _ = self.inner.live.send(frame);
        drop(n);
        self.inner.metrics.published.inc();
        let _ = self.inner.persist.send(StreamEvent {
            seq: i64::try_from(seq).unwrap_or(i64::MAX),
            at: now,
            kind: kind.as_str().to_owned(),
            data,
        });
        seq
    }

    /// A receiver of every message published from now on. Subscribe before [`Self::replay`],
    /// then skip what the replay already sent, and nothing falls between the two.
    pub fn subscribe(&self) -> broadcast::Receiver<Frame> {
        self.inner.live.subscribe()
    }

    /// The newest `seq` published (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.lock().next - 1
    }

    /// What is still held after `since`: from the ring, then the database for what the ring
    /// no longer has (at most [`REPLAY_MAX`]), and a gap for anything older.
    pub async fn replay(&self, since: u64) -> Result<Replay, ApiError> {
        let (ring, ring_first) = {
            let n = self.lock();
            let first = n.ring.front().map_or(n.next, |f| f.seq);
            let held: Vec<Frame> = n.ring.iter().filter(|f| f.seq > since).cloned().collect();
            (held, first)
        };
        if since.saturating_add(1) >= ring_first {
            return Ok(Replay {
                gap: None,
                frames: ring,
            });
        }
        // Older than the ring: the database, up to REPLAY_MAX before the ring starts.
        let from = since.max(ring_first.saturating_sub(u64::from(REPLAY_MAX) + 1));
        let stored = self
            .inner
            .store
            .stream_events_after(i64::try_from(from).unwrap_or(i64::MAX), REPLAY_MAX)
            .await?;
        let mut frames: Vec<Frame> = stored
            .into_iter()
            .filter_map(|e| {
                let seq = u64::try_from(e.seq).ok()?;
                (seq < ring_first).then(|| Frame {
                    seq,
                    text: Utf8Bytes::from(message(seq, &e.kind, e.at, &e.data)),
                    published: None,
                })
            })
            .collect();
        let first_held = frames.first().map_or(ring_first, |f| f.seq);
        let gap = (first_held > since.saturating_add(1)).then_some((since + 1, first_held - 1));
        frames.extend(ring);
        Ok(Replay { gap, frames })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Numbering> {
        self.inner
            .numbering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The wire form: `{"seq": N, "type": "...", "at": RFC 3339, "data": {...}}`.
pub fn message(seq: u64, kind: &str, at: Time, data: &serde_json::Value) -> String {
    serde_json::json!({
        "seq": seq,
        "type": kind,
        "at": clock::to_api(at),
        "data": data,
    })
    .to_string()
}

/// Writes published messages to the database in batches, and deletes those past
/// [`RETENTION`] once an hour. A failed write is counted and logged; the messages stay in the
/// ring, so only a resume from further back than the ring would miss them (and be told).
async fn write_events(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<StreamEvent>,
    metrics: StreamMetrics,
) {
    let mut batch = Vec::with_capacity(PERSIST_BATCH);
    let mut last_purge: Option<Time> = None;
    while rx.recv_many(&mut batch, PERSIST_BATCH).await > 0 {
        if let Err(e) = store.insert_stream_events(&batch).await {
            metrics.persist_failures.inc_by(batch.len() as u64);
            tracing::warn!(error = %e, count = batch.len(), "stream messages not stored");
        }
        batch.clear();
        let now = clock::now();
        if last_purge.is_none_or(|t| now.since(t) > Duration::from_secs(3600)) {
            last_purge = Some(now);
            if let Err(e) = store.purge_stream_events_before(now.minus(RETENTION)).await {
                tracing::warn!(error = %e, "old stream messages not purged");
            }
        }
    }
}
