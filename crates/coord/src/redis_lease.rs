//! The lease itself: three Lua scripts on one Redis, each atomic on the server.
//!
//! The lease key holds `{node}|{token}`. Putting the token in the value makes every acquisition
//! distinct: a replica that lost its lease and got a new one cannot renew or delete the old one
//! by mistake, and a reader learns the holder and its token in one `GET`.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

use crate::CoordError;

/// `SET lease NX PX ttl` with the next token in the value, then `INCR` of the token counter,
/// in one script: either both happen or neither. Returns the new token, or 0 when the lease is
/// held. The counter is never reset, so tokens only grow for the life of the Redis data.
const ACQUIRE: &str = r"
local token = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
if redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
";

/// Extends the lease only if it is still ours (the exact value we set).
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease only if it is still ours, then tells waiting replicas it is free.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
  return 1
end
return 0
";

/// Moves the token counter up to at least ARGV[2] and deletes the lease if it is ARGV[1]
/// (announcing it): the next acquisition then gets a token above ARGV[2].
const RAISE: &str = r"
local floor = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') < floor then
  redis.call('SET', KEYS[2], floor)
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', KEYS[3], ARGV[1])
end
return 1
";

/// Who holds a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The holder's node id.
    pub node: String,
    /// The holder's fencing token.
    pub token: u64,
}

/// One pool's lease in Redis, for one node: acquire, renew, release and read, each a single
/// round trip. [`RedisElector`](crate::RedisElector) drives these on a schedule; tests call them
/// directly to stage takeovers.
#[derive(Clone)]
pub struct RedisLease {
    conn: ConnectionManager,
    node: String,
    lease_key: String,
    token_key: String,
    channel: String,
    ttl: Duration,
    acquire: Script,
    renew: Script,
    release: Script,
    raise: Script,
}

impl std::fmt::Debug for RedisLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLease")
            .field("node", &self.node)
            .field("lease_key", &self.lease_key)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl RedisLease {
    /// The lease of `pool` under `prefix` for `node`, over `conn`.
    pub fn new(
        conn: ConnectionManager,
        prefix: &str,
        pool: &str,
        node: &str,
        ttl: Duration,
    ) -> Self {
        RedisLease {
            conn,
            node: node.to_owned(),
            lease_key: lease_key(prefix, pool),
            token_key: format!("{prefix}:token:{pool}"),
            channel: released_channel(prefix, pool),
            ttl,
            acquire: Script::new(ACQUIRE),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
            raise: Script::new(RAISE),
        }
    }

    fn ttl_ms(&self) -> u64 {
        u64::try_from(self.ttl.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Takes the lease if nobody holds it: its fencing token, or `None` when it is held.
    pub async fn acquire(&self) -> Result<Option<u64>, CoordError> {
        let mut conn = self.conn.clone();
        let token: u64 = self
            .acquire
            .key(&self.lease_key)
            .key(&self.token_key)
            .arg(&self.node)
            .arg(self.ttl_ms())
            .invoke_async(&mut conn)
            .await?;
        Ok((token > 0).then_some(token))
    }

    /// Extends the lease taken with `token` by one TTL from now; `false` when it is no longer
    /// ours (it expired, and maybe someone else took it).
    pub async fn renew(&self, token: u64) -> Result<bool, CoordError> {
        let mut conn = self.conn.clone();
        let renewed: i64 = self
            .renew
            .key(&self.lease_key)
            .arg(self.value(token))
            .arg(self.ttl_ms())
            .invoke_async(&mut conn)
            .await?;
        Ok(renewed == 1)
    }

    /// Gives up the lease taken with `token`; `false` when it was no longer ours.
    pub async fn release(&self, token: u64) -> Result<bool, CoordError> {
        let mut conn = self.conn.clone();
        let released: i64 = self
            .release
            .key(&self.lease_key)
            .key(&self.channel)
            .arg(self.value(token))
            .invoke_async(&mut conn)
            .await?;
        Ok(released == 1)
    }

    /// Moves the token counter to at least `floor` and gives up the lease taken with `token`
    /// (if given and still ours): the next acquisition gets a token above `floor`.
    pub async fn raise_counter(&self, floor: u64, token: Option<u64>) -> Result<(), CoordError> {
        let mut conn = self.conn.clone();
        let value = token.map(|t| self.value(t)).unwrap_or_default();
        let _: i64 = self
            .raise
            .key(&self.lease_key)
            .key(&self.token_key)
            .key(&self.channel)
            .arg(value)
            .arg(floor)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// Who holds the lease now, if anyone.
    pub async fn holder(&self) -> Result<Option<LeaseHolder>, CoordError> {
        let mut conn = self.conn.clone();
        let value: Option<String> = redis::cmd("GET")
            .arg(&self.lease_key)
            .query_async(&mut conn)
            .await?;
        value.map(|v| parse_value(&self.lease_key, &v)).transpose()
    }

    fn value(&self, token: u64) -> String {
        format!("{}|{token}", self.node)
    }
}

/// The key of `pool`'s lease.
pub(crate) fn lease_key(prefix: &str, pool: &str) -> String {
    format!("{prefix}:lease:{pool}")
}

/// The channel a release is announced on, so waiting replicas try at once.
pub(crate) fn released_channel(prefix: &str, pool: &str) -> String {
    format!("{prefix}:released:{pool}")
}

/// Reads `{node}|{token}`; node ids cannot contain `|` (checked in the configuration).
fn parse_value(key: &str, value: &str) -> Result<LeaseHolder, CoordError> {
    let unexpected = || CoordError::Unexpected {
        key: key.to_owned(),
        value: value.to_owned(),
    };
    let (node, token) = value.rsplit_once('|').ok_or_else(unexpected)?;
    let token = token.parse().map_err(|_| unexpected())?;
    Ok(LeaseHolder {
        node: node.to_owned(),
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_name_the_holder_and_token() {
        assert_eq!(
            parse_value("k", "node-a|42").unwrap(),
            LeaseHolder {
                node: "node-a".into(),
                token: 42
            }
        );
        assert!(parse_value("k", "garbage").is_err());
        assert!(parse_value("k", "a|x").is_err());
    }
}
