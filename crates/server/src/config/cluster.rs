//! The `[cluster]` table: how this replica finds the others, and its name among them.

use std::time::Duration;

use serde::Deserialize;

use super::{PoolSettings, policy_reason, ranges};
use crate::error::ApiError;

/// The `[cluster]` table — how this replica finds the others — and the `[pools.NAME]` tables:
/// what they lead, one lease per agent pool.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `redis://…` of the Redis the replicas elect their leader on; `None`: this replica is
    /// alone and leads (no Redis needed).
    pub redis_url: Option<String>,
    /// Lease time to live (see [`ranges::LEASE_TTL`]); 10 s by default: a dead leader is
    /// replaced within about one tick interval, for one Redis call every 3.3 s per replica.
    pub lease_ttl: Duration,
    /// This replica's name among the members (default: host name and process id).
    pub node_id: String,
    /// Prefix of this deployment's Redis keys (default `hivesched`).
    pub key_prefix: String,
    /// Per-pool overrides (`[pools.NAME]`, a top-level table), by pool name; a pool not named
    /// here plans with the top-level settings. None by default: one pool, `default`.
    pub pools: std::collections::BTreeMap<String, PoolSettings>,
}

impl Default for ClusterConfig {
    /// Alone, with the defaults the `[cluster]` keys have, and no pool settings.
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            lease_ttl: Duration::from_secs(default_lease_ttl()),
            node_id: default_node_id(),
            key_prefix: default_key_prefix(),
            pools: Default::default(),
        }
    }
}

impl ClusterConfig {
    /// Whether this replica runs alone.
    pub fn alone(&self) -> bool {
        self.redis_url.is_none()
    }
}

/// The `[cluster]` table as written (`lease_ttl` in seconds).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterKeys {
    #[serde(default)]
    redis_url: Option<String>,
    #[serde(default = "default_lease_ttl")]
    lease_ttl: u64,
    #[serde(default)]
    node_id: Option<String>,
    #[serde(default = "default_key_prefix")]
    key_prefix: String,
}

fn default_lease_ttl() -> u64 {
    10
}

fn default_key_prefix() -> String {
    "hivesched".to_owned()
}

impl Default for ClusterKeys {
    fn default() -> Self {
        ClusterKeys {
            redis_url: None,
            lease_ttl: default_lease_ttl(),
            node_id: None,
            key_prefix: default_key_prefix(),
        }
    }
}

/// Longest node id or key prefix: they are parts of Redis keys and of log lines.
const MAX_NAME_LEN: usize = 128;

/// A node id or key prefix: 1–128 of `A-Z a-z 0-9 . _ -` (never `|`, which separates the node
/// from the token in the lease's value, nor glob characters or spaces in a key).
fn check_name(key: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::config(
            key,
            format!("{value:?}: expected 1 to {MAX_NAME_LEN} of A-Z a-z 0-9 . _ -"),
        ))
    }
}

/// The default node id: the host name and the process id, unique among replicas on one host.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                .take(100)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hivesched".to_owned());
    format!("{host}-{}", std::process::id())
}

impl ClusterKeys {
    pub(super) fn checked(self) -> Result<ClusterConfig, ApiError> {
        if let Some(url) = &self.redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ApiError::config(
                "cluster.redis_url",
                "expected a redis:// or rediss:// URL",
            ));
        }
        ranges::LEASE_TTL
            .check(self.lease_ttl as f64)
            .map_err(|e| ApiError::config(ranges::LEASE_TTL.key, policy_reason(e)))?;
        let node_id = self.node_id.unwrap_or_else(default_node_id);
        check_name("cluster.node_id", &node_id)?;
        check_name("cluster.key_prefix", &self.key_prefix)?;
        Ok(ClusterConfig {
            redis_url: self.redis_url,
            lease_ttl: Duration::from_secs(self.lease_ttl),
            node_id,
            key_prefix: self.key_prefix,
            pools: Default::default(),
        })
    }
}
