//! One pool's election loop: acquire when this replica is where the pool's lease should be,
//! renew at a third of the TTL, step down at two thirds without a renewal, hand the lease over
//! to a better-placed member. [`crate::redis_cluster`] starts one per pool and feeds it the
//! members' view.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::redis_cluster::Member;
use crate::{Leadership, RedisLease, rendezvous};

pub(crate) fn publish(tx: &watch::Sender<Leadership>, to: Leadership) {
    tx.send_if_modified(|now| {
        let changed = *now != to;
        *now = to;
        changed
    });
}

/// Where a pool's lease should be, as one election loop sees it.
pub(crate) struct Placement {
    pub(crate) node: String,
    pub(crate) pool: String,
    pub(crate) pools: watch::Receiver<BTreeSet<String>>,
    pub(crate) view: watch::Receiver<Vec<Member>>,
}

impl Placement {
    /// The member this pool should be led by, when it is not this replica; `None` when this
    /// replica should compete — always with one pool (nothing to spread), and when it knows of
    /// no better-placed live member.
    fn defer_to(&self) -> Option<String> {
        if self.pools.borrow().len() < 2 {
            return None;
        }
        let view = self.view.borrow();
        let candidates = view
            .iter()
            .filter(|m| m.pools.contains(&self.pool))
            .map(|m| m.node.as_str())
            .chain(std::iter::once(self.node.as_str()));
        match rendezvous::preferred(candidates, &self.pool) {
            Some(best) if best != self.node => Some(best.to_owned()),
            _ => None,
        }
    }
}

/// The election loop of one pool. Not leading: try to acquire every third of the TTL, or at
/// once when a release is announced — when this replica is the pool's preferred member (or
/// the lease has been free for a whole TTL). Leading: renew a third of the TTL after the last
/// successful renewal (counted from when that request was *sent*, so the server's expiry is
/// never earlier than we think), retrying quickly on errors; at two thirds of the TTL without
/// success, step down — a third of the TTL before the key can expire and another replica take
/// over, which leaves room for the engine to notice and for clock-rate differences between
/// hosts. A leader that sees a better-placed member twice in a row hands the lease over. While
/// `eligible` is `false` (the replica cannot reach its database) it holds nothing: a lease held
/// is handed over at once, and none is acquired.
pub(crate) async fn elect(
    lease: RedisLease,
    tx: watch::Sender<Leadership>,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
    freed: Arc<Notify>,
    placement: Placement,
    mut eligible: watch::Receiver<bool>,
) {
    let third = ttl / 3;
    let step_down_after = ttl * 2 / 3;
    let retry_pause = (ttl / 12).max(Duration::from_millis(10));
    // The token held and when the request that last confirmed it was sent.
    let mut held: Option<(u64, Instant)> = None;
    // Not preferred: since when the lease has been seen free.
    let mut free_since: Option<Instant> = None;
    // Leading but not preferred: who was preferred at the previous look.
    let mut better: Option<String> = None;
    // The preferred member that left the lease free for a whole TTL when this replica took it:
    // not handed back to while it stays the preferred one (it is alive but does not take it).
    let mut passed_over: Option<String> = None;
    if placement.pools.borrow().len() >= 2 && placement.view.borrow().is_empty() {
        // Several pools and the members not read yet: wait for them (a third of the TTL at
        // most) rather than take a lease only to hand it over.
        let mut view = placement.view.clone();
        let _ = timeout(third, view.changed()).await;
    }
    while !*stop.borrow() {
        match held {
            None => {
                let defer_to = placement.defer_to();
                let try_now = match &defer_to {
                    _ if !*eligible.borrow_and_update() => false,
                    None => true,
                    Some(_) => match timeout(third, lease.holder()).await {
                        Ok(Ok(None)) => {
                            let since = *free_since.get_or_insert_with(Instant::now);
                            since.elapsed() >= ttl
                        }
                        Ok(Ok(Some(_))) => {
                            free_since = None;
                            false
                        }
                        _ => false,
                    },
                };
                if try_now {
                    let sent = Instant::now();
                    match timeout(third, lease.acquire()).await {
                        Ok(Ok(Some(token))) => {
                            held = Some((token, sent));
                            free_since = None;
                            better = None;
                            passed_over = defer_to;
                            publish(&tx, Leadership::Leader { token });
                            tracing::info!(token, pool = %placement.pool, "acquired the lease: leading");
                            continue;
                        }
                        Ok(Ok(None)) => publish(&tx, Leadership::Follower),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, pool = %placement.pool, "cannot reach Redis to acquire")
                        }
                        Err(_) => {
                            tracing::warn!(pool = %placement.pool, "Redis did not answer an acquire in time")
                        }
                    }
                } else {
                    publish(&tx, Leadership::Follower);
                }
                tokio::select! {
                    () = sleep(third) => {}
                    () = freed.notified() => {}
                    Ok(()) = eligible.changed() => {}
                    _ = stop.changed() => {}
                }
            }
            Some((token, since)) => {
                tokio::select! {
                    () = sleep_until(since + third) => {}
                    Ok(()) = eligible.changed() => {
                        if !*eligible.borrow_and_update() {
                            hand_over(&lease, &tx, token, third, &placement.pool, "not eligible (no database)").await;
                            held = None;
                            better = None;
                        }
                        continue;
                    }
                    _ = stop.changed() => continue,
                }
                held = renew_or_step_down(&lease, &tx, token, since + step_down_after, retry_pause)
                    .await
                    .map(|confirmed| (token, confirmed));
                if held.is_none() || *stop.borrow() {
                    continue;
                }
                let defer_to = placement
                    .defer_to()
                    .filter(|m| Some(m) != passed_over.as_ref());
                if defer_to.is_some() && defer_to == better {
                    // Seen twice, a third of the TTL apart: not a registration blip.
                    let to = defer_to.unwrap_or_default();
                    hand_over(
                        &lease,
                        &tx,
                        token,
                        third,
                        &placement.pool,
                        &format!("to the preferred member {to}"),
                    )
                    .await;
                    held = None;
                    better = None;
                    free_since = None;
                    continue;
                }
                better = defer_to;
                // Still ours: say so again. After `fenced_below` published `Follower` but
                // could not reach Redis to give the lease up, this lets the engine try (and
                // hand it back) again instead of holding a lease nobody uses.
                publish(&tx, Leadership::Leader { token });
            }
        }
    }
    if let Some((token, _)) = held {
        publish(&tx, Leadership::Follower);
        match timeout(third, lease.release(token)).await {
            Ok(Ok(_)) => tracing::info!(token, pool = %placement.pool, "released the lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not release the lease; it will expire"),
            Err(_) => tracing::warn!("Redis did not answer the release; the lease will expire"),
        }
    }
    publish(&tx, Leadership::Follower);
}

