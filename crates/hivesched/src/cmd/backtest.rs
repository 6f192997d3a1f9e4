//! `hivesched backtest`: rolling-origin backtest of every forecasting model on a trace, printing
//! MASE, sMAPE, WAPE, pinball loss, interval coverage and fit time per model, best first.
//!
//! Each origin runs exactly what `hivesched forecast` runs (cleaning, season detection, fit), on
//! the same splits as `shared/bench/statsforecast_compare.py`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use hivesched_forecast::backtest::{Plan, Score, evaluate, rolling_splits};
use hivesched_forecast::catalog;
use hivesched_forecast::pipeline;
use hivesched_forecast::season::calendar_periods;

use super::forecast::{
    calendar, clamp_at_zero, level_key, load_series, parse_levels, parse_season, print_line,
};

/// Arguments of `hivesched backtest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV trace (`timestamp,value`).
    #[arg(long)]
    pub trace: PathBuf,
    /// Steps forecast at each origin (default: one day).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Number of origins (consecutive test windows at the end of the trace).
    #[arg(long, default_value_t = 8)]
    pub origins: usize,
    /// Training window in steps (default: everything before the origin, at most four weeks).
    #[arg(long)]
    pub history: Option<usize>,
    /// Seasonal periods for the models, or `auto`.
    #[arg(long, default_value = "auto")]
    pub season: String,
    /// Interval levels whose coverage is measured.
    #[arg(long, default_value = "80,95")]
    pub level: String,
    /// Comma-separated model names (default: every model, including the ensemble `auto`).
    #[arg(long)]
    pub models: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = parse_season(&args.season)?;
    let levels = parse_levels(&args.level)?;
    let series = load_series(&args.trace)?;
    // MASE lag and default horizon: one day when the step divides a day, as the comparison script.
    let daily = calendar_periods(series.step_s)
        .map(|(d, _)| d)
        .filter(|&d| d >= 2);
    let m = daily.unwrap_or(1);
    let horizon = args
        .horizon
        .or(daily)
        .context("--horizon is required when a day is not a whole number of steps")?;
    let splits = rolling_splits(series.values.len(), horizon, args.origins, args.history, m)?;
    let names: Vec<String> = match &args.models {
        Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
        None => catalog::names()
            .into_iter()
            .filter(|n| n != "Ensemble")
            .collect(),
    };
    let clock = Instant::now();
    let now_ms = || clock.elapsed().as_secs_f64() * 1000.0;
    let plan = Plan {
        splits: &splits,
        horizon,
        levels: &levels,
        season: m,
    };
    let mut scores: Vec<Score> = Vec::new();
    for name in &names {
        let model: std::sync::Arc<dyn hivesched_forecast::Model> = if name
            .eq_ignore_ascii_case("auto")
        {
            std::sync::Arc::new(
                hivesched_forecast::Ensemble::new(horizon).with_calendar(&calendar(series.step_s)),
            )
        } else {
            catalog::by_name(name, horizon).with_context(|| {
                format!(
                    "--models: unknown model {name:?}; known: {}",
                    catalog::names().join(", ")
                )
            })?
        };
        let mut forecast = |train: &[f64]| {
            pipeline::run(
                model.as_ref(),
                train,
                Some(series.step_s),
                &spec,
                horizon,
                &levels,
            )
            .map(|(_, d, mut f)| {
                clamp_at_zero(&mut f);
                (d, f)
            })
        };
        let mut score = evaluate(name, &series.values, &plan, &mut forecast, &now_ms);
        score.model = name.clone();
        scores.push(score);
    }
    scores.sort_by(|a, b| a.mase.total_cmp(&b.mase));
    if args.json {
        let doc = serde_json::json!({
            "trace": args.trace.display().to_string(), "horizon": horizon, "origins": args.origins,
            "season": m, "splits": splits.iter().map(|s| [s.start, s.end]).collect::<Vec<_>>(),
            "models": scores,
        });
        return print_line(&serde_json::to_string_pretty(&doc)?);
    }
    let mut text = format!(
        "trace={} n={} horizon={horizon} origins={} history={} mase_lag={m}\n",
        args.trace.display(),
        series.values.len(),
        splits.len(),
        splits[0].end - splits[0].start
    );
    let cov_head: String = levels
        .iter()
        .map(|l| format!(" {:>7}", format!("cov{}", level_key(*l))))
        .collect();
    text += &format!(
        "{:<24} {:>7} {:>7} {:>7} {:>8}{cov_head} {:>9} {:>6}  fitted\n",
        "model", "MASE", "sMAPE", "WAPE", "pinball", "fit_ms", "failed"
    );
    for s in &scores {
        let cov: String = s
            .coverage
            .iter()
            .map(|(_, c)| format!(" {c:>7.3}"))
            .collect();
        text += &format!(
            "{:<24} {:>7.3} {:>7.2} {:>7.3} {:>8.4}{cov} {:>9.1} {:>6}  {}\n",
            s.model, s.mase, s.smape, s.wape, s.pinball, s.fit_ms, s.failed, s.fitted
        );
    }
    print_line(text.trim_end())
}
