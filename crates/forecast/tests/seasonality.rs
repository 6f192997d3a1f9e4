//! Seasonality detection must find the exact period on real traces: an off-by-two period ruins
//! a seasonal model.

mod common;

use hivesched_forecast::season::detect_seasons;

#[test]
fn nyc_taxi_is_daily_and_weekly_at_30_minutes() {
    let (y, step) = common::load_nab("nyc_taxi.csv");
    assert_eq!(step, 1800.0);
    assert_eq!(detect_seasons(&y, Some(step)).periods, vec![48, 336]);
    // Four weeks, the window the comparison script trains on.
    assert_eq!(
        detect_seasons(&y[..48 * 28], Some(step)).periods,
        vec![48, 336]
    );
}

#[test]
fn five_minute_daily_cycle_is_288() {
    let (y, step) = common::load_nab("Twitter_volume_AMZN.csv");
    assert_eq!(step, 300.0);
    let p = detect_seasons(&y, Some(step)).periods;
    assert!(p.contains(&288), "{p:?}");
}

#[test]
fn five_minute_weekly_cycle_is_2016() {
    // nyc_taxi resampled to 5 minutes (each half hour split into six steps, with a little
    // deterministic jitter): real daily and weekly load at 288 and 2016 steps.
    let (y, _) = common::load_nab("nyc_taxi.csv");
    let noise = hivesched_forecast::stats::test_noise(3, y.len() * 6);
    let fine: Vec<f64> = y[..48 * 35]
        .iter()
        .flat_map(|v| std::iter::repeat_n(*v, 6))
        .zip(&noise)
        .map(|(v, e)| v * (1.0 + 0.05 * e))
        .collect();
    assert_eq!(detect_seasons(&fine, Some(300.0)).periods, vec![288, 2016]);
}

#[test]
fn weekly_at_30_minutes_needs_the_weekly_cycle_to_add_something() {
    // Daily-only synthetic load: the weekly candidate must be rejected.
    let noise = hivesched_forecast::stats::test_noise(5, 48 * 28);
    let y: Vec<f64> = (0..48 * 28)
        .map(|t| {
            100.0
                + 30.0 * (2.0 * std::f64::consts::PI * (t % 48) as f64 / 48.0).sin()
                + 5.0 * noise[t]
        })
        .collect();
    assert_eq!(detect_seasons(&y, Some(1800.0)).periods, vec![48]);
}
