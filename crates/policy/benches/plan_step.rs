//! One planning step (`Scheduler::tick`: forecast, target, selection, rails) for fleets of
//! 100 to 100 000 agents. Run with `cargo bench -p hivesched-policy --bench plan_step`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hivesched_policy::{
    Agent, AgentState, Controls, DemandHistory, Fleet, Gate, Predictive, Scheduler,
    SchedulerConfig, SeasonalNaive, SleepLog, TickInput, Time,
};

const STEP: u64 = 1800;

/// Two weeks of half-hourly demand with a daily cycle, scaled so the fleet is half needed.
fn history(agents: u32, until: Time) -> DemandHistory {
    let mut h = DemandHistory::new(Duration::from_secs(STEP), 4_000);
    let points = 14 * 48;
    for i in 0..points {
        let phase = (i % 48) as f64 / 48.0 * std::f64::consts::TAU;
        let demand = f64::from(agents) * (0.45 + 0.25 * phase.sin());
        h.push(
            until.minus(Duration::from_secs(STEP * (points - i) as u64)),
            demand,
        );
    }
    h
}

/// A fleet with every state represented and varied idle times.
fn fleet(agents: u32, now: Time) -> Fleet {
    Fleet::new(
        (0..agents)
            .map(|i| {
                let mut a = Agent::awake(format!("agent-{i:06}"), now);
                a.state = match i % 10 {
                    0..=6 => AgentState::Awake,
                    7 => AgentState::Asleep,
                    8 => AgentState::Consolidating,
                    _ => AgentState::Waking,
                };
                a.busy = i % 3 == 0;
                a.idle_since = Some(now.minus(Duration::from_secs(u64::from(i % 7200))));
                a.context_tokens = u64::from(i % 50_000);
                a
            })
            .collect(),
    )
}

fn plan_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan_step");
    for agents in [100u32, 1_000, 10_000, 100_000] {
        let now = Time::from_secs(1_700_000_000);
        let f = fleet(agents, now);
        let h = history(agents, now);
        let cfg = SchedulerConfig {
            shadow: true,
            capacity: 1.0,
            wake_latency: Duration::from_secs(600),
            consolidation: Duration::from_secs(600),
            demand_staleness: Duration::from_secs(2 * STEP),
            restart_hold: Duration::ZERO,
            ..SchedulerConfig::default()
        };
        let mut gate = Gate::new((&cfg).into(), Controls::default(), SleepLog::default());
        gate.observe(f, gate.epoch(), true, now);
        gate.set_sleep_hold(None);
        let mut s = Scheduler::new(
            cfg,
            Box::new(Predictive::new(Box::new(SeasonalNaive::default()))),
        )
        .unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(agents), &agents, |b, _| {
            b.iter(|| {
                black_box(s.tick(TickInput {
                    now,
                    gate: &gate,
                    history: &h,
                }))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, plan_step);
criterion_main!(benches);
