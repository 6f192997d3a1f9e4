//! The progressive-rollout state machine: `step(flag, state, observations, now)` returns the
//! next state and a [`Decision`] that carries its evidence; operator commands go through
//! [`apply`]. Both are pure: time is an argument, nothing is read or written.
//!
//! A rollout climbs the flag's ladder one stage at a time. It advances only when the stage has
//! baked for `min_bake`, each arm has `min_units_per_arm` units, no threshold guardrail is
//! failing or short of data, and the sample ratio is healthy; 100 % also needs an approval and
//! `min_full_rollout` since the start. It rolls back at once when the always-valid sequence
//! shows harm, when `sustained_failures` checks in a row failed, or on the kill switch; a
//! rollback opens the breaker, and only [`Command::Rearm`] closes it (restarting at the first
//! stage). Pausing stops advancing, never the guardrails.

use std::time::Duration;

use hivesched_policy::Time;

use crate::FlagError;
use crate::bucket::Percent;
use crate::flag::{Flag, RollbackMode};
use crate::guardrails::{self, Check, Guardrail, NoDataPolicy, Observations, Outcome, Totals};

/// Where a rollout stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutPhase, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Climbing the ladder below 100 %.
    Ramping,
    /// Everything else holds; waiting for an approval (or the minimum duration) to go to 100 %.
    AwaitingApproval,
    /// At 100 %.
    Full,
    /// Rolled back; the breaker is open until an authorised re-arm.
    RolledBack,
}

impl Phase {
    /// Every phase.
    pub const ALL: [Phase; 4] = [
        Phase::Ramping,
        Phase::AwaitingApproval,
        Phase::Full,
        Phase::RolledBack,
    ];

    /// The wire name (`ramping`, `awaiting_approval`, `full`, `rolled_back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ramping => "ramping",
            Phase::AwaitingApproval => "awaiting_approval",
            Phase::Full => "full",
            Phase::RolledBack => "rolled_back",
        }
    }
}

hivesched_policy::wire_name!(Phase, "a rollout phase");

/// What a decision did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutAction, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Moved to the next stage.
    Advance,
    /// Stayed at the stage; `waiting` says why.
    Hold,
    /// Stayed below 100 % for an approval (or the minimum full-rollout duration).
    AwaitApproval,
    /// At 100 %; guardrails still judged.
    Steady,
    /// The breaker is open: nothing automatic happens.
    Blocked,
    /// Rolled back; `cause` says why.
    Rollback,
    /// An operator approved 100 %.
    Approve,
    /// An operator paused advancing.
    Pause,
    /// An operator resumed advancing.
    Resume,
    /// An operator closed the breaker; the rollout restarts at the first stage.
    Rearm,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 10] = [
        Action::Advance,
        Action::Hold,
        Action::AwaitApproval,
        Action::Steady,
        Action::Blocked,
        Action::Rollback,
        Action::Approve,
        Action::Pause,
        Action::Resume,
        Action::Rearm,
    ];

    /// The wire name (`advance`, `hold`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Advance => "advance",
            Action::Hold => "hold",
            Action::AwaitApproval => "await_approval",
            Action::Steady => "steady",
            Action::Blocked => "blocked",
            Action::Rollback => "rollback",
            Action::Approve => "approve",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Rearm => "rearm",
        }
    }
}

hivesched_policy::wire_name!(Action, "a rollout action");

/// Why a rollout rolled back.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RollbackCause, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// An always-valid confidence sequence showed treatment is worse: its error rate, or for
    /// `service` flags its unserved share of demand, is higher.
    StatisticalHarm,
    /// `sustained_failures` checks in a row failed a threshold guardrail.
    SustainedFailures,
    /// The flag's kill switch is on.
    KillSwitch,
    /// An operator rolled it back.
    Manual,
}

impl Cause {
    /// Every cause.
    pub const ALL: [Cause; 4] = [
        Cause::StatisticalHarm,
        Cause::SustainedFailures,
        Cause::KillSwitch,
        Cause::Manual,
    ];

    /// The wire name (`statistical_harm`, `sustained_failures`, `kill_switch`, `manual`).
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::StatisticalHarm => "statistical_harm",
            Cause::SustainedFailures => "sustained_failures",
            Cause::KillSwitch => "kill_switch",
            Cause::Manual => "manual",
        }
    }
}

