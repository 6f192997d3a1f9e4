//! The SVG plot: well-formed, labelled, bounded in size, and honest about peaks.

use hivesched_sim::{SimError, render_svg};

fn small_case() -> (Vec<i64>, Vec<f64>, Vec<u32>, Vec<u32>) {
    let t0 = 1_404_172_800_000; // 2014-07-01 00:00 UTC
    let timestamps: Vec<i64> = (0..48).map(|i| t0 + i * 1_800_000).collect();
    let demand: Vec<f64> = (0..48)
        .map(|i| 1000.0 + 800.0 * ((i as f64) / 48.0 * std::f64::consts::TAU).sin())
        .collect();
    let always_on = vec![4; 48];
    let predictive: Vec<u32> = demand.iter().map(|d| (d / 500.0).ceil() as u32).collect();
    (timestamps, demand, always_on, predictive)
}

#[test]
fn renders_an_svg_naming_every_policy() {
    let (timestamps, demand, always_on, predictive) = small_case();
    let svg = render_svg(
        &timestamps,
        &demand,
        500.0,
        &[("always-on", &always_on), ("predictive", &predictive)],
    )
    .unwrap();
    assert!(
        svg.trim_start().starts_with("<svg"),
        "{}",
        &svg[..svg.len().min(200)]
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    for label in ["always-on", "predictive", "demand", "2014-07-01"] {
        assert!(svg.contains(label), "the plot should show {label}");
    }
    assert_eq!(data_lines(&svg).len(), 3, "one line per series");
}

#[test]
fn long_traces_are_downsampled_but_keep_their_peaks() {
    let n = 100_000;
    let timestamps: Vec<i64> = (0..n).map(|i| i * 60_000).collect();
    let mut demand = vec![10.0; n as usize];
    demand[54_321] = 987_654.0; // a one-step spike
    let awake = vec![1u32; n as usize];
    let svg = render_svg(&timestamps, &demand, 20.0, &[("reactive", &awake)]).unwrap();
    let lines = data_lines(&svg);
    assert_eq!(lines.len(), 2, "demand and one policy");
    for points in &lines {
        assert!(
            points.len() <= 2_000,
            "a series has {} points",
            points.len()
        );
    }
    // The one-step spike survives: the demand line reaches far above its flat level (SVG y grows
    // downwards), to the top of the y range the spike itself set.
    let ys: Vec<f64> = lines[0].iter().map(|p| p.1).collect();
    let (top, base) = (
        ys.iter().cloned().fold(f64::MAX, f64::min),
        ys.iter().cloned().fold(0.0, f64::max),
    );
    assert!(
        base - top > 300.0,
        "spike lost: the demand line spans only {top}..{base}"
    );
}

/// The polylines with more than two points: the data series in drawing order (legend swatches
/// and tick marks have two).
fn data_lines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline")
        .skip(1)
        .map(|el| {
            let points = el
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            points
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect::<Vec<_>>()
        })
        .filter(|points| points.len() > 2)
        .collect()
}

#[test]
fn mismatched_lengths_are_errors_not_panics() {
    let (timestamps, demand, always_on, _) = small_case();
    let short = vec![1u32; 3];
    assert!(matches!(
        render_svg(&timestamps, &demand[..10], 1.0, &[]),
        Err(SimError::Plot(_))
    ));
    let err = render_svg(
        &timestamps,
        &demand,
        1.0,
        &[("ok", &always_on), ("kpa", &short)],
    )
    .unwrap_err();
    assert!(err.to_string().contains("kpa"), "{err}");
    assert!(matches!(
        render_svg(&[], &[], 1.0, &[]),
        Err(SimError::Plot(_))
    ));
    assert!(matches!(
        render_svg(&timestamps, &demand, f64::NAN, &[]),
        Err(SimError::Plot(_))
    ));
}
