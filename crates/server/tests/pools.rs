//! Agent pools: one replica alone planning two pools, each on its own demand, with its own
//! settings, decisions, agents and metrics (SQLite); and three replicas on PostgreSQL and
//! Redis (`HIVE_TEST_POSTGRES_URL`, `HIVE_TEST_REDIS_URL`; skipped without them unless
//! `HIVE_TEST_REQUIRE_SERVICES=1`) where each pool is led — and acted on — by exactly one
//! replica, the pools are spread, and a stopped replica's pools move to the others.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, backends, config, metrics_text, postgres_backend, redis_url, token};
use hivesched_coord::rendezvous;
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Two days of per-minute demand of `value` for `pool`, ending at the current minute.
async fn post_flat_demand_in(s: &TestServer, pool: &str, value: f64) {
    let now = jsonwebtoken::get_current_timestamp() as i64 / 60 * 60;
    let samples: Vec<Value> = (1..=2 * 1440)
        .map(|i| {
            let at = chrono::DateTime::from_timestamp(now - 60 * i, 0).unwrap();
            json!({"at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "value": value})
        })
        .collect();
    // In pieces: the tests' servers take bodies of 64 KiB at most.
    for chunk in samples.chunks(500) {
        let (status, body) = s
            .send(
                Method::POST,
                "/api/v1/demand",
                Some(&token(Role::Operator)),
                Some(&json!({ "samples": chunk, "pool": pool })),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
}

async fn get(s: &TestServer, path: &str) -> (StatusCode, Value) {
    s.send(Method::GET, path, Some(&token(Role::Viewer)), None)
        .await
}

async fn heartbeat(s: &TestServer, agent: &str, pool: Option<&str>) {
    let mut body = json!({"state": "awake", "busy": false});
    if let Some(p) = pool {
        body["pool"] = json!(p);
    }
    let (status, resp) = s
        .send(
            Method::POST,
            &format!("/api/v1/agents/{agent}/heartbeat"),
            Some(&token(Role::Operator)),
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{resp}");
}

/// A metric's value for `pool` on `/metrics` (the default pool's series are unlabelled).
fn pool_metric(text: &str, name: &str, pool: &str) -> Option<f64> {
    let series = if pool == "default" {
        format!("{name} ")
    } else {
        format!("{name}{{pool=\"{pool}\"}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_plans_each_pool_on_its_own_demand_and_settings() {
    let url = backends().await.remove(0);
    let s = TestServer::start_with(config(
        &url,
        "forecaster = \"seasonal-naive\"\n[cluster]\nnode_id = \"solo\"\n\
         [pools.gpu.rails]\nmin_awake = 1\n",
    ))
    .await;
    // The configured pool runs from the start, with the default one.
    assert_eq!(s.pools.names(), ["default", "gpu"]);
    for i in 0..4 {
        heartbeat(&s, &format!("gpu-{i}"), Some("gpu")).await;
        heartbeat(&s, &format!("cpu-{i}"), None).await;
    }
    // Bad names are refused naming the field; an unknown pool has no forecast.
    let (status, body) = s
        .send(
            Method::POST,
            "/api/v1/agents/x/heartbeat",
            Some(&token(Role::Operator)),
            Some(&json!({"state": "awake", "busy": false, "pool": "GPU!"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "pool", "{body}");
    assert_eq!(
        get(&s, "/api/v1/forecast?pool=nope").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&s, "/api/v1/decisions?pool=-x").await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (_, gpu_agents) = get(&s, "/api/v1/agents?pool=gpu").await;
    let ids: Vec<&str> = gpu_agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpu-0", "gpu-1", "gpu-2", "gpu-3"]);
    assert!(
        gpu_agents["agents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["pool"] == "gpu")
    );
    let (_, all) = get(&s, "/api/v1/agents").await;
    assert!(all["total"].as_u64().unwrap() >= 8, "{all}");

    // Each pool on its own demand: the default pool needs six agents, gpu one.
    post_flat_demand_in(&s, "default", 6.0).await;
    post_flat_demand_in(&s, "gpu", 0.5).await;
    let default = s.pools.get("default").unwrap();
    let gpu = s.pools.get("gpu").unwrap();
    let d = default.tick().await.unwrap();
    let g = gpu.tick().await.unwrap();
    eprintln!(
        "default: target {} ({}); gpu: target {} ({})",
        d.target_awake, d.explanation, g.target_awake, g.explanation
    );
    assert!(d.target_awake >= 6, "default follows its demand: {d:?}");
    assert!(g.target_awake <= 2, "gpu follows its own demand: {g:?}");
    // Its own rails: min_awake 1 in gpu, 2 (the default) in the default pool.
    assert_eq!(gpu.config().scheduler.rails.min_awake, 1);
    assert_eq!(default.config().scheduler.rails.min_awake, 2);
    // The gpu plan never names another pool's agent.
    assert!(
        g.actions.iter().all(|a| a.agent.0.starts_with("gpu-")),
        "{g:?}"
    );
    assert!(
        d.actions.iter().all(|a| !a.agent.0.starts_with("gpu-")),
        "{d:?}"
    );

    // The read APIs take the pool; without it they are the default pool's, as before.
    let (_, dd) = get(&s, "/api/v1/decisions?limit=1").await;
    let (_, gd) = get(&s, "/api/v1/decisions?limit=1&pool=gpu").await;
    assert_eq!(dd["decisions"][0]["target_awake"], json!(d.target_awake));
    assert_eq!(gd["decisions"][0]["target_awake"], json!(g.target_awake));
    let (_, demand) = get(&s, "/api/v1/demand?pool=gpu&steps=2").await;
    assert!(
        demand["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["value"] == 0.5)
    );
    let (status, f) = get(&s, "/api/v1/forecast?pool=gpu&horizon=3").await;
    assert_eq!(status, StatusCode::OK, "{f}");
    assert!(f["points"][0]["mean"].as_f64().unwrap() < 1.0, "{f}");

    // Alone, this replica leads both; each pool has its own fencing mark.
    let (_, view) = get(&s, "/api/v1/cluster").await;
    assert_eq!(
        view["pools"],
        json!([
            {"pool": "default", "leader": "solo", "epoch": 1},
            {"pool": "gpu", "leader": "solo", "epoch": 1},
        ])
    );
    assert_eq!(s.store.in_pool("gpu").fencing_mark().await.unwrap(), 1);
    // Metrics: the default pool's series as before, gpu's under its label.
    let text = metrics_text(&s).await;
    assert_eq!(pool_metric(&text, "hivesched_leader", "default"), Some(1.0));
    assert_eq!(pool_metric(&text, "hivesched_leader", "gpu"), Some(1.0));
    assert!(pool_metric(&text, "hivesched_ticks_total", "gpu").unwrap() >= 1.0);
    assert_eq!(
        text.matches("# TYPE hivesched_leader gauge").count(),
        1,
        "one family"
    );

    // A pool first named by a heartbeat is planned too.
    heartbeat(&s, "batch-0", Some("batch")).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.pools.get("batch").is_none() {
        assert!(Instant::now() < deadline, "the new pool never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, view) = get(&s, "/api/v1/cluster").await;
    assert_eq!(view["pools"].as_array().unwrap().len(), 3, "{view}");
    s.stop().await;
}

/// The pool's leader on each replica's own `/metrics`: the replicas acting for it.
async fn acting(replicas: &[(&str, &TestServer)], pool: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, s) in replicas {
        if pool_metric(&metrics_text(s).await, "hivesched_leader", pool) == Some(1.0) {
            out.push((*name).to_owned());
        }
    }
    out
}

/// Waits until every pool is led and acted on by its preferred live replica, and by no one
/// else; fails on two replicas acting for one pool at any look.
async fn placed(replicas: &[(&str, &TestServer)], pools: &[String], limit: Duration) -> Duration {
    let start = Instant::now();
    let names: Vec<&str> = replicas.iter().map(|(n, _)| *n).collect();
    loop {
        let mut ok = true;
        let mut seen = BTreeMap::new();
        for pool in pools {
            let now = acting(replicas, pool).await;
            assert!(now.len() <= 1, "{pool} acted on by {now:?}");
            let want = rendezvous::preferred(names.iter().copied(), pool).unwrap();
            ok &= now.first().map(String::as_str) == Some(want);
            seen.insert(pool.clone(), now);
        }
        if ok {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not placed within {limit:?}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_spread_the_pools_and_move_a_stopped_replicas_pools() {
    let Some(redis) = redis_url() else { return };
    let Some(db) = postgres_backend().await else {
        return;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "hs-pools-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let nodes = ["node-a", "node-b", "node-c"];
    // Two pools besides `default`, placed on two different replicas.
    let mut extra: Vec<String> = Vec::new();
    for i in 0.. {
        let p = format!("pool-{i}");
        let owner = rendezvous::preferred(nodes, &p).unwrap();
        if extra
            .iter()
            .all(|q| rendezvous::preferred(nodes, q).unwrap() != owner)
        {
            extra.push(p);
        }
        if extra.len() == 2 {
            break;
        }
    }
    let mut pools = vec!["default".to_string()];
    pools.extend(extra.iter().cloned());
    let tables: String = extra.iter().map(|p| format!("[pools.{p}]\n")).collect();
    let replica = |node: &str| {
        config(
            &db,
            &format!(
                "forecaster = \"seasonal-naive\"\n[cluster]\nredis_url = \"{redis}\"\n\
                 lease_ttl = 1\nnode_id = \"{node}\"\nkey_prefix = \"{prefix}\"\n{tables}"
            ),
        )
    };
    let a = TestServer::start_with(replica("node-a")).await;
    let b = TestServer::start_with(replica("node-b")).await;
    let c = TestServer::start_with(replica("node-c")).await;
    let all = [("node-a", &a), ("node-b", &b), ("node-c", &c)];
    let took = placed(&all, &pools, Duration::from_secs(8)).await;
    eprintln!("3 pools placed on 3 replicas after {took:?}");
    let owners: Vec<&str> = pools
        .iter()
        .map(|p| rendezvous::preferred(nodes, p).unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<&&str> = owners.iter().collect();
    assert!(distinct.len() >= 2, "spread: {owners:?}");

    // Only a pool's leader ticks it: every pool has decisions, each written by its leader
    // (the decision is fenced with the pool's token, which only the leader holds).
    for (pool, owner) in pools.iter().zip(&owners) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut tickers = Vec::new();
            for (name, s) in &all {
                let text = metrics_text(s).await;
                if pool_metric(&text, "hivesched_ticks_total", pool).unwrap_or(0.0) > 0.0
                    && pool_metric(&text, "hivesched_leader", pool) == Some(1.0)
                {
                    tickers.push(*name);
                }
            }
            if tickers == [*owner] {
                break;
            }
            assert!(Instant::now() < deadline, "{pool}: ticked by {tickers:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let decided = a
            .store
            .in_pool(pool)
            .list_decisions(None, 10)
            .await
            .unwrap();
        assert!(!decided.is_empty(), "{pool} has no decision");
    }
    let (_, view) = get(&a, "/api/v1/cluster").await;
    let listed: Vec<(String, String)> = view["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pool"].as_str().unwrap().to_owned(),
                p["leader"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = pools
        .iter()
        .zip(&owners)
        .map(|(p, o)| (p.clone(), (*o).to_owned()))
        .collect();
    assert_eq!(listed, expected, "{view}");
    let epochs: BTreeMap<String, u64> = view["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pool"].as_str().unwrap().to_owned(),
                p["epoch"].as_u64().unwrap(),
            )
        })
        .collect();

    // Stop the replica that leads the first extra pool: its pools move, within a second,
    // to their next preferred replica; the others stay where they were.
    let victim = owners[1];
    let (rest, stopped): (Vec<_>, Vec<_>) = [("node-a", a), ("node-b", b), ("node-c", c)]
        .into_iter()
        .partition(|(n, _)| *n != victim);
    let started = Instant::now();
    for (_, s) in stopped {
        s.stop().await;
    }
    let live: Vec<(&str, &TestServer)> = rest.iter().map(|(n, s)| (*n, s)).collect();
    let moved = placed(&live, &pools, Duration::from_secs(5)).await;
    eprintln!(
        "{victim}'s pools moved in {:?} after its stop",
        started.elapsed()
    );
    let _ = moved;
    let survivors: Vec<&str> = live.iter().map(|(n, _)| *n).collect();
    for (pool, owner) in pools.iter().zip(&owners) {
        let now = rendezvous::preferred(survivors.iter().copied(), pool).unwrap();
        if *owner != victim {
            assert_eq!(now, *owner, "{pool} moved although its leader stayed");
        }
    }
    let (_, view) = get(live[0].1, "/api/v1/cluster").await;
    for p in view["pools"].as_array().unwrap() {
        let pool = p["pool"].as_str().unwrap();
        let before = epochs[pool];
        let after = p["epoch"].as_u64().unwrap();
        if owners[pools.iter().position(|q| q == pool).unwrap()] == victim {
            assert!(
                after > before,
                "{pool}: a new lease has a greater epoch: {view}"
            );
        } else {
            assert_eq!(after, before, "{pool} kept its lease: {view}");
        }
    }
    for (_, s) in rest {
        s.stop().await;
    }
}
