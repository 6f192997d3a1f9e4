//! The simulation loop: one policy against one trace, step by step, under identical latencies
//! and rails for every policy.
//!
//! At step t a policy decides knowing only d_0..d_{t-1}; sleeps take effect at once, wakes serve
//! from t + wake_steps; only awake agents serve, `capacity` units each, and
//! unserved_t = max(0, d_t − awake_t · capacity).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hivesched_policy::accuracy::{AccuracyConfig, Outcome, TimelineEvent};
use hivesched_policy::baselines::{AlwaysOn, Kpa, Reactive, SeasonalReactive};
use hivesched_policy::time::steps_covering;
use hivesched_policy::{
    ActionKind, AgentState, Controls, DemandHistory, Gate, Mode, Policy, Predictive, RailConfig,
    Scheduler, SchedulerConfig, SeasonalNaive, SleepLog, TickInput, Time,
};

use crate::accuracy::{RunAccuracy, oracle_outcomes};
use crate::audit::{RailAudit, StepFacts};
use crate::faults::{Faults, FaultyForecaster};
use crate::fleet_sim::SimFleet;
use crate::oracle::{ORACLE_NOTE, OracleConfig, oracle_schedule};
use crate::policies::PolicyKind;
use crate::{SimError, Trace};

pub use hivesched_policy::ForecasterFactory;

/// Fleet and latency model shared by every policy of a run.
#[derive(Clone)]
pub struct SimConfig {
    /// Fleet size.
    pub agents: u32,
    /// Demand units one awake agent serves per step.
    pub capacity: f64,
    /// How long a wake takes.
    pub wake_latency: Duration,
    /// How long checkpoint plus consolidation take.
    pub consolidation: Duration,
    /// The rails every policy runs under (the oracle keeps only `min_awake`).
    pub rails: RailConfig,
    /// Leading fraction of the trace used for warm-up and left out of the scores.
    pub train_fraction: f64,
    /// Faults to inject.
    pub faults: Faults,
    /// Forecaster of the `predictive` policy.
    pub forecaster: ForecasterFactory,
}

impl SimConfig {
    /// The default model: the built-in seasonal-naive forecaster.
    pub fn new(
        agents: u32,
        capacity: f64,
        wake_latency: Duration,
        consolidation: Duration,
        min_awake: u32,
    ) -> Self {
        SimConfig {
            agents,
            capacity,
            wake_latency,
            consolidation,
            rails: RailConfig {
                min_awake,
                ..RailConfig::default()
            },
            train_fraction: 0.0,
            faults: Faults::default(),
            forecaster: Arc::new(|| Box::new(SeasonalNaive::default())),
        }
    }

    /// Checks the values a user typed; the error names the flag.
    pub fn validate(&self) -> Result<(), SimError> {
        self.validate_as(&|field| format!("--{}", field.replace('_', "-")))
    }

    /// Checks the values as [`SimConfig::validate`] does; `key` spells a field's name (`agents`,
    /// `capacity`, `train_fraction`) the way the user wrote it, a flag or a file's key.
    pub fn validate_as(&self, key: &dyn Fn(&str) -> String) -> Result<(), SimError> {
        let fail = |m: String| Err(SimError::Config(m));
        if self.agents == 0 {
            return fail(format!("{} must be at least 1", key("agents")));
        }
        if !(self.capacity.is_finite() && self.capacity > 0.0) {
            return fail(format!(
                "{} {} must be a positive number",
                key("capacity"),
                self.capacity
            ));
        }
        if !(0.0..1.0).contains(&self.train_fraction) {
            return fail(format!(
                "{} {} must be in [0, 1)",
                key("train_fraction"),
                self.train_fraction
            ));
        }
        Ok(())
    }

    /// The rails every policy runs under.
    pub fn rails(&self) -> RailConfig {
        self.rails.clone()
    }

    /// Steps a wake and a sleep (checkpoint + consolidation) are billed for at step length `step`.
    pub fn transition_steps(&self, step: Duration) -> (u32, u32) {
        (
            steps_covering(self.wake_latency, step).max(1),
            steps_covering(self.consolidation, step).max(1),
        )
    }

    /// The judgement of sleeps and wakes at step length `step`: the simulator bills transitions
    /// in whole steps, so break-even = (sleep steps + wake steps) · step.
    pub fn accuracy(&self, step: Duration) -> AccuracyConfig {
        let (wake_steps, sleep_steps) = self.transition_steps(step);
        AccuracyConfig::new(step * sleep_steps, step * wake_steps)
    }

    fn scheduler_config(&self, step: Duration) -> SchedulerConfig {
        SchedulerConfig {
            rails: self.rails(),
            shadow: false,
            capacity: self.capacity,
            wake_latency: self.wake_latency,
            consolidation: self.consolidation,
            demand_staleness: (step * 5 / 2).max(Duration::from_secs(300)),
            breaker_cooldown: (step * 2).max(Duration::from_secs(300)),
            ..SchedulerConfig::default()
        }
    }
}