hivesched_policy::wire_name!(Cause, "a rollback cause");

/// What a stage is still waiting for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutWait, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Wait {
    /// A threshold guardrail failed this check (not yet sustained).
    FailingGuardrail,
    /// A threshold guardrail had too little data (no-data policy `hold`).
    NoData,
    /// The arms' sizes do not match their shares.
    SampleRatio,
    /// Advancing is paused by an operator.
    Paused,
    /// The stage has not baked for `min_bake` yet.
    BakeTime,
    /// An arm has fewer than `min_units_per_arm` units (reporting, or assigned for `service`
    /// flags).
    MinUnits,
    /// 100 % needs an approval.
    Approval,
    /// 100 % needs `min_full_rollout` since the start.
    MinFullRollout,
    /// The breaker is open.
    BreakerOpen,
}

impl Wait {
    /// Every wait.
    pub const ALL: [Wait; 9] = [
        Wait::FailingGuardrail,
        Wait::NoData,
        Wait::SampleRatio,
        Wait::Paused,
        Wait::BakeTime,
        Wait::MinUnits,
        Wait::Approval,
        Wait::MinFullRollout,
        Wait::BreakerOpen,
    ];

    /// The wire name (`failing_guardrail`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::FailingGuardrail => "failing_guardrail",
            Wait::NoData => "no_data",
            Wait::SampleRatio => "sample_ratio",
            Wait::Paused => "paused",
            Wait::BakeTime => "bake_time",
            Wait::MinUnits => "min_units",
            Wait::Approval => "approval",
            Wait::MinFullRollout => "min_full_rollout",
            Wait::BreakerOpen => "breaker_open",
        }
    }
}

hivesched_policy::wire_name!(Wait, "a reason to wait");

/// An operator command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Approve going to 100 % (admin).
    Approve,
    /// Stop advancing; guardrails keep judging and may still roll back.
    Pause,
    /// Advance again.
    Resume,
    /// Roll back to 0 % now and open the breaker; works in every phase, idempotent.
    Rollback,
    /// Close the breaker and restart at the first stage (admin).
    Rearm,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 5] = [
        Command::Approve,
        Command::Pause,
        Command::Resume,
        Command::Rollback,
        Command::Rearm,
    ];

    /// The wire name (`approve`, `pause`, `resume`, `rollback`, `rearm`).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Approve => "approve",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Rollback => "rollback",
            Command::Rearm => "rearm",
        }
    }
}

hivesched_policy::wire_name!(Command, "approve, pause, resume, rollback or rearm");

/// The state of one flag's rollout.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutState))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolloutState {
    /// Where it stands.
    pub phase: Phase,
    /// Index into the flag's ladder of the current (or, rolled back, the last reached) stage.
    pub stage: usize,
    /// The treatment share served now.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub percentage: Percent,
    /// Advancing paused by an operator.
    pub paused: bool,
    /// 100 % approved.
    pub approved: bool,
    /// Starts at 1, +1 at every re-arm; counters never carry over between revisions.
    pub revision: u32,
    /// When this revision started.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub started_at: Time,
    /// When the current stage started.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub stage_started_at: Time,
    /// Threshold checks failed in a row.
    pub consecutive_failed: u32,
    /// Tasks and failures per arm since this revision started (the sequence's data).
    pub totals: Totals,
}

impl RolloutState {
    /// A rollout of `flag` starting at its first stage at `now`.
    pub fn start(flag: &Flag, now: Time) -> RolloutState {
        RolloutState {
            phase: Phase::Ramping,
            stage: 0,
            percentage: flag.ladder.first().copied().unwrap_or(Percent::ZERO),
            paused: false,
            approved: false,
            revision: 1,
            started_at: now,
            stage_started_at: now,
            consecutive_failed: 0,
            totals: Totals::default(),
        }
    }

    /// Whether the breaker is open.
    pub fn breaker_open(&self) -> bool {
        self.phase == Phase::RolledBack
    }
}

/// The advance conditions as they stood at a decision.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutGates))]
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Gates {
    /// Time at the stage (seconds).
    pub baked_s: u64,
    /// `min_bake` (seconds).
    pub bake_required_s: u64,
    /// Units of each arm in the window (those that reported; by assignment for `service`
    /// flags): treatment, control.
    pub units: (u64, u64),
    /// `min_units_per_arm`.
    pub min_units: u64,
    /// 100 % approved.
    pub approved: bool,
    /// Time since the revision started (seconds).
    pub since_start_s: u64,
    /// `min_full_rollout` (seconds).
    pub min_full_rollout_s: u64,
}

