//! Property test over the whole engine: random interleavings of ticks, bulk operations,
//! overrides, pauses, emergency stops, configuration changes and crash/restarts (including
//! crashes that leave tasks and accepted bulks in the journal). Every call that reaches the
//! fake fleet is logged and checked against what the test itself knows was in force — no
//! action the gate must refuse reaches the fleet, and no rail is exceeded across restarts.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Call, Recorder, T0, audit, config, demand, fleet};
use hivesched_engine::bulk::{BulkRequest, prepare};
use hivesched_engine::clock::{Clock, ManualClock};
use hivesched_engine::{Engine, EngineConfig};
use hivesched_policy::{
    ActionKind, AgentId, Controls, EmergencyMode, EmergencyStop, Pause, PauseDirection, Pin, Time,
};
use hivesched_store::{BulkStrategy, DemandSample, NewTask, Store};
use proptest::prelude::*;

const AGENTS: usize = 10;

#[derive(Debug, Clone)]
enum Op {
    Tick {
        advance_s: i64,
    },
    Demand(f64),
    Bulk {
        kind: ActionKind,
        first: usize,
        n: usize,
        staged: bool,
    },
    Override {
        agent: usize,
        pin: Option<Pin>,
        dnd: bool,
    },
    Pause(Option<PauseDirection>),
    Stop(Option<EmergencyMode>),
    Shadow(bool),
    SleepRate(u32),
    Restart,
    /// A crash that leaves a tick's task journaled but not run.
    CrashWithTask {
        agent: usize,
        kind: ActionKind,
    },
    /// A crash right after a bulk was accepted (stored, not started).
    CrashAfterAccept {
        kind: ActionKind,
        first: usize,
        n: usize,
    },
}

fn kind() -> impl Strategy<Value = ActionKind> {
    prop_oneof![Just(ActionKind::Sleep), Just(ActionKind::Wake)]
}

fn op() -> impl Strategy<Value = Op> {
    let direction = prop_oneof![
        Just(PauseDirection::Sleeps),
        Just(PauseDirection::Wakes),
        Just(PauseDirection::Both),
    ];
    let mode = prop_oneof![
        Just(EmergencyMode::FreezeSleeps),
        Just(EmergencyMode::WakeAll),
        Just(EmergencyMode::PauseWakes),
        Just(EmergencyMode::FreezeAll),
    ];
    let pin = prop_oneof![Just(None), Just(Some(Pin::Awake)), Just(Some(Pin::Asleep))];
    prop_oneof![
        8 => (1i64..90).prop_map(|advance_s| Op::Tick { advance_s }),
        2 => (0.0f64..9.0).prop_map(Op::Demand),
        4 => (kind(), 0usize..AGENTS, 1usize..5, any::<bool>())
            .prop_map(|(kind, first, n, staged)| Op::Bulk { kind, first, n, staged }),
        2 => (0usize..AGENTS, pin, any::<bool>())
            .prop_map(|(agent, pin, dnd)| Op::Override { agent, pin, dnd }),
        1 => proptest::option::weighted(0.6, direction).prop_map(Op::Pause),
        1 => proptest::option::weighted(0.6, mode).prop_map(Op::Stop),
        1 => proptest::bool::weighted(0.3).prop_map(Op::Shadow),
        1 => (0u32..6).prop_map(Op::SleepRate),
        1 => Just(Op::Restart),
        1 => (0usize..AGENTS, kind()).prop_map(|(agent, kind)| Op::CrashWithTask { agent, kind }),
        1 => (kind(), 0usize..AGENTS, 1usize..4)
            .prop_map(|(kind, first, n)| Op::CrashAfterAccept { kind, first, n }),
    ]
}

/// What the test knows is in force, kept apart from the engine.
struct Model {
    controls: Controls,
    shadow: bool,
    sleep_rate: u32,
    overrides: HashMap<AgentId, (Option<Pin>, bool)>,
    level: f64,
}

