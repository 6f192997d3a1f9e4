//! Issue 10's holes, one case each, on SQLite and PostgreSQL: every action from every source
//! passes the one gate; the controls and the rate rails survive a crash; an accepted bulk is
//! stored before it runs; settings out of range are refused; a dead fleet fails safe; a tick
//! never waits on the fleet and a panicking tick is contained.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Db, Recorder, T0, audit, config, demand, demand_until, fleet, start};
use hivesched_engine::bulk::{BulkRequest, prepare};
use hivesched_engine::clock::ManualClock;
use hivesched_engine::{Engine, EngineConfig, TickHealth};
use hivesched_fakefleet::{Fault, FaultKind};
use hivesched_policy::{
    ActionKind, AgentId, DemandForecast, DemandHistory, EmergencyMode, EmergencyStop,
    ForecastFailure, Forecaster, Mode, Pause, PauseDirection, Reason, Time,
};
use hivesched_store::{BulkStrategy, NewTask, Store, TaskStatus};

on_both_backends!(
    bulk_operations_pass_the_stop_the_pause_shadow_mode_and_the_rails,
    recovery_and_resumed_bulks_act_only_after_the_controls_are_back,
    an_accepted_bulk_is_stored_before_it_runs,
    settings_out_of_range_are_refused,
    a_dead_fleet_fails_safe,
    the_sleep_rate_survives_a_restart,
    a_tick_never_waits_on_the_fleet,
);

fn agents(ids: std::ops::Range<usize>) -> Vec<AgentId> {
    ids.map(|i| AgentId(format!("agent-{i}"))).collect()
}

fn bulk(kind: ActionKind, agents: Vec<AgentId>) -> BulkRequest {
    BulkRequest {
        agents,
        kind,
        strategy: BulkStrategy::Parallel,
        stage_size: None,
        reason: "operator".into(),
    }
}

/// Submits `req`, waits for it to end, and returns its refusals by reason.
async fn run(e: &Engine, req: BulkRequest) -> Vec<(Reason, u64)> {
    let id = e
        .submit_bulk("op", req, &audit("bulk.submit"))
        .await
        .unwrap();
    e.drain().await;
    e.bulk_status(&id).await.unwrap().refusals
}

async fn bulk_operations_pass_the_stop_the_pause_shadow_mode_and_the_rails(backend: Backend) {
    let Some(db) = Db::new(backend, "bulk_gate").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(10), clock.clone());
    let mut cfg = config(false);
    cfg.scheduler.rails.max_in_transition = 1.0;
    cfg.scheduler.rails.max_scale_down = 1.0;
    cfg.scheduler.rails.min_awake = 7;
    let e = start(&store, Arc::new(rec.clone()), &clock, cfg.clone()).await;

    let stop = |mode| EmergencyStop { mode, until: None };
    e.set_emergency(
        Some(stop(EmergencyMode::FreezeSleeps)),
        &audit("emergency.stop"),
    )
    .await
    .unwrap();
    let refused = run(&e, bulk(ActionKind::Sleep, agents(0..3))).await;
    assert_eq!(refused, vec![(Reason::EmergencyStop, 3)]);
    e.set_emergency(
        Some(stop(EmergencyMode::FreezeAll)),
        &audit("emergency.stop"),
    )
    .await
    .unwrap();
    let refused = run(&e, bulk(ActionKind::Wake, agents(0..2))).await;
    assert_eq!(refused, vec![(Reason::EmergencyStop, 2)]);
    e.set_emergency(None, &audit("emergency.resume"))
        .await
        .unwrap();

    e.set_pause(
        Some(Pause {
            direction: PauseDirection::Sleeps,
            until: None,
        }),
        &audit("pause.set"),
    )
    .await
    .unwrap();
    let refused = run(&e, bulk(ActionKind::Sleep, agents(0..3))).await;
    assert_eq!(refused, vec![(Reason::OperatorPause, 3)]);
    e.set_pause(None, &audit("pause.clear")).await.unwrap();

    let mut shadow = cfg.scheduler.clone();
    shadow.shadow = true;
    e.update_config(shadow, cfg.tick_interval).unwrap();
    let refused = run(&e, bulk(ActionKind::Sleep, agents(0..3))).await;
    assert_eq!(refused, vec![(Reason::ShadowMode, 3)]);
    e.update_config(cfg.scheduler.clone(), cfg.tick_interval)
        .unwrap();
    assert!(rec.calls().is_empty(), "{:?}", rec.calls());

    // Every rail: with min_awake 7 of 10, three sleeps pass and two are refused.
    let refused = run(&e, bulk(ActionKind::Sleep, agents(0..5))).await;
    assert_eq!(refused, vec![(Reason::MinAwake, 2)]);
    assert_eq!(rec.count(ActionKind::Sleep), 3);
    // A pinned agent is refused even though the pin was set after the last fleet read.
    store
        .set_agent_override(
            &AgentId("agent-9".into()),
            Some(hivesched_policy::Pin::Awake),
            false,
            None,
        )
        .await
        .unwrap();
    let mut wider = cfg.scheduler.clone();
    wider.rails.min_awake = 0;
    e.update_config(wider, cfg.tick_interval).unwrap();
    let refused = run(&e, bulk(ActionKind::Sleep, agents(9..10))).await;
    assert_eq!(refused, vec![(Reason::Pinned, 1)]);
    assert_eq!(rec.count(ActionKind::Sleep), 3);
    db.drop().await;
}

