//! Guardrails: the checks judged at every step of a rollout, each returning its evidence.
//!
//! Threshold guardrails (error-rate SLO, latency p99, throughput per unit) are judged on the
//! window since the previous step and fail a check; the rollout rolls back when
//! `sustained_failures` checks in a row failed (docs/rollout.md, "Sustained"). The statistical
//! guardrail is judged on everything since the rollout started and rolls back at once: its
//! false-alarm rate is controlled however often it is looked at. Sample-ratio mismatch holds the
//! stage: it says the comparison cannot be trusted, not that the change is harmful.
//!
//! A flag's [`GuardrailKind`] says what its harm is measured on. `throughput` (the default)
//! judges what the units do: tasks per unit, units that reported. `service` is for a flag
//! that changes how the units are *served* — the scheduler acting on agents, whose purpose
//! is to put idle ones to sleep: it judges demand left unserved per arm (failed tasks and
//! failed wakes over the demand that reached the arm) and counts units by assignment, so an
//! arm asleep at low demand is idle, not missing (docs/rollout.md, "Guardrails for an arm
//! that sleeps").

use crate::FlagError;
use crate::bucket::Arm;
use crate::stats;

/// What to do when a threshold guardrail has too little data to judge.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NoDataPolicy, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoDataPolicy {
    /// Do not advance; the check neither fails nor passes (GrowthBook's choice).
    Hold,
    /// Count it as a failed check (Flagger's choice).
    Fail,
}

impl NoDataPolicy {
    /// Every policy.
    pub const ALL: [NoDataPolicy; 2] = [NoDataPolicy::Hold, NoDataPolicy::Fail];

    /// The wire name (`hold`, `fail`).
    pub fn as_str(self) -> &'static str {
        match self {
            NoDataPolicy::Hold => "hold",
            NoDataPolicy::Fail => "fail",
        }
    }
}

hivesched_policy::wire_name!(NoDataPolicy, "hold or fail");

/// What a flag's harm is measured on (docs/rollout.md, "Guardrails for an arm that sleeps").
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GuardrailKind, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum GuardrailKind {
    /// The flag changes what its units do: tasks completed per unit against control, units
    /// counted among those that reported (the default).
    #[default]
    Throughput,
    /// The flag changes how its units are served (the scheduler's own acting): demand left
    /// unserved per arm, with its own always-valid sequence; units and the sample ratio
    /// counted by assignment; an arm with too little demand to judge is idle, not no data.
    Service,
}

impl GuardrailKind {
    /// Every kind.
    pub const ALL: [GuardrailKind; 2] = [GuardrailKind::Throughput, GuardrailKind::Service];

    /// The wire name (`throughput`, `service`).
    pub fn as_str(self) -> &'static str {
        match self {
            GuardrailKind::Throughput => "throughput",
            GuardrailKind::Service => "service",
        }
    }
}

hivesched_policy::wire_name!(GuardrailKind, "throughput or service");

/// The guardrails.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Guardrail, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Guardrail {
    /// Treatment's error rate in the window above the absolute SLO.
    ErrorRateSlo,
    /// Treatment's task latency p99 above control's by more than the tolerance.
    LatencyP99,
    /// Tasks completed per treatment unit down against control by more than the limit.
    Throughput,
    /// The always-valid confidence sequence on the error-rate difference shows harm.
    ErrorRateSequential,
    /// The arms' unit counts do not match their bucket shares.
    SampleRatio,
    /// `service` flags: treatment's share of demand left unserved in the window above
    /// control's by more than the tolerance (above the SLO when control cannot be judged).
    UnservedRate,
    /// `service` flags: the always-valid confidence sequence on the difference of the
    /// unserved shares shows harm.
    UnservedSequential,
}

impl Guardrail {
    /// Every guardrail.
    pub const ALL: [Guardrail; 7] = [
        Guardrail::ErrorRateSlo,
        Guardrail::LatencyP99,
        Guardrail::Throughput,
        Guardrail::ErrorRateSequential,
        Guardrail::SampleRatio,
        Guardrail::UnservedRate,
        Guardrail::UnservedSequential,
    ];