/// One decision and everything behind it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutDecision))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// When.
    #[cfg_attr(feature = "openapi", schema(value_type = i64))]
    pub at: Time,
    /// What it did.
    pub action: Action,
    /// Why it rolled back (rollbacks only).
    pub cause: Option<Cause>,
    /// What the stage still waits for (holds and approvals).
    pub waiting: Vec<Wait>,
    /// Treatment share before.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub from: Percent,
    /// Treatment share after.
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub to: Percent,
    /// Every guardrail's verdict with its numbers (empty for commands and open breakers).
    pub checks: Vec<Check>,
    /// The advance conditions.
    pub gates: Gates,
    /// Threshold checks failed in a row, after this one.
    pub consecutive_failed: u32,
}

impl Decision {
    fn new(at: Time, action: Action, from: Percent, to: Percent) -> Decision {
        Decision {
            at,
            action,
            cause: None,
            waiting: Vec::new(),
            from,
            to,
            checks: Vec::new(),
            gates: Gates::default(),
            consecutive_failed: 0,
        }
    }
}

/// Share of treatment among the two arms' buckets at `p`.
fn treatment_share(p: Percent) -> f64 {
    let t = f64::from(p.basis_points());
    let c = f64::from(p.control_buckets());
    if t + c == 0.0 { 0.0 } else { t / (t + c) }
}