async fn recovery_and_resumed_bulks_act_only_after_the_controls_are_back(backend: Backend) {
    let Some(db) = Db::new(backend, "restart_stop").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(10), clock.clone());
    let cfg = config(false);
    let first = start(&store, Arc::new(rec.clone()), &clock, cfg.clone()).await;
    // The state a crash leaves: a tick's sleep journaled but not run, a bulk sleep accepted
    // but not started, and an emergency stop in force.
    store
        .insert_task(&NewTask {
            id: "tick-1-sleep-agent-0".into(),
            idempotency_key: "tick-1-sleep-agent-0".into(),
            agent: AgentId("agent-0".into()),
            kind: ActionKind::Sleep,
            bulk_id: None,
            stage: None,
            reason: "IdleBeyondBreakEven".into(),
            created_at: Time::from_secs(T0),
        })
        .await
        .unwrap();
    let req = bulk(ActionKind::Sleep, agents(1..3));
    let (op, tasks) = prepare("b-crash", "op", &req, Time::from_secs(T0)).unwrap();
    store
        .insert_bulk_with_tasks(&op, &tasks, &audit("bulk.submit"))
        .await
        .unwrap();
    first
        .set_emergency(
            Some(EmergencyStop {
                mode: EmergencyMode::FreezeSleeps,
                until: None,
            }),
            &audit("emergency.stop"),
        )
        .await
        .unwrap();
    drop(first);
    // A corrupt audit record is no reason not to start: the audit log no longer drives.
    sqlx::query("UPDATE audit_log SET after_json = 'not json' WHERE seq = 1")
        .execute(store.pool())
        .await
        .unwrap();

    let restarted = db.store().await;
    let (second, report) = Engine::start(
        restarted.clone(),
        Arc::new(rec.clone()),
        cfg,
        clock.clone(),
        common::forecasters(),
    )
    .await
    .unwrap();
    second.drain().await;
    assert_eq!((report.found, report.refused), (1, 1), "{report:?}");
    let task = restarted.task("tick-1-sleep-agent-0").await.unwrap();
    assert_eq!(
        (task.status, task.refusal),
        (TaskStatus::Refused, Some(Reason::EmergencyStop))
    );
    let status = second.bulk_status("b-crash").await.unwrap();
    assert_eq!(status.refusals, vec![(Reason::EmergencyStop, 2)]);
    assert_eq!(status.operation.status, TaskStatus::Failed);
    assert!(rec.calls().is_empty(), "{:?}", rec.calls());
    db.drop().await;
}

async fn an_accepted_bulk_is_stored_before_it_runs(backend: Backend) {
    let Some(db) = Db::new(backend, "accepted").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(10), clock.clone());
    let mut cfg = config(false);
    // The bulk waits on the rate rail (0 sleeps a window) without ever acting.
    cfg.scheduler.rails.sleep_rate = 0;
    cfg.limits.bulk_rail_wait = Duration::from_secs(86_400);
    let e = start(&store, Arc::new(rec.clone()), &clock, cfg.clone()).await;
    let id = e
        .submit_bulk(
            "op",
            bulk(ActionKind::Sleep, agents(0..4)),
            &audit("bulk.submit"),
        )
        .await
        .unwrap();
    // What a process that crashed right after the answer leaves behind, as another
    // connection reads it: the operation, every task, and the audit record.
    let other = db.store().await;
    assert_eq!(other.bulk(&id).await.unwrap().operation.actor, "op");
    assert_eq!(
        other.bulk_status_counts(&id, None).await.unwrap(),
        vec![(TaskStatus::Pending, 4)]
    );
    let trail = other.list_audit(None, 5).await.unwrap();
    assert_eq!(
        (
            trail[0].record.action.as_str(),
            trail[0].record.target.as_str()
        ),
        ("bulk.submit", id.as_str())
    );
    assert!(rec.calls().is_empty());
    db.drop().await;
}

