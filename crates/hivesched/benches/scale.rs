//! The cluster at scale: N fake agents (the reference fake fleet, in this process, over HTTP)
//! under three replicas of `hivesched serve` (child processes, as `hivesched chaos` starts
//! them) on PostgreSQL and Redis, one tick every 10 s, lease 10 s (the defaults). With one pool
//! (the default) one replica leads the pool `default` and ticks; the other two stand by and
//! serve the API. With POOLS > 1 the agents are split evenly over the pools `pool-00`, … (their
//! rows written into the database before the replicas start, as their heartbeats would), the
//! pools' leases are spread over the three replicas, and every replica ticks its share.
//!
//! Run with `cargo bench -p hivesched --bench scale -- [AGENTS] [SECONDS] [POOLS]` (default
//! 100 000 agents, 120 s measured, 1 pool) and `HIVE_DATABASE_URL` (or
//! `HIVE_TEST_POSTGRES_URL`) and `HIVE_CLUSTER__REDIS_URL` (or `HIVE_TEST_REDIS_URL`); without
//! them it says so and stops.
//!
//! Reports, over a window of SECONDS / 10 rounds of ticks (it opens 3 s after every pool's
//! leader has ticked it three times, so the first tick's discovery of every agent is left out,
//! and closes 3 s after the last tick; a round is one tick of every pool, and "per tick" below
//! is per round):
//! - the tick time p50/p99/max of every pool's ticks by their leaders
//!   (`hivesched_last_tick_seconds`, scraped after each tick) and the CPU of the decision work
//!   (`hivesched_tick_cpu_seconds_total`), per round;
//! - database work per tick from `pg_stat_database` of a database of its own (created and
//!   dropped here, so nothing else is counted): transactions and rows read and written, of all
//!   three replicas (see [`PHASE`] for when they are read);
//! - Redis commands per tick, those of the three replicas, from Redis's `MONITOR` feed (see
//!   `monitor_redis`);
//! - the followers' reads: each follower serves, once a second, a dashboard's read (the last 10
//!   decisions) and a point read of a random agent; their latency p50/p99 (their database
//!   work is in the counts above: 2 transactions per read at most);
//! - per replica: CPU as a share of one core (`/proc/<pid>/stat`), resident memory at the end
//!   and at its peak (`VmRSS`, `VmHWM`); the same for this process (the fake fleet).

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use hivesched::replicas::{
    ReplicaSpec, cpu_seconds, percentile, pool_metric, resident_bytes, scrape, spawn_replica,
};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};
use hivesched_server::auth::{Role, TokenKeys};
use sqlx::{Connection, Executor, Row};

const REPLICAS: usize = 3;
const TICK_S: u64 = 10;
const LEASE_S: u64 = 10;
/// The window opens and closes this long after a tick: a backend that ran several statements
/// within a second defers its statistics until its next statement or 10 s of idleness
/// (PostgreSQL 15), so a reading can miss part of the newest tick. Taken at the same phase at
/// both ends, what is missed at the end matches what leaked in at the start.
const PHASE: Duration = Duration::from_secs(3);

/// `pg_stat_database` counters of one database.
#[derive(Debug, Clone, Copy, Default)]
struct PgStats {
    xacts: i64,
    returned: i64,
    fetched: i64,
    inserted: i64,
    updated: i64,
    deleted: i64,
}

