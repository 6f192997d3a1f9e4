//! One pool on one Redis: a [`RedisCoordinator`] competing for a single pool's lease, behind
//! the one-pool interface (the tests and tools that follow one lease).

use std::sync::Arc;

use tokio::sync::watch;

use crate::redis_cluster::{PoolElector, RedisClusterConfig, RedisCoordinator};
use crate::{
    BoxFuture, CoordError, Coordinator, LeaderElector, Leadership, LeaseHolder, RedisElectorConfig,
    RedisLease,
};

/// Leader election for one pool through a lease in Redis; see the crate documentation for the
/// timing. Alone in its process it competes for the lease whenever it is free and keeps it
/// while it can renew it (one pool has nothing to spread).
pub struct RedisElector {
    cfg: RedisElectorConfig,
    coordinator: RedisCoordinator,
    pool: Arc<PoolElector>,
}

impl std::fmt::Debug for RedisElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisElector")
            .field("cfg", &self.cfg)
            .field("leadership", &*self.pool.watch().borrow())
            .finish_non_exhaustive()
    }
}

impl RedisElector {
    /// Connects to Redis (it must answer now, like the database at start; later outages are
    /// ridden out by reconnecting) and starts competing for the lease. The watch starts at
    /// [`Leadership::Unknown`].
    pub async fn start(cfg: RedisElectorConfig) -> Result<RedisElector, CoordError> {
        cfg.validate()?;
        let coordinator = RedisCoordinator::start(RedisClusterConfig {
            redis_url: cfg.redis_url.clone(),
            node_id: cfg.node_id.clone(),
            key_prefix: cfg.key_prefix.clone(),
            lease_ttl: cfg.lease_ttl,
        })
        .await?;
        let pool = coordinator.pool(&cfg.pool);
        Ok(RedisElector {
            cfg,
            coordinator,
            pool,
        })
    }

    /// The settings this elector runs with.
    pub fn config(&self) -> &RedisElectorConfig {
        &self.cfg
    }

    /// The lease operations this elector uses (for tests staging a takeover by hand).
    pub fn lease(&self) -> &RedisLease {
        self.pool.lease()
    }
}

impl LeaderElector for RedisElector {
    fn node_id(&self) -> &str {
        &self.cfg.node_id
    }

    fn alone(&self) -> bool {
        false
    }

    fn watch(&self) -> watch::Receiver<Leadership> {
        self.pool.watch()
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        self.coordinator.members()
    }

    fn holder(&self) -> BoxFuture<'_, Result<Option<LeaseHolder>, CoordError>> {
        self.pool.holder()
    }

    fn fenced_below(&self, floor: u64) -> BoxFuture<'_, Result<(), CoordError>> {
        self.pool.fenced_below(floor)
    }

    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        // The lease first (stop acting, compare-and-delete), then the member registration.
        self.coordinator.release()
    }
}