    /// The wire name (`error_rate_slo`, …), also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Guardrail::ErrorRateSlo => "error_rate_slo",
            Guardrail::LatencyP99 => "latency_p99",
            Guardrail::Throughput => "throughput",
            Guardrail::ErrorRateSequential => "error_rate_sequential",
            Guardrail::SampleRatio => "sample_ratio",
            Guardrail::UnservedRate => "unserved_rate",
            Guardrail::UnservedSequential => "unserved_sequential",
        }
    }

    /// Whether it is judged on everything since the rollout started and rolls back at once
    /// (the always-valid sequences).
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Guardrail::ErrorRateSequential | Guardrail::UnservedSequential
        )
    }

    /// Whether it is a threshold guardrail: judged on the window, failing a check, rolling
    /// back when failures are sustained (everything but the sequences and the sample ratio).
    pub fn is_threshold(self) -> bool {
        !self.is_sequential() && self != Guardrail::SampleRatio
    }
}

hivesched_policy::wire_name!(Guardrail, "a guardrail name");

/// How a check came out.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = CheckOutcome, rename_all = "snake_case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Within bounds.
    Pass,
    /// Out of bounds.
    Fail,
    /// Too little data to judge.
    NoData,
    /// `service` flags: too little demand reached the arm to judge, and its units are
    /// assigned — an arm the scheduler put to sleep serves nothing, which is what it is for.
    /// Neither holds nor fails, and leaves the count of failed checks as it is.
    Idle,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 4] = [Outcome::Pass, Outcome::Fail, Outcome::NoData, Outcome::Idle];

    /// The wire name (`pass`, `fail`, `no_data`, `idle`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NoData => "no_data",
            Outcome::Idle => "idle",
        }
    }
}

hivesched_policy::wire_name!(Outcome, "pass, fail, no_data or idle");

/// Thresholds of the guardrails. Defaults are reasoned in docs/rollout.md.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GuardrailConfig))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailConfig {
    /// What harm is measured on: `throughput` (the default) or `service` (the scheduler's own
    /// rollout, `scheduler.acting`).
    pub kind: GuardrailKind,
    /// Treatment error rate above which `error_rate_slo` fails (the seed's 5 %).
    pub error_rate_slo: f64,
    /// Tasks an arm needs in a window for the error-rate and throughput checks.
    pub min_tasks: u64,
    /// How much treatment's p99 task latency may exceed control's (milliseconds).
    pub latency_tolerance_ms: f64,
    /// Latency samples each arm needs in a window for the p99 check.
    pub min_latency_samples: u64,
    /// Largest tolerated fall of tasks completed per unit against control (0.10 = 10 %).
    pub throughput_drop_max: f64,
    /// What a threshold guardrail without enough data does.
    pub no_data: NoDataPolicy,
    /// Consecutive failed checks that roll back (`K`).
    pub sustained_failures: u32,
    /// Level of the one-sided confidence sequence (false-rollback rate of the statistical
    /// guardrail on identical arms, however often it is looked at).
    pub alpha: f64,
    /// Total tasks (both arms) at which the sequence is tightest (`N*`).
    pub tuning_tasks: u64,
    /// Tolerated increase of the error rate, absolute (`δ`): harm is `lower bound > δ`.
    pub harm_tolerance: f64,
    /// Tasks each arm needs since the rollout started before the sequence is judged.
    pub min_tasks_sequential: u64,
    /// p-value below which the arms' sizes are declared mismatched.
    pub srm_p_min: f64,
    /// Units each arm needs before the sample ratio is judged.
    pub srm_min_units: u64,
    /// `service` flags: how far treatment's unserved share of demand may exceed control's in
    /// a window (absolute, 0.05 = 5 points).
    pub unserved_tolerance: f64,
}

impl Default for GuardrailConfig {
    fn default() -> Self {
        GuardrailConfig {
            kind: GuardrailKind::Throughput,
            error_rate_slo: 0.05,
            min_tasks: 100,
            latency_tolerance_ms: 2000.0,
            min_latency_samples: 100,
            throughput_drop_max: 0.10,
            no_data: NoDataPolicy::Hold,
            sustained_failures: 3,
            alpha: 0.05,
            tuning_tasks: 5000,
            harm_tolerance: 0.0,
            min_tasks_sequential: 100,
            srm_p_min: 0.001,
            srm_min_units: 8,
            unserved_tolerance: 0.05,
        }
    }
}