async fn settings_out_of_range_are_refused(backend: Backend) {
    let Some(db) = Db::new(backend, "ranges").await else {
        return;
    };
    let store = db.store().await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = start(&store, Arc::new(fleet(4)), &clock, config(true)).await;
    let mut bad = config(true).scheduler;
    bad.rails.agent_cooldown = Duration::from_secs(u64::MAX);
    let err = e.update_config(bad, Duration::from_secs(10)).unwrap_err();
    assert!(err.to_string().contains("rails.agent_cooldown"), "{err}");
    let mut bad = config(true).scheduler;
    bad.wake_latency = Duration::from_secs(u64::MAX / 2);
    let err = e.update_config(bad, Duration::from_secs(10)).unwrap_err();
    assert!(err.to_string().contains("wake_latency"), "{err}");
    // The engine still ticks on what it had.
    demand(&store, 1.0).await;
    e.tick().await.unwrap();
    let mut cfg = config(true);
    cfg.scheduler.consolidation = Duration::from_secs(86_401);
    let refused = Engine::start(
        store.clone(),
        Arc::new(fleet(4)),
        cfg,
        clock.clone(),
        common::forecasters(),
    )
    .await;
    assert!(
        refused
            .as_ref()
            .err()
            .is_some_and(|e| e.to_string().contains("consolidation")),
        "{:?}",
        refused.err()
    );
    db.drop().await;
}

async fn a_dead_fleet_fails_safe(backend: Backend) {
    let Some(db) = Db::new(backend, "dead_fleet").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    demand_until(&store, 1.0, T0 + 600).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(10), clock.clone());
    let e = start(&store, Arc::new(rec.clone()), &clock, config(false)).await;
    let d = e.tick().await.unwrap();
    e.drain().await;
    assert_eq!(d.mode, Mode::Normal);
    let slept = rec.count(ActionKind::Sleep);
    assert!(slept > 0, "{d:?}");

    rec.set_listing_fails(true);
    clock.advance_ms(60_000);
    let d = e.tick().await.unwrap();
    e.drain().await;
    assert_eq!(
        (d.mode, d.sleep_hold),
        (Mode::FailSafe, Some(Reason::FleetUnreadable))
    );
    assert_eq!(d.count(ActionKind::Sleep), 0);
    assert!(
        d.explanation.contains("could not be read"),
        "{}",
        d.explanation
    );
    assert_eq!(e.metrics().fleet_readable.get(), 0);
    assert_eq!(e.metrics().fail_safe.get(), 1);
    // A bulk sleep on the stale states is refused too (it waits out the fail-safe up to
    // bulk_rail_wait, 0 here).
    let refused = run(&e, bulk(ActionKind::Sleep, agents(8..10))).await;
    assert_eq!(refused, vec![(Reason::FleetUnreadable, 2)]);
    assert_eq!(rec.count(ActionKind::Sleep), slept);

    rec.set_listing_fails(false);
    clock.advance_ms(60_000);
    let d = e.tick().await.unwrap();
    assert_ne!(d.mode, Mode::FailSafe);
    assert_eq!(e.metrics().fleet_readable.get(), 1);
    db.drop().await;
}

