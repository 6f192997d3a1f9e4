//! One tick of the decision core: policy, safety behaviours, selection and rails, in that order.
//!
//! ```text
//! fleet + demand history ──> fail-safe checks ──> policy (forecast) ──> restart hold
//!   ──> scheduled floors ──> hysteresis ──> pick agents ──> rails ──> emergency stop ──> Decision
//! ```
//! Everything is a pure function of the inputs, the injected clock and the scheduler's own state,
//! so the live service, the simulator and the property tests all run this exact code.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use crate::FleetCounts;
use crate::rails::{self, RailContext, SleepLog, jitter_delay_ms};
use crate::select::{pin_mismatches, sleep_candidates, wake_candidates};
use crate::{
    Action, ActionKind, Agent, AgentId, Blocked, Breaker, BreakerState, Decision, DemandHistory,
    EmergencyMode, EmergencyStop, Fleet, Mode, Observation, Policy, PolicyError, Reason,
    Recommendation, SchedulerConfig, Tier, Time,
};

/// What one tick needs from the outside world.
#[derive(Debug, Clone, Copy)]
pub struct TickInput<'a> {
    /// The injected clock.
    pub now: Time,
    /// Fleet snapshot.
    pub fleet: &'a Fleet,
    /// Demand observed so far.
    pub history: &'a DemandHistory,
}

/// The decision core with its state across ticks (sleep log, breaker, hysteresis, stops).
pub struct Scheduler {
    cfg: SchedulerConfig,
    policy: Box<dyn Policy>,
    log: SleepLog,
    breaker: Breaker,
    emergency: Option<EmergencyStop>,
    pause: Option<EmergencyStop>,
    started_at: Option<Time>,
    /// Latest time seen: a clock that goes back puts the scheduler in doubt.
    latest: Option<Time>,
    sleep_floors: VecDeque<(Time, u32)>,
}

