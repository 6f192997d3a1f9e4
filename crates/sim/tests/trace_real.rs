//! The loader against every real trace the project ships beside it (`../shared/data/traces`),
//! with the row counts from that folder's README.

use std::path::PathBuf;
use std::time::Duration;

use hivesched_sim::{IntervalSource, TraceKind, TraceOptions, load_trace};

fn traces_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/traces");
    assert!(
        dir.join("README.md").is_file(),
        "the real traces are missing: expected them in {} (the shared/ folder beside the project); \
         these tests need them and will not pass silently without them",
        dir.display()
    );
    dir
}

/// (file, rows, interval in seconds, gaps). Rows are the README's, exact where it gives "~".
const NAB: &[(&str, usize, f64, usize)] = &[
    ("nyc_taxi.csv", 10_320, 1800.0, 0),
    ("cpu_utilization_asg_misconfiguration.csv", 18_050, 300.0, 0),
    ("elb_request_count_8c0756.csv", 4_032, 300.0, 8),
    ("grok_asg_anomaly.csv", 4_621, 300.0, 0),
    ("rds_cpu_utilization_e47b3b.csv", 4_032, 300.0, 0),
    ("ec2_cpu_utilization_5f5533.csv", 4_032, 300.0, 0),
    ("Twitter_volume_AMZN.csv", 15_831, 300.0, 0),
    ("Twitter_volume_GOOG.csv", 15_842, 300.0, 0),
];

#[test]
fn every_nab_trace_loads_with_one_step_per_row() {
    let dir = traces_dir().join("nab");
    for &(file, rows, interval_s, gaps) in NAB {
        let trace = load_trace(&dir.join(file), &TraceOptions::default())
            .unwrap_or_else(|e| panic!("{file} should load: {e}"));
        assert_eq!(trace.name, file);
        assert_eq!(trace.kind, TraceKind::RegularSeries, "{file}");
        assert_eq!(trace.values.len(), rows, "{file}: rows");
        assert_eq!(trace.timestamps.len(), rows, "{file}: timestamps");
        assert_eq!(trace.interval_s, interval_s, "{file}: interval");
        assert_eq!(trace.interval_source, IntervalSource::Native, "{file}");
        assert_eq!(trace.gaps.len(), gaps, "{file}: gaps {:?}", trace.gaps);
        assert!(
            trace.values.iter().all(|v| v.is_finite() && *v >= 0.0),
            "{file}"
        );
        assert!(
            trace.timestamps.windows(2).all(|w| w[0] < w[1]),
            "{file}: strictly increasing"
        );
    }
}

#[test]
fn nyc_taxi_starts_where_the_file_does() {
    let trace = load_trace(
        &traces_dir().join("nab/nyc_taxi.csv"),
        &TraceOptions::default(),
    )
    .unwrap();
    // 2014-07-01 00:00:00 UTC, value 10844; the next row is 30 minutes later with 8127.
    assert_eq!(trace.timestamps[0], 1_404_172_800_000);
    assert_eq!(trace.timestamps[1] - trace.timestamps[0], 1_800_000);
    assert_eq!(&trace.values[..2], &[10844.0, 8127.0]);
}

#[test]
fn elb_reports_its_eight_gaps_by_line() {
    let trace = load_trace(
        &traces_dir().join("nab/elb_request_count_8c0756.csv"),
        &TraceOptions::default(),
    )
    .unwrap();
    assert_eq!(trace.gaps.len(), 8);
    let lines: Vec<u64> = trace.gaps.iter().map(|g| g.line).collect();
    assert_eq!(lines, [140, 909, 1152, 1787, 1858, 2195, 2394, 2925]);
    for gap in &trace.gaps {
        assert_eq!(
            gap.to - gap.from,
            600_000,
            "each gap is one missing 5-minute row: {gap:?}"
        );
        assert_eq!(gap.missing_steps, 1);
    }
    // The rows around a gap stay adjacent steps: nothing is invented.
    let first = trace.gaps[0];
    let i = trace
        .timestamps
        .iter()
        .position(|&t| t == first.to)
        .unwrap();
    assert_eq!(trace.timestamps[i - 1], first.from);
}

#[test]
fn nab_trace_at_its_native_interval_is_accepted_and_another_is_refused() {
    let path = traces_dir().join("nab/nyc_taxi.csv");
    let native = TraceOptions {
        interval: Some(Duration::from_secs(1800)),
        ..TraceOptions::default()
    };
    let trace = load_trace(&path, &native).unwrap();
    assert_eq!(trace.interval_source, IntervalSource::Requested);
    let other = TraceOptions {
        interval: Some(Duration::from_secs(300)),
        ..TraceOptions::default()
    };
    let err = load_trace(&path, &other).unwrap_err().to_string();
    assert!(
        err.contains("native interval of 1800 s") && err.contains("300 s"),
        "{err}"
    );
}

/// (file, arrival rows). The traces README says 8818 and 19365; the files hold one more data row
/// each (the README seems to have counted newlines, and the last row has none).
const AZURE: &[(&str, usize)] = &[
    ("AzureLLMInferenceTrace_code.csv", 8_819),
    ("AzureLLMInferenceTrace_conv.csv", 19_366),
];

#[test]
fn azure_event_logs_aggregate_into_counts_per_interval() {
    let dir = traces_dir().join("azure");
    for &(file, arrivals) in AZURE {
        let opts = TraceOptions {
            interval: Some(Duration::from_secs(10)),
            ..TraceOptions::default()
        };
        let trace = load_trace(&dir.join(file), &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(trace.kind, TraceKind::EventLog { arrivals }, "{file}");
        assert_eq!(trace.interval_s, 10.0);
        assert_eq!(
            trace.values.iter().sum::<f64>(),
            arrivals as f64,
            "{file}: every arrival counted"
        );
        assert!(
            trace.timestamps[0] % 10_000 == 0,
            "{file}: steps aligned to the interval"
        );
        assert!(
            trace.timestamps.windows(2).all(|w| w[1] - w[0] == 10_000),
            "{file}"
        );
        // About an hour of data: between 55 and 65 minutes of 10-second steps.
        assert!(
            (330..=390).contains(&trace.values.len()),
            "{file}: {} steps",
            trace.values.len()
        );
        assert!(trace.gaps.is_empty());
    }
}

#[test]
fn azure_without_an_interval_uses_the_default_and_says_so() {
    let trace = load_trace(
        &traces_dir().join("azure/AzureLLMInferenceTrace_code.csv"),
        &TraceOptions::default(),
    )
    .unwrap();
    assert_eq!(trace.interval_s, 60.0);
    assert_eq!(trace.interval_source, IntervalSource::Default);
    // First arrival 2023-11-16 18:17:03.97996 → first step starts at 18:17:00.
    assert_eq!(trace.timestamps[0], 1_700_158_620_000);
}