impl GuardrailConfig {
    /// Checks every value; the error names the field (prefix `guardrails.`).
    pub fn validate(&self) -> Result<(), FlagError> {
        let bad = |field, reason: String| Err(FlagError::Invalid { field, reason });
        let unit = |x: f64| x.is_finite() && x > 0.0 && x < 1.0;
        if !unit(self.error_rate_slo) {
            return bad("guardrails.error_rate_slo", "must be in (0, 1)".into());
        }
        if !(self.latency_tolerance_ms.is_finite() && self.latency_tolerance_ms >= 0.0) {
            return bad("guardrails.latency_tolerance_ms", "must be ≥ 0".into());
        }
        if !unit(self.throughput_drop_max) {
            return bad("guardrails.throughput_drop_max", "must be in (0, 1)".into());
        }
        if self.sustained_failures == 0 {
            return bad("guardrails.sustained_failures", "must be ≥ 1".into());
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 0.5) {
            return bad("guardrails.alpha", "must be in (0, 0.5)".into());
        }
        if self.tuning_tasks == 0 {
            return bad("guardrails.tuning_tasks", "must be ≥ 1".into());
        }
        if !(self.harm_tolerance.is_finite() && (0.0..1.0).contains(&self.harm_tolerance)) {
            return bad("guardrails.harm_tolerance", "must be in [0, 1)".into());
        }
        if !unit(self.srm_p_min) {
            return bad("guardrails.srm_p_min", "must be in (0, 1)".into());
        }
        if !unit(self.unserved_tolerance) {
            return bad("guardrails.unserved_tolerance", "must be in (0, 1)".into());
        }
        Ok(())
    }
}

/// What one arm reported over one window (since the previous step).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ArmWindow))]
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmWindow {
    /// Distinct units of the arm that reported in the window. Sleeping agents that report
    /// count: they are in the arm even while idle, and leaving them out would fake a
    /// sample-ratio mismatch whenever the scheduler sleeps more of one arm.
    pub units: u64,
    /// Units the flag's bucketing puts in the arm among the units the caller knows (whether
    /// or not they reported); what `service` flags count. 0 when the caller does not know
    /// its units.
    pub assigned: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Tasks failed.
    pub failed: u64,
    /// p99 task latency (milliseconds), if any latency was reported.
    pub latency_p99_ms: Option<f64>,
    /// Latency samples behind the p99.
    pub latency_samples: u64,
    /// Wakes of the arm's units that finished in the window (succeeded or failed).
    pub wakes: u64,
    /// Of those, the wakes that failed: the agent stayed asleep and the work that called for
    /// it was not served.
    pub wakes_failed: u64,
}

impl ArmWindow {
    /// Tasks finished either way.
    pub fn tasks(&self) -> u64 {
        self.completed + self.failed
    }

    /// Demand that reached the arm: tasks finished either way, plus one for every failed
    /// wake (the work that called for the wake; a wake that worked shows up as the tasks the
    /// agent then ran).
    pub fn demand(&self) -> u64 {
        self.tasks() + self.wakes_failed
    }

    /// Demand left unserved: failed tasks and failed wakes.
    pub fn unserved(&self) -> u64 {
        self.failed + self.wakes_failed
    }

    /// The units a flag of `kind` counts: by assignment for `service`, those that reported
    /// otherwise.
    pub fn units_for(&self, kind: GuardrailKind) -> u64 {
        match kind {
            GuardrailKind::Throughput => self.units,
            GuardrailKind::Service => self.assigned,
        }
    }
}

/// Both arms over one window.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Observations))]
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Observations {
    /// The treatment arm.
    pub treatment: ArmWindow,
    /// The control arm (empty at 100 %).
    pub control: ArmWindow,
}

impl Observations {
    /// The window of `arm`; `None` for units in neither arm.
    pub fn arm_mut(&mut self, arm: Arm) -> Option<&mut ArmWindow> {
        match arm {
            Arm::Treatment => Some(&mut self.treatment),
            Arm::Control => Some(&mut self.control),
            Arm::Out => None,
        }
    }
}

