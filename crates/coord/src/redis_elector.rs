//! Several replicas on one Redis: the election loop, the release notices and the member
//! registry, each a background task of one [`RedisElector`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::redis_lease::released_channel;
use crate::{
    BoxFuture, CoordError, LeaderElector, Leadership, LeaseHolder, RedisElectorConfig, RedisLease,
};

/// Leader election through a lease in Redis; see the crate documentation for the timing.
pub struct RedisElector {
    cfg: RedisElectorConfig,
    conn: ConnectionManager,
    lease: RedisLease,
    tx: watch::Sender<Leadership>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for RedisElector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisElector")
            .field("cfg", &self.cfg)
            .field("leadership", &*self.tx.borrow())
            .finish_non_exhaustive()
    }
}

impl RedisElector {
    /// Connects to Redis (it must answer now, like the database at start; later outages are
    /// ridden out by reconnecting) and starts competing for the lease. The watch starts at
    /// [`Leadership::Unknown`].
    pub async fn start(cfg: RedisElectorConfig) -> Result<RedisElector, CoordError> {
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
        let lease = RedisLease::new(
            conn.clone(),
            &cfg.key_prefix,
            &cfg.pool,
            &cfg.node_id,
            cfg.lease_ttl,
        );
        let (tx, _) = watch::channel(Leadership::Unknown);
        let (stop, stop_rx) = watch::channel(false);
        let freed = Arc::new(Notify::new());
        let tasks = vec![
            tokio::spawn(elect(
                lease.clone(),
                tx.clone(),
                cfg.lease_ttl,
                stop_rx.clone(),
                Arc::clone(&freed),
            )),
            tokio::spawn(listen_for_releases(
                client,
                released_channel(&cfg.key_prefix, &cfg.pool),
                third,
                stop_rx.clone(),
                freed,
            )),
            tokio::spawn(register(
                conn.clone(),
                member_key(&cfg.key_prefix, &cfg.node_id),
                cfg.lease_ttl,
                stop_rx,
            )),
        ];
        Ok(RedisElector {
            cfg,
            conn,
            lease,
            tx,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// The settings this elector runs with.
    pub fn config(&self) -> &RedisElectorConfig {
        &self.cfg
    }

    /// The lease operations this elector uses (for tests staging a takeover by hand).
    pub fn lease(&self) -> &RedisLease {
        &self.lease
    }
}

impl Drop for RedisElector {
    fn drop(&mut self) {
        // Without a release the lease simply expires; the tasks must not outlive the handle.
        for task in self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
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
        self.tx.subscribe()
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(async move {
            let prefix = format!("{}:member:", self.cfg.key_prefix);
            let pattern = format!("{}*", glob_escape(&prefix));
            let mut conn = self.conn.clone();
            let mut cursor: u64 = 0;
            let mut members = Vec::new();
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await?;
                members.extend(
                    keys.iter()
                        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)),
                );
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            members.sort();
            members.dedup();
            Ok(members)
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
            // Stop acting first, then give the lease up (the election task does it on stop).
            self.tx.send_replace(Leadership::Follower);
            self.stop.send_replace(true);
            let tasks: Vec<JoinHandle<()>> =
                std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            for task in tasks {
                let _ = task.await;
            }
            Ok(())
        })
    }
}

/// `{prefix}:member:{node}`.
fn member_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:member:{node}")
}

/// Escapes the characters `SCAN MATCH` treats as a pattern, so a prefix is matched literally.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn publish(tx: &watch::Sender<Leadership>, to: Leadership) {
    tx.send_if_modified(|now| {
        let changed = *now != to;
        *now = to;
        changed
    });
}

