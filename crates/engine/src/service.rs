//! The running engine: one tick reads fleet and demand, forecasts, plans with the rails, records
//! the decision, then acts (unless in shadow mode). A handle that the HTTP server shares.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hivesched_policy::{
    ActionKind, Decision, DemandForecast, DemandHistory, EmergencyStop, Forecaster, Mode,
    Predictive, Scheduler, SchedulerConfig, TickInput, Time,
};
use hivesched_store::{BulkOperation, NewModelRecord, Store, TaskFilter, TaskStatus};
use tokio::sync::{broadcast, watch};

use crate::actuator::DynActuator;
use crate::bulk::{BulkReport, BulkRequest, run_bulk};
use crate::clock::Clock;
use crate::executor::{Executor, ExecutorLimits, TaskSpec};
use crate::fleet_view::read_fleet;
use crate::metrics::{ActionLabels, StateLabels};
use crate::recovery::{RecoveryReport, recover};
use crate::{EngineError, EngineMetrics};

/// Builds a forecaster; the engine keeps one inside the policy and one for the forecast API.
pub type ForecasterFactory = Arc<dyn Fn() -> Box<dyn Forecaster> + Send + Sync>;

/// Settings of the running engine.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// The decision core's settings (rails, latencies, shadow mode, …).
    pub scheduler: SchedulerConfig,
    /// Time between ticks.
    pub tick_interval: Duration,
    /// Step of the demand series (one sample per step).
    pub demand_step: Duration,
    /// Demand history read for each forecast.
    pub history_window: Duration,
    /// Executor limits.
    pub limits: ExecutorLimits,
    /// Fencing token written with every task and sent to the fleet (single replica: `None`).
    pub fencing_token: Option<i64>,
    /// How long shutdown waits for tasks in flight.
    pub drain_timeout: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            scheduler: SchedulerConfig::default(),
            tick_interval: Duration::from_secs(10),
            demand_step: Duration::from_secs(60),
            history_window: Duration::from_secs(15 * 86_400),
            limits: ExecutorLimits::default(),
            fencing_token: None,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// What the engine publishes for live views (WebSocket, logs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A tick decided.
    Decision {
        /// The decision.
        decision: Decision,
    },
    /// A bulk operation finished.
    BulkFinished {
        /// Its id.
        id: String,
        /// How it went.
        report: BulkReport,
    },
    /// A tick failed and the engine did not act.
    TickFailed {
        /// Why.
        error: String,
    },
}

/// A bulk operation and its tasks' progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkStatus {
    /// The recorded operation.
    pub operation: BulkOperation,
    /// Tasks per status.
    pub tasks: Vec<(TaskStatus, u64)>,
}

