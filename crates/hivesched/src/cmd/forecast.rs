//! `hivesched forecast`: forecast the steps after the end of a series, printing the JSON contract
//! of `docs/architecture.md` (`model`, `season`, `horizon`, `mean`, `intervals`, `fit_ms`, plus
//! `warnings`, `cold_start` and the ensemble's `members`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use hivesched_forecast::catalog;
use hivesched_forecast::pipeline::{self, SeasonSpec};
use hivesched_forecast::{Ensemble, Fitted, Forecast};
use hivesched_sim::{TraceOptions, load_trace};
use serde_json::{Map, Value, json};

/// Arguments of `hivesched forecast`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// CSV series with a timestamp and a `value` column (an event log is counted per minute).
    #[arg(long)]
    pub input: PathBuf,
    /// Number of steps to forecast after the last row.
    #[arg(long)]
    pub horizon: usize,
    /// Seasonal periods in steps (`48` or `48,336`), or `auto` to detect them.
    #[arg(long, default_value = "auto")]
    pub season: String,
    /// Prediction-interval levels in percent, comma-separated.
    #[arg(long, default_value = "80,95")]
    pub level: String,
    /// `auto` (the backtest-weighted ensemble) or a model name, e.g. `SeasonalNaive`, `MSTL+AR`.
    #[arg(long, default_value = "auto")]
    pub model: String,
}

/// A series on a regular grid: missing steps are NaN, for the cleaner to fill and report.
pub struct Series {
    /// One value per step, NaN where the trace had a gap.
    pub values: Vec<f64>,
    /// Step length in seconds.
    pub step_s: f64,
    /// Steps that were missing in the file.
    pub missing: usize,
    /// What was done to rows that did not fit the grid one to one, as warnings: rows moved into
    /// time order, rows replaced by a later row with the same timestamp or on the same step.
    pub notes: Vec<String>,
}

/// Loads a trace with the simulator's loader and puts it on a regular grid (gaps become NaN).
pub fn load_series(path: &Path) -> anyhow::Result<Series> {
    let opts = TraceOptions {
        sort_rows: true,
        ..TraceOptions::default()
    };
    let trace = load_trace(path, &opts).with_context(|| format!("reading {}", path.display()))?;
    if trace.values.is_empty() {
        bail!("{}: no data rows", path.display());
    }
    let step_ms = (trace.interval_s * 1000.0).round() as i64;
    if step_ms <= 0 {
        bail!(
            "{}: interval {} s is not positive",
            path.display(),
            trace.interval_s
        );
    }
    let t0 = trace.timestamps[0];
    let slots = |t: i64| ((t - t0) as f64 / step_ms as f64).round().max(0.0) as usize;
    let len = slots(*trace.timestamps.last().unwrap_or(&t0)) + 1;
    if len > 4 * trace.values.len() + 1024 {
        bail!(
            "{}: timestamps are too irregular for a regular series ({len} slots for {} rows)",
            path.display(),
            trace.values.len()
        );
    }
    let mut values = vec![f64::NAN; len];
    // Rows closer than half a step to the next (exchange-2's rows one second apart) share a
    // slot; the later one is kept, as for a repeated timestamp.
    let mut shared = Vec::new();
    for ((t, v), line) in trace.timestamps.iter().zip(&trace.values).zip(&trace.lines) {
        let slot = &mut values[slots(*t).min(len - 1)];
        if !slot.is_nan() {
            shared.push(*line);
        }
        *slot = *v;
    }
    let missing = values.iter().filter(|v| v.is_nan()).count();
    let mut notes = Vec::new();
    if !trace.reordered.is_empty() {
        notes.push(summarise(
            path,
            "row(s) out of time order or with a repeated timestamp",
            trace.reordered.iter().map(ToString::to_string),
        ));
    }
    if !shared.is_empty() {
        notes.push(summarise(
            path,
            "row(s) on the same step as the row before; the later row was kept",
            shared.iter().map(|l| format!("line {l}")),
        ));
    }
    Ok(Series {
        values,
        step_s: trace.interval_s,
        missing,
        notes,
    })
}

/// One warning for `what`, with the count and the first three `items`.
fn summarise(path: &Path, what: &str, items: impl ExactSizeIterator<Item = String>) -> String {
    let count = items.len();
    let first: Vec<String> = items.take(3).collect();
    let more = if count > first.len() { "; …" } else { "" };
    format!(
        "{}: {count} {what} ({}{more})",
        path.display(),
        first.join("; ")
    )
}