async fn pg_stats(admin: &mut sqlx::PgConnection, db: &str) -> PgStats {
    // A fresh snapshot each time (statistics are cached per transaction otherwise).
    let _ = admin.execute("SELECT pg_stat_clear_snapshot()").await;
    let row = sqlx::query(
        "SELECT xact_commit + xact_rollback, tup_returned, tup_fetched, tup_inserted, \
         tup_updated, tup_deleted FROM pg_stat_database WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(admin)
    .await
    .expect("reading pg_stat_database");
    PgStats {
        xacts: row.get(0),
        returned: row.get(1),
        fetched: row.get(2),
        inserted: row.get(3),
        updated: row.get(4),
        deleted: row.get(5),
    }
}

type Counts = std::sync::Arc<std::sync::Mutex<BTreeMap<String, u64>>>;

/// Counts the commands of Redis's `MONITOR` feed that name `prefix` (the replicas' keys and
/// channels; `INFO commandstats` would count whoever else shares the server too), by command.
/// Commands a Lua script runs (`[0 lua]`) are left out: the script's `EVALSHA` is the one
/// round trip. Assumes a Redis without `AUTH` (the benchmark's local one).
async fn monitor_redis(addr: String, prefix: String, counts: Counts) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connecting to Redis");
    let (read, mut write) = stream.into_split();
    write.write_all(b"MONITOR\r\n").await.unwrap();
    let mut read = tokio::io::BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await.unwrap_or(0) == 0 {
            return;
        }
        // `+1700000000.123456 [0 127.0.0.1:5555] "set" "key" ...`
        let line = String::from_utf8_lossy(&line);
        if line.contains(" lua] ") || !line.contains(&prefix) {
            continue;
        }
        if let Some(cmd) = line.split('"').nth(1) {
            *counts
                .lock()
                .unwrap()
                .entry(cmd.to_lowercase())
                .or_default() += 1;
        }
    }
}

fn redis_delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    b.iter()
        .map(|(k, v)| (k.clone(), v - a.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn env_any(keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// `postgres://…/olddb?query` → the same URL for database `db`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let server = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{db}?{q}"),
        None => format!("{server}/{db}"),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Replica {
    name: String,
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let agents: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(120);
    let pools: u32 = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1)
        .clamp(1, 100);
    let (Some(pg), Some(redis)) = (
        env_any(&["HIVE_DATABASE_URL", "HIVE_TEST_POSTGRES_URL"]),
        env_any(&["HIVE_CLUSTER__REDIS_URL", "HIVE_TEST_REDIS_URL"]),
    ) else {
        eprintln!(
            "scale: skipped; needs HIVE_DATABASE_URL (or HIVE_TEST_POSTGRES_URL), a postgres:// \
             URL, and HIVE_CLUSTER__REDIS_URL (or HIVE_TEST_REDIS_URL)"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run(agents, seconds, pools, &pg, &redis));
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

async fn run(agents: u32, seconds: u64, pools: u32, pg: &str, redis: &str) -> serde_json::Value {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let id = format!("{}_{stamp}", std::process::id());
    let db = format!("hs_scale_{id}");
    let mut admin = sqlx::PgConnection::connect(pg)
        .await
        .expect("connecting to PostgreSQL");
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .expect("creating the benchmark's database");
    let result = measure(
        agents,
        seconds,
        pools,
        &with_database(pg, &db),
        &db,
        redis,
        &id,
        &mut admin,
    )
    .await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
        )))
        .await
        .expect("dropping the benchmark's database");
    result
}

/// Registers agent `agent-i` in pool `i % pools` (as an operator would, without a heartbeat:
/// the fleet's listing is then the agents' only report, as with one pool), in batches of
/// 5 000, before any replica starts.
async fn place_agents(db_url: &str, agents: u32, names: &[String]) {
    let store = hivesched_store::Store::connect(db_url)
        .await
        .expect("connecting the benchmark's store");
    let now = hivesched_policy::Time::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    );
    for (k, pool) in names.iter().enumerate() {
        let scoped = store.in_pool(pool);
        scoped.ensure_pool().await.unwrap();
        let records: Vec<hivesched_store::AgentRecord> = (0..agents)
            .filter(|i| *i as usize % names.len() == k)
            .map(|i| hivesched_store::AgentRecord {
                agent: hivesched_policy::Agent::awake(format!("agent-{i}"), now),
                pin_until: None,
                queue_depth: 0,
                last_heartbeat: None,
                pool: pool.clone(),
            })
            .collect();
        for chunk in records.chunks(5_000) {
            scoped.upsert_agents(chunk).await.unwrap();
        }
    }
    store.close().await;
}