/// One row of the schedule CSV.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepRow {
    /// Step index (trace row).
    pub step: usize,
    /// Step start, Unix milliseconds.
    pub timestamp: i64,
    /// Demand during the step.
    pub demand: f64,
    /// Agents serving during the step.
    pub awake: u32,
    /// Agents billed during the step.
    pub billed: u32,
    /// Sleeps started at the start of the step.
    pub sleeps_started: u32,
    /// Wakes started at the start of the step.
    pub wakes_started: u32,
}

/// What a run measured beyond the schedule itself.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunExtras {
    /// Every sleep's and wake's outcome (`hivesched_policy::accuracy`), named by its start.
    pub outcomes: Vec<Outcome>,
    /// Rail violations found by the independent audit.
    pub rail_violations: u64,
    /// The first few violations, described.
    pub violation_examples: Vec<String>,
    /// Wall-clock microseconds of each decision (empty for the oracle).
    pub decision_us: Vec<f64>,
    /// Steps decided in fail-safe (all awake).
    pub fail_safe_steps: u64,
    /// Times the forecast breaker opened.
    pub breaker_trips: u64,
    /// What the report must say about this row (the oracle's limits).
    pub note: Option<&'static str>,
}

/// A finished run of one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRun {
    /// Policy name.
    pub name: String,
    /// One row per trace step.
    pub rows: Vec<StepRow>,
    /// Measurements beyond the rows.
    pub extras: RunExtras,
}

fn build_policy(kind: PolicyKind, cfg: &SimConfig, step: Arc<AtomicUsize>) -> Box<dyn Policy> {
    match kind {
        PolicyKind::AlwaysOn => Box::new(AlwaysOn),
        PolicyKind::Reactive => Box::new(Reactive::default()),
        PolicyKind::Kpa => Box::new(Kpa::default()),
        PolicyKind::SeasonalNaive => Box::new(SeasonalReactive::default()),
        PolicyKind::Predictive | PolicyKind::Oracle => {
            let forecaster = FaultyForecaster::new((cfg.forecaster)(), cfg.faults.clone(), step);
            Box::new(Predictive::new(Box::new(forecaster)))
        }
    }
}

/// Runs `kind` over `trace`; `progress` is called after every step.
pub fn run_policy(
    trace: &Trace,
    cfg: &SimConfig,
    kind: PolicyKind,
    progress: &dyn Fn(),
) -> Result<PolicyRun, SimError> {
    cfg.validate()?;
    if kind == PolicyKind::Oracle {
        return Ok(run_oracle(trace, cfg));
    }
    let step = Duration::from_secs_f64(trace.interval_s);
    let (wake_steps, sleep_steps) = cfg.transition_steps(step);
    let current = Arc::new(AtomicUsize::new(0));
    let policy = build_policy(kind, cfg, current.clone());
    let sched_cfg = cfg.scheduler_config(step);
    let mut gate = Gate::new(
        (&sched_cfg).into(),
        Controls::default(),
        SleepLog::default(),
    );
    let mut sched =
        Scheduler::new(sched_cfg, policy).map_err(|e| SimError::Config(e.to_string()))?;
    let start = Time::from_millis(trace.timestamps[0]);
    let mut fleet = SimFleet::new(cfg.agents, start);
    let six_weeks = (6.0 * 7.0 * 86_400.0 / trace.interval_s).ceil() as usize;
    let mut history = DemandHistory::new(step, six_weeks.max(64));
    let mut audit = RailAudit::new(cfg.rails());
    let cooldown = cfg.rails().agent_cooldown;
    let mut rng = fastrand::Rng::with_seed(cfg.faults.seed);
    let mut rows = Vec::with_capacity(trace.values.len());
    let mut extras = RunExtras::default();
    let mut accuracy = RunAccuracy::new(cfg.agents as usize, cfg.accuracy(step));
    let sim_err = |e: hivesched_policy::PolicyError| SimError::Simulation(e.to_string());

    for (t, (&ts, &demand)) in trace.timestamps.iter().zip(&trace.values).enumerate() {
        let now = Time::from_millis(ts);
        current.store(t, Ordering::Relaxed);
        if t > 0 && !cfg.faults.stalled(t - 1) {
            history.push(
                Time::from_millis(trace.timestamps[t - 1]),
                trace.values[t - 1],
            );
        }
        if cfg.faults.restarts.contains(&t) {
            // The scheduler forgets its memory; the gate comes back as the service rebuilds
            // it: rate log from the task journal, the controls from their record.
            sched.restart();
            gate = Gate::new(
                gate.config().clone(),
                gate.controls().clone(),
                gate.sleep_log().clone(),
            );
        }
        for (index, state) in fleet.advance(t, now).map_err(sim_err)? {
            if state == AgentState::Asleep {
                accuracy.record(index, TimelineEvent::Asleep(now));
            }
        }
        let epoch = gate.epoch();
        gate.observe(fleet.fleet().clone(), epoch, true, now);

        let clock = Instant::now();
        let decision = sched.tick(TickInput {
            now,
            gate: &gate,
            history: &history,
        });
        extras.decision_us.push(clock.elapsed().as_secs_f64() * 1e6);
        gate.set_sleep_hold(decision.sleep_hold);
        extras.fail_safe_steps += u64::from(decision.mode == Mode::FailSafe);

        let (mut sleeps, mut wakes, mut in_cooldown) = (0, 0, 0);
        for action in decision.to_execute() {
            // Executed as the service executes it: through the gate, at once.
            match gate.admit(&action.agent, action.kind, now) {
                // The simulated fleet answers at once.
                Ok(ticket) => gate.settle(ticket, true),
                Err(reason) => {
                    return Err(SimError::Simulation(format!(
                        "step {t}: the gate refused {} of {} that the decision admitted: {reason}",
                        action.kind, action.agent
                    )));
                }
            }
            let (steps, fails) = match action.kind {
                ActionKind::Sleep => (sleep_steps, false),
                ActionKind::Wake => {
                    let slow = rng.f64() < cfg.faults.slow_wake_rate;
                    let fails = rng.f64() < cfg.faults.wake_failure_rate;
                    (
                        if slow {
                            wake_steps * cfg.faults.slow_wake_factor
                        } else {
                            wake_steps
                        },
                        fails,
                    )
                }
            };
            let applied = fleet.apply(action, t, now, steps, fails).map_err(sim_err)?;
            match action.kind {
                ActionKind::Sleep => {
                    sleeps += 1;
                    if applied
                        .previous_wake
                        .is_some_and(|w| now.since(w) < cooldown)
                    {
                        in_cooldown += 1;
                    }
                    accuracy.record(applied.index, TimelineEvent::SleepStarted(now));
                }
                ActionKind::Wake => {
                    wakes += 1;
                    accuracy.record(applied.index, TimelineEvent::WakeStarted(now));
                }
            }
        }
        let counts = fleet.fleet().counts();
        audit.check(StepFacts {
            now,
            total: counts.total,
            awake_after: counts.awake,
            in_transition_after: counts.in_sleep_transition(),
            sleeps,
            sleeps_in_cooldown: in_cooldown,
        });
        for index in fleet.needed(demand, cfg.capacity) {
            accuracy.record(index, TimelineEvent::Served(now));
        }
        fleet.serve(demand, cfg.capacity, now.plus(step));
        rows.push(StepRow {
            step: t,
            timestamp: ts,
            demand,
            awake: counts.awake,
            billed: counts.billed(),
            sleeps_started: sleeps,
            wakes_started: wakes,
        });
        progress();
    }
    extras.rail_violations = audit.violations();
    extras.violation_examples = audit.examples().to_vec();
    extras.breaker_trips = sched.breaker_trips();
    extras.outcomes = accuracy.finish(end_of(trace, step));
    Ok(PolicyRun {
        name: kind.name().into(),
        rows,
        extras,
    })
}

