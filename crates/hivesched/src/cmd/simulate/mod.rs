//! `hivesched simulate`: replay a trace against every policy and score them; with `--pools`,
//! several pools, each with its own trace and fleet, and their totals.

mod pools;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hivesched_forecast::{EnsembleConfig, ForecasterChoice};
use hivesched_policy::RailConfig;
use hivesched_sim::{
    Faults, PolicyKind, PolicyRun, Pool, SimConfig, Trace, TraceOptions, build_pools_report,
    build_report, load_trace, pools_table, render_svg, run_policy, run_pools, summary_table,
    write_pools_schedule, write_schedule,
};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `hivesched simulate` (the contract in docs/architecture.md).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Demand trace: a regular series (`timestamp,value`) or an event log (one row per arrival).
    #[arg(long, required_unless_present = "pools", conflicts_with = "pools")]
    trace: Option<PathBuf>,
    /// Several pools instead of one trace: a TOML file of `[pools.<name>]` sections, each with
    /// its `trace` and any of `interval`, `agents`, `capacity`, `wake_latency`, `consolidation`,
    /// `train_fraction`, `faults`, `forecaster`, `forecast_level`, `refit_every` and a `rails`
    /// table; what a pool leaves out it inherits from the flags.
    #[arg(long, value_name = "FILE")]
    pools: Option<PathBuf>,
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
    /// Write the report JSON (`hivesched.sim.v1`; with `--pools`, `hivesched.sim.pools.v1`) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the per-step schedule CSV here (with `--pools`, a `pool` column first).
    #[arg(long)]
    schedule: Option<PathBuf>,
    /// Write an SVG plot of demand vs awake capacity per policy here (with `--pools`, one per
    /// pool: `plot.svg` → `plot.<pool>.svg`).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// Every setting of one fleet that a pool may override, as the flags give them.
#[derive(Debug, Clone)]
struct Settings {
    interval: Option<Duration>,
    agents: u32,
    capacity: f64,
    wake_latency: Duration,
    consolidation: Duration,
    rails: RailConfig,
    train_fraction: f64,
    faults: String,
    forecaster: ForecasterChoice,
    refit_every: Duration,
    forecast_level: f64,
}

impl Settings {
    fn from_args(args: &Args) -> Self {
        Settings {
            interval: args.interval,
            agents: args.agents,
            capacity: args.capacity,
            wake_latency: args.wake_latency,
            consolidation: args.consolidation,
            rails: RailConfig {
                min_awake: args.min_awake,
                ..RailConfig::default()
            },
            train_fraction: args.train_fraction,
            faults: args.faults.clone(),
            forecaster: args.forecaster,
            refit_every: args.refit_every,
            forecast_level: args.forecast_level,
        }
    }

    /// The checked model; `key` spells a setting's name as the user wrote it (`--agents` or
    /// `pools.gpu.agents`).
    fn sim_config(&self, key: &dyn Fn(&str) -> String) -> anyhow::Result<SimConfig> {
        let mut cfg = SimConfig::new(
            self.agents,
            self.capacity,
            self.wake_latency,
            self.consolidation,
            self.rails.min_awake,
        );
        cfg.rails = self.rails.clone();
        cfg.train_fraction = self.train_fraction;
        cfg.faults = Faults::parse(&self.faults).map_err(|e| {
            // The flag's own errors already name it; a file's key is named in front.
            let flag = key("faults");
            if flag.starts_with("--") {
                anyhow::anyhow!(e)
            } else {
                anyhow::anyhow!("{flag} {e}")
            }
        })?;
        if self.refit_every.is_zero() {
            anyhow::bail!("{} must be longer than zero", key("refit_every"));
        }
        if !(self.forecast_level > 50.0 && self.forecast_level < 100.0) {
            anyhow::bail!(
                "{} must be above 50 and below 100 (percent), got {}",
                key("forecast_level"),
                self.forecast_level
            );
        }
        cfg.forecaster = self.forecaster.factory(EnsembleConfig {
            refit_every: self.refit_every,
            level: self.forecast_level,
            ..EnsembleConfig::default()
        });
        cfg.validate_as(key)?;
        Ok(cfg)
    }

    /// Loads `path` at this interval and warns about its gaps.
    fn load(&self, path: &Path) -> anyhow::Result<Trace> {
        let trace = load_trace(
            path,
            &TraceOptions {
                interval: self.interval,
                // One step per row in file order, as simcheck.py reads it.
                sort_rows: false,
            },
        )?;
        for gap in &trace.gaps {
            eprintln!(
                "warning: {}:{}: {} missing step(s) before this row; kept as one step per row",
                path.display(),
                gap.line,
                gap.missing_steps
            );
        }
        Ok(trace)
    }
}

/// A flag's name from a setting's: `train_fraction` → `--train-fraction`.
fn flag(field: &str) -> String {
    format!("--{}", field.replace('_', "-"))
}

