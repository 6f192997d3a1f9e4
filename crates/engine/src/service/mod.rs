//! The running engine: one tick reads the fleet and demand, forecasts, plans through the
//! admission gate, records the decision, then hands the actions to the executor (unless in
//! shadow mode) without waiting for the fleet. A handle that the HTTP server shares. One engine
//! plans one agent pool: the pool its store handle is scoped to (`Store::in_pool`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hivesched_coord::LeaderElector;
use hivesched_policy::accuracy::AccuracyConfig;
use hivesched_policy::alerts::AlertConfig;
use hivesched_policy::savings::{self, Savings};
use hivesched_policy::{
    ActingScope, AgentId, AgentState, Controls, Decision, DemandForecast, EmergencyStop, Gate,
    Pause, Predictive, Scheduler, SchedulerConfig, SleepLog, Source, TickInput, Time,
};
use hivesched_store::{
    BulkOperation, ControlName, NewAuditRecord, NewModelRecord, Store, TaskStatus,
};
use tokio::sync::{broadcast, watch};

use crate::actuator::DynActuator;
use crate::alert_delivery::{AlertDelivery, DeliveryConfig};
use crate::alerting::Alerting;
use crate::bulk::BulkRequest;
use crate::clock::Clock;
use crate::events::{ControlChange, EngineEvent, ForecastUpdate};
use crate::executor::{Executor, ExecutorLimits, TaskSpec};
use crate::fleet_view::read_fleet;
use crate::forecast_score::ForecastScore;
use crate::gate::SharedGate;
use crate::history_cache::HistoryCache;
use crate::leadership::{Authority, Grant};
use crate::live_accuracy::LiveAccuracy;
use crate::lock::lock;
use crate::metrics::ReceiverLabels;
use crate::process::CpuMeter;
use crate::recovery::{RecoveryReport, recover};
use crate::release::{ReleaseReport, release};
use crate::tracker::Tracker;
use crate::{EngineError, EngineMetrics};

mod alerts;
mod bulks;
mod follow;

pub use hivesched_policy::ForecasterFactory;

/// How often a leader whose lease could not be recorded in the store (the database is down)
/// tries again.
const CLAIM_RETRY: Duration = Duration::from_secs(1);

/// Longest a failing tick loop waits before trying again (the backoff doubles from one tick
/// interval up to this).
const MAX_TICK_BACKOFF: Duration = Duration::from_secs(300);

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
    /// Fencing token of an engine started without an elector ([`Engine::start`]), written with
    /// every task and sent to the fleet (`None`: unguarded writes, token 0 to the fleet);
    /// [`Engine::set_fencing_token`] changes it while running. An engine following an elector
    /// ([`Engine::start_following`]) uses the elector's tokens instead.
    pub fencing_token: Option<i64>,
    /// How long shutdown waits for tasks in flight.
    pub drain_timeout: Duration,
    /// Alert rules' thresholds.
    pub alerts: AlertConfig,
    /// Where alerts are sent (none by default).
    pub alert_delivery: DeliveryConfig,
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
            alerts: AlertConfig::default(),
            alert_delivery: DeliveryConfig::default(),
        }
    }
}

/// A bulk operation and its tasks' progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkStatus {
    /// The recorded operation.
    pub operation: BulkOperation,
    /// Tasks per status.
    pub tasks: Vec<(TaskStatus, u64)>,
    /// Tasks the gate refused, per reason.
    pub refusals: Vec<(hivesched_policy::Reason, u64)>,
}

/// Whether ticks are happening.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TickHealth {
    /// A tick succeeded recently enough.
    Ticking,
    /// No tick has succeeded for this long (more than three intervals and at least 10 s).
    Stalled(Duration),
}