/// The end of the trace's last step.
fn end_of(trace: &Trace, step: Duration) -> Time {
    Time::from_millis(trace.timestamps.last().copied().unwrap_or(0)).plus(step)
}

/// The perfect-foresight bound as a run; only `min_awake` applies to it, so its
/// `rail_violations` counts steps below `min_awake` and nothing else.
fn run_oracle(trace: &Trace, cfg: &SimConfig) -> PolicyRun {
    let step = Duration::from_secs_f64(trace.interval_s);
    let (wake_steps, sleep_steps) = cfg.transition_steps(step);
    let ocfg = OracleConfig {
        agents: cfg.agents,
        capacity: cfg.capacity,
        min_awake: cfg.rails.min_awake,
        wake_steps,
        sleep_steps,
    };
    let sched = oracle_schedule(&trace.values, &ocfg);
    let floor = cfg.rails.min_awake.min(cfg.agents);
    let rows: Vec<StepRow> = (0..trace.values.len())
        .map(|t| StepRow {
            step: t,
            timestamp: trace.timestamps[t],
            demand: trace.values[t],
            awake: sched.awake[t],
            billed: sched.billed[t],
            sleeps_started: sched.sleeps_started[t],
            wakes_started: sched.wakes_started[t],
        })
        .collect();
    let violations = rows.iter().filter(|r| r.awake < floor).count() as u64;
    let last = trace.values.len().saturating_sub(1);
    let last_ms = trace.timestamps.last().copied().unwrap_or(0);
    let time_of = |t: usize| match trace.timestamps.get(t) {
        Some(&ms) => Time::from_millis(ms),
        None => Time::from_millis(last_ms).plus(step * (t - last) as u32),
    };
    let outcomes = oracle_outcomes(
        &sched.sleeps,
        sleep_steps as usize,
        wake_steps as usize,
        time_of,
        end_of(trace, step),
        &cfg.accuracy(step),
    );
    PolicyRun {
        name: PolicyKind::Oracle.name().into(),
        rows,
        extras: RunExtras {
            rail_violations: violations,
            outcomes,
            note: Some(ORACLE_NOTE),
            ..RunExtras::default()
        },
    }
}
