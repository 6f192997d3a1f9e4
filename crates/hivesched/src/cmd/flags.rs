//! `hivesched flags simulate`: measures the statistical rollout guardrail on synthetic arms.
//!
//! Each run feeds two arms with Bernoulli task outcomes (one task per unit, independent given
//! the arm) and looks `--looks` times, evenly spaced up to `--max-units` units per arm. At each
//! look it asks the guardrail the rollout state machine uses (`guardrails::sequential`, the
//! one-sided always-valid mSPRT sequence with the flag defaults) and, for comparison, a naive
//! one-sided z-test at the same level. A/A (`aa`, both arms at `--base-error`) measures false
//! rollbacks; `regression` (treatment at `--treatment-error`) measures detection and how many
//! units per arm it took.

use anyhow::{Context, bail};
use hivesched_flags::{GuardrailConfig, Outcome, Totals, guardrails};

/// Arguments of `hivesched flags`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Simulate many rollouts on synthetic arms: false rollbacks (A/A) or detection
    /// (regression) of the always-valid guardrail against a naive repeated z-test.
    Simulate(SimulateArgs),
}

/// What the simulated arms look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Both arms at the base error rate: every rollback is a false one.
    Aa,
    /// Treatment at a higher error rate: every rollback is a detection.
    Regression,
}

impl Scenario {
    /// The name in the report (`aa`, `regression`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Aa => "aa",
            Scenario::Regression => "regression",
        }
    }
}

/// Arguments of `hivesched flags simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// `aa` (identical arms) or `regression` (treatment worse).
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Simulated rollouts.
    #[arg(long, default_value_t = 1000)]
    runs: u32,
    /// Looks at the data per rollout, evenly spaced.
    #[arg(long, default_value_t = 100)]
    looks: u32,
    /// Units per arm at the last look.
    #[arg(long, default_value_t = 20_000)]
    max_units: u64,
    /// Control's task error rate (and treatment's in `aa`).
    #[arg(long, default_value_t = 0.01)]
    base_error: f64,
    /// Treatment's task error rate in `regression` (default: twice the base).
    #[arg(long)]
    treatment_error: Option<f64>,
    /// Total tasks (both arms) at which the sequence is tightest, `N*` (default: the flag
    /// default, `guardrails.tuning_tasks`).
    #[arg(long)]
    tuning_tasks: Option<u64>,
    /// Random seed; the same seed gives the same report.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print only the JSON report.
    #[arg(long)]
    json: bool,
}

/// How one guardrail fared over all runs.
struct Tally {
    rollbacks: u32,
    units_at_rollback: Vec<u64>,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            rollbacks: 0,
            units_at_rollback: Vec::new(),
        }
    }

    fn record(&mut self, units: Option<u64>) {
        if let Some(n) = units {
            self.rollbacks += 1;
            self.units_at_rollback.push(n);
        }
    }

    fn rate(&self, runs: u32) -> f64 {
        f64::from(self.rollbacks) / f64::from(runs)
    }

    fn median(&mut self) -> Option<f64> {
        let v = &mut self.units_at_rollback;
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[m] as f64
        } else {
            (v[m - 1] + v[m]) as f64 / 2.0
        })
    }
}

/// z quantile of a one-sided test at `alpha` (Acklam's rational approximation of the inverse
/// normal, relative error below 1.2·10⁻⁹).
fn z_quantile(alpha: f64) -> f64 {
    let p = 1.0 - alpha;
    let a = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    let b = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    let c = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    let d = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
            / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    };
    if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    }
}

/// The naive test: one-sided z on the difference of rates with the unpooled standard error,
/// as if each look were the only one.
fn naive_harm(t: (u64, u64), c: (u64, u64), z: f64) -> bool {
    let (nt, nc) = (t.0 as f64, c.0 as f64);
    let (pt, pc) = (t.1 as f64 / nt, c.1 as f64 / nc);
    let se = (pt * (1.0 - pt) / nt + pc * (1.0 - pc) / nc).sqrt();
    se > 0.0 && (pt - pc) / se > z
}

fn failures(rng: &mut fastrand::Rng, n: u64, p: f64) -> u64 {
    (0..n).filter(|_| rng.f64() < p).count() as u64
}

