//! Several pools over several replicas: one leader per pool, leases spread by rendezvous
//! hashing, and pools that move when a replica leaves or joins — against a real Redis
//! (`HIVE_TEST_REDIS_URL`; skipped without it unless `HIVE_TEST_REQUIRE_SERVICES=1`) — and
//! the placement function's properties on arbitrary members and pools.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::redis_url;
use hivesched_coord::{
    Coordinator, InProcessCoordinator, LeaderElector, Leadership, RedisClusterConfig,
    RedisCoordinator, rendezvous,
};
use proptest::prelude::*;
use tokio::time::{Instant, sleep};

fn prefix() -> String {
    common::prefix("hs-pools")
}

struct Replica {
    node: String,
    coordinator: RedisCoordinator,
    electors: Vec<Arc<dyn LeaderElector>>,
}

async fn replica(url: &str, prefix: &str, node: &str, ttl: Duration, pools: &[String]) -> Replica {
    let coordinator = RedisCoordinator::start(RedisClusterConfig {
        redis_url: url.to_owned(),
        node_id: node.to_owned(),
        key_prefix: prefix.to_owned(),
        lease_ttl: ttl,
    })
    .await
    .unwrap();
    let electors = coordinator.electors(pools);
    Replica {
        node: node.to_owned(),
        coordinator,
        electors,
    }
}

/// Who leads each pool, as the replicas' own watches say; panics on two leaders of one pool.
fn leaders(replicas: &[&Replica], pools: &[String]) -> BTreeMap<String, Option<String>> {
    pools
        .iter()
        .enumerate()
        .map(|(i, pool)| {
            let leading: Vec<&str> = replicas
                .iter()
                .filter(|r| r.electors[i].watch().borrow().is_leader())
                .map(|r| r.node.as_str())
                .collect();
            assert!(leading.len() <= 1, "{pool} has two leaders: {leading:?}");
            (pool.clone(), leading.first().map(|s| (*s).to_owned()))
        })
        .collect()
}