impl Scheduler {
    /// A scheduler running `policy` under `cfg` (validated).
    pub fn new(cfg: SchedulerConfig, policy: Box<dyn Policy>) -> Result<Self, PolicyError> {
        cfg.validate()?;
        let breaker = Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown);
        Ok(Scheduler {
            cfg,
            policy,
            log: SleepLog::default(),
            breaker,
            emergency: None,
            pause: None,
            started_at: None,
            latest: None,
            sleep_floors: VecDeque::new(),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &SchedulerConfig {
        &self.cfg
    }

    /// Name of the policy.
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// The record of a model the policy fitted since the last call, for the model registry.
    pub fn take_fit(&mut self) -> Option<crate::FitRecord> {
        self.policy.take_fit()
    }

    /// Turns shadow mode on or off.
    pub fn set_shadow(&mut self, shadow: bool) {
        self.cfg.shadow = shadow;
    }

    /// Applies a new configuration, keeping the state across ticks (sleep log, breaker trips,
    /// hysteresis); the configuration is validated first and left unchanged on error.
    pub fn reconfigure(&mut self, cfg: SchedulerConfig) -> Result<(), PolicyError> {
        cfg.validate()?;
        let trips = self.breaker.trips();
        self.breaker = Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown);
        self.breaker.add_trips(trips);
        self.cfg = cfg;
        Ok(())
    }

    /// Puts an operator pause in force (a routine override: the same directions as an
    /// emergency stop but reported as `OperatorPause`), or lifts it with `None`.
    pub fn set_pause(&mut self, pause: Option<EmergencyStop>) {
        self.pause = pause;
    }

    /// The operator pause in force at `now`, if any.
    pub fn pause(&self, now: Time) -> Option<&EmergencyStop> {
        self.pause.as_ref().filter(|p| p.active(now))
    }

    /// Puts an emergency stop in force, or lifts it with `None`.
    pub fn set_emergency(&mut self, stop: Option<EmergencyStop>) {
        self.emergency = stop;
    }

    /// The emergency stop in force at `now`, if any.
    pub fn emergency(&self, now: Time) -> Option<&EmergencyStop> {
        self.emergency.as_ref().filter(|e| e.active(now))
    }

    /// State of the forecast circuit breaker.
    pub fn breaker_state(&self, now: Time) -> BreakerState {
        self.breaker.state(now)
    }

    /// Times the breaker has opened.
    pub fn breaker_trips(&self) -> u64 {
        self.breaker.trips()
    }

    /// Records sleeps that started outside a decision (e.g. re-read from a task journal after a
    /// restart), so the rate and scale-down rails count them.
    pub fn record_sleep(&mut self, at: Time) {
        self.log.record(at);
    }

    /// Forgets every in-memory state, as a process restart does. The next ticks hold the fleet
    /// until `restart_hold` has passed.
    pub fn restart(&mut self) {
        self.policy.reset();
        self.log = SleepLog::default();
        self.breaker.reset();
        self.started_at = None;
        self.latest = None;
        self.sleep_floors.clear();
    }

    /// Decides what to do now.
    pub fn tick(&mut self, input: TickInput<'_>) -> Decision {
        let TickInput {
            now,
            fleet,
            history,
        } = input;
        let counts = fleet.counts();
        let started = *self.started_at.get_or_insert(now);
        let clock_went_back = self.latest.is_some_and(|latest| now < latest);
        let latest = *self.latest.insert(self.latest.map_or(now, |l| l.max(now)));
        let mut blocked = Vec::new();

        let (mut mode, rec) = self.recommend(now, counts, history);
        let all = counts.total;
        let mut wake_to = rec.wake_to.min(all);
        let mut sleep_to = rec.sleep_to.max(wake_to).min(all);
        let mut tier = rec.tier;
        let mut explanation = rec.explanation;

        let mut hold_reason = Reason::RestartHold;
        if mode == Mode::Normal && clock_went_back {
            mode = Mode::Hold;
            hold_reason = Reason::ClockWentBack;
            explanation = format!(
                "clock went back: no sleeps until it passes the latest time seen; {explanation}"
            );
        }
        if mode == Mode::Normal {
            let hold_over = now.since(started) >= self.cfg.restart_hold;
            let history_back = history
                .times()
                .first()
                .is_some_and(|t| now.since(*t) >= self.cfg.restart_hold);
            if !(hold_over && history_back) {
                mode = Mode::Hold;
                explanation = format!(
                    "restart hold: no sleeps until {}s of history; {explanation}",
                    self.cfg.restart_hold.as_secs()
                );
            }
        }

        let floor = self
            .cfg
            .schedules
            .iter()
            .filter(|s| s.applies(now.as_millis()))
            .map(|s| s.min_awake)
            .max()
            .unwrap_or(0)
            .min(all);
        if floor > wake_to {
            wake_to = floor;
            tier = Tier::Scheduled;
        }
        sleep_to = sleep_to.max(wake_to);

        // Hysteresis: sleeps go no lower than the highest floor of the stabilisation window.
        let policy_sleep_to = sleep_to;
        self.sleep_floors.push_back((now, sleep_to));
        let from = now.minus(self.cfg.sleep_stabilization);
        while self.sleep_floors.front().is_some_and(|(t, _)| *t <= from) {
            self.sleep_floors.pop_front();
        }
        sleep_to = self
            .sleep_floors
            .iter()
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(sleep_to)
            .min(all);

        let min_awake = self.cfg.rails.min_awake.min(all);
        wake_to = wake_to.max(min_awake);
        sleep_to = sleep_to.max(wake_to);

        let (pin_wakes, pin_sleeps) = pin_mismatches(fleet);
        let mut actions: Vec<Action> = Vec::new();

        // Wakes: pinned-awake agents first, then enough to reach the target.
        let wake_tier = if mode == Mode::FailSafe {
            Tier::Safety
        } else {
            tier
        };
        let wake_reason = match mode {
            Mode::FailSafe => rec.reason,
            _ if tier == Tier::Scheduled => Reason::ScheduledFloor,
            _ => rec.reason,
        };
        for a in &pin_wakes {
            actions.push(action(a, ActionKind::Wake, Tier::Scheduled, Reason::Pinned));
        }
        let coming = counts.awake + counts.waking + pin_wakes.len() as u32;
        let deficit = wake_to.saturating_sub(coming) as usize;
        for a in wake_candidates(fleet, now, deficit, self.cfg.rails.agent_cooldown) {
            actions.push(action(a, ActionKind::Wake, wake_tier, wake_reason));
        }

        // Sleeps: pinned-asleep agents first, then the excess over the sleep floor.
        if matches!(mode, Mode::Normal) {
            let vetoed = counts
                .awake
                .saturating_sub(wake_to)
                .saturating_sub(counts.awake.saturating_sub(policy_sleep_to));
            if vetoed > 0 {
                blocked.push(count_block(ActionKind::Sleep, vetoed, Reason::ForecastVeto));
            }
            let stabilized = counts
                .awake
                .saturating_sub(policy_sleep_to)
                .saturating_sub(counts.awake.saturating_sub(sleep_to));
            if stabilized > 0 {
                blocked.push(count_block(
                    ActionKind::Sleep,
                    stabilized,
                    Reason::SleepStabilized,
                ));
            }
            let excess = counts.awake.saturating_sub(sleep_to) as usize;
            let rail_ctx = RailContext {
                counts,
                log: &self.log,
                now,
                cfg: &self.cfg.rails,
            };
            // Only as many candidates as the rails could admit are scored and ranked, so a
            // large fleet with a large excess still plans in O(n).
            let (room, binding) = rails::headroom(&rail_ctx);
            let wanted = excess.min(room as usize);
            if excess > wanted {
                blocked.push(count_block(
                    ActionKind::Sleep,
                    (excess - wanted) as u32,
                    binding,
                ));
            }
            let cooldown = rails::AgentCooldown;
            let mut cands = pin_sleeps.clone();
            let picked = sleep_candidates(fleet, now, wanted, |a| !cooldown.blocks(&rail_ctx, a));
            if picked.len() < wanted {
                blocked.push(count_block(
                    ActionKind::Sleep,
                    (wanted - picked.len()) as u32,
                    Reason::DoNotDisrupt,
                ));
            }
            cands.extend(picked);
            let admission = rails::admit_sleeps(&rail_ctx, &cands);
            blocked.extend(admission.blocked);
            for i in admission.admitted {
                let a = cands[i];
                let (t, r) = if a.pin.is_some() {
                    (Tier::Scheduled, Reason::Pinned)
                } else {
                    (tier, Reason::IdleBeyondBreakEven)
                };
                actions.push(action(a, ActionKind::Sleep, t, r));
            }
        } else if counts.awake > wake_to || !pin_sleeps.is_empty() {
            let reason = if mode == Mode::Hold {
                hold_reason
            } else {
                rec.reason
            };
            let n = counts
                .awake
                .saturating_sub(wake_to)
                .max(pin_sleeps.len() as u32);
            blocked.push(count_block(ActionKind::Sleep, n, reason));
        }

        if let Some(stop) = self.emergency(now).cloned() {
            mode = Mode::Emergency;
            explanation = format!("emergency stop ({:?}); {explanation}", stop.mode);
            if stop.mode == crate::EmergencyMode::WakeAll {
                let already: HashSet<AgentId> = actions
                    .iter()
                    .filter(|a| a.kind == ActionKind::Wake)
                    .map(|a| a.agent.clone())
                    .collect();
                for a in fleet
                    .agents
                    .iter()
                    .filter(|a| a.may_wake() && !already.contains(&a.id))
                {
                    actions.push(action(
                        a,
                        ActionKind::Wake,
                        Tier::Safety,
                        Reason::EmergencyStop,
                    ));
                }
                wake_to = all;
            }
            halt(&mut actions, &mut blocked, stop.mode, Reason::EmergencyStop);
        }

        if let Some(pause) = self.pause.as_ref().filter(|p| p.active(now)) {
            halt(
                &mut actions,
                &mut blocked,
                pause.mode,
                Reason::OperatorPause,
            );
        }

        for a in &mut actions {
            a.delay_ms = jitter_delay_ms(&a.agent, now, self.cfg.rails.jitter);
        }
        if !self.cfg.shadow {
            for _ in actions.iter().filter(|a| a.kind == ActionKind::Sleep) {
                self.log.record(now);
            }
        }
        self.log.prune(
            latest,
            self.cfg
                .rails
                .agent_cooldown
                .max(self.cfg.rails.sleep_rate_window)
                + Duration::from_secs(1),
        );

        Decision {
            at: now,
            mode,
            shadow: self.cfg.shadow,
            target_awake: wake_to,
            sleep_floor: sleep_to,
            tier: if mode == Mode::FailSafe {
                Tier::Safety
            } else {
                tier
            },
            actions,
            blocked,
            explanation,
        }
    }

    /// The policy's recommendation, or all-awake when anything is in doubt.
    fn recommend(
        &mut self,
        now: Time,
        counts: FleetCounts,
        history: &DemandHistory,
    ) -> (Mode, Recommendation) {
        let all = counts.total;
        let fail_safe = |reason, why: String| {
            (
                Mode::FailSafe,
                Recommendation::exactly(
                    all,
                    Tier::Safety,
                    reason,
                    format!("fail-safe, all agents awake: {why}"),
                ),
            )
        };
        let fresh = history
            .last()
            .is_some_and(|(t, _)| now.since(t) <= self.cfg.demand_staleness);
        if !fresh {
            self.breaker.record_failure(now);
            return fail_safe(
                Reason::FallbackActive,
                "demand data is stale or missing".into(),
            );
        }
        if !self.breaker.allows(now) {
            return fail_safe(
                Reason::BreakerOpen,
                "forecast circuit breaker is open".into(),
            );
        }
        let obs = Observation {
            now,
            history,
            counts,
            capacity: self.cfg.capacity,
            min_awake: self.cfg.rails.min_awake,
            wake_latency: self.cfg.wake_latency,
            consolidation: self.cfg.consolidation,
        };
        match self.policy.recommend(&obs) {
            Ok(rec) => {
                self.breaker.record_success();
                (Mode::Normal, rec)
            }
            Err(e) => {
                self.breaker.record_failure(now);
                fail_safe(Reason::FallbackActive, e.to_string())
            }
        }
    }
}

fn action(agent: &Agent, kind: ActionKind, tier: Tier, reason: Reason) -> Action {
    Action {
        agent: agent.id.clone(),
        kind,
        tier,
        reason,
        delay_ms: 0,
    }
}

/// Removes the actions of every direction `mode` halts, recording them as held back by `reason`.
fn halt(
    actions: &mut Vec<Action>,
    blocked: &mut Vec<Blocked>,
    mode: EmergencyMode,
    reason: Reason,
) {
    for kind in [ActionKind::Sleep, ActionKind::Wake] {
        let halted = match kind {
            ActionKind::Sleep => mode.halts_sleeps(),
            ActionKind::Wake => mode.halts_wakes(),
        };
        let n = actions.iter().filter(|a| a.kind == kind).count() as u32;
        if halted && n > 0 {
            actions.retain(|a| a.kind != kind);
            blocked.push(count_block(kind, n, reason));
        }
    }
}

fn count_block(kind: ActionKind, count: u32, reason: Reason) -> Blocked {
    Blocked {
        agent: None,
        kind,
        count,
        reason,
    }
}
