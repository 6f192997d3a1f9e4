//! The engine end to end on SQLite with the in-process fake fleet: shadow mode never calls the
//! fleet, acting mode sleeps and wakes agents, an emergency stop halts sleeps, and a crash in the
//! middle of a bulk operation loses no task and executes none twice.

use std::sync::Arc;
use std::time::Duration;

use hivesched_engine::bulk::{BulkRequest, prepare};
use hivesched_engine::clock::ManualClock;
use hivesched_engine::{Engine, EngineConfig, ForecasterFactory};
use hivesched_fakefleet::{FakeFleet, Fault, FaultKind};
use hivesched_policy::{
    ActionKind, AgentId, DemandForecast, DemandHistory, EmergencyMode, EmergencyStop, FitRecord,
    ForecastFailure, Forecaster, SeasonalNaive, Time,
};
use hivesched_store::{BulkStrategy, DemandSample, Store, TaskFilter, TaskStatus};

mod common;

use common::{T0, audit, config, demand, fleet, forecasters};

async fn temp_store(name: &str) -> Store {
    let path =
        std::env::temp_dir().join(format!("hivesched-engine-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    Store::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap()
}

/// Rails wide enough that a bulk of 6 in a fleet of 8 is limited by nothing but `min_awake`.
fn bulk_config() -> EngineConfig {
    let mut cfg = config(false);
    cfg.scheduler.rails.max_in_transition = 1.0;
    cfg.scheduler.rails.max_scale_down = 1.0;
    cfg
}

async fn engine(
    store: &Store,
    fleet: &FakeFleet,
    clock: &Arc<ManualClock>,
    shadow: bool,
) -> Engine {
    engine_forecasting(store, fleet, clock, shadow, forecasters()).await
}

async fn engine_forecasting(
    store: &Store,
    fleet: &FakeFleet,
    clock: &Arc<ManualClock>,
    shadow: bool,
    forecasters: ForecasterFactory,
) -> Engine {
    let (engine, _) = Engine::start(
        store.clone(),
        Arc::new(fleet.clone()),
        config(shadow),
        clock.clone(),
        forecasters,
    )
    .await
    .unwrap();
    engine
}

/// Stores a bulk operation as `POST /api/v1/bulk` does, without starting it.
async fn stored_bulk(store: &Store, id: &str, req: &BulkRequest) {
    let (op, tasks) = prepare(id, "test", req, Time::from_secs(T0)).unwrap();
    store
        .insert_bulk_with_tasks(&op, &tasks, &audit("bulk.submit"))
        .await
        .unwrap();
}

/// Seasonal naive that reports one "fit" at its first forecast, as a scheduled refitter would.
struct FitsOnce {
    inner: SeasonalNaive,
    fitted: bool,
    untaken: bool,
}

impl Forecaster for FitsOnce {
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure> {
        if !self.fitted {
            (self.fitted, self.untaken) = (true, true);
        }
        self.inner.forecast(history, horizon)
    }

    fn take_fit(&mut self) -> Option<FitRecord> {
        std::mem::take(&mut self.untaken).then(|| FitRecord {
            fitted_at: Time::from_secs(T0),
            model: "FitsOnce".into(),
            parameters: serde_json::json!({"lag": 1440}),
            accuracy: serde_json::json!({"mae": 0.5}),
        })
    }
}

#[tokio::test]
async fn the_model_the_plan_rests_on_is_recorded_once_per_fit() {
    let store = temp_store("model-records").await;
    demand(&store, 1.0).await;
    let f = fleet(4);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let fits_once: ForecasterFactory = Arc::new(|| {
        Box::new(FitsOnce {
            inner: SeasonalNaive::default(),
            fitted: false,
            untaken: false,
        })
    });
    let e = engine_forecasting(&store, &f, &clock, true, fits_once).await;
    for _ in 0..3 {
        e.tick().await.unwrap();
        clock.advance_ms(60_000);
    }
    // The API's forecast instance fits too, but only the planner's fit is the registry's.
    e.forecast(5).await.unwrap();
    let records = store.list_model_records(None, 10).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0].model;
    assert_eq!(r.model, "FitsOnce");
    assert_eq!(r.created_at, Time::from_secs(T0));
    assert_eq!(r.parameters["lag"], 1440);
    assert_eq!(r.accuracy["mae"], 0.5);
}

#[tokio::test]
async fn shadow_mode_records_decisions_and_never_calls_the_fleet() {
    let store = temp_store("shadow").await;
    demand(&store, 1.0).await;
    let f = fleet(10);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = engine(&store, &f, &clock, true).await;
    for _ in 0..3 {
        let d = e.tick().await.unwrap();
        assert!(d.shadow);
        assert!(d.count(ActionKind::Sleep) > 0, "it would sleep: {d:?}");
        clock.advance_ms(10_000);
    }
    assert_eq!(store.list_decisions(None, 10).await.unwrap().len(), 3);
    let c = f.counters();
    assert_eq!((c.sleeps_started, c.wakes_started), (0, 0));
    assert!(
        store
            .list_tasks(&TaskFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn acting_mode_sleeps_then_wakes_on_a_demand_spike() {
    let store = temp_store("acting").await;
    demand(&store, 1.0).await;
    let f = fleet(10);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = engine(&store, &f, &clock, false).await;
    let d = e.tick().await.unwrap();
    // Budget ceil(0.3 × 10) = 3 sleeps in the first tick.
    assert_eq!(d.count(ActionKind::Sleep), 3, "{d:?}");
    // The tick handed them to the executor; the fleet's answers arrive in the background.
    e.drain().await;
    assert_eq!(f.counters().sleeps_started, 3);
    let tasks = store.list_tasks(&TaskFilter::default()).await.unwrap();
    assert_eq!(tasks.len(), 3);
    assert!(
        tasks
            .iter()
            .all(|t| t.status == TaskStatus::Succeeded && t.attempts == 1)
    );

    // Let the fake fleet finish consolidating, then demand jumps to 9 agents' worth.
    tokio::time::sleep(Duration::from_millis(100)).await;
    clock.advance_ms(60_000);
    store
        .insert_demand(&[DemandSample {
            at: Time::from_secs(T0),
            value: 9.0,
        }])
        .await
        .unwrap();
    clock.advance_ms(1_000);
    let d = e.tick().await.unwrap();
    assert_eq!(d.count(ActionKind::Sleep), 0);
    assert!(d.count(ActionKind::Wake) >= 2, "{d:?}");
    e.drain().await;
    assert_eq!(f.counters().wakes_started, d.count(ActionKind::Wake) as u64);
}

#[tokio::test]
async fn emergency_stop_halts_sleeps() {
    let store = temp_store("emergency").await;
    demand(&store, 1.0).await;
    let f = fleet(10);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = engine(&store, &f, &clock, false).await;
    e.set_emergency(
        Some(EmergencyStop {
            mode: EmergencyMode::FreezeSleeps,
            until: None,
        }),
        &audit("emergency.stop"),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let d = e.tick().await.unwrap();
        assert_eq!(d.count(ActionKind::Sleep), 0);
        clock.advance_ms(60_000);
    }
    e.drain().await;
    assert_eq!(f.counters().sleeps_started, 0);
    e.set_emergency(None, &audit("emergency.resume"))
        .await
        .unwrap();
    e.tick().await.unwrap();
    e.drain().await;
    assert!(f.counters().sleeps_started > 0);
}

#[tokio::test]
async fn crash_in_the_middle_of_a_bulk_loses_nothing_and_repeats_nothing() {
    let store = temp_store("crash").await;
    demand(&store, 6.0).await;
    let f = fleet(8);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let first = common::start(&store, Arc::new(f.clone()), &clock, bulk_config()).await;
    let agents: Vec<AgentId> = (0..6).map(|i| AgentId(format!("agent-{i}"))).collect();
    let req = BulkRequest {
        agents: agents.clone(),
        kind: ActionKind::Sleep,
        strategy: BulkStrategy::Sequential,
        stage_size: None,
        reason: "maintenance".into(),
    };
    stored_bulk(&store, "b1", &req).await;
    // agent-3's answer is held back: the fleet acts, the engine never hears back, then crashes.
    f.inject(Fault {
        kind: FaultKind::Stall(Duration::from_secs(30)),
        agent: Some(agents[3].clone()),
    });
    let running = {
        let e = first.clone();
        let req = req.clone();
        tokio::spawn(async move { e.run_bulk("b1", &req).await })
    };
    let key3 = "bulk-b1-sleep-agent-3";
    for _ in 0..200 {
        if store
            .task_by_key(key3)
            .await
            .unwrap()
            .is_some_and(|t| t.status == TaskStatus::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    running.abort();
    drop(first);
    assert_eq!(
        f.counters().sleeps_started,
        4,
        "agents 0-3 were put to sleep before the crash"
    );

    // Restart: recovery reconciles agent-3, the bulk resumes with agents 4 and 5.
    let (second, report) = Engine::start(
        store.clone(),
        Arc::new(f.clone()),
        bulk_config(),
        clock.clone(),
        forecasters(),
    )
    .await
    .unwrap();
    assert_eq!((report.found, report.already_done), (1, 1), "{report:?}");
    for _ in 0..300 {
        if second.bulk_status("b1").await.unwrap().operation.status == TaskStatus::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = second.bulk_status("b1").await.unwrap();
    assert_eq!(status.operation.status, TaskStatus::Succeeded, "{status:?}");
    assert_eq!(status.tasks, vec![(TaskStatus::Succeeded, 6)]);
    let c = f.counters();
    assert_eq!(c.sleeps_started, 6, "every agent slept exactly once: {c:?}");
    for agent in &agents {
        let slept = f
            .journal()
            .iter()
            .filter(|t| &t.agent == agent && t.idempotency_key.is_some())
            .count();
        assert_eq!(slept, 1, "{agent} acted on {slept} times");
    }
}

#[tokio::test]
async fn staged_bulk_rolls_back_when_a_stage_mostly_fails() {
    let store = temp_store("staged").await;
    demand(&store, 6.0).await;
    let f = fleet(8);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = common::start(&store, Arc::new(f.clone()), &clock, bulk_config()).await;
    let agents: Vec<AgentId> = (0..6).map(|i| AgentId(format!("agent-{i}"))).collect();
    // Stage 1 (agents 0-2) succeeds; stage 2: agents 3 and 4 turned busy since the last fleet
    // read, so the gate lets them through and the fleet refuses them.
    f.set_busy(&agents[3], true);
    f.set_busy(&agents[4], true);
    let req = BulkRequest {
        agents,
        kind: ActionKind::Sleep,
        strategy: BulkStrategy::Staged,
        stage_size: Some(3),
        reason: "staged test".into(),
    };
    stored_bulk(&store, "b2", &req).await;
    let report = e.run_bulk("b2", &req).await.unwrap();
    assert!(report.stopped);
    assert_eq!(
        (report.succeeded, report.failed, report.rolled_back),
        (4, 2, 4),
        "{report:?}"
    );
    let status = e.bulk_status("b2").await.unwrap();
    assert_eq!(status.operation.status, TaskStatus::Failed);
    assert!(
        status.tasks.contains(&(TaskStatus::RolledBack, 4)),
        "{:?}",
        status.tasks
    );
    assert_eq!(
        f.counters().wakes_started,
        4,
        "rollback woke what the bulk had put to sleep"
    );
}

#[tokio::test]
async fn a_new_tick_interval_applies_to_the_running_loop_at_once() {
    let store = temp_store("interval").await;
    demand(&store, 1.0).await;
    let f = fleet(4);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = engine(&store, &f, &clock, true).await;
    assert_eq!(e.config().tick_interval, Duration::from_secs(10));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let e = e.clone();
        async move { e.run(shutdown).await }
    });
    let decisions = || async { store.list_decisions(None, 100).await.unwrap().len() };
    // The first tick is immediate; the next would be 10 s away.
    while decisions().await < 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let scheduler = e.config().scheduler;
    e.update_config(scheduler.clone(), Duration::from_millis(20))
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while decisions().await < 4 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "the loop kept the old 10 s interval");
    assert!(e.update_config(scheduler, Duration::ZERO).is_err());
    stop.send(true).unwrap();
    running.await.unwrap();
}
