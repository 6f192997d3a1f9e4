//! One tick of the decision core: policy, safety behaviours, selection and the gate, in that
//! order.
//!
//! ```text
//! gate's fleet + demand history ──> fail-safe checks ──> policy (forecast) ──> restart hold
//!   ──> scheduled floors ──> hysteresis ──> pick agents ──> gate preview (controls, rails) ──> Decision
//! ```
//! Everything is a pure function of the inputs, the injected clock and the scheduler's own state,
//! so the live service, the simulator and the property tests all run this exact code. The plan
//! goes through a [`Preview`](crate::Preview) of the same [`Gate`] the executor admits each task
//! with, so a decision holds no action the gate would refuse at that instant.

use std::collections::{HashSet, VecDeque};

use crate::FleetCounts;
use crate::rails::jitter_delay_ms;
use crate::select::{pin_mismatches, sleep_candidates, wake_candidates};
use crate::{
    Action, ActionKind, Agent, AgentId, Arm, Blocked, Breaker, BreakerState, Decision,
    DemandHistory, EmergencyMode, Gate, Mode, Observation, Policy, PolicyError, Reason,
    Recommendation, SchedulerConfig, Tier, Time,
};

/// What one tick needs from the outside world.
#[derive(Debug, Clone, Copy)]
pub struct TickInput<'a> {
    /// The injected clock.
    pub now: Time,
    /// The gate: the fleet as it is known now (last read plus moves admitted since), the
    /// controls in force, the rails and the recent sleeps.
    pub gate: &'a Gate,
    /// Demand observed so far.
    pub history: &'a DemandHistory,
}

/// The decision core with its state across ticks (breaker, hysteresis, restart hold). The
/// controls, the rate log and the fleet belong to the [`Gate`].
pub struct Scheduler {
    cfg: SchedulerConfig,
    policy: Box<dyn Policy>,
    breaker: Breaker,
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
            breaker,
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