/// Parses `--season`: `auto` or comma-separated periods (each ≥ 2).
pub fn parse_season(s: &str) -> anyhow::Result<SeasonSpec> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(SeasonSpec::Auto);
    }
    let periods = s
        .split(',')
        .map(|p| {
            let v: usize = p
                .trim()
                .parse()
                .with_context(|| format!("--season: {p:?} is not a whole number"))?;
            if v < 2 {
                bail!("--season: period {v} must be at least 2");
            }
            Ok(v)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(SeasonSpec::Fixed(periods))
}

/// Parses `--level`: comma-separated percentages strictly between 0 and 100.
pub fn parse_levels(s: &str) -> anyhow::Result<Vec<f64>> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|p| {
            let v: f64 = p
                .trim()
                .parse()
                .with_context(|| format!("--level: {p:?} is not a number"))?;
            if !(v > 0.0 && v < 100.0) {
                bail!("--level: {v} must be between 0 and 100");
            }
            Ok(v)
        })
        .collect()
}

/// JSON key of a level: `80` for 80.0, `97.5` for 97.5.
pub fn level_key(level: f64) -> String {
    if level.fract() == 0.0 {
        format!("{}", level as i64)
    } else {
        format!("{level}")
    }
}

/// Intervals as the contract's `{"80": {"lo": [..], "hi": [..]}}` object.
pub fn intervals_json(f: &Forecast) -> Value {
    let mut m = Map::new();
    for iv in &f.intervals {
        m.insert(level_key(iv.level), json!({ "lo": iv.lo, "hi": iv.hi }));
    }
    Value::Object(m)
}

/// Runs the subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    if args.horizon == 0 {
        bail!("--horizon must be at least 1");
    }
    let spec = parse_season(&args.season)?;
    let levels = parse_levels(&args.level)?;
    let series = load_series(&args.input)?;
    let start = Instant::now();
    let prepared = pipeline::prepare(&series.values, Some(series.step_s), &spec)?;
    let mut extra = Map::new();
    let (describe, forecast) =
        if args.model.eq_ignore_ascii_case("auto") || args.model.eq_ignore_ascii_case("ensemble") {
            let fitted = Ensemble::new(args.horizon)
                .with_calendar(&calendar(series.step_s))
                .fit_ensemble_observed(&prepared.values, &prepared.observed, &prepared.seasons)?;
            extra.insert("cold_start".into(), json!(fitted.cold_start().is_some()));
            if let Some(reason) = fitted.cold_start() {
                extra.insert("cold_start_reason".into(), json!(reason));
            }
            extra.insert("members".into(), json!(fitted.members()));
            let ranking: Vec<Value> = fitted
                .ranking()
                .iter()
                .map(|(m, e)| json!({ "model": m, "backtest_mae": e }))
                .collect();
            extra.insert("candidates".into(), Value::Array(ranking));
            if !fitted.failures().is_empty() {
                extra.insert("model_failures".into(), json!(fitted.failures()));
            }
            let mut f = fitted.forecast(args.horizon, &levels)?;
            prepared.widen(&mut f);
            (fitted.describe(), f)
        } else {
            let model = catalog::by_name(&args.model, args.horizon).with_context(|| {
                format!(
                    "--model: unknown model {:?}; known: {}",
                    args.model,
                    catalog::names().join(", ")
                )
            })?;
            let fitted = model.fit(&prepared.values, &prepared.seasons)?;
            let mut f = fitted.forecast(args.horizon, &levels)?;
            clamp_at_zero(&mut f);
            prepared.widen(&mut f);
            (fitted.describe(), f)
        };
    let fit_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut warnings = prepared.warnings();
    if series.missing > 0 {
        warnings.insert(
            0,
            format!("{} steps were missing from the file (gaps)", series.missing),
        );
    }
    for note in series.notes.iter().rev() {
        warnings.insert(0, note.clone());
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(describe));
    out.insert("season".into(), json!(prepared.seasons));
    out.insert("horizon".into(), json!(args.horizon));
    out.insert("mean".into(), json!(forecast.mean));
    out.insert("intervals".into(), intervals_json(&forecast));
    out.insert("fit_ms".into(), json!(fit_ms));
    out.insert("warnings".into(), json!(warnings));
    out.extend(extra);
    print_line(&serde_json::to_string(&Value::Object(out))?)
}

/// Writes one line to stdout, returning an error (not panicking like `println!`) when stdout is
/// closed, e.g. piped into `head`.
pub fn print_line(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// Daily and weekly periods of a step of `step_s` seconds (those of at least two steps).
pub fn calendar(step_s: f64) -> Vec<usize> {
    hivesched_forecast::season::calendar_periods(step_s)
        .map(|(d, w)| [d, w].into_iter().filter(|&p| p >= 2).collect())
        .unwrap_or_default()
}

/// Demand cannot be negative: clamp a single model's forecast and bounds at zero.
pub fn clamp_at_zero(f: &mut Forecast) {
    f.mean.iter_mut().for_each(|v| *v = v.max(0.0));
    for iv in &mut f.intervals {
        iv.lo.iter_mut().for_each(|v| *v = v.max(0.0));
        iv.hi.iter_mut().for_each(|v| *v = v.max(0.0));
    }
}
