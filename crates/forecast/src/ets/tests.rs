//! Known-answer and behaviour tests for ETS.

use super::testdata::AIR_PASSENGERS;
use super::*;
use crate::{Fitted, Model};

/// ETS(A,N,N) log-likelihood maximised independently: for each α on a fine grid the optimal ℓ₀
/// is a closed-form least-squares solution (the errors are linear in ℓ₀).
fn ann_grid_loglik(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mut best = f64::NEG_INFINITY;
    let mut alpha = 1e-4;
    while alpha <= 0.9999 {
        // e_t = a_t − c_t ℓ₀ with c_t = (1−α)^{t}, a_t the errors for ℓ₀ = 0.
        let (mut level0, mut scc, mut saa, mut sac) = (0.0, 0.0, 0.0, 0.0);
        let mut c = 1.0;
        for &v in y {
            let a = v - level0;
            scc += c * c;
            saa += a * a;
            sac += a * c;
            level0 += alpha * a;
            c *= 1.0 - alpha;
        }
        let l0 = sac / scc;
        let sse = saa - 2.0 * l0 * sac + l0 * l0 * scc;
        let ll = -0.5 * n * ((2.0 * std::f64::consts::PI * sse / n).ln() + 1.0);
        best = best.max(ll);
        alpha += 2e-4;
    }
    best
}

#[test]
fn ann_reaches_the_independently_computed_maximum_likelihood() {
    let y: Vec<f64> = AIR_PASSENGERS.iter().map(|v| v.ln()).collect();
    let fit = Ets::new(EtsSpec::new(
        ErrorType::Additive,
        TrendType::None,
        SeasonType::None,
    ))
    .fit_period(&y, 1)
    .unwrap();
    let reference = ann_grid_loglik(&y);
    assert!(
        fit.loglik() >= reference - 1e-3,
        "{} vs grid {}",
        fit.loglik(),
        reference
    );
    assert!(
        fit.loglik() <= reference + 1e-2,
        "{} vs grid {}",
        fit.loglik(),
        reference
    );
}

/// R's `forecast::ets(AirPassengers)` reports ETS(M,Ad,M) with AIC 1395.166, AICc 1400.638 and
/// BIC 1448.623 (k = 18, n = 144, so log-likelihood −679.583). R drops the constant
/// `n/2·(ln n − ln 2π − 1)` from the likelihood; we report the full Gaussian log-likelihood.
#[test]
fn air_passengers_mam_damped_matches_the_published_likelihood() {
    let fit = Ets::new(EtsSpec::new(
        ErrorType::Multiplicative,
        TrendType::Damped,
        SeasonType::Multiplicative,
    ))
    .fit_period(&AIR_PASSENGERS, 12)
    .unwrap();
    let n = 144.0_f64;
    let r_convention = fit.loglik() - 0.5 * n * (n.ln() - (2.0 * std::f64::consts::PI).ln() - 1.0);
    assert_eq!(fit.n_params(), 18);
    // A local optimum at least as good as R's, and not implausibly better.
    assert!(
        (-680.1..=-678.0).contains(&r_convention),
        "loglik (R convention) {r_convention}"
    );
    let p = fit.parameters();
    assert!(
        (0.6..0.9).contains(&p.alpha) && p.gamma.unwrap() < 0.05 && p.phi.unwrap() > 0.95,
        "{p:?}"
    );
}

#[test]
fn air_passengers_prefers_a_multiplicative_season() {
    let fit = AutoEts::new().fit_best(&AIR_PASSENGERS, &[12]).unwrap();
    assert_eq!(
        fit.spec().season,
        SeasonType::Multiplicative,
        "{}",
        fit.describe()
    );
    assert_eq!(fit.period(), 12);
}

#[test]
fn seasonal_holdout_on_air_passengers_is_accurate() {
    let (train, test) = AIR_PASSENGERS.split_at(120);
    let fit = AutoEts::new().fit(train, &[12]).unwrap();
    let fc = fit.forecast(24, &[80.0, 95.0]).unwrap();
    let mape = |f: &[f64]| {
        f.iter()
            .zip(test)
            .map(|(f, a)| ((f - a) / a).abs())
            .sum::<f64>()
            / 24.0
            * 100.0
    };
    let snaive: Vec<f64> = (0..24).map(|h| train[108 + h % 12]).collect();
    let (ets, naive) = (mape(&fc.mean), mape(&snaive));
    assert!(
        ets < naive && ets < 12.0,
        "{}: MAPE {ets} vs seasonal naive {naive}",
        fit.describe()
    );
    let inside = test
        .iter()
        .enumerate()
        .filter(|(i, a)| fc.intervals[1].lo[*i] <= **a && **a <= fc.intervals[1].hi[*i])
        .count();
    assert!(
        inside >= 20,
        "{}: 95% interval covered {inside}/24",
        fit.describe()
    );
}