/// Tasks and failures accumulated per arm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutTotals))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Treatment `(tasks, failed)`.
    pub treatment: (u64, u64),
    /// Control `(tasks, failed)`.
    pub control: (u64, u64),
    /// Treatment `(demand, unserved)` (see [`ArmWindow::demand`]).
    #[serde(default)]
    pub treatment_service: (u64, u64),
    /// Control `(demand, unserved)`.
    #[serde(default)]
    pub control_service: (u64, u64),
}

impl Totals {
    /// Adds a window.
    pub fn add(&mut self, o: &Observations) {
        let add = |sum: &mut (u64, u64), n: u64, x: u64| {
            sum.0 += n;
            sum.1 += x;
        };
        add(&mut self.treatment, o.treatment.tasks(), o.treatment.failed);
        add(&mut self.control, o.control.tasks(), o.control.failed);
        let (t, c) = (&o.treatment, &o.control);
        add(&mut self.treatment_service, t.demand(), t.unserved());
        add(&mut self.control_service, c.demand(), c.unserved());
    }
}

/// One guardrail's verdict and the numbers behind it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GuardrailCheck))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Check {
    /// Which guardrail.
    pub guardrail: Guardrail,
    /// How it came out.
    pub outcome: Outcome,
    /// The metric on the treatment arm (rate, ms, tasks per unit, units, unserved share).
    pub treatment: Option<f64>,
    /// The metric on the control arm.
    pub control: Option<f64>,
    /// What the metric is compared with (for relative checks, the limit already derived from
    /// control; for the sequence, `δ`; for the sample ratio, the p-value floor).
    pub threshold: f64,
    /// The sequence's lower bound on `p_t − p_c` (`error_rate_sequential`,
    /// `unserved_sequential`).
    pub lower_bound: Option<f64>,
    /// The sample-ratio p-value (`sample_ratio` only).
    pub p_value: Option<f64>,
    /// Samples behind the verdict: treatment, control.
    pub samples: (u64, u64),
}

impl Check {
    /// One sentence for people: what was measured against what.
    pub fn explain(&self) -> String {
        let num = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"));
        let (t, c) = (num(self.treatment), num(self.control));
        let (nt, nc) = self.samples;
        let verdict = self.outcome.as_str();
        match self.guardrail {
            Guardrail::ErrorRateSlo => format!(
                "{verdict}: treatment error rate {t} vs SLO {} over {nt} tasks (control {c})",
                self.threshold
            ),
            Guardrail::LatencyP99 => format!(
                "{verdict}: p99 treatment {t} ms vs control {c} ms, limit {:.1} ms ({nt}/{nc} samples)",
                self.threshold
            ),
            Guardrail::Throughput => format!(
                "{verdict}: tasks per unit treatment {t} vs control {c}, floor {:.4}",
                self.threshold
            ),
            Guardrail::ErrorRateSequential => format!(
                "{verdict}: error rate treatment {t} vs control {c}; lower bound of the difference {} vs tolerance {} ({nt}/{nc} tasks)",
                num(self.lower_bound),
                self.threshold
            ),
            Guardrail::SampleRatio => format!(
                "{verdict}: units treatment {nt} vs control {nc}, p = {} (floor {})",
                num(self.p_value),
                self.threshold
            ),
            Guardrail::UnservedRate => format!(
                "{verdict}: unserved share of demand treatment {t} vs limit {:.4} (control {c}; demand {nt}/{nc})",
                self.threshold
            ),
            Guardrail::UnservedSequential => format!(
                "{verdict}: unserved share treatment {t} vs control {c}; lower bound of the difference {} vs tolerance {} (demand {nt}/{nc})",
                num(self.lower_bound),
                self.threshold
            ),
        }
    }
}

fn rate(failed: u64, tasks: u64) -> Option<f64> {
    (tasks > 0).then(|| failed as f64 / tasks as f64)
}