    /// Applies a new configuration, keeping the state across ticks (breaker trips,
    /// hysteresis); the configuration is validated first and left unchanged on error.
    pub fn reconfigure(&mut self, cfg: SchedulerConfig) -> Result<(), PolicyError> {
        cfg.validate()?;
        let trips = self.breaker.trips();
        self.breaker = Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown);
        self.breaker.add_trips(trips);
        self.cfg = cfg;
        Ok(())
    }

    /// State of the forecast circuit breaker.
    pub fn breaker_state(&self, now: Time) -> BreakerState {
        self.breaker.state(now)
    }

    /// Times the breaker has opened.
    pub fn breaker_trips(&self) -> u64 {
        self.breaker.trips()
    }

    /// Forgets every in-memory state, as a process restart does. The next ticks hold the fleet
    /// until `restart_hold` has passed. (The rate log is the gate's, derived from the journal.)
    pub fn restart(&mut self) {
        self.policy.reset();
        self.breaker.reset();
        self.started_at = None;
        self.latest = None;
        self.sleep_floors.clear();
    }

    /// Decides what to do now.
    pub fn tick(&mut self, input: TickInput<'_>) -> Decision {
        let TickInput { now, gate, history } = input;
        let fleet = gate.fleet();
        let counts = gate.counts();
        let started = *self.started_at.get_or_insert(now);
        let clock_went_back = self.latest.is_some_and(|latest| now < latest);
        self.latest = Some(self.latest.map_or(now, |l| l.max(now)));
        let mut blocked = Vec::new();

        let (mut mode, rec) = self.recommend(now, counts, history, gate.readable());
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
        let sleep_hold = match mode {
            Mode::Normal | Mode::Emergency => None,
            Mode::Hold => Some(hold_reason),
            Mode::FailSafe => Some(rec.reason),
        };

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
        // While the scheduler's own acting is rolled out, only treatment agents are acted on:
        // they are picked first, so agents that are only observed never crowd them out.
        let scope = gate.scope();
        let in_arm = |a: &Agent, arm: Arm| scope.arm(&a.id) == arm;
        let stop = gate.controls().emergency(now).cloned();
        let mut preview = gate.preview(now, sleep_hold);
        let mut actions: Vec<Action> = Vec::new();
        let mut refused = Refusals::default();

        // Wakes: pinned-awake agents first, then enough to reach the target, then (under a
        // wake-all stop) everyone else.
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
        let mut wakes: Vec<(&Agent, Tier, Reason)> = pin_wakes
            .iter()
            .map(|a| (*a, Tier::Scheduled, Reason::Pinned))
            .collect();
        let coming = counts.awake + counts.waking + pin_wakes.len() as u32;
        let deficit = wake_to.saturating_sub(coming) as usize;
        let cooldown = self.cfg.rails.agent_cooldown;
        let mut picked =
            wake_candidates(fleet, now, deficit, cooldown, |a| in_arm(a, Arm::Treatment));
        if picked.len() < deficit {
            let rest = deficit - picked.len();
            picked.extend(wake_candidates(fleet, now, rest, cooldown, |a| {
                !in_arm(a, Arm::Treatment)
            }));
        }
        for a in picked {
            wakes.push((a, wake_tier, wake_reason));
        }
        // The control arm is held awake: the always-on comparison.
        if scope.is_split() {
            let already: HashSet<&AgentId> = wakes.iter().map(|(a, _, _)| &a.id).collect();
            let asleep: Vec<&Agent> = fleet
                .agents
                .iter()
                .filter(|a| in_arm(a, Arm::Control) && a.may_wake() && a.pin.is_none())
                .filter(|a| !already.contains(&a.id))
                .collect();
            for a in asleep {
                wakes.push((a, Tier::Safety, Reason::RolloutControl));
            }
        }
        if stop
            .as_ref()
            .is_some_and(|s| s.mode == EmergencyMode::WakeAll)
        {
            let already: HashSet<&AgentId> = wakes.iter().map(|(a, _, _)| &a.id).collect();
            let rest: Vec<&Agent> = fleet
                .agents
                .iter()
                .filter(|a| a.may_wake() && !already.contains(&a.id))
                .collect();
            for a in rest {
                wakes.push((a, Tier::Safety, Reason::EmergencyStop));
            }
            wake_to = all;
        }
        for (a, t, r) in wakes {
            match preview.admit(a, ActionKind::Wake) {
                Ok(()) => actions.push(action(a, ActionKind::Wake, t, r)),
                Err(reason) => refused.add(ActionKind::Wake, reason),
            }
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
            // Only as many candidates as the rails could admit are scored and ranked, so a
            // large fleet with a large excess still plans in O(n).
            let (room, binding) = preview.sleep_headroom();
            let wanted = excess.min(room as usize);
            if excess > wanted {
                blocked.push(count_block(
                    ActionKind::Sleep,
                    (excess - wanted) as u32,
                    binding,
                ));
            }
            let mut picked = sleep_candidates(fleet, now, wanted, |a| {
                in_arm(a, Arm::Treatment) && !preview.in_cooldown(a)
            });
            if picked.len() < wanted {
                // Observed agents' sleeps are planned and recorded, never executed.
                let rest = wanted - picked.len();
                picked.extend(sleep_candidates(fleet, now, rest, |a| {
                    in_arm(a, Arm::Observed) && !preview.in_cooldown(a)
                }));
            }
            if picked.len() < wanted {
                // Candidates run out because agents are busy or do-not-disrupt — or, during
                // the scheduler's rollout, because the control arm is held awake.
                let held = scope.is_split()
                    && fleet
                        .agents
                        .iter()
                        .any(|a| in_arm(a, Arm::Control) && a.may_sleep() && a.pin.is_none());
                blocked.push(count_block(
                    ActionKind::Sleep,
                    (wanted - picked.len()) as u32,
                    if held {
                        Reason::RolloutControl
                    } else {
                        Reason::DoNotDisrupt
                    },
                ));
            }
            let cands: Vec<&Agent> = pin_sleeps.iter().copied().chain(picked).collect();
            for a in cands {
                match preview.admit(a, ActionKind::Sleep) {
                    Ok(()) => {
                        let (t, r) = if a.pin.is_some() {
                            (Tier::Scheduled, Reason::Pinned)
                        } else {
                            (tier, Reason::IdleBeyondBreakEven)
                        };
                        actions.push(action(a, ActionKind::Sleep, t, r));
                    }
                    Err(Reason::CooldownActive) => blocked.push(Blocked {
                        agent: Some(a.id.clone()),
                        kind: ActionKind::Sleep,
                        count: 1,
                        reason: Reason::CooldownActive,
                    }),
                    Err(reason) => refused.add(ActionKind::Sleep, reason),
                }
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
        blocked.extend(refused.into_blocked());

        if let Some(stop) = stop {
            mode = Mode::Emergency;
            explanation = format!("emergency stop ({}); {explanation}", stop.mode.as_str());
        }

        for a in &mut actions {
            a.delay_ms = jitter_delay_ms(&a.agent, now, self.cfg.rails.jitter);
            a.observed = !scope.acts(&a.agent, a.kind);
        }

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
            sleep_hold,
        }
    }

    /// The policy's recommendation, or all-awake when anything is in doubt.
    fn recommend(
        &mut self,
        now: Time,
        counts: FleetCounts,
        history: &DemandHistory,
        fleet_readable: bool,
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
        if !fleet_readable {
            return fail_safe(
                Reason::FleetUnreadable,
                "the fleet's state could not be read".into(),
            );
        }
        // Stale demand is not the forecaster's failure: counting it would hold the breaker
        // open for a whole cooldown after the feed resumes.
        if !fresh {
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
        observed: false,
    }
}

/// Refusals from the gate preview, counted by direction and reason in first-seen order.
#[derive(Default)]
struct Refusals(Vec<(ActionKind, Reason, u32)>);

impl Refusals {
    fn add(&mut self, kind: ActionKind, reason: Reason) {
        match self
            .0
            .iter_mut()
            .find(|(k, r, _)| *k == kind && *r == reason)
        {
            Some((_, _, n)) => *n += 1,
            None => self.0.push((kind, reason, 1)),
        }
    }

    fn into_blocked(self) -> impl Iterator<Item = Blocked> {
        self.0
            .into_iter()
            .map(|(kind, reason, n)| count_block(kind, n, reason))
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
