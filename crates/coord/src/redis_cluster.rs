//! Several replicas on one Redis, several pools: one lease per pool, the member registry, the
//! release notices, and where each pool's lease should live (rendezvous hashing over the live
//! members). A [`RedisCoordinator`] owns the connection and the replica-wide tasks; each pool's
//! [`PoolElector`] runs its own election loop.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use crate::election::{Placement, elect};
use crate::redis_lease::released_channel;
use crate::{
    BoxFuture, CoordError, Coordinator, LeaderElector, Leadership, LeaseHolder, RedisLease,
};

/// Settings of a [`RedisCoordinator`] (those of [`crate::RedisElectorConfig`] but the pool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisClusterConfig {
    /// `redis://host:port/db` of the coordinating Redis.
    pub redis_url: String,
    /// This replica's name (unique among replicas).
    pub node_id: String,
    /// Prefix of every key this replica uses, so several deployments can share one Redis.
    pub key_prefix: String,
    /// How long a lease or a member registration lives without renewal.
    pub lease_ttl: Duration,
}

impl RedisClusterConfig {
    /// Checks the values a coordinator cannot work with; errors name the key.
    pub fn validate(&self) -> Result<(), CoordError> {
        crate::RedisElectorConfig {
            redis_url: self.redis_url.clone(),
            node_id: self.node_id.clone(),
            key_prefix: self.key_prefix.clone(),
            lease_ttl: self.lease_ttl,
            pool: crate::DEFAULT_POOL.to_owned(),
        }
        .validate()
    }
}

/// A live member as its registration says: its name and the pools it competes for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) node: String,
    pub(crate) pools: BTreeSet<String>,
}

/// The value of a member key: `pools:` and the pools it competes for, comma-separated. A
/// replica of an earlier version writes `1` and competes for `default` only.
fn member_value(pools: &BTreeSet<String>) -> String {
    let list: Vec<&str> = pools.iter().map(String::as_str).collect();
    format!("pools:{}", list.join(","))
}

fn parse_member_value(value: &str) -> BTreeSet<String> {
    match value.strip_prefix("pools:") {
        Some(list) => list
            .split(',')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        None => BTreeSet::from([crate::DEFAULT_POOL.to_owned()]),
    }
}

/// What the replica-wide tasks share with every pool's election loop.
struct Shared {
    cfg: RedisClusterConfig,
    conn: ConnectionManager,
    /// The pools this replica competes for (advertised in its member registration).
    pools: watch::Sender<BTreeSet<String>>,
    /// The live members with their pools, refreshed every third of the TTL while this replica
    /// competes for more than one pool (one pool needs no placement).
    view: watch::Sender<Vec<Member>>,
    /// Wakes a pool's loop when its lease is announced free.
    freed: Mutex<HashMap<String, Arc<Notify>>>,
    /// Whether this replica may lead ([`Coordinator::set_eligible`]).
    eligible: watch::Sender<bool>,
}

impl Shared {
    fn freed(&self, pool: &str) -> Arc<Notify> {
        Arc::clone(
            self.freed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(pool.to_owned())
                .or_default(),
        )
    }

    fn member_key(&self) -> String {
        member_key(&self.cfg.key_prefix, &self.cfg.node_id)
    }
}

/// Leader election for any number of pools through leases in Redis; see the crate
/// documentation for the timing and `docs/cluster.md` for the placement.
///
/// With one pool a replica competes for its lease whenever it is free and keeps it while it
/// can renew it (the behaviour of one-pool versions). With several, each pool's lease is
/// wanted by one member — the highest by [`crate::rendezvous::weight`] among the live members that
/// compete for the pool — so leases spread over the replicas and move when they come and go:
/// only the preferred member acquires a free lease (the others wait one TTL for it to do so,
/// so a pool never stays leaderless because its preferred member is alive but not taking it),
/// and a leader that sees a live member preferred over itself for two successive looks hands
/// the lease over (compare-and-delete and a release notice, so the preferred one takes it at
/// once).
pub struct RedisCoordinator {
    shared: Arc<Shared>,
    client: redis::Client,
    electors: Mutex<BTreeMap<String, Arc<PoolElector>>>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCoordinator")
            .field("cfg", &self.shared.cfg)
            .field("pools", &*self.shared.pools.borrow())
            .finish_non_exhaustive()
    }
}

