//! `hivesched simulate`: replay a trace against every policy and score them.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use hivesched_forecast::{EnsembleConfig, ForecasterChoice};
use hivesched_sim::{
    Faults, PolicyKind, SimConfig, TraceOptions, build_report, load_trace, render_svg, run_policy,
    summary_table, write_schedule,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `hivesched simulate` (the contract in docs/architecture.md).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Demand trace: a regular series (`timestamp,value`) or an event log (one row per arrival).
    #[arg(long)]
    trace: PathBuf,
    /// Step length for event logs, e.g. `1m`, `30s` (regular series use their own spacing).
    #[arg(long, value_parser = humantime::parse_duration)]
    interval: Option<Duration>,
    /// Fleet size.
    #[arg(long, default_value_t = 45)]
    agents: u32,
    /// Demand units one awake agent serves per step.
    #[arg(long, default_value_t = 1000.0)]
    capacity: f64,
    /// How long a wake takes, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    wake_latency: Duration,
    /// How long checkpoint plus consolidation take, e.g. `10m`.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    consolidation: Duration,
    /// Never fewer awake agents than this.
    #[arg(long, default_value_t = 2)]
    min_awake: u32,
    /// `all` or a comma-separated list of: always-on, reactive, kpa, seasonal-naive, predictive, oracle.
    #[arg(long, default_value = "all")]
    policy: String,
    /// Leading fraction of the trace used as warm-up and left out of the scores.
    #[arg(long, default_value_t = 0.0)]
    train_fraction: f64,
    /// Forecaster of the `predictive` policy: `ensemble` (the service's default) or
    /// `seasonal-naive`.
    #[arg(long, default_value_t = ForecasterChoice::Ensemble)]
    forecaster: ForecasterChoice,
    /// History time between refits of the `ensemble` forecaster, e.g. `6h`.
    #[arg(long, default_value = "6h", value_parser = humantime::parse_duration)]
    refit_every: Duration,
    /// Level in percent of the `ensemble` forecaster's upper bound the planner provisions on
    /// (default 90, the service's): lower bills fewer hours and leaves more demand unserved.
    #[arg(long, default_value_t = EnsembleConfig::default().level)]
    forecast_level: f64,
    /// Faults to inject, e.g. `wake-fail=0.05,slow-wake=0.1x3,forecast-error=100-120,stall=200-230,restart=500,seed=7`.
    #[arg(long, default_value = "")]
    faults: String,
    /// Write the report JSON (`hivesched.sim.v1`) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the per-step schedule CSV here.
    #[arg(long)]
    schedule: Option<PathBuf>,
    /// Write an SVG plot of demand vs awake capacity per policy here.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Runs the simulation and writes what was asked for.
pub fn run(args: Args) -> anyhow::Result<()> {
    let policies = PolicyKind::parse_list(&args.policy)?;
    let mut cfg = SimConfig::new(
        args.agents,
        args.capacity,
        args.wake_latency,
        args.consolidation,
        args.min_awake,
    );
    cfg.train_fraction = args.train_fraction;
    cfg.faults = Faults::parse(&args.faults)?;
    if args.refit_every.is_zero() {
        anyhow::bail!("--refit-every must be longer than zero");
    }
    if !(args.forecast_level > 50.0 && args.forecast_level < 100.0) {
        anyhow::bail!(
            "--forecast-level must be above 50 and below 100 (percent), got {}",
            args.forecast_level
        );
    }
    cfg.forecaster = args.forecaster.factory(EnsembleConfig {
        refit_every: args.refit_every,
        level: args.forecast_level,
        ..EnsembleConfig::default()
    });
    cfg.validate()?;
    let trace = load_trace(
        &args.trace,
        &TraceOptions {
            interval: args.interval,
        },
    )?;
    for gap in &trace.gaps {
        eprintln!(
            "warning: {}:{}: {} missing step(s) before this row; kept as one step per row",
            args.trace.display(),
            gap.line,
            gap.missing_steps
        );
    }

    let steps = trace.values.len() as u64;
    let bar = ProgressBar::new(steps * policies.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} steps ({eta})")?
            .progress_chars("=> "),
    );
    let mut runs = Vec::with_capacity(policies.len());
    for kind in policies {
        bar.set_message(kind.name());
        runs.push(run_policy(&trace, &cfg, kind, &|| bar.inc(1))?);
        bar.set_position(steps * runs.len() as u64);
    }
    bar.finish_and_clear();

    let report = build_report(&trace, &cfg, &runs);
    print!("{}", summary_table(&report));
    for run in &runs {
        for example in &run.extras.violation_examples {
            eprintln!("rail violation in {}: {example}", run.name);
        }
    }
    for path in [&args.report, &args.schedule, &args.plot]
        .into_iter()
        .flatten()
    {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    if let Some(path) = &args.report {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        serde_json::to_writer_pretty(BufWriter::new(file), &report)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.schedule {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        write_schedule(BufWriter::new(file), &runs)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        let series: Vec<(&str, Vec<u32>)> = runs
            .iter()
            .filter(|r| r.name != "always-on")
            .map(|r| (r.name.as_str(), r.rows.iter().map(|s| s.awake).collect()))
            .collect();
        let refs: Vec<(&str, &[u32])> = series.iter().map(|(n, a)| (*n, a.as_slice())).collect();
        let svg = render_svg(&trace.timestamps, &trace.values, args.capacity, &refs)?;
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