fn rollback(flag: &Flag, s: &mut RolloutState, cause: Cause) -> Percent {
    let to = match (cause, flag.rollback) {
        // `get`: the ladder may have been edited since the stage was reached.
        (Cause::StatisticalHarm | Cause::SustainedFailures, RollbackMode::StepDown) => s
            .stage
            .checked_sub(1)
            .and_then(|i| flag.ladder.get(i).copied())
            .unwrap_or(Percent::ZERO),
        _ => Percent::ZERO,
    };
    if to != Percent::ZERO {
        s.stage -= 1;
    }
    s.phase = Phase::RolledBack;
    s.percentage = to;
    to
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

/// One check of a rollout: judges the guardrails on `observations` (the window since the
/// previous step) and advances, holds or rolls back.
pub fn step(
    flag: &Flag,
    state: &RolloutState,
    observations: &Observations,
    now: Time,
) -> (RolloutState, Decision) {
    let mut s = state.clone();
    let from = s.percentage;
    if s.phase == Phase::RolledBack {
        let mut d = Decision::new(now, Action::Blocked, from, from);
        d.waiting.push(Wait::BreakerOpen);
        d.consecutive_failed = s.consecutive_failed;
        return (s, d);
    }
    if flag.kill_switch {
        let to = rollback(flag, &mut s, Cause::KillSwitch);
        let mut d = Decision::new(now, Action::Rollback, from, to);
        d.cause = Some(Cause::KillSwitch);
        return (s, d);
    }

    s.totals.add(observations);
    let cfg = &flag.guardrails;
    let full = s.phase == Phase::Full;
    let checks = guardrails::evaluate(
        cfg,
        observations,
        &s.totals,
        treatment_share(s.percentage),
        !full,
    );
    let gates = Gates {
        baked_s: secs(now.since(s.stage_started_at)),
        bake_required_s: secs(flag.min_bake),
        units: (
            observations.treatment.units_for(cfg.kind),
            observations.control.units_for(cfg.kind),
        ),
        min_units: flag.min_units_per_arm,
        approved: s.approved,
        since_start_s: secs(now.since(s.started_at)),
        min_full_rollout_s: secs(flag.min_full_rollout),
    };
    let threshold = |c: &&Check| c.guardrail.is_threshold();
    let failing = checks.iter().filter(threshold).any(|c| {
        c.outcome == Outcome::Fail
            || (c.outcome == Outcome::NoData && cfg.no_data == NoDataPolicy::Fail)
    });
    let no_data = checks
        .iter()
        .filter(threshold)
        .any(|c| c.outcome == Outcome::NoData);
    let harm = checks
        .iter()
        .any(|c| c.guardrail.is_sequential() && c.outcome == Outcome::Fail);
    let srm = checks
        .iter()
        .any(|c| c.guardrail == Guardrail::SampleRatio && c.outcome == Outcome::Fail);
    if failing {
        s.consecutive_failed += 1;
    } else if !no_data {
        s.consecutive_failed = 0;
    }

    let cause = if harm {
        Some(Cause::StatisticalHarm)
    } else if s.consecutive_failed >= cfg.sustained_failures {
        Some(Cause::SustainedFailures)
    } else {
        None
    };
    if let Some(cause) = cause {
        let to = rollback(flag, &mut s, cause);
        let mut d = Decision::new(now, Action::Rollback, from, to);
        d.cause = Some(cause);
        d.checks = checks;
        d.gates = gates;
        d.consecutive_failed = s.consecutive_failed;
        return (s, d);
    }

    let mut waiting = Vec::new();
    if failing {
        waiting.push(Wait::FailingGuardrail);
    }
    if no_data && cfg.no_data == NoDataPolicy::Hold {
        waiting.push(Wait::NoData);
    }
    if srm {
        waiting.push(Wait::SampleRatio);
    }
    let action = if full {
        Action::Steady
    } else {
        if s.paused {
            waiting.push(Wait::Paused);
        }
        if now.since(s.stage_started_at) < flag.min_bake {
            waiting.push(Wait::BakeTime);
        }
        let (ut, uc) = gates.units;
        if ut < flag.min_units_per_arm || uc < flag.min_units_per_arm {
            waiting.push(Wait::MinUnits);
        }
        let next = flag
            .ladder
            .get(s.stage + 1)
            .copied()
            .unwrap_or(Percent::FULL);
        let mut for_full = Vec::new();
        if next == Percent::FULL {
            if !s.approved {
                for_full.push(Wait::Approval);
            }
            if now.since(s.started_at) < flag.min_full_rollout {
                for_full.push(Wait::MinFullRollout);
            }
        }
        if waiting.is_empty() && for_full.is_empty() {
            s.stage += 1;
            s.percentage = next;
            s.stage_started_at = now;
            s.phase = if next == Percent::FULL {
                Phase::Full
            } else {
                Phase::Ramping
            };
            Action::Advance
        } else if waiting.is_empty() {
            s.phase = Phase::AwaitingApproval;
            waiting = for_full;
            Action::AwaitApproval
        } else {
            s.phase = Phase::Ramping;
            waiting.extend(for_full);
            Action::Hold
        }
    };
    let mut d = Decision::new(now, action, from, s.percentage);
    d.waiting = waiting;
    d.checks = checks;
    d.gates = gates;
    d.consecutive_failed = s.consecutive_failed;
    (s, d)
}

/// Applies an operator command. Refuses what the phase does not allow; a rollback of a
/// rolled-back flag is accepted and changes nothing.
pub fn apply(
    flag: &Flag,
    state: &RolloutState,
    command: Command,
    now: Time,
) -> Result<(RolloutState, Decision), FlagError> {
    let mut s = state.clone();
    let from = s.percentage;
    let refuse = || {
        Err(FlagError::NotAllowed {
            command: command.as_str(),
            phase: state.phase.as_str(),
        })
    };
    let action = match command {
        Command::Approve => {
            if !matches!(s.phase, Phase::Ramping | Phase::AwaitingApproval) {
                return refuse();
            }
            s.approved = true;
            Action::Approve
        }
        Command::Pause | Command::Resume => {
            if s.phase == Phase::RolledBack {
                return refuse();
            }
            s.paused = command == Command::Pause;
            if command == Command::Pause {
                Action::Pause
            } else {
                Action::Resume
            }
        }
        Command::Rollback => {
            if s.phase == Phase::RolledBack {
                Action::Blocked
            } else {
                s.phase = Phase::RolledBack;
                s.percentage = Percent::ZERO;
                Action::Rollback
            }
        }
        Command::Rearm => {
            if s.phase != Phase::RolledBack || flag.kill_switch {
                return refuse();
            }
            let revision = s.revision + 1;
            s = RolloutState::start(flag, now);
            s.revision = revision;
            Action::Rearm
        }
    };
    let mut d = Decision::new(now, action, from, s.percentage);
    if action == Action::Rollback {
        d.cause = Some(Cause::Manual);
    }
    if action == Action::Blocked {
        d.waiting.push(Wait::BreakerOpen);
    }
    Ok((s, d))
}