impl RedisCoordinator {
    /// Connects to Redis (it must answer now, like the database at start; later outages are
    /// ridden out by reconnecting), registers this replica as a member and reads the others.
    /// No pool is competed for until [`Coordinator::elector`] names it.
    pub async fn start(cfg: RedisClusterConfig) -> Result<RedisCoordinator, CoordError> {
        cfg.validate()?;
        let third = cfg.lease_ttl / 3;
        let client = redis::Client::open(cfg.redis_url.as_str())?;
        // Every call is bounded well inside the lease: a Redis that stops answering must not
        // hold a leader past its step-down point.
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(third))
            .set_response_timeout(Some(third))
            .set_number_of_retries(1)
            .set_max_delay(third);
        let conn = timeout(
            cfg.lease_ttl,
            client.get_connection_manager_with_config(manager),
        )
        .await
        .map_err(|_| CoordError::Timeout(cfg.lease_ttl))??;
        let (pools, _) = watch::channel(BTreeSet::new());
        let (view, _) = watch::channel(Vec::new());
        let shared = Arc::new(Shared {
            cfg,
            conn,
            pools,
            view,
            freed: Mutex::default(),
            eligible: watch::channel(true).0,
        });
        let (stop, stop_rx) = watch::channel(false);
        let tasks = vec![
            tokio::spawn(listen_for_releases(
                client.clone(),
                Arc::clone(&shared),
                third,
                stop_rx.clone(),
            )),
            tokio::spawn(register(Arc::clone(&shared), stop_rx.clone())),
            tokio::spawn(watch_members(Arc::clone(&shared), stop_rx)),
        ];
        Ok(RedisCoordinator {
            shared,
            client,
            electors: Mutex::default(),
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// The settings this coordinator runs with.
    pub fn config(&self) -> &RedisClusterConfig {
        &self.shared.cfg
    }

    /// The elector of `pool` (started on first use; the same one afterwards).
    pub fn pool(&self, pool: &str) -> Arc<PoolElector> {
        let mut electors = self.electors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = electors.get(pool) {
            return Arc::clone(e);
        }
        let e = Arc::new(PoolElector::start(&self.shared, pool));
        electors.insert(pool.to_owned(), Arc::clone(&e));
        e
    }

    async fn release_all(&self) -> Result<(), CoordError> {
        let electors: Vec<Arc<PoolElector>> = self
            .electors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for e in electors {
            e.stop().await;
        }
        // Then leave the member registry (the register task deletes the key as it stops).
        self.stop.send_replace(true);
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            let _ = task.await;
        }
        Ok(())
    }
}

impl Drop for RedisCoordinator {
    fn drop(&mut self) {
        // Without a release the leases and the registration simply expire; the tasks must not
        // outlive the handle.
        for task in self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
        let _ = &self.client;
    }
}

impl Coordinator for RedisCoordinator {
    fn node_id(&self) -> &str {
        &self.shared.cfg.node_id
    }

    fn alone(&self) -> bool {
        false
    }

    fn elector(&self, pool: &str) -> Arc<dyn LeaderElector> {
        self.pool(pool)
    }

    fn electors(&self, pools: &[String]) -> Vec<Arc<dyn LeaderElector>> {
        self.shared.pools.send_modify(|known| {
            known.extend(pools.iter().cloned());
        });
        pools
            .iter()
            .map(|p| self.pool(p) as Arc<dyn LeaderElector>)
            .collect()
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(member_names(&self.shared))
    }

    fn holder<'a>(
        &'a self,
        pool: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseHolder>, CoordError>> {
        Box::pin(async move {
            let lease = RedisLease::new(
                self.shared.conn.clone(),
                &self.shared.cfg.key_prefix,
                pool,
                &self.shared.cfg.node_id,
                self.shared.cfg.lease_ttl,
            );
            lease.holder().await
        })
    }

    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(self.release_all())
    }

