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

/// A report without the wall-clock decision times, the one thing two runs do not share.
fn without_timings(mut v: serde_json::Value) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("decision_us_p50");
                map.remove("decision_us_p99");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn two_pools_report_each_pool_as_alone_and_their_totals() {
    let dir = tempdir("pools");
    let taxi = short_trace(&dir);
    // Two days of the taxi trace at a tenth of the demand stand for a second kind of agent.
    let text = std::fs::read_to_string(&taxi).unwrap();
    let mut small = vec!["timestamp,value".to_string()];
    for line in text.lines().skip(1).take(2 * 48) {
        let (ts, v) = line.split_once(',').unwrap();
        small.push(format!("{ts},{}", v.parse::<f64>().unwrap() / 10.0));
    }
    std::fs::write(dir.join("small.csv"), small.join("\n")).unwrap();
    std::fs::write(
        dir.join("pools.toml"),
        "[pools.web]\ntrace = \"taxi-2w.csv\"\n\
         [pools.gpu]\ntrace = \"small.csv\"\nagents = 12\ncapacity = 300\nwake_latency = 300\n\
         [pools.gpu.rails]\nmin_awake = 1\n",
    )
    .unwrap();
    let common = [
        "--policy",
        "reactive,predictive,oracle",
        "--forecaster",
        "seasonal-naive",
    ];
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["simulate"];
        all.extend_from_slice(args);
        all.extend_from_slice(&common);
        let out = hivesched(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = run(&[
        "--pools",
        &path("pools.toml"),
        "--report",
        &path("out/pools.json"),
        "--schedule",
        &path("out/pools.csv"),
        "--plot",
        &path("out/plot.svg"),
    ]);
    run(&[
        "--trace",
        &path("taxi-2w.csv"),
        "--report",
        &path("web.json"),
    ]);
    run(&[
        "--trace",
        &path("small.csv"),
        "--agents",
        "12",
        "--capacity",
        "300",
        "--wake-latency",
        "5m",
        "--min-awake",
        "1",
        "--report",
        &path("gpu.json"),
    ]);

    let doc = read_json(&dir.join("out/pools.json"));
    assert_eq!(doc["schema"], "hivesched.sim.pools.v1");
    let pools = doc["pools"].as_array().unwrap();
    // Pools come in name order.
    assert_eq!(pools[0]["pool"], "gpu");
    assert_eq!(pools[1]["pool"], "web");
    assert_eq!(pools[0]["rails"]["min_awake"], 1);
    for (entry, alone) in pools.iter().zip(["gpu.json", "web.json"]) {
        assert_eq!(
            without_timings(entry["report"].clone()),
            without_timings(read_json(&dir.join(alone))),
            "{alone}"
        );
    }
    let totals = &doc["totals"];
    assert_eq!(totals["agents"], 57);
    for (i, p) in totals["policies"].as_array().unwrap().iter().enumerate() {
        let sum: f64 = pools
            .iter()
            .map(|e| e["report"]["policies"][i]["agent_hours"].as_f64().unwrap())
            .sum();
        assert!(
            (p["agent_hours"].as_f64().unwrap() - sum).abs() < 1e-6,
            "{p}"
        );
    }
    assert!(table.starts_with("pool gpu\n"), "{table}");
    assert!(
        table.contains("\npool web\n") && table.contains("totals over 2 pools"),
        "{table}"
    );
    let csv = std::fs::read_to_string(dir.join("out/pools.csv")).unwrap();
    assert!(csv.starts_with("pool,policy,step,"));
    assert_eq!(csv.lines().count(), 1 + 3 * (2 * 48 + 14 * 48));
    for pool in ["gpu", "web"] {
        let svg = std::fs::read_to_string(dir.join(format!("out/plot.{pool}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{pool}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn pool_file_errors_name_the_key() {
    let dir = tempdir("pools-bad");
    let file = dir.join("pools.toml");
    for (text, needle) in [
        (
            "[pools.gpu]\ntrace = \"t.csv\"\nagents = -1\n",
            "pools.gpu.agents: expected",
        ),
        (
            "[pools.gpu]\ntrace = \"t.csv\"\nagents = 0\n",
            "pools.gpu.agents: must be at least 1",
        ),
        (
            "[pools.gpu]\ntrace = \"t.csv\"\n[pools.gpu.rails]\nsleep_rate = \"x\"\n",
            "pools.gpu.rails.sleep_rate:",
        ),
        (
            "[pools.gpu]\ntrace = \"missing.csv\"\n",
            "missing.csv: cannot read the trace",
        ),
        ("[pools.gpu]\ncapacity = 3\n", "pools.gpu.trace: missing"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = hivesched(&["simulate", "--pools", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(stderr.contains(needle), "{text}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = hivesched(&[
        "simulate",
        "--pools",
        file.to_str().unwrap(),
        "--trace",
        "x.csv",
    ]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(dir).ok();
}
