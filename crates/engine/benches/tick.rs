//! One full engine tick (read fleet state, read demand, forecast, plan under the rails, record
//! the decision) for fleets of 1 000 and 10 000 agents on SQLite, with the in-process fake
//! fleet, in shadow mode so repeated ticks see the same fleet.
//! Run with `cargo bench -p hivesched-engine --bench tick`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hivesched_engine::clock::ManualClock;
use hivesched_engine::{Engine, EngineConfig};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};
use hivesched_policy::{SchedulerConfig, SeasonalNaive, Time};
use hivesched_store::{DemandSample, Store};

const T0: i64 = 1_700_000_000;

fn engine(rt: &tokio::runtime::Runtime, agents: u32) -> Engine {
    rt.block_on(async {
        let path = std::env::temp_dir().join(format!(
            "hivesched-bench-tick-{agents}-{}.db",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let store = Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
        // Two weeks of per-minute demand with a daily cycle, about half the fleet busy.
        let samples: Vec<DemandSample> = (1..=14 * 1440)
            .map(|i| {
                let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
                DemandSample {
                    at: Time::from_secs(T0 - 60 * i),
                    value: f64::from(agents) * (0.5 + 0.2 * phase.sin()),
                }
            })
            .collect();
        for chunk in samples.chunks(5000) {
            store.insert_demand(chunk).await.unwrap();
        }
        let fleet = FakeFleet::new(FakeFleetConfig {
            agents,
            ..FakeFleetConfig::default()
        })
        .unwrap();
        let cfg = EngineConfig {
            scheduler: SchedulerConfig {
                shadow: true,
                capacity: 1.0,
                restart_hold: Duration::ZERO,
                ..SchedulerConfig::default()
            },
            demand_step: Duration::from_secs(60),
            history_window: Duration::from_secs(15 * 86_400),
            ..EngineConfig::default()
        };
        let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
        let (engine, _) = Engine::start(
            store,
            Arc::new(fleet),
            cfg,
            clock,
            Arc::new(|| Box::new(SeasonalNaive::default())),
        )
        .await
        .unwrap();
        // The first tick registers every agent; the benchmark measures the steady state.
        engine.tick().await.unwrap();
        engine
    })
}

fn tick(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("engine_tick");
    group.sample_size(20);
    for agents in [1_000u32, 10_000] {
        let e = engine(&rt, agents);
        group.bench_with_input(BenchmarkId::from_parameter(agents), &agents, |b, _| {
            b.iter(|| rt.block_on(e.tick()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
