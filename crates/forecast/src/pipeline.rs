//! From a raw series to model-ready input: cleaning, seasonality detection, level-shift trimming.
//!
//! `hivesched forecast` and every origin of `hivesched backtest` run exactly this, so the
//! backtest measures what the forecast command does.

use crate::clean::{CleanOptions, CleanReport, clean};
use crate::season::{Seasonality, detect_seasons};
use crate::shift_risk::ShiftRisk;
use crate::{Forecast, ForecastError, Model};

/// How seasonal periods are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeasonSpec {
    /// Detect from the data, snapping to calendar periods when the step is known.
    Auto,
    /// Use these periods (in steps) as given.
    Fixed(Vec<usize>),
}

/// A cleaned series with its seasons and what was done to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Cleaned values (possibly trimmed after a level shift).
    pub values: Vec<f64>,
    /// The same steps as recorded: gaps filled and negatives clamped as in `values`, but spikes
    /// not pulled back. Forecasts are judged against data like this, so the ensemble's interval
    /// calibration is too ([`Model::fit_observed`]).
    pub observed: Vec<f64>,
    /// Seasonal periods in steps, ascending.
    pub seasons: Vec<usize>,
    /// Repairs made by cleaning.
    pub report: CleanReport,
    /// Detection evidence when seasons were detected.
    pub detection: Option<Seasonality>,
    /// Points dropped from the start because of a level shift.
    pub trimmed: usize,
    /// Level-shift risks the forecast's intervals are widened for ([`Prepared::widen`]).
    pub shift_risk: ShiftRisk,
}

impl Prepared {
    /// Warnings for the user: cleaning repairs and trimming.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.report.warnings();
        if self.trimmed > 0 {
            w.push(format!(
                "history before the level shift ({} points) was not used",
                self.trimmed
            ));
        }
        w.extend(self.shift_risk.warnings());
        w
    }

    /// Widens `f`'s intervals for the level-shift risks of this history: every forecast made
    /// from it goes through here, so the backtest measures what the forecast command returns.
    pub fn widen(&self, f: &mut Forecast) {
        self.shift_risk.widen(f);
    }
}

/// Cleans `raw` (NaN = missing), finds its seasons, and drops history before a level shift when
/// at least two cycles of every season and a third of the history remain after it (so a shift
/// near the end is reported but cannot starve the models). Errors only when no point is usable.
pub fn prepare(
    raw: &[f64],
    step_s: Option<f64>,
    spec: &SeasonSpec,
) -> Result<Prepared, ForecastError> {
    // Detection sees the data with gaps filled but spikes kept: a spike that recurs every cycle
    // is the cycle.
    let (first, _) = clean(
        raw,
        &CleanOptions {
            outlier_sigmas: 0.0,
            ..CleanOptions::default()
        },
    );
    if first.is_empty() {
        return Err(ForecastError::InvalidInput(
            "the series has no finite value".into(),
        ));
    }
    let (seasons, detection) = match spec {
        SeasonSpec::Auto => {
            let d = detect_seasons(&first, step_s);
            (d.periods.clone(), Some(d))
        }
        SeasonSpec::Fixed(p) => {
            let mut p: Vec<usize> = p.iter().copied().filter(|&x| x > 1).collect();
            p.sort_unstable();
            p.dedup();
            (p, None)
        }
    };
    let opts = CleanOptions {
        season: seasons.first().copied(),
        ..CleanOptions::default()
    };
    let (mut values, report) = clean(raw, &opts);
    let mut observed = if report.outliers == 0 {
        values.clone()
    } else {
        clean(
            raw,
            &CleanOptions {
                outlier_sigmas: 0.0,
                ..opts
            },
        )
        .0
    };
    let mut trimmed = 0;
    if let Some(shift) = &report.level_shift {
        let longest = seasons.iter().copied().max().unwrap_or(1);
        let keep = values.len() - shift.index;
        if keep >= (2 * longest).max(16).max(values.len() / 3) {
            trimmed = shift.index;
            values.drain(..shift.index);
            observed.drain(..shift.index);
        }
    }
    let shift_risk = ShiftRisk::assess(
        &values,
        seasons.first().copied(),
        report.level_shift.as_ref(),
        values.len() + trimmed,
    );
    Ok(Prepared {
        values,
        observed,
        seasons,
        report,
        detection,
        trimmed,
        shift_risk,
    })
}

/// Prepares `raw`, fits `model` and forecasts `h` steps at `levels`: the whole forecast command
/// minus I/O. Returns the preparation (for warnings) and the fitted model's description.
pub fn run(
    model: &dyn Model,
    raw: &[f64],
    step_s: Option<f64>,
    spec: &SeasonSpec,
    h: usize,
    levels: &[f64],
) -> Result<(Prepared, String, Forecast), ForecastError> {
    let prepared = prepare(raw, step_s, spec)?;
    let fitted = model.fit_observed(&prepared.values, &prepared.observed, &prepared.seasons)?;
    let mut f = fitted.forecast(h, levels)?;
    prepared.widen(&mut f);
    Ok((prepared, fitted.describe(), f))
}