/// Judges every guardrail of `cfg.kind`. `window` is what both arms reported since the
/// previous step, `totals` everything since the rollout started (this window included), and
/// `treatment_share` the expected share of treatment among the two arms' units (0.5 up to
/// 50 %). With `has_control` false (at 100 %) only the absolute limits are judged: the SLO,
/// and for `service` flags the unserved share against the SLO.
pub fn evaluate(
    cfg: &GuardrailConfig,
    window: &Observations,
    totals: &Totals,
    treatment_share: f64,
    has_control: bool,
) -> Vec<Check> {
    let (t, c) = (&window.treatment, &window.control);
    let mut checks = vec![error_rate_slo(cfg, t, c)];
    if cfg.kind == GuardrailKind::Service {
        checks.push(unserved_rate(cfg, t, c, has_control));
    }
    if has_control {
        checks.push(latency(cfg, t, c));
        match cfg.kind {
            GuardrailKind::Throughput => {
                checks.push(throughput(cfg, t, c));
                checks.push(sequential(cfg, totals));
            }
            GuardrailKind::Service => checks.push(unserved_sequential(cfg, totals)),
        }
        let units = |a: &ArmWindow| a.units_for(cfg.kind);
        checks.push(sample_ratio(cfg, units(t), units(c), treatment_share));
    }
    // An arm asleep at low demand has nothing to judge, and that is the scheduler doing its
    // job: with units assigned to both arms, too little demand is idle, not missing data.
    let assigned = (t.assigned > 0) && (!has_control || c.assigned > 0);
    if cfg.kind == GuardrailKind::Service && assigned {
        for check in &mut checks {
            if check.guardrail.is_threshold() && check.outcome == Outcome::NoData {
                check.outcome = Outcome::Idle;
            }
        }
    }
    checks
}

fn error_rate_slo(cfg: &GuardrailConfig, t: &ArmWindow, c: &ArmWindow) -> Check {
    let treatment = rate(t.failed, t.tasks());
    let outcome = match treatment {
        Some(r) if t.tasks() >= cfg.min_tasks => {
            if r > cfg.error_rate_slo {
                Outcome::Fail
            } else {
                Outcome::Pass
            }
        }
        _ => Outcome::NoData,
    };
    Check {
        guardrail: Guardrail::ErrorRateSlo,
        outcome,
        treatment,
        control: rate(c.failed, c.tasks()),
        threshold: cfg.error_rate_slo,
        lower_bound: None,
        p_value: None,
        samples: (t.tasks(), c.tasks()),
    }
}

fn latency(cfg: &GuardrailConfig, t: &ArmWindow, c: &ArmWindow) -> Check {
    let enough = t.latency_samples >= cfg.min_latency_samples
        && c.latency_samples >= cfg.min_latency_samples;
    let (outcome, threshold) = match (t.latency_p99_ms, c.latency_p99_ms) {
        (Some(tp), Some(cp)) if enough => {
            let limit = cp + cfg.latency_tolerance_ms;
            (
                if tp > limit {
                    Outcome::Fail
                } else {
                    Outcome::Pass
                },
                limit,
            )
        }
        _ => (Outcome::NoData, cfg.latency_tolerance_ms),
    };
    Check {
        guardrail: Guardrail::LatencyP99,
        outcome,
        treatment: t.latency_p99_ms,
        control: c.latency_p99_ms,
        threshold,
        lower_bound: None,
        p_value: None,
        samples: (t.latency_samples, c.latency_samples),
    }
}

fn throughput(cfg: &GuardrailConfig, t: &ArmWindow, c: &ArmWindow) -> Check {
    let per_unit = |a: &ArmWindow| (a.units > 0).then(|| a.completed as f64 / a.units as f64);
    let (tp, cp) = (per_unit(t), per_unit(c));
    let (outcome, threshold) = match (tp, cp) {
        (Some(tp), Some(cp)) if c.completed >= cfg.min_tasks => {
            let floor = cp * (1.0 - cfg.throughput_drop_max);
            (
                if tp < floor {
                    Outcome::Fail
                } else {
                    Outcome::Pass
                },
                floor,
            )
        }
        _ => (Outcome::NoData, 1.0 - cfg.throughput_drop_max),
    };
    Check {
        guardrail: Guardrail::Throughput,
        outcome,
        treatment: tp,
        control: cp,
        threshold,
        lower_bound: None,
        p_value: None,
        samples: (t.units, c.units),
    }
}

