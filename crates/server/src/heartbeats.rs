//! Group commit for single-agent heartbeats.
//!
//! A fleet of 10 000 agents reporting every 10 s sends 1 000 heartbeats a second. Written one
//! transaction each, SQLite serialises them on its single writer and the tail latency grows with
//! the queue. Here each request hands its heartbeat to one writer task and waits for the commit:
//! the writer takes everything that queued while the previous batch was being written and
//! commits it in one transaction. Under light load a batch is one heartbeat (no added delay);
//! under heavy load batches grow and the cost per heartbeat falls. The request is answered only
//! after its batch committed, so an acknowledged heartbeat is durable. A batch holding several
//! agent pools' heartbeats is written one transaction per pool.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use hivesched_store::{DEFAULT_POOL, Heartbeat, Store};
use tokio::sync::{mpsc, oneshot};

use crate::ApiError;

/// Most heartbeats committed in one transaction.
const MAX_BATCH: usize = 2_000;

/// Heartbeats that may wait for the writer before requests are pushed back (they then wait
/// for room, which is the backpressure a saturated database needs).
const QUEUE: usize = 20_000;

/// A batch's outcome for each of its requests: the error as the API reports it (a new pool
/// beyond the limit is a conflict; anything else a database error).
type Outcome = Result<(), Failure>;

#[derive(Debug, Clone)]
enum Failure {
    Conflict(String),
    Database(String),
}

impl From<hivesched_store::StoreError> for Failure {
    fn from(e: hivesched_store::StoreError) -> Self {
        match e {
            hivesched_store::StoreError::Conflict { key, .. } => Failure::Conflict(key),
            other => Failure::Database(other.to_string()),
        }
    }
}

struct Pending {
    pool: String,
    beat: Heartbeat,
    done: oneshot::Sender<Outcome>,
}

/// Handle to the heartbeat writer task; cheap to clone.
#[derive(Clone)]
pub struct HeartbeatWriter {
    tx: mpsc::Sender<Pending>,
    writer: Arc<Writer>,
}

/// What writes: the store, and the pools this process has recorded in it (a heartbeat into a
/// new pool records it first).
struct Writer {
    store: Store,
    known: Mutex<HashSet<String>>,
}

impl Writer {
    async fn write(
        &self,
        pool: &str,
        beats: &[Heartbeat],
    ) -> Result<u64, hivesched_store::StoreError> {
        self.ensure(pool).await?;
        self.store.in_pool(pool).record_heartbeats(beats).await
    }

    /// Records `pool` in the store unless this process did already (within the limit of
    /// pools agents may create).
    async fn ensure(&self, pool: &str) -> Result<(), hivesched_store::StoreError> {
        let store = self.store.in_pool(pool);
        let new = !self
            .known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(pool);
        if new {
            store.ensure_pool_within(hivesched_store::MAX_POOLS).await?;
            self.known
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(pool.to_owned());
        }
        Ok(())
    }
}

impl HeartbeatWriter {
    /// Starts the writer task on `store`. It ends when every handle is dropped, after writing
    /// what is queued.
    pub fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::channel::<Pending>(QUEUE);
        let writer = Arc::new(Writer {
            store,
            known: Mutex::new(HashSet::from([DEFAULT_POOL.to_owned()])),
        });
        let this = Arc::clone(&writer);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut by_pool: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
                for p in batch.drain(..) {
                    by_pool.entry(p.pool.clone()).or_default().push(p);
                }
                for (pool, pending) in by_pool {
                    let beats: Vec<Heartbeat> = pending.iter().map(|p| p.beat.clone()).collect();
                    let outcome = this
                        .write(&pool, &beats)
                        .await
                        .map(drop)
                        .map_err(Failure::from);
                    for p in pending {
                        // The request may have gone (client hung up): nothing to tell it.
                        let _ = p.done.send(outcome.clone());
                    }
                }
            }
        });
        HeartbeatWriter { tx, writer }
    }

    /// Writes `beats` of `pool` in one transaction now (the batch route), recording the pool
    /// first if this process has not yet.
    pub async fn write(
        &self,
        pool: &str,
        beats: &[Heartbeat],
    ) -> Result<u64, hivesched_store::StoreError> {
        self.writer.write(pool, beats).await
    }

    /// Records `pool` (a pool named by a heartbeat) unless it is known already;
    /// [`hivesched_store::StoreError::Conflict`] beyond [`hivesched_store::MAX_POOLS`].
    pub async fn ensure_pool(&self, pool: &str) -> Result<(), hivesched_store::StoreError> {
        self.writer.ensure(pool).await
    }

    /// Records one heartbeat of the default pool, returning once it is committed.
    pub async fn record(&self, beat: Heartbeat) -> Result<(), ApiError> {
        self.record_in(DEFAULT_POOL, beat).await
    }

    /// Records one heartbeat of `pool`, returning once it is committed.
    pub async fn record_in(&self, pool: &str, beat: Heartbeat) -> Result<(), ApiError> {
        let (done, committed) = oneshot::channel();
        self.tx
            .send(Pending {
                pool: pool.to_owned(),
                beat,
                done,
            })
            .await
            .map_err(|_| ApiError::Unavailable("the heartbeat writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| ApiError::Unavailable("the heartbeat writer has stopped".into()))?
            .map_err(|f| match f {
                Failure::Conflict(why) => ApiError::Conflict(why),
                Failure::Database(why) => ApiError::Database(why),
            })
    }
}

#[cfg(test)]
mod tests {
    use hivesched_policy::{AgentId, AgentState, Time};

    use super::*;

    fn beat(agent: &str, at: i64, busy: bool) -> Heartbeat {
        Heartbeat {
            agent: AgentId::from(agent),
            at: Time::from_millis(at),
            state: AgentState::Awake,
            busy,
            queue_depth: 1,
            context_tokens: 10,
            tasks: None,
        }
    }

    #[tokio::test]
    async fn concurrent_heartbeats_are_all_committed_before_they_are_acknowledged() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let writer = HeartbeatWriter::spawn(store.clone());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let w = writer.clone();
                tokio::spawn(
                    async move { w.record(beat(&format!("a{i:03}"), 1_000, i % 2 == 0)).await },
                )
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let agents = store.list_agents().await.unwrap();
        assert_eq!(agents.len(), 200);
        assert!(
            agents
                .iter()
                .all(|a| a.last_heartbeat == Some(Time::from_millis(1_000)))
        );
        assert_eq!(agents.iter().filter(|a| a.agent.busy).count(), 100);
    }

    #[tokio::test]
    async fn a_failed_commit_is_reported_to_every_waiter() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let writer = HeartbeatWriter::spawn(store.clone());
        store.close().await;
        let err = writer.record(beat("a", 1, false)).await.unwrap_err();
        assert!(matches!(err, ApiError::Database(_)), "{err:?}");
    }
}