async fn the_sleep_rate_survives_a_restart(backend: Backend) {
    let Some(db) = Db::new(backend, "rate_restart").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    demand_until(&store, 1.0, T0 + 3_600).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(20), clock.clone());
    let mut cfg = config(false);
    cfg.scheduler.rails.sleep_rate = 3;
    cfg.scheduler.rails.max_in_transition = 1.0;
    cfg.scheduler.rails.max_scale_down = 1.0;
    cfg.limits.bulk_rail_wait = Duration::ZERO;
    let e = start(&store, Arc::new(rec.clone()), &clock, cfg.clone()).await;
    e.tick().await.unwrap();
    e.drain().await;
    assert_eq!(rec.count(ActionKind::Sleep), 3);
    drop(e);

    // kill -9 and start again 20 s later: the three sleeps still count.
    clock.advance_ms(20_000);
    let again = start(
        &db.store().await,
        Arc::new(rec.clone()),
        &clock,
        cfg.clone(),
    )
    .await;
    let d = again.tick().await.unwrap();
    again.drain().await;
    assert_eq!(d.count(ActionKind::Sleep), 0, "{d:?}");
    assert!(
        d.blocked
            .iter()
            .any(|b| b.reason == Reason::SleepRateLimited),
        "{d:?}"
    );
    let refused = run(&again, bulk(ActionKind::Sleep, agents(15..17))).await;
    assert_eq!(refused, vec![(Reason::SleepRateLimited, 2)]);
    assert_eq!(rec.count(ActionKind::Sleep), 3);
    // A window later the rail has room again.
    clock.advance_ms(41_000);
    again.tick().await.unwrap();
    again.drain().await;
    assert_eq!(rec.count(ActionKind::Sleep), 6);
    let calls = rec.calls();
    for c in &calls {
        let within = calls
            .iter()
            .filter(|o| {
                o.kind == ActionKind::Sleep
                    && o.at <= c.at
                    && o.at > c.at.minus(Duration::from_secs(60))
            })
            .count();
        assert!(within <= 3, "{within} sleeps within 60 s up to {:?}", c.at);
    }
    db.drop().await;
}

async fn a_tick_never_waits_on_the_fleet(backend: Backend) {
    let Some(db) = Db::new(backend, "no_wait").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let rec = Recorder::new(fleet(10), clock.clone());
    let e = start(&store, Arc::new(rec.clone()), &clock, config(false)).await;
    // Every sleep the fleet receives is answered only after 30 s.
    for i in 0..10 {
        rec.fleet.inject(Fault {
            kind: FaultKind::Stall(Duration::from_secs(30)),
            agent: Some(AgentId(format!("agent-{i}"))),
        });
    }
    let d = e.tick().await.unwrap();
    assert!(d.count(ActionKind::Sleep) > 0, "{d:?}");
    // The tick has returned while its sleeps are still in flight at the fleet (the fleet
    // acted; its answers are held back).
    let wanted = d.count(ActionKind::Sleep) as u64;
    common::eventually("the sleeps reach the fleet", || async {
        rec.fleet.counters().sleeps_started == wanted
    })
    .await;
    let tasks = store
        .list_tasks(&hivesched_store::TaskFilter::default())
        .await
        .unwrap();
    assert!(
        tasks.iter().all(|t| t.status == TaskStatus::Running),
        "{tasks:?}"
    );
    // And the next tick decides meanwhile.
    clock.advance_ms(10_000);
    e.tick().await.unwrap();
    db.drop().await;
}

/// Panics inside the plan on every forecast after the first `ok` ones.
struct PanicsAfter {
    ok: usize,
    inner: hivesched_policy::SeasonalNaive,
}

impl Forecaster for PanicsAfter {
    fn forecast(
        &mut self,
        history: &DemandHistory,
        horizon: usize,
    ) -> Result<DemandForecast, ForecastFailure> {
        if self.ok == 0 {
            panic!("forecaster bug (test)");
        }
        self.ok -= 1;
        self.inner.forecast(history, horizon)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_tick_is_contained_counted_and_shows_in_the_health() {
    let Some(db) = Db::new(Backend::Sqlite, "panics").await else {
        return;
    };
    let store: Store = db.store().await;
    demand(&store, 1.0).await;
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let mut cfg: EngineConfig = config(true);
    cfg.tick_interval = Duration::from_millis(200);
    let (e, _) = Engine::start(
        store.clone(),
        Arc::new(fleet(4)),
        cfg,
        clock.clone(),
        Arc::new(|| {
            Box::new(PanicsAfter {
                ok: 0,
                inner: hivesched_policy::SeasonalNaive::default(),
            })
        }),
    )
    .await
    .unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn({
        let e = e.clone();
        async move { e.run(shutdown).await }
    });
    common::eventually("two contained panics", || async {
        e.metrics().tick_panics.get() >= 2
    })
    .await;
    assert!(e.metrics().tick_errors.get() >= 2);
    assert!(!running.is_finished(), "the tick loop must go on");
    // No tick has succeeded: after the stall limit (10 s here) the health says so.
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert!(
        matches!(e.tick_health(), TickHealth::Stalled(_)),
        "{:?}",
        e.tick_health()
    );
    stop.send(true).unwrap();
    running.await.unwrap();
    db.drop().await;
}
