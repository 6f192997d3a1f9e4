//! Fault campaign (f): the wall clock jumps an hour forward and two hours back, on the leader and
//! on a follower, while two replicas on PostgreSQL and Redis (`HIVE_TEST_POSTGRES_URL`,
//! `HIVE_TEST_REDIS_URL`) work against a fake fleet over HTTP. Leadership rests on monotonic
//! time only, so no jump moves it; the engine's clock (injected) only stamps decisions and task
//! keys, so every agent that falls asleep is still woken exactly once.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{SECRET, TestServer, postgres_backend, redis_url};
use hivesched_engine::clock::{Clock, SystemClock};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, serve};
use hivesched_policy::{AgentState, Time};
use hivesched_server::ServiceConfig;

/// The wall clock plus an offset the test moves (a host whose clock is stepped).
#[derive(Default)]
struct SteppedClock(AtomicI64);

impl SteppedClock {
    fn step(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for SteppedClock {
    fn now(&self) -> Time {
        Time::from_millis(SystemClock.now().as_millis() + self.0.load(Ordering::SeqCst))
    }
}

async fn leads(base: &str) -> bool {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines().any(|l| l == "hivesched_leader 1")
}

/// Puts `n` awake agents to sleep at the fleet and waits until each has started waking again;
/// returns them.
async fn round_of_work(fleet: &FakeFleet, n: usize) -> Vec<String> {
    let mut batch = Vec::new();
    for a in fleet.agents() {
        if batch.len() == n {
            break;
        }
        if a.state == AgentState::Awake && fleet.fall_asleep(&a.id).is_some() {
            batch.push(a.id.clone());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while batch.iter().any(|a| {
        fleet
            .agent(a)
            .is_some_and(|s| s.state == AgentState::Asleep)
    }) {
        assert!(Instant::now() < deadline, "not woken: {batch:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    batch.into_iter().map(|a| a.0).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_jumps_on_the_leader_or_a_follower_move_neither_leadership_nor_the_work() {
    let Some(redis) = redis_url() else { return };
    let Some(db) = postgres_backend().await else {
        return;
    };
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents: 16,
        checkpoint: Duration::from_millis(50),
        consolidation: Duration::from_millis(50),
        wake_latency: Duration::from_millis(100),
        ..FakeFleetConfig::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fleet_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, fleet.clone(), std::future::pending()));
    let prefix = format!("hs-clock-test-{}", std::process::id());
    // No jitter: a round's wakes go out at its next tick (the default spreads them over 5 s,
    // which made this test take 30 s instead of 14).
    let cfg = |node: &str| {
        ServiceConfig::from_toml(
            &format!(
                "listen = \"127.0.0.1:0\"\ndatabase_url = \"{db}\"\njwt_secret = \"{SECRET}\"\n\
                 tick_interval = 1\nshadow = false\nrestart_hold = 0\n\
                 [rails]\njitter = 0\n[actuator]\nkind = \"http\"\nbase_url = \"{fleet_url}\"\n\
                 [cluster]\nredis_url = \"{redis}\"\nlease_ttl = 1\nnode_id = \"{node}\"\n\
                 key_prefix = \"{prefix}\"\n"
            ),
            Vec::new(),
        )
        .unwrap()
    };
    // The first replica leads (alone at first); the second follows.
    let (clock_a, clock_b) = (
        Arc::new(SteppedClock::default()),
        Arc::new(SteppedClock::default()),
    );
    let a = TestServer::start_on_clock(cfg("clock-a"), clock_a.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !leads(&a.base).await {
        assert!(Instant::now() < deadline, "a never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let b = TestServer::start_on_clock(cfg("clock-b"), clock_b.clone()).await;

    let mut slept: Vec<String> = round_of_work(&fleet, 4).await;
    const HOUR: i64 = 3_600_000;
    for (who, clock, ms) in [
        ("leader", &clock_a, HOUR),
        ("leader", &clock_a, -2 * HOUR),
        ("follower", &clock_b, HOUR),
        ("follower", &clock_b, -2 * HOUR),
    ] {
        clock.step(ms);
        // Two leases with the jumped clock: leadership must not move.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            assert!(
                leads(&a.base).await,
                "the leader lost the lease after a jump on the {who}"
            );
            assert!(
                !leads(&b.base).await,
                "the follower led after a jump on the {who}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slept.extend(round_of_work(&fleet, 4).await);
        eprintln!(
            "clock of the {who} stepped by {} h: still one leader, work done",
            ms / HOUR
        );
    }
    // Every agent that fell asleep started waking exactly once per time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut expected = std::collections::HashMap::<String, usize>::new();
    for a in &slept {
        *expected.entry(a.clone()).or_default() += 1;
    }
    let mut woken = std::collections::HashMap::<String, usize>::new();
    for t in fleet.journal() {
        if t.to == AgentState::Waking {
            *woken.entry(t.agent.0.clone()).or_default() += 1;
        }
    }
    assert_eq!(woken, expected);
    b.stop().await;
    a.stop().await;
}
