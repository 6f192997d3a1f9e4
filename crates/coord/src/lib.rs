//! Who may act: leader election with fencing tokens for several Hive Scheduler replicas.
//!
//! - [`LeaderElector`]: the interface the engine follows. Leadership is a
//!   [`tokio::sync::watch`] of [`Leadership`], so the tick loop and the executor read the
//!   current answer without waiting, and stop acting the moment it changes.
//! - [`InProcessElector`]: one replica alone (the default: the demo and SQLite users need no
//!   Redis); always the leader, with token 1.
//! - [`Coordinator`]: the electors of every pool a replica plans for, and the member registry;
//!   [`InProcessCoordinator`] (alone: leads every pool) and [`RedisCoordinator`] (one lease
//!   per pool, spread over the live replicas by [`rendezvous`] hashing).
//! - [`RedisElector`]: one pool on one Redis. The lease is a Redis key set by a Lua
//!   script that also increments a token counter ([`RedisLease`]), renewed at a third of the TTL
//!   by compare-and-renew, given up by compare-and-delete; a leader whose renewals fail steps
//!   down at two thirds of the TTL since its last successful renewal (a monotonic clock), before
//!   the key can expire and another replica take over. Replicas also register themselves with
//!   a TTL, so [`LeaderElector::members`] lists the live ones.
//!
//! The fencing token only protects what checks it: the fleet's API refuses a token lower than
//! the highest it has seen, and the store refuses a write whose token is lower than the highest
//! recorded (see `docs/cluster.md`).

mod election;
mod error;
mod local;
mod redis_cluster;
mod redis_elector;
mod redis_lease;
pub mod rendezvous;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;

pub use error::CoordError;
pub use local::{InProcessCoordinator, InProcessElector};
pub use redis_cluster::{PoolElector, RedisClusterConfig, RedisCoordinator};
pub use redis_elector::RedisElector;
pub use redis_lease::{LeaseHolder, RedisLease};

/// The pool of every agent that names none; one-pool deployments have only this one.
pub const DEFAULT_POOL: &str = "default";

/// What this replica may do right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leadership {
    /// Not known yet (no answer from the coordinator since start): act as a follower.
    Unknown,
    /// Another replica leads, nobody could be elected, or this replica stepped down because it
    /// could not renew its lease in time. Serves the API, does not act.
    Follower,
    /// This replica holds the lease; every write and fleet call carries `token`.
    Leader {
        /// The fencing token of this lease: strictly greater than every earlier lease's.
        token: u64,
    },
}

impl Leadership {
    /// The fencing token when leading.
    pub fn token(self) -> Option<u64> {
        match self {
            Leadership::Leader { token } => Some(token),
            Leadership::Unknown | Leadership::Follower => None,
        }
    }

    /// Whether this replica may act.
    pub fn is_leader(self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }
}

/// A boxed future, so [`LeaderElector`] stays object-safe (the server holds an `Arc<dyn …>`
/// chosen from configuration).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Leader election for one pool, seen as a watch.
///
/// Implementations acquire and renew in the background from the moment they are started, and
/// publish every change of [`Leadership`]; [`LeaderElector::release`] gives the lease up (so
/// another replica can take over at once instead of waiting for the TTL) and stops.
pub trait LeaderElector: Send + Sync {
    /// This replica's name among the members.
    fn node_id(&self) -> &str;

    /// Whether this replica runs alone (no coordinator): it leads by definition.
    fn alone(&self) -> bool;

    /// The leadership as it changes; the current value is readable at once with `borrow()`.
    fn watch(&self) -> watch::Receiver<Leadership>;

    /// The replicas registered as alive now, sorted by name.
    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>>;

    /// Who holds the lease now and with which token, as the coordinator says (`None`: nobody).
    fn holder(&self) -> BoxFuture<'_, Result<Option<LeaseHolder>, CoordError>>;

    /// The store refused this replica's token because a token up to `floor` has written
    /// already: the coordinator's counter is behind (Redis lost its data, or this database was
    /// used by another deployment). Moves the counter past `floor` and gives up the current
    /// lease, so the next lease gets a token the store accepts.
    fn fenced_below(&self, floor: u64) -> BoxFuture<'_, Result<(), CoordError>>;

    /// Gives the lease up if held (compare-and-delete: never someone else's), leaves the member
    /// registry and stops renewing; publishes [`Leadership::Follower`] first, so nothing acts
    /// on a lease that is being given up.
    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>>;
}

