//! Property tests: no input makes any model panic or return a non-finite forecast. A model may
//! refuse (an error is fine: the ensemble falls back), but it must never crash or emit NaN.

use hivesched_forecast::catalog;
use hivesched_forecast::clean::{CleanOptions, clean};
use hivesched_forecast::pipeline::{self, SeasonSpec};
use hivesched_forecast::season::detect_seasons;
use proptest::prelude::*;

/// Histories mixing ordinary values, zeros, negatives, huge values, NaN and infinities.
fn history() -> impl Strategy<Value = Vec<f64>> {
    let value = prop_oneof![
        6 => 0.0..1000.0f64,
        1 => Just(0.0),
        1 => -1e3..0.0f64,
        1 => prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
        1 => prop_oneof![Just(1e300), Just(-1e300), Just(1e-300), Just(f64::MAX)],
    ];
    prop::collection::vec(value, 0..150)
}

fn all_finite(v: &[f64]) -> bool {
    v.iter().all(|x| x.is_finite())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_and_detection_never_panic(y in history(), step in prop_oneof![Just(None), Just(Some(300.0)), Just(Some(1800.0))]) {
        let (v, _) = clean(&y, &CleanOptions::default());
        prop_assert!(all_finite(&v));
        let _ = detect_seasons(&v, step);
    }

    #[test]
    fn no_model_panics_or_returns_nan(y in history(), seasons in prop::collection::vec(0usize..60, 0..3), h in 1usize..30) {
        let spec = SeasonSpec::Fixed(seasons);
        for model in catalog::all(h) {
            if let Ok((_, _, f)) = pipeline::run(model.as_ref(), &y, Some(1800.0), &spec, h, &[80.0, 95.0]) {
                prop_assert_eq!(f.mean.len(), h, "{}", model.name());
                prop_assert!(all_finite(&f.mean), "{} mean {:?}", model.name(), f.mean);
                for iv in &f.intervals {
                    prop_assert!(all_finite(&iv.lo) && all_finite(&iv.hi), "{} interval", model.name());
                }
            }
        }
    }

    #[test]
    fn raw_models_refuse_or_stay_finite(y in prop::collection::vec(-1e6..1e6f64, 0..120), h in 1usize..20) {
        for model in catalog::all(h) {
            if let Ok(fitted) = model.fit(&y, &[12])
                && let Ok(f) = fitted.forecast(h, &[50.0, 99.0])
            {
                prop_assert!(all_finite(&f.mean), "{}", model.name());
            }
        }
    }
}

#[test]
fn bad_levels_are_refused_not_panicked() {
    let y: Vec<f64> = (0..100).map(|t| (t % 10) as f64).collect();
    for model in catalog::all(5) {
        if let Ok(fitted) = model.fit(&y, &[10]) {
            assert!(fitted.forecast(5, &[0.0]).is_err(), "{}", model.name());
            assert!(fitted.forecast(5, &[f64::NAN]).is_err(), "{}", model.name());
        }
    }
}
