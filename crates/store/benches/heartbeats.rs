//! Batched heartbeat upserts: one call with 10 000 agents, steady state (every agent already
//! registered, each batch newer than the last), on a SQLite file and, when
//! `HIVE_TEST_POSTGRES_URL` is set, on PostgreSQL in a scratch schema.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::cell::Cell;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hivesched_policy::{AgentId, AgentState, Time};
use hivesched_store::{Heartbeat, Store};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::runtime::Runtime;

const AGENTS: usize = 10_000;

fn batch(at: i64) -> Vec<Heartbeat> {
    (0..AGENTS)
        .map(|i| Heartbeat {
            agent: AgentId(format!("agent-{i:05}")),
            at: Time::from_millis(at),
            state: if (at / 10_000 + i as i64) % 7 == 0 {
                AgentState::Asleep
            } else {
                AgentState::Awake
            },
            busy: (at as usize + i).is_multiple_of(3),
            queue_depth: (i % 5) as u32,
            context_tokens: (i * 100) as u64,
            tasks: None,
        })
        .collect()
}

fn bench_store(c: &mut Criterion, rt: &Runtime, name: &str, store: &Store) {
    let clock = Cell::new(10_000i64);
    rt.block_on(store.record_heartbeats(&batch(clock.get())))
        .unwrap();
    let mut group = c.benchmark_group("heartbeats");
    group.sample_size(10);
    group.throughput(Throughput::Elements(AGENTS as u64));
    group.bench_function(format!("{name}/10000_agents"), |b| {
        b.iter_batched(
            || {
                clock.set(clock.get() + 10_000);
                batch(clock.get())
            },
            |beats| {
                let n = rt.block_on(store.record_heartbeats(&beats)).unwrap();
                assert_eq!(n, AGENTS as u64);
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn heartbeats(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let path = std::env::temp_dir().join(format!("hivesched-bench-{}.db", std::process::id()));
    let store = rt
        .block_on(Store::connect(&format!(
            "sqlite://{}?mode=rwc",
            path.display()
        )))
        .unwrap();
    bench_store(c, &rt, "sqlite_file", &store);
    rt.block_on(store.close());
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }

    let Ok(url) = std::env::var("HIVE_TEST_POSTGRES_URL") else {
        eprintln!("skipped PostgreSQL: HIVE_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("hs_bench_{}", std::process::id());
    let (mut admin, store) = rt.block_on(async {
        let mut admin = PgConnection::connect(&url).await.unwrap();
        admin
            .execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        let store = Store::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}"))
            .await
            .unwrap();
        (admin, store)
    });
    bench_store(c, &rt, "postgres", &store);
    rt.block_on(async {
        store.close().await;
        admin
            .execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .unwrap();
    });
}

criterion_group!(benches, heartbeats);
criterion_main!(benches);