/// The statistical guardrail alone, on totals since the rollout started. The simulation in
/// `hivesched flags simulate` measures exactly this function.
pub fn sequential(cfg: &GuardrailConfig, totals: &Totals) -> Check {
    sequence(
        cfg,
        Guardrail::ErrorRateSequential,
        totals.treatment,
        totals.control,
    )
}

/// The `service` flags' statistical guardrail: the same sequence on `(demand, unserved)`.
pub fn unserved_sequential(cfg: &GuardrailConfig, totals: &Totals) -> Check {
    sequence(
        cfg,
        Guardrail::UnservedSequential,
        totals.treatment_service,
        totals.control_service,
    )
}

/// The one-sided always-valid sequence on the difference of two rates, each arm given as
/// `(n, x)`, judged once each arm has `min_tasks_sequential`.
fn sequence(cfg: &GuardrailConfig, guardrail: Guardrail, t: (u64, u64), c: (u64, u64)) -> Check {
    let enough = t.0 >= cfg.min_tasks_sequential && c.0 >= cfg.min_tasks_sequential;
    let bound = stats::error_rate_bound(t, c, cfg.alpha, cfg.tuning_tasks as f64);
    let outcome = match bound {
        Some(b) if enough => {
            if b.lower > cfg.harm_tolerance {
                Outcome::Fail
            } else {
                Outcome::Pass
            }
        }
        _ => Outcome::NoData,
    };
    Check {
        guardrail,
        outcome,
        treatment: rate(t.1, t.0),
        control: rate(c.1, c.0),
        threshold: cfg.harm_tolerance,
        lower_bound: bound.map(|b| b.lower),
        p_value: None,
        samples: (t.0, c.0),
    }
}

/// Treatment's unserved share of demand in the window against control's plus the tolerance;
/// against the SLO when control has too little demand to compare with (or at 100 %).
fn unserved_rate(cfg: &GuardrailConfig, t: &ArmWindow, c: &ArmWindow, has_control: bool) -> Check {
    let treatment = rate(t.unserved(), t.demand());
    let control = rate(c.unserved(), c.demand());
    let threshold = match control {
        Some(r) if has_control && c.demand() >= cfg.min_tasks => r + cfg.unserved_tolerance,
        _ => cfg.error_rate_slo,
    };
    let outcome = match treatment {
        Some(r) if t.demand() >= cfg.min_tasks => {
            if r > threshold {
                Outcome::Fail
            } else {
                Outcome::Pass
            }
        }
        _ => Outcome::NoData,
    };
    Check {
        guardrail: Guardrail::UnservedRate,
        outcome,
        treatment,
        control,
        threshold,
        lower_bound: None,
        p_value: None,
        samples: (t.demand(), c.demand()),
    }
}