/// Runs the simulation and writes what was asked for.
pub fn run(args: Args) -> anyhow::Result<()> {
    let policies = PolicyKind::parse_list(&args.policy)?;
    let settings = Settings::from_args(&args);
    match (&args.trace, &args.pools) {
        (Some(trace), _) => {
            let cfg = settings.sim_config(&flag)?;
            let trace = settings.load(trace)?;
            run_one(&args, &trace, &cfg, policies)
        }
        (None, Some(file)) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            let base = file.parent().unwrap_or(Path::new(""));
            let specs = pools::parse(&text, base, &settings)
                .with_context(|| format!("{}", file.display()))?;
            let mut all = Vec::with_capacity(specs.len());
            for spec in specs {
                let cfg = spec
                    .settings
                    .sim_config(&|f| spec.key(f))
                    .with_context(|| format!("{}", file.display()))?;
                let trace = spec.settings.load(&spec.trace)?;
                all.push(Pool {
                    name: spec.name,
                    trace,
                    cfg,
                });
            }
            run_several(&args, &all, &policies)
        }
        // clap requires one of the two.
        (None, None) => anyhow::bail!("give --trace FILE or --pools FILE"),
    }
}

fn progress_bar(steps: u64) -> anyhow::Result<ProgressBar> {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template("{msg:>14} [{bar:40}] {pos}/{len} steps ({eta})")?
            .progress_chars("=> "),
    );
    Ok(bar)
}

/// Creates the directories the output files go to.
fn output_dirs(args: &Args) -> anyhow::Result<()> {
    for path in [&args.report, &args.schedule, &args.plot]
        .into_iter()
        .flatten()
    {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    Ok(())
}

fn print_violations(prefix: &str, runs: &[PolicyRun]) {
    for run in runs {
        for example in &run.extras.violation_examples {
            eprintln!("rail violation in {prefix}{}: {example}", run.name);
        }
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    serde_json::to_writer_pretty(BufWriter::new(file), value)
        .with_context(|| format!("writing {}", path.display()))
}

fn write_csv(
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<(), hivesched_sim::SimError>,
) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    write(BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))
}

/// Draws demand against the awake capacity of every policy but always-on.
fn write_plot(path: &Path, trace: &Trace, capacity: f64, runs: &[PolicyRun]) -> anyhow::Result<()> {
    let series: Vec<(&str, Vec<u32>)> = runs
        .iter()
        .filter(|r| r.name != "always-on")
        .map(|r| (r.name.as_str(), r.rows.iter().map(|s| s.awake).collect()))
        .collect();
    let refs: Vec<(&str, &[u32])> = series.iter().map(|(n, a)| (*n, a.as_slice())).collect();
    let svg = render_svg(&trace.timestamps, &trace.values, capacity, &refs)?;
    std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
}

/// One trace: the `hivesched.sim.v1` report and the schedule without a pool column.
fn run_one(
    args: &Args,
    trace: &Trace,
    cfg: &SimConfig,
    policies: Vec<PolicyKind>,
) -> anyhow::Result<()> {
    let steps = trace.values.len() as u64;
    let bar = progress_bar(steps * policies.len() as u64)?;
    let mut runs = Vec::with_capacity(policies.len());
    for kind in policies {
        bar.set_message(kind.name());
        runs.push(run_policy(trace, cfg, kind, &|| bar.inc(1))?);
        bar.set_position(steps * runs.len() as u64);
    }
    bar.finish_and_clear();

    let report = build_report(trace, cfg, &runs);
    print!("{}", summary_table(&report));
    print_violations("", &runs);
    output_dirs(args)?;
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.schedule {
        write_csv(path, |out| write_schedule(out, &runs))?;
    }
    if let Some(path) = &args.plot {
        write_plot(path, trace, cfg.capacity, &runs)?;
    }
    Ok(())
}

/// Several pools: the `hivesched.sim.pools.v1` report, the schedule with a `pool` column and
/// one plot per pool (`plot.svg` → `plot.<pool>.svg`).
fn run_several(args: &Args, pools: &[Pool], policies: &[PolicyKind]) -> anyhow::Result<()> {
    let steps: u64 = pools.iter().map(|p| p.trace.values.len() as u64).sum();
    let bar = progress_bar(steps * policies.len() as u64)?;
    let runs = run_pools(pools, policies, &|pool, kind| {
        bar.set_message(format!("{}/{}", pool.name, kind.name()));
        bar.inc(1);
    })?;
    bar.finish_and_clear();

    let report = build_pools_report(&runs)?;
    print!("{}", pools_table(&report));
    for p in &runs {
        print_violations(&format!("{}/", p.pool.name), &p.runs);
    }
    output_dirs(args)?;
    if let Some(path) = &args.report {
        write_json(path, &report)?;
    }
    if let Some(path) = &args.schedule {
        write_csv(path, |out| write_pools_schedule(out, &runs))?;
    }
    if let Some(path) = &args.plot {
        for p in &runs {
            let path = pools::per_pool_path(path, &p.pool.name);
            write_plot(&path, &p.pool.trace, p.pool.cfg.capacity, &p.runs)?;
        }
    }
    Ok(())
}