    fn set_eligible(&self, eligible: bool) {
        let changed = self.shared.eligible.send_if_modified(|now| {
            let changed = *now != eligible;
            *now = eligible;
            changed
        });
        if changed && eligible {
            tracing::info!("eligible again: competing for the pools");
        } else if changed {
            tracing::warn!("not eligible: handing every lease over, competing for none");
        }
    }
}

/// One pool's lease for this replica: the election loop and its watch.
pub struct PoolElector {
    pool: String,
    shared: Weak<Shared>,
    node_id: String,
    lease: RedisLease,
    tx: watch::Sender<Leadership>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PoolElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolElector")
            .field("pool", &self.pool)
            .field("leadership", &*self.tx.borrow())
            .finish_non_exhaustive()
    }
}

impl PoolElector {
    fn start(shared: &Arc<Shared>, pool: &str) -> PoolElector {
        let cfg = &shared.cfg;
        let lease = RedisLease::new(
            shared.conn.clone(),
            &cfg.key_prefix,
            pool,
            &cfg.node_id,
            cfg.lease_ttl,
        );
        let (tx, _) = watch::channel(Leadership::Unknown);
        let (stop, stop_rx) = watch::channel(false);
        shared.pools.send_modify(|p| {
            p.insert(pool.to_owned());
        });
        let placement = Placement {
            node: cfg.node_id.clone(),
            pool: pool.to_owned(),
            pools: shared.pools.subscribe(),
            view: shared.view.subscribe(),
        };
        let task = tokio::spawn(elect(
            lease.clone(),
            tx.clone(),
            cfg.lease_ttl,
            stop_rx,
            shared.freed(pool),
            placement,
            shared.eligible.subscribe(),
        ));
        PoolElector {
            pool: pool.to_owned(),
            shared: Arc::downgrade(shared),
            node_id: cfg.node_id.clone(),
            lease,
            tx,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    /// The pool this elector competes for.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// The lease operations this elector uses (for tests staging a takeover by hand).
    pub fn lease(&self) -> &RedisLease {
        &self.lease
    }

    /// Stops acting, gives the lease up if held and stops competing for the pool.
    async fn stop(&self) {
        self.tx.send_replace(Leadership::Follower);
        self.stop.send_replace(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.pools.send_modify(|p| {
                p.remove(&self.pool);
            });
        }
    }
}

impl Drop for PoolElector {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl LeaderElector for PoolElector {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn alone(&self) -> bool {
        false
    }

    fn watch(&self) -> watch::Receiver<Leadership> {
        self.tx.subscribe()
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(async move {
            let Some(shared) = self.shared.upgrade() else {
                return Ok(Vec::new());
            };
            member_names(&shared).await
        })
    }

    fn holder(&self) -> BoxFuture<'_, Result<Option<LeaseHolder>, CoordError>> {
        Box::pin(self.lease.holder())
    }

    fn fenced_below(&self, floor: u64) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async move {
            let token = self.tx.borrow().token();
            // Stop acting on the refused lease; the election loop finds it gone at its next
            // renewal and acquires again, above the floor.
            self.tx.send_replace(Leadership::Follower);
            self.lease.raise_counter(floor, token).await
        })
    }

    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async move {
            self.stop().await;
            Ok(())
        })
    }
}

/// `{prefix}:member:{node}`.
pub(crate) fn member_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:member:{node}")
}

/// Escapes the characters `SCAN MATCH` treats as a pattern, so a prefix is matched literally.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The registered members' names, sorted.
async fn member_names(shared: &Shared) -> Result<Vec<String>, CoordError> {
    let mut members: Vec<String> = scan_members(shared)
        .await?
        .into_iter()
        .map(|m| m.node)
        .collect();
    members.sort();
    members.dedup();
    Ok(members)
}

/// The registered members and their pools: `SCAN` for the keys, then one `MGET`.
async fn scan_members(shared: &Shared) -> Result<Vec<Member>, CoordError> {
    let prefix = format!("{}:member:", shared.cfg.key_prefix);
    let pattern = format!("{}*", glob_escape(&prefix));
    let mut conn = shared.conn.clone();
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await?;
        keys.extend(found);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
    Ok(keys
        .iter()
        .zip(values)
        .filter_map(|(k, v)| {
            // A key that expired between the SCAN and the MGET is not a member any more.
            let v = v?;
            Some(Member {
                node: k.strip_prefix(&prefix)?.to_owned(),
                pools: parse_member_value(&v),
            })
        })
        .collect())
}