/// Stops acting on `token`'s lease first, then frees it and announces it (compare-and-delete
/// and a release notice), so the replica it should go to takes it at once; if Redis does not
/// answer, the lease expires.
async fn hand_over(
    lease: &RedisLease,
    tx: &watch::Sender<Leadership>,
    token: u64,
    wait: Duration,
    pool: &str,
    why: &str,
) {
    publish(tx, Leadership::Follower);
    match timeout(wait, lease.release(token)).await {
        Ok(Ok(_)) => tracing::info!(token, pool, why, "handed the lease over"),
        _ => tracing::warn!(pool, why, "could not hand the lease over; it will expire"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_cluster::Member;

    fn placement(node: &str, pool: &str, pools: &[&str], view: &[(&str, &[&str])]) -> Placement {
        let set = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        let (_ptx, prx) = watch::channel(set(pools));
        let members = view
            .iter()
            .map(|(n, p)| Member {
                node: (*n).to_owned(),
                pools: set(p),
            })
            .collect();
        let (_vtx, vrx) = watch::channel(members);
        Placement {
            node: node.into(),
            pool: pool.into(),
            pools: prx,
            view: vrx,
        }
    }

    #[test]
    fn placement_defers_to_the_preferred_member_that_competes_for_the_pool() {
        // Find a pool node "b" is preferred for over "a".
        let pool = (0..100)
            .map(|i| format!("p{i}"))
            .find(|p| rendezvous::preferred(["a", "b"], p) == Some("b"))
            .unwrap();
        let two: &[&str] = &["default", &pool];
        // One pool: no placement, always compete.
        let alone = placement("a", &pool, &[pool.as_str()], &[("a", two), ("b", two)]);
        assert_eq!(alone.defer_to(), None);
        let p = placement("a", &pool, two, &[("a", two), ("b", two)]);
        assert_eq!(p.defer_to().as_deref(), Some("b"));
        // b does not compete for the pool: a leads it.
        let p = placement("a", &pool, two, &[("a", two), ("b", &["default"])]);
        assert_eq!(p.defer_to(), None);
        // b is not alive (not in the view): a leads it.
        let p = placement("a", &pool, two, &[("a", two)]);
        assert_eq!(p.defer_to(), None);
        // Seen from b: b competes.
        let p = placement("b", &pool, two, &[("a", two), ("b", two)]);
        assert_eq!(p.defer_to(), None);
    }
}