fn sample_ratio(cfg: &GuardrailConfig, t: u64, c: u64, share: f64) -> Check {
    let (outcome, p) = if t >= cfg.srm_min_units && c >= cfg.srm_min_units {
        let (_, p) = stats::sample_ratio(t, c, share);
        (
            if p < cfg.srm_p_min {
                Outcome::Fail
            } else {
                Outcome::Pass
            },
            Some(p),
        )
    } else {
        (Outcome::NoData, None)
    };
    Check {
        guardrail: Guardrail::SampleRatio,
        outcome,
        treatment: Some(t as f64),
        control: Some(c as f64),
        threshold: cfg.srm_p_min,
        lower_bound: None,
        p_value: p,
        samples: (t, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(units: u64, completed: u64, failed: u64, p99: f64) -> ArmWindow {
        ArmWindow {
            units,
            completed,
            failed,
            latency_p99_ms: Some(p99),
            latency_samples: completed + failed,
            ..ArmWindow::default()
        }
    }

    fn outcome(checks: &[Check], g: Guardrail) -> Outcome {
        checks.iter().find(|c| c.guardrail == g).unwrap().outcome
    }

    fn judge(t: ArmWindow, c: ArmWindow) -> Vec<Check> {
        let w = Observations {
            treatment: t,
            control: c,
        };
        let mut totals = Totals::default();
        totals.add(&w);
        evaluate(&GuardrailConfig::default(), &w, &totals, 0.5, true)
    }

    #[test]
    fn healthy_arms_pass_everything() {
        let checks = judge(arm(50, 990, 10, 30_000.0), arm(50, 990, 10, 29_000.0));
        for c in &checks {
            assert_eq!(c.outcome, Outcome::Pass, "{}", c.explain());
        }
    }

    #[test]
    fn each_threshold_fails_on_its_own_breach() {
        let c = arm(50, 990, 10, 30_000.0);
        let slo = judge(arm(50, 940, 60, 30_000.0), c);
        assert_eq!(outcome(&slo, Guardrail::ErrorRateSlo), Outcome::Fail);
        let slow = judge(arm(50, 990, 10, 32_500.0), c);
        assert_eq!(outcome(&slow, Guardrail::LatencyP99), Outcome::Fail);
        let just = judge(arm(50, 990, 10, 31_900.0), c);
        assert_eq!(outcome(&just, Guardrail::LatencyP99), Outcome::Pass);
        let slow_tasks = judge(arm(50, 880, 10, 30_000.0), c);
        assert_eq!(outcome(&slow_tasks, Guardrail::Throughput), Outcome::Fail);
        assert_eq!(outcome(&slow_tasks, Guardrail::ErrorRateSlo), Outcome::Pass);
        let srm = judge(arm(80, 990, 10, 30_000.0), arm(40, 990, 10, 30_000.0));
        assert_eq!(outcome(&srm, Guardrail::SampleRatio), Outcome::Fail);
    }

    #[test]
    fn too_little_data_is_no_data() {
        let checks = judge(arm(3, 20, 5, 1.0), arm(3, 20, 0, 1.0));
        for c in &checks {
            assert_eq!(c.outcome, Outcome::NoData, "{}", c.explain());
        }
    }

    #[test]
    fn the_sequence_fails_on_clear_harm_only() {
        let cfg = GuardrailConfig::default();
        let totals = |ft, fc| Totals {
            treatment: (5000, ft),
            control: (5000, fc),
            ..Totals::default()
        };
        assert_eq!(sequential(&cfg, &totals(50, 50)).outcome, Outcome::Pass);
        assert_eq!(sequential(&cfg, &totals(150, 50)).outcome, Outcome::Fail);
        let c = sequential(&cfg, &totals(150, 50));
        assert!(c.lower_bound.unwrap() > 0.0);
        assert!(c.explain().contains("lower bound"), "{}", c.explain());
    }

    #[test]
    fn at_full_share_only_the_slo_is_judged() {
        let w = Observations {
            treatment: arm(100, 990, 10, 1.0),
            control: ArmWindow::default(),
        };
        let checks = evaluate(
            &GuardrailConfig::default(),
            &w,
            &Totals::default(),
            1.0,
            false,
        );
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].guardrail, Guardrail::ErrorRateSlo);
    }

    fn service() -> GuardrailConfig {
        GuardrailConfig {
            kind: GuardrailKind::Service,
            ..GuardrailConfig::default()
        }
    }

    fn judge_service(t: ArmWindow, c: ArmWindow) -> Vec<Check> {
        let w = Observations {
            treatment: t,
            control: c,
        };
        let mut totals = Totals::default();
        totals.add(&w);
        evaluate(&service(), &w, &totals, 0.5, true)
    }

    fn assigned(n: u64, a: ArmWindow) -> ArmWindow {
        ArmWindow { assigned: n, ..a }
    }

    #[test]
    fn service_flags_judge_unserved_demand_not_throughput_per_unit() {
        let checks = judge_service(
            assigned(20, arm(20, 990, 10, 30_000.0)),
            assigned(20, arm(20, 990, 10, 30_000.0)),
        );
        let names: Vec<Guardrail> = checks.iter().map(|c| c.guardrail).collect();
        assert_eq!(
            names,
            [
                Guardrail::ErrorRateSlo,
                Guardrail::UnservedRate,
                Guardrail::LatencyP99,
                Guardrail::UnservedSequential,
                Guardrail::SampleRatio
            ]
        );
        for c in &checks {
            assert_eq!(c.outcome, Outcome::Pass, "{}", c.explain());
        }
        // Two of twenty treatment agents serve everything treatment gets: tasks per enrolled
        // unit fall by 90 %, and that is not harm — nothing was left unserved.
        let few = judge_service(
            assigned(20, arm(2, 990, 10, 30_000.0)),
            assigned(20, arm(20, 990, 10, 30_000.0)),
        );
        for c in &few {
            assert_eq!(c.outcome, Outcome::Pass, "{}", c.explain());
        }
    }

    #[test]
    fn an_asleep_treatment_arm_is_idle_not_missing() {
        let checks = judge_service(
            assigned(20, ArmWindow::default()),
            assigned(20, arm(20, 990, 10, 30_000.0)),
        );
        for c in &checks {
            let want = match c.guardrail {
                g if g.is_threshold() => Outcome::Idle,
                Guardrail::SampleRatio => Outcome::Pass,
                _ => Outcome::NoData,
            };
            assert_eq!(c.outcome, want, "{}", c.explain());
        }
        // Without assigned units the arm is genuinely unknown: no data, as for other flags.
        let unknown = judge_service(ArmWindow::default(), arm(20, 990, 10, 30_000.0));
        assert_eq!(outcome(&unknown, Guardrail::UnservedRate), Outcome::NoData);
    }

    #[test]
    fn unserved_demand_fails_against_control_and_failed_wakes_count() {
        let c = assigned(20, arm(20, 980, 20, 30_000.0));
        // 2 % unserved in control: the limit is 7 %.
        let t = |failed, wakes_failed| ArmWindow {
            wakes: wakes_failed,
            wakes_failed,
            ..assigned(20, arm(20, 1000 - failed, failed, 30_000.0))
        };
        let ok = judge_service(t(60, 0), c);
        assert_eq!(outcome(&ok, Guardrail::UnservedRate), Outcome::Pass);
        let bad = judge_service(t(60, 20), c);
        let check = bad
            .iter()
            .find(|x| x.guardrail == Guardrail::UnservedRate)
            .unwrap();
        assert_eq!(check.outcome, Outcome::Fail, "{}", check.explain());
        assert_eq!(check.samples, (1020, 1000));
        assert!((check.threshold - 0.07).abs() < 1e-9);
        assert!(check.explain().contains("unserved"), "{}", check.explain());
        // The SLO alone does not see the failed wakes (6 % of tasks failed, above 5 % too, so
        // take fewer failed tasks): 3 % failed tasks and 60 failed wakes.
        let wakes = judge_service(t(30, 60), c);
        assert_eq!(outcome(&wakes, Guardrail::ErrorRateSlo), Outcome::Pass);
        assert_eq!(outcome(&wakes, Guardrail::UnservedRate), Outcome::Fail);
    }

    #[test]
    fn the_unserved_sequence_fails_on_clear_harm_only() {
        let cfg = service();
        let totals = |ut, uc| Totals {
            treatment_service: (5000, ut),
            control_service: (5000, uc),
            ..Totals::default()
        };
        assert_eq!(
            unserved_sequential(&cfg, &totals(50, 50)).outcome,
            Outcome::Pass
        );
        let harm = unserved_sequential(&cfg, &totals(150, 50));
        assert_eq!(harm.outcome, Outcome::Fail);
        assert_eq!(harm.guardrail, Guardrail::UnservedSequential);
        assert!(harm.lower_bound.unwrap() > 0.0);
    }

    #[test]
    fn the_sample_ratio_of_a_service_flag_is_judged_on_assignment() {
        // Sixteen treatment agents asleep, none reporting: by assignment the arms match.
        let checks = judge_service(
            assigned(16, ArmWindow::default()),
            assigned(16, arm(16, 990, 10, 30_000.0)),
        );
        let srm = checks
            .iter()
            .find(|c| c.guardrail == Guardrail::SampleRatio)
            .unwrap();
        assert_eq!((srm.outcome, srm.samples), (Outcome::Pass, (16, 16)));
        // A bucketing that puts 40 known agents in treatment and 10 in control fails it.
        let skewed = judge_service(
            assigned(40, arm(4, 990, 10, 30_000.0)),
            assigned(10, arm(10, 990, 10, 30_000.0)),
        );
        assert_eq!(outcome(&skewed, Guardrail::SampleRatio), Outcome::Fail);
    }
}
