//! Guardrails: the checks judged at every step of a rollout, each returning its evidence.
//!
//! Threshold guardrails (error-rate SLO, latency p99, throughput per unit) are judged on the
//! window since the previous step and fail a check; the rollout rolls back when
//! `sustained_failures` checks in a row failed (docs/rollout.md, "Sustained"). The statistical
//! guardrail is judged on everything since the rollout started and rolls back at once: its
//! false-alarm rate is controlled however often it is looked at. Sample-ratio mismatch holds the
//! stage: it says the comparison cannot be trusted, not that the change is harmful.

use crate::FlagError;
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
}

impl Guardrail {
    /// Every guardrail.
    pub const ALL: [Guardrail; 5] = [
        Guardrail::ErrorRateSlo,
        Guardrail::LatencyP99,
        Guardrail::Throughput,
        Guardrail::ErrorRateSequential,
        Guardrail::SampleRatio,
    ];

    /// The wire name (`error_rate_slo`, …), also the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Guardrail::ErrorRateSlo => "error_rate_slo",
            Guardrail::LatencyP99 => "latency_p99",
            Guardrail::Throughput => "throughput",
            Guardrail::ErrorRateSequential => "error_rate_sequential",
            Guardrail::SampleRatio => "sample_ratio",
        }
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
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 3] = [Outcome::Pass, Outcome::Fail, Outcome::NoData];

    /// The wire name (`pass`, `fail`, `no_data`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NoData => "no_data",
        }
    }
}

hivesched_policy::wire_name!(Outcome, "pass, fail or no_data");

/// Thresholds of the guardrails. Defaults are reasoned in docs/rollout.md.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = GuardrailConfig))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailConfig {
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
}

impl Default for GuardrailConfig {
    fn default() -> Self {
        GuardrailConfig {
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
        Ok(())
    }
}

/// What one arm reported over one window (since the previous step).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ArmWindow))]
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmWindow {
    /// Distinct units of the arm that reported in the window. Sleeping agents count: they
    /// are in the arm even while idle, and leaving them out would fake a sample-ratio
    /// mismatch whenever the scheduler sleeps more of one arm.
    pub units: u64,
    /// Tasks completed.
    pub completed: u64,
    /// Tasks failed.
    pub failed: u64,
    /// p99 task latency (milliseconds), if any latency was reported.
    pub latency_p99_ms: Option<f64>,
    /// Latency samples behind the p99.
    pub latency_samples: u64,
}

impl ArmWindow {
    /// Tasks finished either way.
    pub fn tasks(&self) -> u64 {
        self.completed + self.failed
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

/// Tasks and failures accumulated per arm.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RolloutTotals))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Treatment `(tasks, failed)`.
    pub treatment: (u64, u64),
    /// Control `(tasks, failed)`.
    pub control: (u64, u64),
}

impl Totals {
    /// Adds a window.
    pub fn add(&mut self, o: &Observations) {
        self.treatment.0 += o.treatment.tasks();
        self.treatment.1 += o.treatment.failed;
        self.control.0 += o.control.tasks();
        self.control.1 += o.control.failed;
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
    /// The metric on the treatment arm (rate, ms, tasks per unit, units).
    pub treatment: Option<f64>,
    /// The metric on the control arm.
    pub control: Option<f64>,
    /// What the metric is compared with (for relative checks, the limit already derived from
    /// control; for the sequence, `δ`; for the sample ratio, the p-value floor).
    pub threshold: f64,
    /// The sequence's lower bound on `p_t − p_c` (`error_rate_sequential` only).
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
        }
    }
}

fn rate(failed: u64, tasks: u64) -> Option<f64> {
    (tasks > 0).then(|| failed as f64 / tasks as f64)
}

/// Judges every guardrail. `window` is what both arms reported since the previous step,
/// `totals` everything since the rollout started (this window included), and
/// `treatment_share` the expected share of treatment among the two arms' units (0.5 up to
/// 50 %). With `has_control` false (at 100 %) only the absolute SLO is judged.
pub fn evaluate(
    cfg: &GuardrailConfig,
    window: &Observations,
    totals: &Totals,
    treatment_share: f64,
    has_control: bool,
) -> Vec<Check> {
    let (t, c) = (&window.treatment, &window.control);
    let mut checks = vec![error_rate_slo(cfg, t, c)];
    if has_control {
        checks.push(latency(cfg, t, c));
        checks.push(throughput(cfg, t, c));
        checks.push(sequential(cfg, totals));
        checks.push(sample_ratio(cfg, t.units, c.units, treatment_share));
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
    let (t, c) = (totals.treatment, totals.control);
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
        guardrail: Guardrail::ErrorRateSequential,
        outcome,
        treatment: rate(t.1, t.0),
        control: rate(c.1, c.0),
        threshold: cfg.harm_tolerance,
        lower_bound: bound.map(|b| b.lower),
        p_value: None,
        samples: (t.0, c.0),
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
}
