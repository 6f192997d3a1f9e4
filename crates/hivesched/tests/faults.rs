//! Fault campaigns on the real services (PostgreSQL and Redis from `HIVE_TEST_POSTGRES_URL`
//! and `HIVE_TEST_REDIS_URL`; skipped without them unless `HIVE_TEST_REQUIRE_SERVICES=1`):
//! replicas are child processes of this very binary (`hivesched serve`), struck while the
//! leader's wave of wakes is in flight. Kept small for CI (a few failovers each, lease 1 s);
//! `hivesched chaos --failovers 50` is the full run.

use std::path::PathBuf;

use hivesched::chaos::{ChaosConfig, ChaosReport, Strike, run};

fn services() -> Option<(String, String)> {
    let pg = std::env::var("HIVE_TEST_POSTGRES_URL").unwrap_or_default();
    let redis = std::env::var("HIVE_TEST_REDIS_URL").unwrap_or_default();
    if pg.is_empty() || redis.is_empty() {
        assert_ne!(
            std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref(),
            Ok("1"),
            "HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_POSTGRES_URL or HIVE_TEST_REDIS_URL is not set"
        );
        eprintln!("skipped: HIVE_TEST_POSTGRES_URL and HIVE_TEST_REDIS_URL are needed");
        return None;
    }
    Some((pg, redis))
}

async fn campaign(strike: Strike, replicas: usize, failovers: usize) -> Option<ChaosReport> {
    let (database_url, redis_url) = services()?;
    let report = run(ChaosConfig {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_hivesched")),
        database_url,
        redis_url,
        replicas,
        failovers,
        lease_ttl_s: 1,
        strike,
        batch: 4,
        verbose: true,
    })
    .await
    .unwrap();
    eprintln!("{strike:?}: {report:?}");
    assert_eq!(report.failovers, failovers);
    assert_eq!(report.doubled_actions, 0, "{report:?}");
    assert_eq!(report.lost_tasks, 0, "{report:?}");
    assert_eq!(report.two_leaders_seen, 0, "{report:?}");
    assert_eq!(report.acted_without_lease, 0, "{report:?}");
    // A new leader within two leases of the strike (lease 1 s); a leader cut off from
    // PostgreSQL first waits a lease of failed probes (a third of a lease apart, each bounded
    // by a third) before it hands over: four leases. A breaker opened by fleet errors waits
    // 30 s before it lets a call through again.
    let limit = match strike {
        Strike::PgCut => 4000.0,
        Strike::FleetErrors => 45_000.0,
        _ => 2000.0,
    };
    assert!(report.failover_ms_max < limit, "{report:?}");
    Some(report)
}

/// (a) `kill -9` of the leader while its wakes are in flight: another replica leads within two
/// leases; every agent put to sleep is woken exactly once (counted at the fleet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_within_two_leases_and_nothing_is_lost_or_doubled() {
    campaign(Strike::Kill, 3, 3).await;
}

/// (b) The leader frozen (`SIGSTOP`) past its lease, then resumed: another replica took over
/// meanwhile; the resumed one steps down by itself (the campaign fails otherwise), and what it
/// still tries to write or send is refused by the fencing token — nothing is doubled or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_leader_resumes_as_a_follower_and_its_late_work_is_refused() {
    // Whether a resumed leader still has a write to make depends on where SIGSTOP caught it:
    // 2-3 refused writes in most runs of three rounds, 0 in some (it checked its lease first
    // and stepped down without writing), so their count is reported, not required. That a
    // deposed leader's writes and calls are refused is pinned deterministically by
    // crates/store/tests/store.rs (a_deposed_leaders_writes_are_fenced_and_do_not_land) and
    // crates/engine/tests/leadership.rs; here the invariants are the campaign's own: one
    // leader at a time, nothing doubled, nothing lost.
    campaign(Strike::Stop, 2, 3).await;
}

/// (c) One replica — the leader — cut off from Redis (its TCP proxy drops every connection):
/// it steps down before its lease can expire, another takes over, never two at once; back on
/// Redis it stays a follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_redis_gives_way_and_never_leads_beside_another() {
    campaign(Strike::RedisCut, 3, 2).await;
}

/// (c) Redis unreachable for everyone for two leases: every replica stops leading
/// (`hivesched_leader` 0 everywhere, which `HiveschedNoLeader` alerts on), no agent is woken
/// meanwhile although some fell asleep, and leadership and the work return with Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_gone_nobody_leads_or_acts_and_leadership_returns() {
    campaign(Strike::RedisOutage, 2, 1).await;
}

/// (d) PostgreSQL unreachable from the leader (its TCP proxy drops every connection): it acts on
/// nothing (every task is journaled first), and after a lease of failed probes it hands its
/// lease over; the other replica leads and wakes what falls asleep while the cut lasts, once;
/// reconnected, the old leader stays a follower.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_postgres_hands_over_and_the_other_replica_does_the_work() {
    campaign(Strike::PgCut, 2, 1).await;
}

/// (e) The fleet fails 30 % of sleeps and wakes with 503 for two leases while the leader works,
/// every call for one agent until its breaker opens, and holds one wake's answer past the
/// client's timeout: the breaker opens (wakes refused at once, counted), retries carry the same
/// idempotency keys, so every agent is woken exactly once, and nothing is stuck once the errors
/// stop (the broken agent after its breaker's cooldown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_errors_on_a_third_of_calls_delay_the_work_but_never_double_or_lose_it() {
    let Some(report) = campaign(Strike::FleetErrors, 2, 2).await else {
        return;
    };
    assert!(report.circuit_open_refusals > 0, "{report:?}");
}

/// (a) `kill -9` of the leader in the middle of a bulk operation (a sequential bulk wake
/// submitted through a follower, struck after its first task and before its last): the next
/// leader resumes it; the bulk ends `succeeded` with every task once, and every agent put to
/// sleep is woken exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_mid_bulk_is_replaced_and_the_bulk_finishes_once() {
    campaign(Strike::BulkKill, 3, 2).await;
}