/// Waits until every pool is led by its preferred live replica, checking at every look that
/// no pool has two leaders; the time it took.
async fn settled(replicas: &[&Replica], pools: &[String], limit: Duration) -> Duration {
    let start = Instant::now();
    let names: Vec<&str> = replicas.iter().map(|r| r.node.as_str()).collect();
    loop {
        let now = leaders(replicas, pools);
        let placed = pools
            .iter()
            .all(|p| now[p].as_deref() == rendezvous::preferred(names.iter().copied(), p));
        if placed {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not placed within {limit:?}: {now:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_spread_over_replicas_and_move_when_one_leaves_or_joins() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let ttl = Duration::from_millis(900);
    let pools: Vec<String> = (0..8).map(|i| format!("pool-{i}")).collect();
    let a = replica(&url, &p, "node-a", ttl, &pools).await;
    let b = replica(&url, &p, "node-b", ttl, &pools).await;
    let c = replica(&url, &p, "node-c", ttl, &pools).await;
    let took = settled(&[&a, &b, &c], &pools, ttl * 6).await;
    let spread = leaders(&[&a, &b, &c], &pools);
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    for leader in spread.values().flatten() {
        *per_node.entry(leader.clone()).or_default() += 1;
    }
    eprintln!("placed after {took:?}: {per_node:?}");
    assert!(per_node.len() >= 2, "8 pools on one replica: {spread:?}");
    // Tokens are per pool; each pool's holder is what its leader's watch says.
    for (i, pool) in pools.iter().enumerate() {
        let holder = a.coordinator.holder(pool).await.unwrap().unwrap();
        let leader = [&a, &b, &c]
            .into_iter()
            .find(|r| r.node == holder.node)
            .unwrap();
        assert_eq!(
            *leader.electors[i].watch().borrow(),
            Leadership::Leader {
                token: holder.token
            }
        );
    }

    // b stops gracefully: its pools move (release notices), the others stay where they were.
    let before = leaders(&[&a, &b, &c], &pools);
    b.coordinator.release().await.unwrap();
    let moved_in = settled(&[&a, &c], &pools, ttl * 4).await;
    let after = leaders(&[&a, &c], &pools);
    for pool in &pools {
        if before[pool].as_deref() != Some("node-b") {
            assert_eq!(
                after[pool], before[pool],
                "{pool} moved although its leader stayed"
            );
        }
    }
    eprintln!("b's pools moved in {moved_in:?}");

    // c dies without releasing (its tasks stop, its keys expire): a takes everything within
    // about two TTLs (the lease and the registration run out).
    drop(c);
    let died = settled(&[&a], &pools, ttl * 5).await;
    eprintln!("c's pools taken over after {died:?}");
    assert!(
        leaders(&[&a], &pools)
            .values()
            .all(|l| l.as_deref() == Some("node-a"))
    );

    // d joins: the pools it is preferred for are handed over to it.
    let d = replica(&url, &p, "node-d", ttl, &pools).await;
    let joined = settled(&[&a, &d], &pools, ttl * 6).await;
    eprintln!("handed over to d after {joined:?}");
    assert!(
        leaders(&[&a, &d], &pools)
            .values()
            .any(|l| l.as_deref() == Some("node-d"))
    );
    a.coordinator.release().await.unwrap();
    d.coordinator.release().await.unwrap();
}

/// A replica that cannot reach its database is not eligible: every pool it led moves to the
/// other replica at once (a release notice, not an expiry), it takes nothing while it stays
/// so, and once eligible again the pools it is preferred for are handed back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_is_not_eligible_hands_its_pools_over_and_takes_them_back_later() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let ttl = Duration::from_millis(900);
    let pools: Vec<String> = (0..6).map(|i| format!("pool-{i}")).collect();
    let a = replica(&url, &p, "node-a", ttl, &pools).await;
    let b = replica(&url, &p, "node-b", ttl, &pools).await;
    settled(&[&a, &b], &pools, ttl * 6).await;
    let led_by_a = leaders(&[&a, &b], &pools)
        .values()
        .filter(|l| l.as_deref() == Some("node-a"))
        .count();
    assert!(led_by_a > 0, "a leads none of six pools");

    let start = Instant::now();
    a.coordinator.set_eligible(false);
    loop {
        let now = leaders(&[&a, &b], &pools);
        if now.values().all(|l| l.as_deref() == Some("node-b")) {
            break;
        }
        assert!(start.elapsed() < ttl * 2, "not handed over: {now:?}");
        sleep(Duration::from_millis(10)).await;
    }
    let moved = start.elapsed();
    eprintln!("{led_by_a} pools handed over after {moved:?}");
    // Well inside a lease: the leases were released, not left to expire.
    assert!(moved < ttl, "{moved:?}");
    // Not eligible, a takes nothing back for three leases, though it is preferred for some.
    let quiet = Instant::now();
    while quiet.elapsed() < ttl * 3 {
        let now = leaders(&[&a, &b], &pools);
        assert!(
            now.values().all(|l| l.as_deref() == Some("node-b")),
            "a led while not eligible: {now:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
    a.coordinator.set_eligible(true);
    let back = settled(&[&a, &b], &pools, ttl * 6).await;
    eprintln!("placed again after {back:?}");
    a.coordinator.release().await.unwrap();
    b.coordinator.release().await.unwrap();
}

#[tokio::test]
async fn alone_a_replica_leads_every_pool() {
    let c = InProcessCoordinator::new("solo");
    let pools = vec!["default".to_string(), "gpu".into()];
    let electors = c.electors(&pools);
    for e in &electors {
        assert_eq!(*e.watch().borrow(), Leadership::Leader { token: 1 });
    }
    assert_eq!(c.holder("gpu").await.unwrap().unwrap().node, "solo");
    assert!(c.holder("unknown").await.unwrap().is_none());
    // The same elector for the same pool.
    assert!(Arc::ptr_eq(&c.elector("gpu"), &electors[1]));
    c.release().await.unwrap();
    assert!(electors.iter().all(|e| !e.watch().borrow().is_leader()));
}

fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set("[a-z][a-z0-9-]{0,12}", 2..8)
        .prop_map(|s| s.into_iter().collect())
}

proptest! {
    /// Removing a member moves exactly the pools it led; adding one moves only pools to it.
    #[test]
    fn membership_changes_move_only_the_pools_they_must(
        members in names(),
        pools in proptest::collection::vec("[a-z0-9_-]{1,20}", 1..60),
        leaving in any::<proptest::sample::Index>(),
        joining in "[A-Z][a-z0-9]{0,8}",
    ) {
        let owner = |ms: &[String], p: &str| {
            rendezvous::preferred(ms.iter().map(String::as_str), p).unwrap().to_owned()
        };
        let gone = leaving.get(&members).clone();
        let rest: Vec<String> = members.iter().filter(|m| **m != gone).cloned().collect();
        let mut more = members.clone();
        more.push(joining.clone());
        for p in &pools {
            let before = owner(&members, p);
            let without = owner(&rest, p);
            if before == gone {
                prop_assert_ne!(&without, &gone);
            } else {
                prop_assert_eq!(&without, &before);
            }
            let with = owner(&more, p);
            prop_assert!(with == before || with == joining);
            // The ranking's head is the preferred member, and the runner-up inherits.
            let ranked = rendezvous::ranking(members.iter().map(String::as_str), p);
            prop_assert_eq!(ranked[0], before.as_str());
            if before == gone {
                prop_assert_eq!(ranked[1], without.as_str());
            }
        }
    }
}