/// The electors of every pool one replica plans for, and the replicas it knows of.
///
/// A pool's elector is started the first time it is asked for and is the same afterwards;
/// [`Coordinator::release`] gives every lease up and leaves the member registry.
pub trait Coordinator: Send + Sync {
    /// This replica's name among the members.
    fn node_id(&self) -> &str;

    /// Whether this replica runs alone (no coordinator): it leads every pool by definition.
    fn alone(&self) -> bool;

    /// The elector of `pool`, competing from the first call on.
    fn elector(&self, pool: &str) -> std::sync::Arc<dyn LeaderElector>;

    /// The electors of several pools, in order: each loop starts knowing of all of them (so a
    /// replica starting with several pools does not take a lease only to hand it over).
    fn electors(&self, pools: &[String]) -> Vec<std::sync::Arc<dyn LeaderElector>> {
        pools.iter().map(|p| self.elector(p)).collect()
    }

    /// The replicas registered as alive now, sorted by name.
    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>>;

    /// Who holds `pool`'s lease now and with which token (`None`: nobody).
    fn holder<'a>(
        &'a self,
        pool: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseHolder>, CoordError>>;

    /// Gives every lease up (compare-and-delete), stops competing and leaves the registry;
    /// each elector publishes [`Leadership::Follower`] first.
    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>>;

    /// Whether this replica may lead. `false` while it cannot reach its database: a leader
    /// that cannot journal cannot act, and another replica that can should. With other
    /// replicas, every lease held is handed over (compare-and-delete and a release notice, so
    /// another replica takes it at once), no pool is competed for or advertised in the member
    /// registry until `true` again; alone, nothing changes (nobody else could act).
    fn set_eligible(&self, eligible: bool);
}

/// Settings of a [`RedisElector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisElectorConfig {
    /// `redis://host:port/db` of the coordinating Redis.
    pub redis_url: String,
    /// This replica's name (unique among replicas).
    pub node_id: String,
    /// Prefix of every key this replica uses (`{prefix}:lease:{pool}`, `{prefix}:token:{pool}`,
    /// `{prefix}:member:{node}`), so several deployments can share one Redis.
    pub key_prefix: String,
    /// How long a lease lives without renewal: another replica takes over at most this long
    /// after a leader dies.
    pub lease_ttl: Duration,
    /// The pool whose lease this elector competes for.
    pub pool: String,
}

impl RedisElectorConfig {
    /// Checks the values an elector cannot work with; errors name the key.
    pub fn validate(&self) -> Result<(), CoordError> {
        // Below 30 ms a third of the TTL is shorter than a round trip to a remote Redis plus
        // scheduling jitter: the leader would step down on every hiccup. The service's own
        // bounds (1–300 s) are stricter; tests use short TTLs to stay fast.
        if self.lease_ttl < Duration::from_millis(30) {
            return Err(CoordError::InvalidConfig {
                key: "cluster.lease_ttl",
                reason: format!("{:?} is too short (at least 30 ms)", self.lease_ttl),
            });
        }
        if self.node_id.is_empty() || self.node_id.contains('|') {
            return Err(CoordError::InvalidConfig {
                key: "cluster.node_id",
                reason: "must be non-empty and must not contain '|'".into(),
            });
        }
        if self.key_prefix.is_empty() {
            return Err(CoordError::InvalidConfig {
                key: "cluster.key_prefix",
                reason: "must be non-empty".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> RedisElectorConfig {
        RedisElectorConfig {
            redis_url: "redis://127.0.0.1:6379".into(),
            node_id: "a".into(),
            key_prefix: "p".into(),
            lease_ttl: Duration::from_secs(10),
            pool: DEFAULT_POOL.into(),
        }
    }

    #[test]
    fn config_errors_name_the_key() {
        let mut c = cfg();
        assert!(c.validate().is_ok());
        c.lease_ttl = Duration::from_millis(5);
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cluster.lease_ttl")
        );
        let mut c = cfg();
        c.node_id = "a|b".into();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cluster.node_id")
        );
        let mut c = cfg();
        c.key_prefix = String::new();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("cluster.key_prefix")
        );
    }

    #[test]
    fn only_a_leader_has_a_token() {
        assert_eq!(Leadership::Leader { token: 3 }.token(), Some(3));
        assert_eq!(Leadership::Follower.token(), None);
        assert!(!Leadership::Unknown.is_leader());
    }
}
