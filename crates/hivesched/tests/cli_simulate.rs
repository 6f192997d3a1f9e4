//! `hivesched simulate` end to end: the report and schedule contracts, and clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hivesched(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hivesched"))
        .args(args)
        .output()
        .expect("run hivesched")
}

fn bundled_trace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/nyc_taxi.csv")
}

/// Two weeks of the bundled trace, so the debug build stays quick.
fn short_trace(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(bundled_trace()).unwrap();
    let short: Vec<&str> = text.lines().take(1 + 14 * 48).collect();
    let path = dir.join("taxi-2w.csv");
    std::fs::write(&path, short.join("\n")).unwrap();
    path
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hivesched-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn writes_report_schedule_and_plot_per_contract() {
    let dir = tempdir("contract");
    let trace = short_trace(&dir);
    let (report, schedule, plot) = (
        dir.join("out/r.json"),
        dir.join("out/s.csv"),
        dir.join("out/p.svg"),
    );
    let out = hivesched(&[
        "simulate",
        "--trace",
        trace.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--schedule",
        schedule.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("predictive") && stdout.contains("oracle"),
        "{stdout}"
    );

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(doc["schema"], "hivesched.sim.v1");
    assert_eq!(doc["fleet"]["agents"], 45);
    assert_eq!(doc["fleet"]["interval_s"], 1800.0);
    let names: Vec<&str> = doc["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "always-on",
            "reactive",
            "kpa",
            "seasonal-naive",
            "predictive",
            "oracle"
        ]
    );
    for p in doc["policies"].as_array().unwrap() {
        for key in [
            "agent_hours",
            "always_on_agent_hours",
            "savings_pct",
            "unserved_pct",
            "sleeps",
            "wakes",
            "rail_violations",
        ] {
            assert!(p[key].is_number(), "{} lacks {key}", p["name"]);
        }
        assert_eq!(p["rail_violations"], 0);
    }

    let csv = std::fs::read_to_string(&schedule).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "policy,step,timestamp,demand,awake,billed,sleeps_started,wakes_started"
    );
    assert_eq!(lines.count(), 6 * 14 * 48);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("predictive"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempdir("bad");
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:30:00,abc\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["simulate", "--trace", "/nonexistent/trace.csv"],
            "/nonexistent/trace.csv: cannot read the trace",
        ),
        (
            &["simulate", "--trace", bad.to_str().unwrap()],
            "bad.csv:3: value \"abc\" is not a number",
        ),
        (
            &[
                "simulate",
                "--trace",
                bad.to_str().unwrap(),
                "--policy",
                "hpa",
            ],
            "unknown policy \"hpa\"",
        ),
        (
            &[
                "simulate",
                "--trace",
                bad.to_str().unwrap(),
                "--faults",
                "stall=9-3",
            ],
            "ends before it starts",
        ),
    ];
    for (args, needle) in cases {
        let out = hivesched(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    std::fs::remove_dir_all(dir).ok();
}