/// The election loop. Not leading: try to acquire every third of the TTL, or at once when a
/// release is announced. Leading: renew a third of the TTL after the last successful renewal
/// (counted from when that request was *sent*, so the server's expiry is never earlier than we
/// think), retrying quickly on errors; at two thirds of the TTL without success, step down —
/// a third of the TTL before the key can expire and another replica take over, which leaves
/// room for the engine to notice and for clock-rate differences between hosts.
async fn elect(
    lease: RedisLease,
    tx: watch::Sender<Leadership>,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
    freed: Arc<Notify>,
) {
    let third = ttl / 3;
    let step_down_after = ttl * 2 / 3;
    let retry_pause = (ttl / 12).max(Duration::from_millis(10));
    // The token held and when the request that last confirmed it was sent.
    let mut held: Option<(u64, Instant)> = None;
    while !*stop.borrow() {
        match held {
            None => {
                let sent = Instant::now();
                match timeout(third, lease.acquire()).await {
                    Ok(Ok(Some(token))) => {
                        held = Some((token, sent));
                        publish(&tx, Leadership::Leader { token });
                        tracing::info!(token, "acquired the lease: leading");
                        continue;
                    }
                    Ok(Ok(None)) => publish(&tx, Leadership::Follower),
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot reach Redis to acquire"),
                    Err(_) => tracing::warn!("Redis did not answer an acquire in time"),
                }
                tokio::select! {
                    () = sleep(third) => {}
                    () = freed.notified() => {}
                    _ = stop.changed() => {}
                }
            }
            Some((token, since)) => {
                tokio::select! {
                    () = sleep_until(since + third) => {}
                    _ = stop.changed() => continue,
                }
                held = renew_or_step_down(&lease, &tx, token, since + step_down_after, retry_pause)
                    .await
                    .map(|confirmed| (token, confirmed));
                if held.is_some() && !*stop.borrow() {
                    // Still ours: say so again. After `fenced_below` published `Follower` but
                    // could not reach Redis to give the lease up, this lets the engine try
                    // (and hand it back) again instead of holding a lease nobody uses.
                    publish(&tx, Leadership::Leader { token });
                }
            }
        }
    }
    if let Some((token, _)) = held {
        publish(&tx, Leadership::Follower);
        match timeout(third, lease.release(token)).await {
            Ok(Ok(_)) => tracing::info!(token, "released the lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not release the lease; it will expire"),
            Err(_) => tracing::warn!("Redis did not answer the release; the lease will expire"),
        }
    }
    publish(&tx, Leadership::Follower);
}

/// Renews `token` until it works (returns when the confirming request was sent), the lease
/// turns out lost, or `deadline` passes (both publish [`Leadership::Follower`], return `None`).
async fn renew_or_step_down(
    lease: &RedisLease,
    tx: &watch::Sender<Leadership>,
    token: u64,
    deadline: Instant,
    retry_pause: Duration,
) -> Option<Instant> {
    loop {
        let sent = Instant::now();
        if sent >= deadline {
            publish(tx, Leadership::Follower);
            tracing::warn!(
                token,
                "no renewal for two thirds of the lease: stepped down"
            );
            // Best effort: if Redis answers again, free the lease for the others at once.
            let _ = timeout(retry_pause, lease.release(token)).await;
            return None;
        }
        match timeout(deadline - sent, lease.renew(token)).await {
            Ok(Ok(true)) => return Some(sent),
            Ok(Ok(false)) => {
                publish(tx, Leadership::Follower);
                tracing::warn!(token, "the lease is no longer ours: stepped down");
                return None;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "renewal failed; retrying");
                sleep(retry_pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            }
            Err(_) => {} // the deadline passed while waiting: the loop steps down
        }
    }
}

/// Forwards release notices to the election loop, so a free lease is taken at once instead of
/// at the next poll. Reconnects after a failure; polling covers the gaps.
async fn listen_for_releases(
    client: redis::Client,
    channel: String,
    pause: Duration,
    mut stop: watch::Receiver<bool>,
    freed: Arc<Notify>,
) {
    use futures_util::StreamExt;
    while !*stop.borrow() {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match timeout(pause, subscribed).await {
            Ok(Ok(pubsub)) => {
                // A release announced before this subscription was missed: look once now.
                freed.notify_one();
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => match msg {
                            Some(_) => freed.notify_one(),
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

/// Keeps `{prefix}:member:{node}` alive (a TTL, refreshed every third of it) until stopped,
/// then removes it: a replica that dies drops out of the members within one TTL.
async fn register(
    conn: ConnectionManager,
    key: String,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let third = ttl / 3;
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    while !*stop.borrow() {
        let mut c = conn.clone();
        let mut set = redis::cmd("SET");
        set.arg(&key).arg(1).arg("PX").arg(ttl_ms);
        if let Ok(Err(e)) = timeout(third, set.query_async::<()>(&mut c)).await {
            tracing::debug!(error = %e, "member registration not refreshed");
        }
        tokio::select! {
            () = sleep(third) => {}
            _ = stop.changed() => {}
        }
    }
    let mut c = conn.clone();
    let _ = timeout(third, redis::cmd("DEL").arg(&key).query_async::<()>(&mut c)).await;
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
}