struct Inner {
    store: Store,
    actuator: Arc<dyn DynActuator>,
    executor: Arc<Executor>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
    scheduler: Mutex<Scheduler>,
    forecaster: Mutex<Box<dyn Forecaster>>,
    cfg: RwLock<EngineConfig>,
    events: broadcast::Sender<EngineEvent>,
    last_decision: Mutex<Option<Decision>>,
    last_forecast: Mutex<Option<(Time, f64)>>,
    history: Mutex<Option<DemandHistory>>,
    tick_lock: tokio::sync::Mutex<()>,
    config_changed: tokio::sync::Notify,
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Engine {
    /// Starts the engine: validates the configuration, then reconciles unfinished tasks from the
    /// journal against the fleet (crash recovery) before any new action.
    pub async fn start(
        store: Store,
        actuator: Arc<dyn DynActuator>,
        cfg: EngineConfig,
        clock: Arc<dyn Clock>,
        forecasters: ForecasterFactory,
    ) -> Result<(Engine, RecoveryReport), EngineError> {
        let policy = Box::new(Predictive::new(forecasters()));
        let scheduler = Scheduler::new(cfg.scheduler.clone(), policy)?;
        let metrics = Arc::new(EngineMetrics::default());
        let executor = Arc::new(Executor::new(
            store.clone(),
            Arc::clone(&actuator),
            Arc::clone(&clock),
            Arc::clone(&metrics),
            cfg.limits,
            cfg.fencing_token,
        ));
        let report = recover(
            &store,
            actuator.as_ref(),
            &executor,
            clock.as_ref(),
            cfg.fencing_token,
        )
        .await?;
        let mut scheduler = scheduler;
        // The rate and scale-down rails count recent sleeps: re-read them from the journal.
        let now = clock.now();
        let window = cfg
            .scheduler
            .rails
            .agent_cooldown
            .max(cfg.scheduler.rails.sleep_rate_window);
        let recent = store
            .list_tasks(&TaskFilter {
                limit: 1000,
                ..TaskFilter::default()
            })
            .await?;
        for t in recent.iter().filter(|t| {
            t.task.kind == ActionKind::Sleep
                && matches!(t.status, TaskStatus::Running | TaskStatus::Succeeded)
                && t.task.created_at > now.minus(window)
        }) {
            scheduler.record_sleep(t.task.created_at);
        }
        let (events, _) = broadcast::channel(256);
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                actuator,
                executor,
                clock,
                metrics,
                scheduler: Mutex::new(scheduler),
                forecaster: Mutex::new(forecasters()),
                cfg: RwLock::new(cfg),
                events,
                last_decision: Mutex::new(None),
                last_forecast: Mutex::new(None),
                history: Mutex::new(None),
                tick_lock: tokio::sync::Mutex::new(()),
                config_changed: tokio::sync::Notify::new(),
            }),
        };
        engine.resume_bulks().await?;
        Ok((engine, report))
    }

    /// Re-runs bulk operations a crash interrupted (their finished tasks are not repeated).
    async fn resume_bulks(&self) -> Result<(), EngineError> {
        for op in self.inner.store.list_bulks(true, 100).await? {
            let Ok(req) = serde_json::from_value::<BulkRequest>(op.operation.spec.clone()) else {
                continue;
            };
            self.spawn_bulk(op.operation.id.clone(), op.operation.actor.clone(), req);
        }
        Ok(())
    }

    /// The metrics the engine updates (register them once in the server's registry).
    pub fn metrics(&self) -> Arc<EngineMetrics> {
        Arc::clone(&self.inner.metrics)
    }

    /// The store the engine writes to.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Live events: decisions, finished bulk operations, failed ticks.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// The latest decision.
    pub fn last_decision(&self) -> Option<Decision> {
        lock(&self.inner.last_decision).clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> EngineConfig {
        self.inner
            .cfg
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies new scheduler settings (validated first; state such as the sleep log is kept)
    /// and tick interval (the running tick loop restarts its timer at once).
    pub fn update_config(
        &self,
        scheduler: SchedulerConfig,
        tick_interval: Duration,
    ) -> Result<(), EngineError> {
        if tick_interval.is_zero() {
            return Err(EngineError::InvalidConfig {
                key: "tick_interval",
                reason: "must be positive".into(),
            });
        }
        lock(&self.inner.scheduler).reconfigure(scheduler.clone())?;
        {
            let mut cfg = self
                .inner
                .cfg
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cfg.scheduler = scheduler;
            cfg.tick_interval = tick_interval;
        }
        self.inner.config_changed.notify_one();
        Ok(())
    }

    /// Puts an emergency stop in force, or lifts it.
    pub fn set_emergency(&self, stop: Option<EmergencyStop>) {
        lock(&self.inner.scheduler).set_emergency(stop);
    }

    /// The emergency stop in force now, if any.
    pub fn emergency(&self) -> Option<EmergencyStop> {
        let now = self.inner.clock.now();
        lock(&self.inner.scheduler).emergency(now).cloned()
    }

    /// Puts an operator pause of one direction in force, or lifts it.
    pub fn set_pause(&self, pause: Option<EmergencyStop>) {
        lock(&self.inner.scheduler).set_pause(pause);
    }

    /// The operator pause in force now, if any.
    pub fn pause(&self) -> Option<EmergencyStop> {
        let now = self.inner.clock.now();
        lock(&self.inner.scheduler).pause(now).cloned()
    }

    /// The current time on the engine's clock.
    pub fn now(&self) -> Time {
        self.inner.clock.now()
    }

    /// The demand history up to `now`. The first call reads the whole window; later calls read
    /// only samples newer than the last one seen, so a tick does not re-read weeks of demand.
    async fn history(&self, now: Time) -> Result<DemandHistory, EngineError> {
        let cfg = self.config();
        let cached = lock(&self.inner.history).clone();
        let (mut history, from) = match cached {
            Some(h) if h.step() == cfg.demand_step => {
                let from = h.last().map_or(now.minus(cfg.history_window), |(t, _)| {
                    t.plus(Duration::from_millis(1))
                });
                (h, from)
            }
            _ => {
                let capacity = (cfg.history_window.as_secs_f64()
                    / cfg.demand_step.as_secs_f64().max(1e-3))
                .ceil() as usize;
                (
                    DemandHistory::new(cfg.demand_step, capacity.max(16)),
                    now.minus(cfg.history_window),
                )
            }
        };
        for s in self.inner.store.demand_range(from, now).await? {
            history.push(s.at, s.value);
        }
        *lock(&self.inner.history) = Some(history.clone());
        Ok(history)
    }

    /// Forecasts the `horizon` demand steps after the newest sample.
    pub async fn forecast(&self, horizon: usize) -> Result<DemandForecast, EngineError> {
        let history = self.history(self.inner.clock.now()).await?;
        let forecast = lock(&self.inner.forecaster).forecast(&history, horizon)?;
        forecast.validate(horizon)?;
        Ok(forecast)
    }

    /// One tick. If the database can't be read or the decision can't be recorded, nothing is
    /// done: the engine stops acting rather than act blind.
    pub async fn tick(&self) -> Result<Decision, EngineError> {
        let _one_at_a_time = self.inner.tick_lock.lock().await;
        let result = self.tick_inner().await;
        self.inner.metrics.ticks.inc();
        if let Err(e) = &result {
            self.inner.metrics.tick_errors.inc();
            let _ = self.inner.events.send(EngineEvent::TickFailed {
                error: e.to_string(),
            });
        }
        result
    }

    async fn tick_inner(&self) -> Result<Decision, EngineError> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let heartbeat_fresh = 3 * self.config().tick_interval;
        let (fleet, _fleet_reachable) =
            read_fleet(&inner.store, inner.actuator.as_ref(), now, heartbeat_fresh).await?;
        let history = self.history(now).await?;
        self.score_last_forecast(&history);
        let started = Instant::now();
        let decision = lock(&inner.scheduler).tick(TickInput {
            now,
            fleet: &fleet,
            history: &history,
        });
        inner
            .metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
        inner.store.insert_decision(&decision).await?;
        // The model the plan rested on goes to the registry when it was fitted this tick.
        let fit = lock(&inner.scheduler).take_fit();
        if let Some(fit) = fit {
            inner
                .store
                .insert_model_record(&NewModelRecord {
                    created_at: fit.fitted_at,
                    model: fit.model,
                    parameters: fit.parameters,
                    accuracy: fit.accuracy,
                })
                .await?;
        }
        self.observe(&fleet, &decision);
        let tick_id = now.as_millis();
        let specs: Vec<TaskSpec> = decision
            .to_execute()
            .iter()
            .map(|a| TaskSpec {
                idempotency_key: format!(
                    "tick-{tick_id}-{}-{}",
                    if a.kind == ActionKind::Sleep {
                        "sleep"
                    } else {
                        "wake"
                    },
                    a.agent
                ),
                agent: a.agent.clone(),
                kind: a.kind,
                reason: format!("{:?}", a.reason),
                bulk: None,
            })
            .collect();
        if !specs.is_empty() {
            inner.executor.execute_all(specs).await?;
        }
        self.remember_forecast(&history, now);
        *lock(&inner.last_decision) = Some(decision.clone());
        let _ = inner.events.send(EngineEvent::Decision {
            decision: decision.clone(),
        });
        Ok(decision)
    }

    fn observe(&self, fleet: &hivesched_policy::Fleet, d: &Decision) {
        let m = &self.inner.metrics;
        let kind = |k: ActionKind| {
            if k == ActionKind::Sleep {
                "sleep"
            } else {
                "wake"
            }
            .to_string()
        };
        for a in &d.actions {
            m.actions
                .get_or_create(&ActionLabels {
                    kind: kind(a.kind),
                    reason: format!("{:?}", a.reason),
                })
                .inc();
        }
        for b in &d.blocked {
            m.blocked
                .get_or_create(&ActionLabels {
                    kind: kind(b.kind),
                    reason: format!("{:?}", b.reason),
                })
                .inc_by(u64::from(b.count));
        }
        let counts = fleet.counts();
        for (state, n) in [
            ("awake", counts.awake),
            ("preparing_sleep", counts.preparing_sleep),
            ("consolidating", counts.consolidating),
            ("asleep", counts.asleep),
            ("waking", counts.waking),
            ("error", counts.error),
        ] {
            m.agents
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(i64::from(n));
        }
        m.target_awake.set(i64::from(d.target_awake));
        m.fail_safe.set(i64::from(d.mode == Mode::FailSafe));
    }

    /// Keeps the one-step-ahead forecast made now, to score it when the sample arrives.
    fn remember_forecast(&self, history: &DemandHistory, now: Time) {
        let Some((last, _)) = history.last() else {
            return;
        };
        if let Ok(f) = lock(&self.inner.forecaster).forecast(history, 1) {
            let next = last.plus(history.step());
            if let Some(mean) = f.mean.first() {
                *lock(&self.inner.last_forecast) =
                    Some((next.max(now.minus(history.step())), *mean));
            }
        }
    }

    fn score_last_forecast(&self, history: &DemandHistory) {
        let pending = *lock(&self.inner.last_forecast);
        if let Some((at, predicted)) = pending
            && let Some(actual) = history.value_at(at)
        {
            self.inner
                .metrics
                .forecast_abs_error
                .set((actual - predicted).abs());
        }
    }

    /// Runs ticks every `tick_interval` until `shutdown` turns true, then waits (up to the drain
    /// timeout) for the tick in flight; unfinished tasks stay journaled for recovery.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let timer = |period: Duration, first: tokio::time::Instant| {
            let mut interval = tokio::time::interval_at(first, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        };
        let mut period = self.config().tick_interval;
        let mut interval = timer(period, tokio::time::Instant::now());
        loop {
            tokio::select! {
                _ = interval.tick() => {
                    if let Err(e) = self.tick().await {
                        tracing::warn!(error = %e, "tick failed; not acting");
                    }
                }
                () = self.inner.config_changed.notified() => {
                    let wanted = self.config().tick_interval;
                    if wanted != period {
                        tracing::info!(?wanted, "tick interval changed");
                        period = wanted;
                        interval = timer(period, tokio::time::Instant::now() + period);
                    }
                }
                _ = shutdown.changed() => break,
            }
            if *shutdown.borrow() {
                break;
            }
        }
        let drain = self.config().drain_timeout;
        let _ = tokio::time::timeout(drain, self.inner.tick_lock.lock()).await;
    }

    /// Starts a bulk operation in the background and returns its id at once.
    pub fn submit_bulk(&self, actor: &str, req: BulkRequest) -> Result<String, EngineError> {
        req.validate()?;
        let id = format!(
            "{}-{:08x}",
            self.inner.clock.now().as_millis(),
            fastrand::u32(..)
        );
        self.spawn_bulk(id.clone(), actor.to_owned(), req);
        Ok(id)
    }

    fn spawn_bulk(&self, id: String, actor: String, req: BulkRequest) {
        let engine = self.clone();
        tokio::spawn(async move {
            let inner = &engine.inner;
            match run_bulk(
                &inner.store,
                &inner.executor,
                inner.clock.as_ref(),
                &id,
                &actor,
                &req,
            )
            .await
            {
                Ok(report) => {
                    let _ = inner.events.send(EngineEvent::BulkFinished { id, report });
                }
                Err(e) => tracing::warn!(bulk = %id, error = %e, "bulk operation stopped"),
            }
        });
    }

    /// Runs a bulk operation to the end in the caller's task (tests, CLI).
    pub async fn run_bulk(
        &self,
        id: &str,
        actor: &str,
        req: &BulkRequest,
    ) -> Result<BulkReport, EngineError> {
        let inner = &self.inner;
        run_bulk(
            &inner.store,
            &inner.executor,
            inner.clock.as_ref(),
            id,
            actor,
            req,
        )
        .await
    }

    /// A bulk operation's record and its tasks' progress.
    pub async fn bulk_status(&self, id: &str) -> Result<BulkStatus, EngineError> {
        let operation = self.inner.store.bulk(id).await?;
        let tasks = self.inner.store.bulk_status_counts(id, None).await?;
        Ok(BulkStatus { operation, tasks })
    }
}