/// Each pool's leader among `texts` (the replicas' `/metrics`) and its tick count there.
fn leaders(texts: &[Option<String>], pools: &[String]) -> Vec<Option<(usize, f64)>> {
    pools
        .iter()
        .map(|p| {
            texts.iter().enumerate().find_map(|(i, t)| {
                let t = t.as_deref()?;
                (pool_metric(t, "hivesched_leader", p) == Some(1.0))
                    .then(|| (i, pool_metric(t, "hivesched_ticks_total", p).unwrap_or(0.0)))
            })
        })
        .collect()
}

// A bench's one measuring run: its settings and the connections it was handed.
#[allow(clippy::too_many_arguments)]
async fn measure(
    agents: u32,
    seconds: u64,
    pools: u32,
    db_url: &str,
    db: &str,
    redis: &str,
    id: &str,
    admin: &mut sqlx::PgConnection,
) -> serde_json::Value {
    let redis_addr = {
        let rest = redis.strip_prefix("redis://").expect("a redis:// URL");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host = &rest[rest[..end].rfind('@').map_or(0, |at| at + 1)..end];
        if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:6379")
        }
    };
    let load_before = load_average();

    let redis_counts = Counts::default();
    let monitor = tokio::spawn(monitor_redis(
        redis_addr,
        format!("hs-scale-{id}"),
        redis_counts.clone(),
    ));

    let fleet = FakeFleet::new(FakeFleetConfig {
        agents,
        ..FakeFleetConfig::default()
    })
    .expect("a fake fleet");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fleet_url = format!("http://{}", listener.local_addr().unwrap());
    let serving = tokio::spawn(hivesched_fakefleet::serve(
        listener,
        fleet.clone(),
        std::future::pending(),
    ));

    let log_dir = std::env::temp_dir().join(format!("hivesched-scale-{id}"));
    std::fs::create_dir_all(&log_dir).unwrap();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_hivesched"));
    let secret = format!("scale-{id}-{:032x}", fastrand::u128(..));
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let viewer = TokenKeys::new(secret.as_bytes())
        .unwrap()
        .mint(
            "scale-bench",
            Role::Viewer,
            Duration::from_secs(7200),
            now_secs,
        )
        .unwrap();
    let pool_names: Vec<String> = if pools == 1 {
        vec!["default".to_owned()]
    } else {
        (0..pools).map(|k| format!("pool-{k:02}")).collect()
    };
    if pools > 1 {
        place_agents(db_url, agents, &pool_names).await;
    }
    let mut replicas = Vec::new();
    for i in 0..REPLICAS {
        let name = format!("r{i}");
        let log = std::fs::File::create(log_dir.join(format!("{name}.log"))).unwrap();
        let (child, base) = spawn_replica(
            &ReplicaSpec {
                binary: binary.clone(),
                database_url: db_url.to_owned(),
                redis_url: redis.to_owned(),
                fleet_url: fleet_url.clone(),
                secret: secret.clone(),
                node_id: name.clone(),
                key_prefix: format!("hs-scale-{id}"),
                lease_ttl_s: LEASE_S,
                tick_interval_s: TICK_S,
                // Acting, like production; with no demand the plan is the fail-safe (every
                // agent awake), which the fleet already is: ticks read, plan and record.
                shadow: false,
            },
            log,
        )
        .unwrap_or_else(|e| panic!("{e:#}; logs in {}", log_dir.display()));
        replicas.push(Replica { name, child, base });
    }
    eprintln!(
        "scale: {agents} agents, {REPLICAS} replicas, logs in {}",
        log_dir.display()
    );
    let http = reqwest::Client::new();

    // Every pool's leader, once it has ticked the pool three times (the first discovers
    // every agent), with the same leaders at two looks a second apart (the leases spread
    // over the replicas as they start).
    let started = Instant::now();
    let mut previous: Option<Vec<usize>> = None;
    let lead = loop {
        let mut texts = Vec::new();
        for r in &replicas {
            texts.push(scrape(&http, &r.base, Duration::from_secs(2)).await);
        }
        let found = leaders(&texts, &pool_names);
        let settled: Option<Vec<usize>> = found
            .iter()
            .map(|l| l.filter(|(_, t)| *t >= 3.0).map(|(i, _)| i))
            .collect();
        if settled.is_some() && settled == previous {
            break settled.unwrap_or_default();
        }
        previous = settled;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not every pool led and ticked three times within 10 minutes; logs in {}",
            log_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    };
    let leader = lead[0];
    let per_replica: Vec<usize> = (0..REPLICAS)
        .map(|i| lead.iter().filter(|l| **l == i).count())
        .collect();
    eprintln!(
        "scale: pools led per replica {per_replica:?}; warm-up took {:.0} s; measuring {seconds} s",
        started.elapsed().as_secs_f64(),
    );
    tokio::time::sleep(PHASE).await;

    // Start of the window.
    let pg0 = pg_stats(admin, db).await;
    let redis0 = redis_counts.lock().unwrap().clone();
    let cpu0: Vec<f64> = replicas
        .iter()
        .map(|r| cpu_seconds(r.child.id()).unwrap_or(0.0))
        .collect();
    let me = std::process::id();
    let my_cpu0 = cpu_seconds(me).unwrap_or(0.0);
    // Per replica and pool: ticks and decision CPU seen so far.
    let mut seen = vec![vec![(0.0f64, 0.0f64); pool_names.len()]; REPLICAS];
    for (i, r) in replicas.iter().enumerate() {
        let text = scrape(&http, &r.base, Duration::from_secs(2))
            .await
            .unwrap_or_default();
        for (k, p) in pool_names.iter().enumerate() {
            seen[i][k] = (
                pool_metric(&text, "hivesched_ticks_total", p).unwrap_or(0.0),
                pool_metric(&text, "hivesched_tick_cpu_seconds_total", p).unwrap_or(0.0),
            );
        }
    }
    let window = Instant::now();

    // Reads on the replicas that do not lead the first pool, once a second each, on their own
    // tasks (with one pool: the followers).
    let stop_reads = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = replicas
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, r)| {
            let (http, base, viewer) = (http.clone(), r.base.clone(), viewer.clone());
            let stop = stop_reads.clone();
            tokio::spawn(async move {
                let mut ms = Vec::new();
                let mut failed = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let agent = fastrand::u32(..agents);
                    for path in [
                        "/api/v1/decisions?limit=10".to_owned(),
                        format!("/api/v1/agents/agent-{agent}"),
                    ] {
                        let t = Instant::now();
                        let ok = http
                            .get(format!("{base}{path}"))
                            .bearer_auth(&viewer)
                            .timeout(Duration::from_secs(5))
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success());
                        if ok {
                            ms.push(t.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            failed += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                (ms, failed)
            })
        })
        .collect();

    let mut tick_ms = Vec::new();
    let mut pool_ticks = 0.0;
    let mut tick_cpu = 0.0;
    let mut moved = 0u32;
    let mut peak_rss = [0u64; REPLICAS];
    let want = (seconds / TICK_S).max(1) as f64 * pool_names.len() as f64;
    while pool_ticks < want {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for (i, r) in replicas.iter().enumerate() {
            let Some(text) = scrape(&http, &r.base, Duration::from_secs(2)).await else {
                continue;
            };
            for (k, p) in pool_names.iter().enumerate() {
                let t = pool_metric(&text, "hivesched_ticks_total", p).unwrap_or(0.0);
                let cpu = pool_metric(&text, "hivesched_tick_cpu_seconds_total", p).unwrap_or(0.0);
                let (t0, cpu0) = seen[i][k];
                if t > t0 {
                    if lead[k] != i {
                        moved += 1;
                    }
                    pool_ticks += t - t0;
                    tick_cpu += cpu - cpu0;
                    let last =
                        pool_metric(&text, "hivesched_last_tick_seconds", p).unwrap_or(f64::NAN);
                    tick_ms.push(last * 1000.0);
                    seen[i][k] = (t, cpu);
                }
            }
            if let Some((rss, _)) = resident_bytes(r.child.id()) {
                peak_rss[i] = peak_rss[i].max(rss);
            }
        }
    }
    tokio::time::sleep(PHASE).await;
    let pg1 = pg_stats(admin, db).await;
    let redis_ops = redis_delta(&redis0, &redis_counts.lock().unwrap());
    monitor.abort();
    stop_reads.store(true, std::sync::atomic::Ordering::Relaxed);
    let elapsed = window.elapsed().as_secs_f64();
    let cpu1: Vec<f64> = replicas
        .iter()
        .map(|r| cpu_seconds(r.child.id()).unwrap_or(0.0))
        .collect();
    let my_cpu1 = cpu_seconds(me).unwrap_or(0.0);
    let mem: Vec<(u64, u64)> = replicas
        .iter()
        .map(|r| resident_bytes(r.child.id()).unwrap_or_default())
        .collect();
    let load_after = load_average();
    let (mut read_ms, mut reads_failed) = (Vec::new(), 0);
    for r in readers {
        let (ms, failed) = r.await.unwrap();
        read_ms.extend(ms);
        reads_failed += failed;
    }
    read_ms.sort_by(f64::total_cmp);
    // A round is one tick of every pool (with one pool, one tick of the leader).
    let n_ticks = (pool_ticks / pool_names.len() as f64).max(1.0);

    serving.abort();

    tick_ms.sort_by(f64::total_cmp);
    let per_tick = |v: i64| v as f64 / n_ticks;
    let redis_total = redis_ops.values().sum::<u64>();
    let mb = |b: u64| (b as f64 / 1_048_576.0 * 10.0).round() / 10.0;
    serde_json::json!({
        "agents": agents,
        "pools": pool_names.len(),
        "replicas": REPLICAS,
        "tick_interval_s": TICK_S,
        "seconds": elapsed,
        "ticks": n_ticks,
        "pool_ticks": pool_ticks,
        "pool_ticks_by_another_replica": moved,
        "leader": replicas[leader].name,
        "tick_ms": {
            "p50": percentile(&tick_ms, 50.0),
            "p99": percentile(&tick_ms, 99.0),
            "max": tick_ms.last().copied().unwrap_or(0.0),
        },
        "tick_decision_cpu_ms_per_tick": tick_cpu * 1000.0 / n_ticks,
        "db_per_tick": {
            "transactions": per_tick(pg1.xacts - pg0.xacts),
            "rows_returned": per_tick(pg1.returned - pg0.returned),
            "rows_fetched": per_tick(pg1.fetched - pg0.fetched),
            "rows_inserted": per_tick(pg1.inserted - pg0.inserted),
            "rows_updated": per_tick(pg1.updated - pg0.updated),
            "rows_deleted": per_tick(pg1.deleted - pg0.deleted),
        },
        "redis_per_tick": {
            "commands": redis_total as f64 / n_ticks,
            "by_command": redis_ops.iter().map(|(k, v)| (k.clone(), *v as f64 / n_ticks)).collect::<BTreeMap<_, _>>(),
        },
        "follower_reads": {
            "served": read_ms.len(),
            "failed": reads_failed,
            "per_tick": read_ms.len() as f64 / n_ticks,
            "ms_p50": percentile(&read_ms, 50.0),
            "ms_p99": percentile(&read_ms, 99.0),
        },
        "replica": replicas.iter().enumerate().map(|(i, r)| serde_json::json!({
            "node": r.name,
            "leads": i == leader,
            "pools_led": per_replica[i],
            "cpu_share_of_one_core": (cpu1[i] - cpu0[i]) / elapsed,
            "rss_mb": mb(mem[i].0),
            "peak_rss_mb": mb(mem[i].1),
            "max_rss_in_window_mb": mb(peak_rss[i]),
        })).collect::<Vec<_>>(),
        "fake_fleet_process_cpu_share": (my_cpu1 - my_cpu0) / elapsed,
        "load_average": {"before": load_before, "after": load_after},
    })
}