fn agents(first: usize, n: usize) -> Vec<AgentId> {
    (first..(first + n).min(AGENTS))
        .map(|i| AgentId(format!("agent-{i}")))
        .collect()
}

fn engine_config(m: &Model) -> EngineConfig {
    let mut cfg = config(m.shadow);
    cfg.scheduler.rails.sleep_rate = m.sleep_rate;
    cfg.scheduler.rails.agent_cooldown = Duration::from_secs(120);
    cfg.scheduler.rails.max_in_transition = 0.5;
    cfg
}

/// Checks the calls made since `from` against the model in force while they were made.
fn check(calls: &[Call], from: usize, m: &Model, cfg: &EngineConfig) -> Result<(), String> {
    let rails = &cfg.scheduler.rails;
    let budget = (rails.max_in_transition * AGENTS as f64).ceil() as usize;
    for c in &calls[from..] {
        let halted = m.controls.halts(c.kind, c.at);
        if m.shadow {
            return Err(format!("shadow mode let {c:?} through"));
        }
        if let Some(reason) = halted {
            return Err(format!("{reason} in force, yet {c:?} reached the fleet"));
        }
        if c.kind != ActionKind::Sleep {
            continue;
        }
        let (pin, dnd) = m.overrides.get(&c.agent).copied().unwrap_or((None, false));
        if pin == Some(Pin::Awake) || dnd {
            return Err(format!("slept a protected agent: {c:?}"));
        }
        let within = calls[..]
            .iter()
            .filter(|o| {
                o.kind == ActionKind::Sleep
                    && o.at <= c.at
                    && o.at > c.at.minus(rails.sleep_rate_window)
            })
            .count();
        if within > m.sleep_rate as usize {
            return Err(format!(
                "{within} sleeps within the rate window (rail {}) at {c:?}",
                m.sleep_rate
            ));
        }
        let woke_recently = calls.iter().any(|o| {
            o.kind == ActionKind::Wake
                && o.accepted
                && o.agent == c.agent
                && o.at <= c.at
                && o.at > c.at.minus(rails.agent_cooldown)
        });
        if woke_recently {
            return Err(format!("cooldown broken: {c:?}"));
        }
        if c.accepted && c.in_transition_after > budget {
            return Err(format!("disruption budget {budget} broken: {c:?}"));
        }
        if c.accepted && c.awake_after < rails.min_awake as usize {
            return Err(format!("min_awake {} broken: {c:?}", rails.min_awake));
        }
    }
    Ok(())
}