/// loops, so a free lease is taken at once instead of at the next poll. Reconnects after a
/// failure; polling covers the gaps.
async fn listen_for_releases(
    client: redis::Client,
    shared: Arc<Shared>,
    pause: Duration,
    mut stop: watch::Receiver<bool>,
) {
    use futures_util::StreamExt;
    let prefix = &shared.cfg.key_prefix;
    let channel_of = |pool: &str| released_channel(prefix, pool);
    let pattern = format!("{}*", glob_escape(&channel_of("")));
    let wake_all = || {
        for n in shared
            .freed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
        {
            n.notify_one();
        }
    };
    while !*stop.borrow() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match timeout(pause, subscribed).await {
            Ok(Ok(pubsub)) => {
                // A release announced before this subscription was missed: look once now.
                wake_all();
                let empty = channel_of("");
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(msg) => {
                                let channel = msg.get_channel_name().to_owned();
                                if let Some(pool) = channel.strip_prefix(&empty) {
                                    shared.freed(pool).notify_one();
                                }
                            }
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "release notices unavailable"),
            Err(_) => tracing::debug!("release notices: Redis did not answer in time"),
        }
        tokio::select! {
            () = sleep(pause) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Keeps `{prefix}:member:{node}` alive (a TTL, refreshed every third of it, and at once when
/// the pools it competes for change) until stopped, then removes it: a replica that dies
/// drops out of the members within one TTL.
async fn register(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let ttl = shared.cfg.lease_ttl;
    let third = ttl / 3;
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let key = shared.member_key();
    let mut pools = shared.pools.subscribe();
    let mut eligible = shared.eligible.subscribe();
    while !*stop.borrow() {
        // Not eligible: registered (alive, listed) but competing for nothing, so the others'
        // placement does not wait for it.
        let value = if *eligible.borrow_and_update() {
            member_value(&pools.borrow_and_update())
        } else {
            member_value(&BTreeSet::new())
        };
        let mut c = shared.conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(value).arg("PX").arg(ttl_ms);
        if let Ok(Err(e)) = timeout(third, set.query_async::<()>(&mut c)).await {
            tracing::debug!(error = %e, "member registration not refreshed");
        }
        tokio::select! {
            () = sleep(third) => {}
            _ = pools.changed() => {}
            Ok(()) = eligible.changed() => {}
            _ = stop.changed() => {}
        }
    }
    let mut c = shared.conn.clone();
    let _ = timeout(third, redis::cmd("DEL").arg(&key).query_async::<()>(&mut c)).await;
}

/// Refreshes the members' view every third of the TTL while this replica competes for more
/// than one pool (with one, placement is not used and Redis is spared the reads).
async fn watch_members(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let third = shared.cfg.lease_ttl / 3;
    let mut pools = shared.pools.subscribe();
    while !*stop.borrow() {
        if pools.borrow_and_update().len() >= 2 {
            match timeout(third, scan_members(&shared)).await {
                Ok(Ok(members)) => {
                    shared.view.send_if_modified(|v| {
                        let changed = *v != members;
                        *v = members;
                        changed
                    });
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "members not read"),
                Err(_) => tracing::debug!("members: Redis did not answer in time"),
            }
        }
        tokio::select! {
            () = sleep(third) => {}
            _ = pools.changed() => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_lease::lease_key;

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(member_key("hs", "n1"), "hs:member:n1");
        assert_eq!(lease_key("hs", "default"), "hs:lease:default");
    }

    #[test]
    fn member_values_name_the_pools() {
        let pools: BTreeSet<String> = ["default".to_string(), "gpu".into()].into();
        assert_eq!(member_value(&pools), "pools:default,gpu");
        assert_eq!(parse_member_value("pools:default,gpu"), pools);
        assert!(parse_member_value("pools:").is_empty());
        // A replica of a one-pool version registers `1`: it competes for `default`.
        assert_eq!(
            parse_member_value("1"),
            BTreeSet::from(["default".to_string()])
        );
    }
}