/// Runs `hivesched flags simulate`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Simulate(a) = args.command;
    let rate = |name: &str, p: f64| {
        if p.is_finite() && p > 0.0 && p < 1.0 {
            Ok(p)
        } else {
            bail!("{name} must be between 0 and 1 (exclusive), got {p}")
        }
    };
    let base = rate("--base-error", a.base_error)?;
    let treatment = match (a.scenario, a.treatment_error) {
        (Scenario::Aa, None) => base,
        (Scenario::Aa, Some(_)) => bail!("--treatment-error is for --scenario regression"),
        (Scenario::Regression, q) => {
            let q = rate("--treatment-error", q.unwrap_or(2.0 * base))?;
            if q <= base {
                bail!("a regression needs --treatment-error above --base-error");
            }
            q
        }
    };
    if a.runs == 0 || a.looks == 0 || a.max_units < u64::from(a.looks) {
        bail!("--runs and --looks must be positive and --max-units at least --looks");
    }

    let mut cfg = GuardrailConfig::default();
    if let Some(n) = a.tuning_tasks {
        cfg.tuning_tasks = n;
    }
    cfg.validate().context("--tuning-tasks")?;
    let z = z_quantile(cfg.alpha);
    let mut rng = fastrand::Rng::with_seed(a.seed);
    let (mut msprt, mut naive) = (Tally::new(), Tally::new());
    for _ in 0..a.runs {
        let mut totals = Totals::default();
        let (mut seq_at, mut naive_at) = (None, None);
        for k in 1..=u64::from(a.looks) {
            let n = (a.max_units * k).div_ceil(u64::from(a.looks));
            let new = n - totals.treatment.0;
            totals.treatment.0 = n;
            totals.treatment.1 += failures(&mut rng, new, treatment);
            totals.control.0 = n;
            totals.control.1 += failures(&mut rng, new, base);
            if seq_at.is_none() && guardrails::sequential(&cfg, &totals).outcome == Outcome::Fail {
                seq_at = Some(n);
            }
            if naive_at.is_none()
                && n >= cfg.min_tasks_sequential
                && naive_harm(totals.treatment, totals.control, z)
            {
                naive_at = Some(n);
            }
            if seq_at.is_some() && naive_at.is_some() {
                break;
            }
        }
        msprt.record(seq_at);
        naive.record(naive_at);
    }

    let report = |t: &mut Tally| {
        let r = t.rate(a.runs);
        let (fr, dr) = match a.scenario {
            Scenario::Aa => (Some(r), None),
            Scenario::Regression => (None, Some(r)),
        };
        serde_json::json!({
            "false_rollback_rate": fr,
            "detection_rate": dr,
            "units_per_arm_at_detection_median": t.median(),
        })
    };
    let (m, nv) = (report(&mut msprt), report(&mut naive));
    let doc = serde_json::json!({
        "scenario": a.scenario.as_str(),
        "runs": a.runs,
        "looks": a.looks,
        "max_units_per_arm": a.max_units,
        "base_error": base,
        "treatment_error": treatment,
        "seed": a.seed,
        "alpha": cfg.alpha,
        "tuning_tasks": cfg.tuning_tasks,
        "false_rollback_rate": m["false_rollback_rate"],
        "detection_rate": m["detection_rate"],
        "units_per_arm_at_detection_median": m["units_per_arm_at_detection_median"],
        "naive": nv,
    });
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).context("writing the report")?
        );
        return Ok(());
    }
    let what = match a.scenario {
        Scenario::Aa => "false rollbacks",
        Scenario::Regression => "detected",
    };
    println!(
        "{}: {} runs, {} looks up to {} units per arm, error rate treatment {:.2}% vs control {:.2}%, alpha {}",
        a.scenario.as_str(),
        a.runs,
        a.looks,
        a.max_units,
        treatment * 100.0,
        base * 100.0,
        cfg.alpha
    );
    println!(
        "{:<30} {:>16} {:>22}",
        "guardrail", what, "median units/arm"
    );
    for (name, t) in [
        ("mSPRT sequence (always valid)", &mut msprt),
        ("naive repeated z-test", &mut naive),
    ] {
        let median = t
            .median()
            .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}"));
        println!(
            "{:<30} {:>15.1}% {:>22}",
            name,
            t.rate(a.runs) * 100.0,
            median
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn z_quantiles() {
        assert!((z_quantile(0.05) - 1.644_853_6).abs() < 1e-6);
        assert!((z_quantile(0.025) - 1.959_964).abs() < 1e-6);
        assert!((z_quantile(0.001) - 3.090_232).abs() < 1e-6);
    }

    #[test]
    fn medians() {
        let mut t = Tally::new();
        assert_eq!(t.median(), None);
        for n in [5, 1, 3, 7] {
            t.record(Some(n));
        }
        t.record(None);
        assert_eq!((t.rollbacks, t.median()), (4, Some(4.0)));
    }
}