async fn run_case(ops: Vec<Op>) -> Result<(), String> {
    let path = std::env::temp_dir().join(format!(
        "hivesched-gate-props-{}-{}.db",
        std::process::id(),
        fastrand::u64(..)
    ));
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&url).await.unwrap();
    demand(&store, 3.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(AGENTS as u32), clock.clone());
    let mut m = Model {
        controls: Controls::default(),
        shadow: false,
        sleep_rate: 3,
        overrides: HashMap::new(),
        level: 3.0,
    };
    let restart = |cfg: EngineConfig| {
        let (store, rec, clock) = (store.clone(), rec.clone(), clock.clone());
        async move {
            Engine::start(store, Arc::new(rec), cfg, clock, common::forecasters())
                .await
                .unwrap()
                .0
        }
    };
    let mut e = restart(engine_config(&m)).await;
    let mut seen = 0;
    let mut result = Ok(());
    for (n, op) in ops.into_iter().enumerate() {
        let now = clock.now();
        match &op {
            Op::Tick { advance_s } => {
                clock.advance_ms(advance_s * 1000);
                store
                    .insert_demand(&[DemandSample {
                        at: clock.now().minus(Duration::from_secs(1)),
                        value: m.level,
                    }])
                    .await
                    .unwrap();
                e.tick().await.unwrap();
            }
            Op::Demand(level) => m.level = *level,
            Op::Bulk {
                kind,
                first,
                n,
                staged,
            } => {
                let req = BulkRequest {
                    agents: agents(*first, *n),
                    kind: *kind,
                    strategy: if *staged {
                        BulkStrategy::Staged
                    } else {
                        BulkStrategy::Parallel
                    },
                    stage_size: staged.then_some(1),
                    reason: "prop".into(),
                };
                e.submit_bulk("prop", req, &audit("bulk.submit"))
                    .await
                    .unwrap();
            }
            Op::Override { agent, pin, dnd } => {
                let id = AgentId(format!("agent-{agent}"));
                store
                    .set_agent_override(&id, *pin, *dnd, None)
                    .await
                    .unwrap();
                m.overrides.insert(id, (*pin, *dnd));
            }
            Op::Pause(direction) => {
                let pause = direction.map(|direction| Pause {
                    direction,
                    until: None,
                });
                e.set_pause(pause.clone(), &audit("pause")).await.unwrap();
                m.controls.pause = pause;
            }
            Op::Stop(mode) => {
                let stop = mode.map(|mode| EmergencyStop { mode, until: None });
                e.set_emergency(stop.clone(), &audit("emergency"))
                    .await
                    .unwrap();
                m.controls.emergency = stop;
            }
            Op::Shadow(on) => {
                m.shadow = *on;
                let cfg = engine_config(&m);
                e.update_config(cfg.scheduler, cfg.tick_interval).unwrap();
            }
            Op::SleepRate(rate) => {
                m.sleep_rate = *rate;
                let cfg = engine_config(&m);
                e.update_config(cfg.scheduler, cfg.tick_interval).unwrap();
            }
            Op::Restart => {
                e.drain().await;
                drop(e);
                e = restart(engine_config(&m)).await;
            }
            Op::CrashWithTask { agent, kind } => {
                e.drain().await;
                drop(e);
                let key = format!("tick-{}-{}-agent-{agent}", now.as_millis(), kind.as_str());
                let _ = store
                    .insert_task(&NewTask {
                        id: key.clone(),
                        idempotency_key: key,
                        agent: AgentId(format!("agent-{agent}")),
                        kind: *kind,
                        bulk_id: None,
                        stage: None,
                        reason: "crashed tick".into(),
                        created_at: now,
                    })
                    .await;
                e = restart(engine_config(&m)).await;
            }
            Op::CrashAfterAccept {
                kind,
                first,
                n: count,
            } => {
                e.drain().await;
                drop(e);
                let req = BulkRequest {
                    agents: agents(*first, *count),
                    kind: *kind,
                    strategy: BulkStrategy::Sequential,
                    stage_size: None,
                    reason: "crashed".into(),
                };
                let id = format!("crash-{n}");
                let (op, tasks) = prepare(&id, "prop", &req, now).unwrap();
                store
                    .insert_bulk_with_tasks(&op, &tasks, &audit("bulk.submit"))
                    .await
                    .unwrap();
                e = restart(engine_config(&m)).await;
            }
        }
        e.drain().await;
        let calls = rec.calls();
        if let Err(why) = check(&calls, seen, &m, &engine_config(&m)) {
            result = Err(format!("after op {n} {op:?}: {why}"));
            break;
        }
        seen = calls.len();
    }
    // No idempotency key made the fleet act twice.
    if result.is_ok() {
        let mut acted: HashMap<String, usize> = HashMap::new();
        for t in rec.fleet.journal() {
            if let Some(key) = t.idempotency_key {
                *acted.entry(key).or_default() += 1;
            }
        }
        if let Some((key, n)) = acted.into_iter().find(|(_, n)| *n > 1) {
            result = Err(format!("key {key} acted {n} times"));
        }
    }
    e.drain().await;
    store.close().await;
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    result
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn no_refused_action_reaches_the_fleet_and_no_rail_breaks_across_restarts(
        ops in proptest::collection::vec(op(), 1..40)
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let outcome = rt.block_on(run_case(ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
