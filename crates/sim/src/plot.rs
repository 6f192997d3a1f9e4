//! The simulation plot: demand against the capacity each policy kept awake, over time, as SVG.
//!
//! One picture shows at a glance where a policy ran short (its line under the demand) and where it
//! paid for idle agents (far above). Long traces are downsampled to at most [`MAX_POINTS`] per
//! series by keeping each bucket's maximum, so the peaks that matter survive.

use chrono::DateTime;
use plotters::prelude::*;

use crate::error::SimError;

/// Most points drawn per series; enough for any screen, small enough to keep the SVG light.
pub const MAX_POINTS: usize = 2_000;

const SIZE: (u32, u32) = (1200, 500);

/// Renders demand and `awake × capacity` for each `(policy name, awake per step)` series against
/// `timestamps` (unix ms, one per step) and returns the SVG document.
pub fn render_svg(
    timestamps: &[i64],
    demand: &[f64],
    capacity: f64,
    series: &[(&str, &[u32])],
) -> Result<String, SimError> {
    let steps = timestamps.len();
    if steps == 0 {
        return Err(SimError::Plot("there are no steps to plot".into()));
    }
    if demand.len() != steps {
        return Err(SimError::Plot(format!(
            "demand has {} steps for {steps} timestamps",
            demand.len()
        )));
    }
    if let Some((name, awake)) = series.iter().find(|(_, awake)| awake.len() != steps) {
        return Err(SimError::Plot(format!(
            "policy {name} has {} steps for {steps} timestamps",
            awake.len()
        )));
    }
    if !capacity.is_finite() || capacity < 0.0 {
        return Err(SimError::Plot(format!(
            "capacity {capacity} is not a usable number"
        )));
    }

    let demand_points = downsample(timestamps, |i| demand[i]);
    let policy_points: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|&(name, awake)| {
            (
                name,
                downsample(timestamps, |i| f64::from(awake[i]) * capacity),
            )
        })
        .collect();
    let y_max = policy_points
        .iter()
        .flat_map(|(_, points)| points)
        .chain(&demand_points)
        .map(|&(_, y)| y)
        .filter(|y| y.is_finite())
        .fold(1.0f64, f64::max)
        * 1.05;
    let x_min = timestamps[0] as f64;
    let x_max = (timestamps[steps - 1] as f64).max(x_min + 1.0);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Demand vs awake capacity", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("time (UTC)")
            .y_desc("demand per step")
            .x_labels(8)
            .x_label_formatter(&|&ms| format_time(ms as i64))
            .draw()
            .map_err(plot_error)?;

        let demand_style = BLACK.stroke_width(1);
        chart
            .draw_series(LineSeries::new(demand_points, demand_style))
            .map_err(plot_error)?
            .label("demand")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], demand_style));
        for (i, (name, points)) in policy_points.into_iter().enumerate() {
            let style = Palette99::pick(i).stroke_width(2);
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(plot_error)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Splits the steps into at most [`MAX_POINTS`] equal buckets and keeps each bucket's highest point
/// (at its own time), so short spikes stay visible however long the trace.
fn downsample(timestamps: &[i64], value: impl Fn(usize) -> f64) -> Vec<(f64, f64)> {
    let bucket = timestamps.len().div_ceil(MAX_POINTS).max(1);
    (0..timestamps.len())
        .step_by(bucket)
        .map(|start| {
            let end = (start + bucket).min(timestamps.len());
            let peak = (start..end)
                .max_by(|&a, &b| value(a).total_cmp(&value(b)))
                .unwrap_or(start);
            (timestamps[peak] as f64, value(peak))
        })
        .collect()
}

fn format_time(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string())
}

fn plot_error(e: impl std::fmt::Display) -> SimError {
    SimError::Plot(e.to_string())
}