#[test]
fn additive_intervals_widen_with_the_horizon() {
    let y: Vec<f64> = (0..60)
        .map(|t| 50.0 + ((t * 7919) % 13) as f64 - 6.0 + 0.5 * t as f64)
        .collect();
    let fit = Ets::new(EtsSpec::new(
        ErrorType::Additive,
        TrendType::Additive,
        SeasonType::None,
    ))
    .fit_period(&y, 1)
    .unwrap();
    let fc = fit.forecast(10, &[95.0]).unwrap();
    let width: Vec<f64> = fc.intervals[0]
        .hi
        .iter()
        .zip(&fc.intervals[0].lo)
        .map(|(h, l)| h - l)
        .collect();
    assert!(width.windows(2).all(|w| w[1] >= w[0]), "{width:?}");
    assert!(
        fc.mean[9] > fc.mean[0],
        "trend should continue: {:?}",
        fc.mean
    );
}

#[test]
fn simulated_intervals_are_reproducible_and_bracket_the_mean() {
    let fit = Ets::new(EtsSpec::new(
        ErrorType::Multiplicative,
        TrendType::Damped,
        SeasonType::Multiplicative,
    ))
    .fit_period(&AIR_PASSENGERS, 12)
    .unwrap();
    let a = fit.forecast(24, &[80.0, 95.0]).unwrap();
    let b = fit.forecast(24, &[80.0, 95.0]).unwrap();
    assert_eq!(a, b);
    for i in 0..24 {
        assert!(a.intervals[1].lo[i] < a.intervals[0].lo[i] && a.intervals[0].lo[i] < a.mean[i]);
        assert!(a.mean[i] < a.intervals[0].hi[i] && a.intervals[0].hi[i] < a.intervals[1].hi[i]);
    }
}

#[test]
fn long_periods_are_ignored_unless_allowed() {
    let y: Vec<f64> = (0..480)
        .map(|t| 100.0 + 20.0 * ((t % 48) as f64 / 48.0 * std::f64::consts::TAU).sin())
        .collect();
    let auto = AutoEts::new();
    assert_eq!(auto.period_for(y.len(), &[48]), None);
    let fit = auto
        .clone()
        .max_period(48)
        .additive_only()
        .fit_best(&y, &[48])
        .unwrap();
    assert_eq!(
        fit.spec().season,
        SeasonType::Additive,
        "{}",
        fit.describe()
    );
    let fc = fit.forecast(48, &[95.0]).unwrap();
    let err = fc
        .mean
        .iter()
        .enumerate()
        .map(|(h, f)| (f - y[(480 + h) % 48]).abs())
        .fold(0.0, f64::max);
    assert!(err < 2.0, "max error {err}");
}

#[test]
fn non_seasonal_restriction_is_honoured() {
    let fit = AutoEts::new()
        .non_seasonal()
        .fit_best(&AIR_PASSENGERS, &[12])
        .unwrap();
    assert_eq!(fit.spec().season, SeasonType::None);
}

#[test]
fn degenerate_inputs_give_finite_forecasts_or_errors() {
    let cases: Vec<Vec<f64>> = vec![
        vec![5.0; 40],
        vec![0.0; 40],
        vec![1.0, 2.0],
        (0..50).map(|t| if t == 25 { 1e6 } else { 1.0 }).collect(),
        (0..50).map(|t| 1e12 * (1.0 + (t % 3) as f64)).collect(),
    ];
    for y in cases {
        match AutoEts::new().fit(&y, &[12]) {
            Ok(f) => {
                let fc = f.forecast(12, &[80.0, 95.0]).unwrap();
                assert!(fc.mean.iter().all(|v| v.is_finite()), "{y:?}");
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

/// Property: no hostile input makes ETS panic or return a non-finite forecast.
#[test]
fn hostile_inputs_never_break_ets() {
    use super::testdata::{honours_contract, hostile_series};
    for seed in 0..88 {
        let (what, y) = hostile_series(seed);
        let seasons = [4 + (seed % 9) as usize];
        assert!(
            honours_contract(AutoEts::new().fit(&y, &seasons)),
            "AutoETS: {what}"
        );
        let spec = EtsSpec::new(ErrorType::Additive, TrendType::Damped, SeasonType::Additive);
        assert!(
            honours_contract(Ets::new(spec).fit(&y, &seasons)),
            "ETS(A,Ad,A): {what}"
        );
    }
}

/// A backtest's next cut refits the structure from the previous cut's optimum
/// ([`Fitted::structure`]); the warm start must reach the same maximum as a cold fit.
#[test]
fn warm_started_refit_reaches_the_cold_maximum() {
    let y: Vec<f64> = AIR_PASSENGERS.iter().map(|v| v.ln()).collect();
    for trend in [TrendType::None, TrendType::Additive, TrendType::Damped] {
        let model = Ets::new(EtsSpec::new(ErrorType::Additive, trend, SeasonType::None));
        let earlier = model.fit_period(&y[..y.len() - 12], 1).unwrap();
        let warm = earlier.structure().unwrap().fit(&y, &[]).unwrap();
        let cold = model.fit_period(&y, 1).unwrap();
        let warm_loglik = warm.params()["loglik"].as_f64().unwrap();
        assert!(
            (warm_loglik - cold.loglik()).abs() < 1e-2,
            "{trend:?}: {warm_loglik} vs {}",
            cold.loglik()
        );
        let warm_mean = warm.forecast(12, &[]).unwrap().mean;
        let cold_mean = cold.forecast(12, &[]).unwrap().mean;
        for (w, c) in warm_mean.iter().zip(&cold_mean) {
            assert!((w - c).abs() < 1e-2 * c.abs(), "{trend:?}: {w} vs {c}");
        }
    }
}