struct Inner {
    store: Store,
    actuator: Arc<dyn DynActuator>,
    executor: Arc<Executor>,
    gate: Arc<SharedGate>,
    clock: Arc<dyn Clock>,
    metrics: Arc<EngineMetrics>,
    scheduler: Mutex<Scheduler>,
    score: ForecastScore,
    accuracy: LiveAccuracy,
    alerting: Alerting,
    last_tick_ok: AtomicBool,
    cfg: RwLock<EngineConfig>,
    events: broadcast::Sender<EngineEvent>,
    last_decision: Mutex<Option<Decision>>,
    history: HistoryCache,
    tick_lock: tokio::sync::Mutex<()>,
    config_changed: tokio::sync::Notify,
    work: Tracker,
    grant: watch::Sender<Grant>,
    authority: Authority,
    elector: Option<Arc<dyn LeaderElector>>,
    last_good_tick: Mutex<Instant>,
    recovery_pending: AtomicBool,
    /// One alert evaluation at a time: a tick's evaluation that read its facts before an
    /// emergency stop must not resolve the alert the stop's own evaluation just fired.
    alert_eval: tokio::sync::Mutex<()>,
    /// Agents the fleet's listing names that belong to other pools (see [`read_fleet`]).
    elsewhere: Mutex<std::collections::HashSet<AgentId>>,
    /// Bulk operations running in this process, so resuming never starts one twice.
    running_bulks: Mutex<std::collections::HashSet<String>>,
    /// The latest release of agents the scheduler stopped acting on: its generation (a newer
    /// one supersedes a release still retrying) and what it did.
    release: Mutex<(u64, Option<ReleaseReport>)>,
}

