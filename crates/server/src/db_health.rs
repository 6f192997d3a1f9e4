//! Whether this replica may lead: a leader must reach its database. Every task is journaled
//! before the fleet is called and every decision is written under the pool's fencing token, so
//! a leader cut off from PostgreSQL acts on nothing; if it kept its leases, nobody would act
//! until its own path to the database came back, although another replica may reach it. This
//! task probes the database every third of the lease (`SELECT 1`, bounded by the same third)
//! and, once the probes have failed for a whole lease, tells the coordinator this replica is
//! not eligible: it hands its leases over and competes for none until a probe succeeds again.
//!
//! A lease of grace, because a handover costs what a crash costs (the new leader reconciles
//! the old one's tasks): a database blip shorter than a lease does not move leadership. When
//! the database is gone for every replica, all of them stand aside and nobody leads, which is
//! what they could do anyway (`HiveschedNoLeader` fires); leadership returns with the
//! database. Measured: `hivesched chaos --strike pg-cut` (docs/cluster.md).

use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::{Instant, sleep, timeout};

use crate::shutdown::Shutdown;
use crate::state::AppState;

/// `hivesched_database_reachable`: 1 while this replica's last probe reached the database.
#[derive(Debug, Clone, Default)]
pub struct DatabaseMetrics {
    reachable: Gauge,
}

impl DatabaseMetrics {
    /// Registers the gauge.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hivesched_database_reachable",
            "1 while this replica's last probe (SELECT 1, every third of the lease) reached the \
             database; after a lease of 0 a clustered replica hands its leases over",
            self.reachable.clone(),
        );
    }
}

/// Probes the database until the server shuts down, setting the gauge and the coordinator's
/// eligibility.
pub fn spawn(state: AppState, shutdown: Shutdown, lease_ttl: Duration, metrics: DatabaseMetrics) {
    tokio::spawn(async move {
        let stopped = shutdown.signalled();
        tokio::pin!(stopped);
        tokio::select! {
            () = probe(&state, lease_ttl, &metrics) => {}
            () = &mut stopped => {}
        }
    });
}

async fn probe(state: &AppState, lease_ttl: Duration, metrics: &DatabaseMetrics) {
    let every = lease_ttl / 3;
    let mut judge = Judge::new(lease_ttl);
    loop {
        let ok = matches!(timeout(every, state.store.ping()).await, Ok(Ok(())));
        metrics.reachable.set(i64::from(ok));
        let eligible = judge.observe(ok, Instant::now());
        state.cluster.set_eligible(eligible);
        sleep(every).await;
    }
}

/// Eligible unless the probes have failed without a break for `grace` (pure: time is an
/// argument).
#[derive(Debug, Clone)]
struct Judge {
    grace: Duration,
    failing_since: Option<Instant>,
}

impl Judge {
    fn new(grace: Duration) -> Judge {
        Judge {
            grace,
            failing_since: None,
        }
    }

    /// Records one probe's outcome at `now`; whether the replica is eligible.
    fn observe(&mut self, ok: bool, now: Instant) -> bool {
        if ok {
            self.failing_since = None;
            return true;
        }
        let since = *self.failing_since.get_or_insert(now);
        now.duration_since(since) < self.grace
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_stands_aside_after_a_lease_of_failed_probes_and_returns_at_the_first_success() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut j = Judge::new(s(10));
        assert!(j.observe(true, t0));
        // Failures shorter than the grace: still eligible.
        assert!(j.observe(false, t0 + s(3)));
        assert!(j.observe(false, t0 + s(12)));
        // A success resets the count: a blip does not add up with the next one.
        assert!(j.observe(true, t0 + s(13)));
        assert!(j.observe(false, t0 + s(14)));
        assert!(j.observe(false, t0 + s(23)));
        assert!(!j.observe(false, t0 + s(24)));
        assert!(!j.observe(false, t0 + s(40)));
        assert!(j.observe(true, t0 + s(41)));
    }
}
