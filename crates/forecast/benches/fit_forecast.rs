//! Fit + forecast time of the ensemble (what `hivesched forecast` runs, minus process start and
//! CSV parsing) on nyc_taxi (four weeks of 30-minute data, one day ahead) and on a five-minute
//! trace (Twitter_volume_AMZN, four weeks, one day ahead), plus MSTL+ARI alone on nyc_taxi.
//! Compare with statsforecast's MSTL+AutoARIMA on the same series (issue 4: about 1.3 s per fit).

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use hivesched_forecast::pipeline::{self, SeasonSpec};
use hivesched_forecast::{Ensemble, Model, catalog};

/// Last `points` values of a NAB trace; panics with the expected location when it is missing.
fn trace_tail(name: &str, points: usize) -> Vec<f64> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/traces/nab")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("trace {name} missing at {}: {e}", path.display()));
    let y: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1)?.trim().parse().ok())
        .collect();
    y[y.len().saturating_sub(points)..].to_vec()
}

fn run(model: &dyn Model, y: &[f64], step: f64, h: usize) {
    let out = pipeline::run(model, y, Some(step), &SeasonSpec::Auto, h, &[80.0, 95.0]);
    assert!(out.is_ok());
}

fn benches(c: &mut Criterion) {
    let taxi = trace_tail("nyc_taxi.csv", 48 * 28);
    let amzn = trace_tail("Twitter_volume_AMZN.csv", 288 * 28);
    let mut g = c.benchmark_group("fit_forecast");
    g.sample_size(10);
    g.bench_function("nyc_taxi_4w_h48_ensemble", |b| {
        b.iter(|| run(&Ensemble::new(48), &taxi, 1800.0, 48))
    });
    let mstl_ari = catalog::by_name("MSTL+ARI", 48).expect("catalogued");
    g.bench_function("nyc_taxi_4w_h48_mstl_ari", |b| {
        b.iter(|| run(mstl_ari.as_ref(), &taxi, 1800.0, 48))
    });
    g.bench_function("amzn_5min_4w_h288_ensemble", |b| {
        b.iter(|| run(&Ensemble::new(288), &amzn, 300.0, 288))
    });
    g.finish();
}

criterion_group!(fit_forecast, benches);
criterion_main!(fit_forecast);