/// Handle to the running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Starts the engine: validates the configuration, loads the controls and the recent
    /// sleeps from their durable records into the gate, reads the fleet, then reconciles
    /// unfinished tasks (crash recovery) and resumes interrupted bulk operations — all through
    /// the gate, so nothing acts before the controls are in force. When the fleet cannot be
    /// read yet, recovery waits for the first tick that can read it.
    pub async fn start(
        store: Store,
        actuator: Arc<dyn DynActuator>,
        cfg: EngineConfig,
        clock: Arc<dyn Clock>,
        forecasters: ForecasterFactory,
    ) -> Result<(Engine, RecoveryReport), EngineError> {
        Self::start_following(store, actuator, cfg, clock, forecasters, None).await
    }

    /// Like [`Engine::start`], acting only while `elector`'s watch says this replica leads. A
    /// new lease is first recorded in the store's fencing mark (so the previous leader's writes are refused from then on), then the engine acts with its
    /// token; a lost or doubtful lease stops the ticks and every task that has not called the
    /// fleet yet at once. A follower does not recover or resume anything at start: the leader
    /// does, and a replica that takes over does at its first tick. A lease whose token the
    /// store refuses (the elector's counter is behind the store's mark) is handed back with
    /// [`LeaderElector::fenced_below`]. `None` acts alone, unguarded.
    pub async fn start_following(
        store: Store,
        actuator: Arc<dyn DynActuator>,
        cfg: EngineConfig,
        clock: Arc<dyn Clock>,
        forecasters: ForecasterFactory,
        elector: Option<Arc<dyn LeaderElector>>,
    ) -> Result<(Engine, RecoveryReport), EngineError> {
        // The pool's fencing row exists before any claim (a pool seen for the first time).
        store.ensure_pool().await?;
        let leadership = elector.as_ref().map(|e| e.watch());
        let policy = Box::new(Predictive::new(forecasters()));
        let scheduler = Scheduler::new(cfg.scheduler.clone(), policy)?;
        let loaded = store.load_controls().await?;
        for problem in &loaded.problems {
            tracing::error!(%problem, "a stored control could not be read");
        }
        let now = clock.now();
        let rails = &cfg.scheduler.rails;
        let window = rails.agent_cooldown.max(rails.sleep_rate_window);
        let mut log = SleepLog::default();
        for at in store.sleep_starts_since(now.minus(window)).await? {
            log.record(at);
        }
        let mut gate = Gate::new((&cfg.scheduler).into(), loaded.controls, log);
        if !cfg.scheduler.restart_hold.is_zero() {
            // Until the first decision: what the scheduler holds after a restart, the gate
            // holds for recovery and resumed bulks too.
            gate.set_sleep_hold(Some(hivesched_policy::Reason::RestartHold));
        }
        let gate = Arc::new(SharedGate::new(gate));
        let metrics = Arc::new(EngineMetrics::default());
        let initial = match &leadership {
            None => Grant::Acting {
                token: cfg.fencing_token,
            },
            Some(_) => Grant::Standing,
        };
        let (grant, grant_rx) = watch::channel(initial);
        let authority = Authority::new(grant_rx, leadership.clone());
        metrics.leader.set(i64::from(initial != Grant::Standing));
        let executor = Arc::new(Executor::new(
            store.clone(),
            Arc::clone(&actuator),
            Arc::clone(&clock),
            Arc::clone(&metrics),
            Arc::clone(&gate),
            cfg.limits,
            authority.clone(),
        ));
        cfg.alerts.validate()?;
        let delivery = if cfg.alert_delivery.any() {
            let failures = Arc::clone(&metrics);
            Some(AlertDelivery::spawn(
                cfg.alert_delivery.clone(),
                move |receiver| {
                    failures
                        .alert_delivery_failures
                        .get_or_create(&ReceiverLabels {
                            receiver: receiver.into(),
                        })
                        .inc();
                },
            )?)
        } else {
            None
        };
        let alerting = Alerting::new(
            cfg.alerts.clone(),
            store.open_alerts().await?,
            delivery,
            store.pool_name(),
        );
        let (events, _) = broadcast::channel(4096);
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                actuator,
                executor,
                gate,
                clock,
                metrics,
                scheduler: Mutex::new(scheduler),
                score: ForecastScore::new(forecasters()),
                accuracy: LiveAccuracy::new(accuracy_config(&cfg.scheduler)),
                alerting,
                last_tick_ok: AtomicBool::new(true),
                cfg: RwLock::new(cfg),
                events,
                last_decision: Mutex::new(None),
                history: HistoryCache::default(),
                tick_lock: tokio::sync::Mutex::new(()),
                config_changed: tokio::sync::Notify::new(),
                work: Tracker::default(),
                grant,
                authority,
                elector,
                last_good_tick: Mutex::new(Instant::now()),
                recovery_pending: AtomicBool::new(true),
                alert_eval: tokio::sync::Mutex::new(()),
                running_bulks: Mutex::default(),
                elsewhere: Mutex::default(),
                release: Mutex::default(),
            }),
        };
        if let Some(rx) = leadership {
            // Leading already: claim before recovering, so recovery acts with the new token.
            let current = *rx.borrow();
            engine.apply_leadership(current, &rx).await;
            engine.follow(rx);
        }
        let readable = engine.read_fleet_into_gate(now).await?;
        let acting = engine.inner.authority.acting().is_some();
        let report = if readable && acting {
            engine.recover().await?
        } else {
            if acting {
                tracing::warn!(
                    "the fleet cannot be read: recovery waits for the first tick that can"
                );
            } else {
                tracing::info!("not leading: recovery is the leader's");
            }
            RecoveryReport {
                deferred: true,
                ..RecoveryReport::default()
            }
        };
        if acting {
            engine.resume_bulks().await?;
        }
        Ok((engine, report))
    }

    /// The fencing token this engine acts with now, or `None` when it must not act.
    pub fn acting(&self) -> Option<Option<i64>> {
        self.inner.authority.acting()
    }

    /// Reads the fleet (bounded, see [`read_fleet`]) and hands it to the gate; whether the
    /// fleet's own API answered.
    async fn read_fleet_into_gate(&self, now: Time) -> Result<bool, EngineError> {
        let inner = &self.inner;
        let heartbeat_fresh = 3 * self.config().tick_interval;
        let epoch = inner.gate.epoch();
        let read = read_fleet(
            &inner.store,
            inner.actuator.as_ref(),
            now,
            heartbeat_fresh,
            &inner.elsewhere,
        )
        .await?;
        inner.metrics.fleet_readable.set(i64::from(read.readable));
        inner.gate.observe(read.fleet, epoch, read.readable, now);
        if !read.changes.is_empty() {
            let _ = inner.events.send(EngineEvent::Agents {
                at: now,
                changes: read.changes,
            });
        }
        Ok(read.readable)
    }

    /// Reconciles unfinished tasks against the fleet the gate last read.
    async fn recover(&self) -> Result<RecoveryReport, EngineError> {
        let inner = &self.inner;
        let states: HashMap<AgentId, AgentState> = inner
            .gate
            .snapshot()
            .fleet()
            .agents
            .iter()
            .map(|a| (a.id.clone(), a.state))
            .collect();
        let fencing_token = inner.authority.acting().ok_or(EngineError::NotLeader)?;
        let report = recover(
            &inner.store,
            &states,
            &inner.executor,
            inner.clock.as_ref(),
            fencing_token,
        )
        .await?;
        inner.recovery_pending.store(false, Ordering::Release);
        if report.found > 0 {
            tracing::info!(?report, "recovered unfinished tasks");
        }
        Ok(report)
    }

    /// Re-runs bulk operations a crash interrupted (their finished tasks are not repeated).
    async fn resume_bulks(&self) -> Result<(), EngineError> {
        for op in self.inner.store.list_bulks(true, 1000).await? {
            match serde_json::from_value::<BulkRequest>(op.operation.spec.clone()) {
                Ok(req) => self.spawn_bulk(op.operation.id.clone(), req),
                Err(e) => tracing::error!(
                    bulk = %op.operation.id,
                    error = %e,
                    "a stored bulk operation cannot be read; not resumed"
                ),
            }
        }
        Ok(())
    }

    /// The metrics the engine updates (register them once in the server's registry).
    pub fn metrics(&self) -> Arc<EngineMetrics> {
        Arc::clone(&self.inner.metrics)
    }

    /// The store the engine writes to, scoped to its pool.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The agent pool this engine plans for (its store's, see [`Store::in_pool`]).
    pub fn pool(&self) -> &str {
        self.inner.store.pool_name()
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
        self.inner.gate.configure((&scheduler).into());
        self.inner.accuracy.reconfigure(accuracy_config(&scheduler));
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

    /// Sets (or lifts) the emergency stop: stored with its audit record in one transaction,
    /// then in force for every later admission.
    pub async fn set_emergency(
        &self,
        stop: Option<EmergencyStop>,
        audit: &NewAuditRecord,
    ) -> Result<(), EngineError> {
        self.set_control(ControlName::Emergency, stop.as_ref().map(json), audit)
            .await
    }

    /// Sets (or lifts) the operator pause, like [`Engine::set_emergency`].
    pub async fn set_pause(
        &self,
        pause: Option<Pause>,
        audit: &NewAuditRecord,
    ) -> Result<(), EngineError> {
        self.set_control(ControlName::Pause, pause.as_ref().map(json), audit)
            .await
    }

    /// Stores a control with its audit record, applies it and tells the subscribers; its alert
    /// (emergency stop, pause) fires at once, not at the next tick.
    async fn set_control(
        &self,
        name: ControlName,
        value: Option<serde_json::Value>,
        audit: &NewAuditRecord,
    ) -> Result<(), EngineError> {
        self.inner
            .store
            .set_control(name, value.as_ref(), self.inner.clock.now(), audit)
            .await?;
        self.reload_controls().await?;
        self.publish_control(audit);
        self.evaluate_alerts().await;
        Ok(())
    }

    /// Publishes a change of the controls or settings that `record` audits (the emergency
    /// stop and the pause publish their own; the server calls this after a settings change).
    pub fn publish_control(&self, record: &NewAuditRecord) {
        let _ = self.inner.events.send(EngineEvent::Control(ControlChange {
            at: record.at,
            action: record.action.clone(),
            actor: record.actor.clone(),
            reason: record.reason.clone(),
            after: record.after.clone(),
        }));
    }

    /// Another replica changed the controls (a change notice, see `hivesched_store::changes`):
    /// puts the stored ones in force now, for every later admission, rather than at the next
    /// tick; the leader's alert book follows at once.
    pub async fn controls_changed(&self) -> Result<(), EngineError> {
        self.reload_controls().await?;
        if self.acting().is_some() {
            self.evaluate_alerts().await;
        }
        Ok(())
    }

    /// Another replica stored a bulk operation: the leader starts it now rather than at its
    /// next tick (a follower leaves it to the leader; one already running is not started
    /// twice).
    pub async fn bulks_submitted(&self) -> Result<(), EngineError> {
        if self.acting().is_some() {
            self.resume_bulks().await?;
        }
        Ok(())
    }

    /// Puts the stored controls in force (after a change here, and at every tick, so a change
    /// written by another process is picked up too).
    async fn reload_controls(&self) -> Result<(), EngineError> {
        let loaded = self.inner.store.load_controls().await?;
        for problem in &loaded.problems {
            tracing::error!(%problem, "a stored control could not be read");
        }
        self.inner.gate.set_controls(loaded.controls);
        Ok(())
    }

    /// Puts a new acting scope in force (which agents the scheduler acts on while its own
    /// acting is rolled out behind `scheduler.acting`; [`ActingScope::all`] without the flag).
    /// Agents that leave the treatment arm and that the scheduler had put to sleep are woken in
    /// the background, through the journal and the gate ([`crate::release`]); `decided` is
    /// when the rollout decided, the start of the measured release time.
    pub fn set_acting_scope(&self, scope: ActingScope, decided: Instant) {
        let released: std::collections::HashSet<AgentId> =
            self.inner.gate.set_scope(scope).into_iter().collect();
        if released.is_empty() {
            return;
        }
        if self.acting().is_none() {
            tracing::info!(
                agents = released.len(),
                "released agents: the leader wakes them"
            );
            return;
        }
        let generation = {
            let mut r = lock(&self.inner.release);
            r.0 += 1;
            r.0
        };
        let engine = self.clone();
        let decided_at = self.inner.clock.now();
        self.inner.work.spawn(async move {
            if let Err(e) = release(engine, released, decided, decided_at, generation).await {
                tracing::warn!(error = %e, "waking released agents stopped early");
            }
        });
    }

    /// The acting scope in force.
    pub fn acting_scope(&self) -> ActingScope {
        self.inner.gate.snapshot().scope().clone()
    }

    /// What the latest release of agents did (see [`Engine::set_acting_scope`]).
    pub fn last_release(&self) -> Option<ReleaseReport> {
        lock(&self.inner.release).1.clone()
    }

    pub(crate) fn set_release_report(&self, generation: u64, report: ReleaseReport) {
        let mut r = lock(&self.inner.release);
        if r.0 == generation {
            r.1 = Some(report);
        }
    }

    pub(crate) fn is_release_current(&self, generation: u64) -> bool {
        lock(&self.inner.release).0 == generation
    }

    /// The fleet as the gate knows it now.
    pub(crate) fn gate_fleet(&self) -> hivesched_policy::Fleet {
        self.inner.gate.snapshot().fleet().clone()
    }

    /// Journals and runs tasks through the gate, waiting for their outcomes.
    pub(crate) async fn execute(
        &self,
        specs: Vec<TaskSpec>,
        source: Source,
    ) -> Result<Vec<crate::executor::TaskOutcome>, EngineError> {
        self.inner.executor.execute_all(specs, source).await
    }

    /// The controls in force now (lapsed ones left out).
    pub fn controls(&self) -> Controls {
        let now = self.inner.clock.now();
        let c = self.inner.gate.controls();
        Controls {
            emergency: c.emergency(now).cloned(),
            pause: c.pause(now).cloned(),
        }
    }

    /// Replaces the fencing token sent with every later task, for an engine started without
    /// an elector (one following an elector takes its tokens from the elector).
    pub fn set_fencing_token(&self, token: Option<i64>) {
        self.inner.grant.send_replace(Grant::Acting { token });
    }

    /// The current time on the engine's clock.
    pub fn now(&self) -> Time {
        self.inner.clock.now()
    }

    /// Forecasts the `horizon` demand steps after the newest sample.
    pub async fn forecast(&self, horizon: usize) -> Result<DemandForecast, EngineError> {
        let history = self.history(self.inner.clock.now()).await?;
        self.inner.score.forecast(&history, horizon)
    }

    async fn history(&self, now: Time) -> Result<hivesched_policy::DemandHistory, EngineError> {
        let cfg = self.config();
        self.inner
            .history
            .read(&self.inner.store, now, cfg.demand_step, cfg.history_window)
            .await
    }

    /// One tick. If the database can't be read or the decision can't be recorded, nothing is
    /// done: the engine stops acting rather than act blind. The actions are journaled and
    /// handed to the executor in the background: a tick never waits on the fleet's answers.
    /// A replica that is not the leader does not tick ([`EngineError::NotLeader`], not counted
    /// as a failed tick).
    pub async fn tick(&self) -> Result<Decision, EngineError> {
        if self.inner.authority.acting().is_none() {
            return Err(EngineError::NotLeader);
        }
        let _one_at_a_time = self.inner.tick_lock.lock().await;
        // The tick's own CPU, failed ticks' work included: each stretch of computing between
        // two awaits, on its thread.
        let mut cpu = CpuMeter::default();
        let started = Instant::now();
        let result = self.tick_inner(&mut cpu).await;
        let wall = started.elapsed().as_secs_f64();
        self.inner.metrics.tick_seconds.observe(wall);
        self.inner.metrics.last_tick_seconds.set(wall);
        self.inner
            .metrics
            .tick_cpu_seconds
            .inc_by(cpu.spent().as_secs_f64());
        self.inner.metrics.ticks.inc();
        match &result {
            Ok(_) => *lock(&self.inner.last_good_tick) = Instant::now(),
            Err(e) => {
                if e.is_fenced() {
                    self.inner.metrics.fenced_writes.inc();
                }
                self.tick_failed(&e.to_string());
            }
        }
        self.inner
            .last_tick_ok
            .store(result.is_ok(), Ordering::Release);
        result
    }

    fn tick_failed(&self, error: &str) {
        self.inner.metrics.tick_errors.inc();
        let _ = self.inner.events.send(EngineEvent::TickFailed {
            at: self.inner.clock.now(),
            error: error.to_owned(),
        });
    }

    async fn tick_inner(&self, cpu: &mut CpuMeter) -> Result<Decision, EngineError> {
        let inner = &self.inner;
        // Taken once: the decision is written with the token the tick started under, so a
        // tick that outlives its leader's lease is refused by the store, not half-recorded.
        let token = inner.authority.acting().ok_or(EngineError::NotLeader)?;
        let now = inner.clock.now();
        self.reload_controls().await?;
        let readable = self.read_fleet_into_gate(now).await?;
        if readable && inner.recovery_pending.load(Ordering::Acquire) {
            self.recover().await?;
        }
        // Bulk operations submitted through another replica, or left by a previous leader,
        // run here from the leader's next tick (those already running are skipped).
        self.resume_bulks().await?;
        let history = self.history(now).await?;
        cpu.measure(|| inner.score.score(&history, &inner.metrics));
        let gate = inner.gate.snapshot();
        let started = Instant::now();
        let decision = cpu.measure(|| {
            lock(&inner.scheduler).tick(TickInput {
                now,
                gate: &gate,
                history: &history,
            })
        });
        inner
            .metrics
            .decision_seconds
            .observe(started.elapsed().as_secs_f64());
        inner.gate.set_sleep_hold(decision.sleep_hold);
        let decision_id = inner
            .store
            .insert_decision_fenced(&decision, gate.counts(), token)
            .await?;
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
        cpu.measure(|| {
            inner.metrics.observe_decision(gate.counts(), &decision);
            inner.accuracy.observe(
                gate.fleet(),
                history.last().map(|(_, v)| v),
                decision_capacity(&self.config().scheduler),
                now,
                &inner.metrics,
            );
        });
        let tick_id = now.as_millis();
        let specs: Vec<TaskSpec> = decision
            .to_execute()
            .iter()
            .map(|a| TaskSpec {
                idempotency_key: format!("tick-{tick_id}-{}-{}", a.kind.as_str(), a.agent),
                agent: a.agent.clone(),
                kind: a.kind,
                reason: a.reason.as_str().to_owned(),
                bulk: None,
                delay: Duration::from_millis(a.delay_ms),
            })
            .collect();
        if !specs.is_empty() {
            // Journaled before the tick returns (a crash from here on leaves them for
            // recovery); executed in the background.
            let mut records = Vec::with_capacity(specs.len());
            for spec in &specs {
                records.push((inner.executor.journal(spec).await?, spec.delay));
            }
            let executor = Arc::clone(&inner.executor);
            inner.work.spawn(async move {
                if let Err(e) = executor.run_all(records, Source::Tick).await {
                    tracing::warn!(error = %e, "a tick's tasks stopped early");
                }
            });
        }
        inner.score.remember(&history, now);
        *lock(&inner.last_decision) = Some(decision.clone());
        let _ = inner.events.send(EngineEvent::Decision {
            id: decision_id,
            decision: decision.clone(),
        });
        if let Some(update) = cpu.measure(|| self.forecast_update(&history)) {
            let _ = inner.events.send(EngineEvent::Forecast(update));
        }
        Ok(decision)
    }

    /// The forecast the dashboard draws ahead of now: a day of steps, at most 288 of them (the
    /// chart needs no finer resolution, and a stream message stays a few kilobytes).
    fn forecast_update(&self, history: &hivesched_policy::DemandHistory) -> Option<ForecastUpdate> {
        let (last, _) = history.last()?;
        let step = history.step();
        let horizon = (86_400 / step.as_secs().max(1)).clamp(1, 288) as usize;
        let f = self.inner.score.forecast(history, horizon).ok()?;
        Some(ForecastUpdate {
            start: last.plus(step),
            step_s: step.as_secs(),
            mean: f.mean,
            upper: f.upper,
            model: f.model,
        })
    }

    /// Agent-hours billed against always-on over the last `window` (and what the decisions
    /// planned, which is what shadow mode would have saved).
    pub async fn savings(&self, window: Duration) -> Result<Savings, EngineError> {
        let (from, to) = savings::window(self.inner.clock.now(), window);
        let usage = self.inner.store.usage(from, to).await?;
        Ok(savings::summarize(&usage, from, to))
    }

    /// Whether ticks are happening: stalled when no tick has succeeded for more than three
    /// tick intervals, and at least 10 s (an ensemble refit takes about 1 s on 14 days of
    /// one-minute demand, so one slow tick is not a stall).
    pub fn tick_health(&self) -> TickHealth {
        let since = lock(&self.inner.last_good_tick).elapsed();
        let limit = (3 * self.config().tick_interval).max(Duration::from_secs(10));
        if since > limit {
            TickHealth::Stalled(since)
        } else {
            TickHealth::Ticking
        }
    }

    /// Waits until every task and bulk operation handed to the background has finished.
    pub async fn drain(&self) {
        self.inner.work.idle().await;
    }

    /// Runs ticks every `tick_interval` until `shutdown` turns true, then waits (up to the drain
    /// timeout) for the tick and the tasks in flight; unfinished tasks stay journaled for
    /// recovery. A tick that panics is contained (counted, logged, the loop goes on); after a
    /// failed tick the next one waits twice as long, up to five minutes.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        let mut wait = Duration::ZERO;
        // A tick that hangs would hold the loop below: a watchdog keeps the alerts evaluated.
        let watchdog = tokio::spawn({
            let engine = self.clone();
            let mut stop = shutdown.clone();
            async move {
                loop {
                    let period = engine.config().tick_interval.max(Duration::from_secs(5));
                    tokio::select! {
                        () = tokio::time::sleep(period) => {
                            if matches!(engine.tick_health(), TickHealth::Stalled(_)) {
                                engine.evaluate_alerts().await;
                            }
                        }
                        _ = stop.changed() => break,
                    }
                }
            }
        });
        let mut grant = self.inner.grant.subscribe();
        loop {
            let acting = self.acting().is_some();
            tokio::select! {
                () = tokio::time::sleep(wait), if !acting => {
                    // A follower serves the API but neither ticks nor evaluates alerts (the
                    // leader does both); it is not stalled.
                    *lock(&self.inner.last_good_tick) = Instant::now();
                    wait = self.config().tick_interval;
                }
                _ = grant.changed() => {
                    // A new leader ticks at once instead of up to an interval later.
                    if self.acting().is_some() {
                        wait = Duration::ZERO;
                    }
                }
                () = tokio::time::sleep(wait), if acting => {
                    let engine = self.clone();
                    let ok = match tokio::spawn(async move { engine.tick().await }).await {
                        Ok(Ok(_)) => true,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "tick failed; not acting");
                            false
                        }
                        Err(joined) => {
                            let why = panic_message(joined);
                            tracing::error!(panic = %why, "tick panicked; contained, not acting");
                            self.inner.metrics.tick_panics.inc();
                            self.tick_failed(&format!("tick panicked: {why}"));
                            false
                        }
                    };
                    if !ok {
                        self.inner.last_tick_ok.store(false, Ordering::Release);
                    }
                    self.evaluate_alerts().await;
                    failures = if ok { 0 } else { failures.saturating_add(1) };
                    wait = tick_wait(self.config().tick_interval, failures);
                }
                () = self.inner.config_changed.notified() => {
                    tracing::info!(interval = ?self.config().tick_interval, "tick interval changed");
                    wait = tick_wait(self.config().tick_interval, failures);
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                break;
            }
        }
        watchdog.abort();
        let drain = self.config().drain_timeout;
        let _ = tokio::time::timeout(drain, async {
            let _ = self.inner.tick_lock.lock().await;
            self.drain().await;
        })
        .await;
    }
}

/// How the decisions are judged: break-even time and useful window from the fleet's latencies.
fn accuracy_config(cfg: &SchedulerConfig) -> AccuracyConfig {
    AccuracyConfig::new(cfg.consolidation, cfg.wake_latency)
}

/// Demand one awake agent serves per step.
fn decision_capacity(cfg: &SchedulerConfig) -> f64 {
    cfg.capacity
}

/// The wait before the next tick: one interval, doubled per consecutive failure up to
/// [`MAX_TICK_BACKOFF`] (never shorter than one interval).
fn tick_wait(interval: Duration, failures: u32) -> Duration {
    let backoff = interval.saturating_mul(1 << failures.min(16));
    backoff.min(MAX_TICK_BACKOFF.max(interval))
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn panic_message(joined: tokio::task::JoinError) -> String {
    match joined.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".into()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_ticks_back_off_to_a_cap() {
        let s = Duration::from_secs;
        assert_eq!(tick_wait(s(10), 0), s(10));
        assert_eq!(tick_wait(s(10), 1), s(20));
        assert_eq!(tick_wait(s(10), 3), s(80));
        assert_eq!(tick_wait(s(10), 30), s(300));
        assert_eq!(tick_wait(s(3600), 2), s(3600));
    }
}
