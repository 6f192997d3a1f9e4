//! `hivesched forecast` on files whose rows do not map one to one onto steps: it forecasts and
//! says what it did, where `simulate` (one step per row) refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hivesched(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hivesched"))
        .args(args)
        .output()
        .expect("run hivesched")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hivesched-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Four days of the bundled trace (half-hourly) and its values, with NAB's irregularities put in
/// the last day, where seasonal naive reads them back: a repeated timestamp (the later row is the
/// right one), a row one second after another (likewise), and two rows swapped.
fn irregular_trace(dir: &Path) -> (PathBuf, Vec<f64>) {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/nyc_taxi.csv");
    let text = std::fs::read_to_string(bundled).unwrap();
    let rows: Vec<(String, String)> = text
        .lines()
        .skip(1)
        .take(4 * 48)
        .map(|l| {
            let (t, v) = l.split_once(',').unwrap();
            (t.to_string(), v.to_string())
        })
        .collect();
    let values = rows.iter().map(|(_, v)| v.parse().unwrap()).collect();
    let mut lines = vec!["timestamp,value".to_string()];
    for (i, (t, v)) in rows.iter().enumerate() {
        match i {
            // Line 146: a wrong value, repeated with the right one on line 147.
            144 => lines.push(format!("{t},999999")),
            // Lines 148-149: a zero, then the right value one second later.
            145 => {
                lines.push(format!("{t},0"));
                let later = format!("{}:01", &t[..t.len() - 3]);
                lines.push(format!("{later},{v}"));
                continue;
            }
            // Lines 150-151: rows 146 and 147 swapped.
            146 => {
                let (t2, v2) = &rows[147];
                lines.push(format!("{t2},{v2}"));
                lines.push(format!("{t},{v}"));
                continue;
            }
            147 => continue,
            _ => {}
        }
        lines.push(format!("{t},{v}"));
    }
    let path = dir.join("irregular.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    (path, values)
}

#[test]
fn rows_out_of_order_or_repeated_are_put_right_and_reported() {
    let dir = tempdir("forecast-irregular");
    let (path, values) = irregular_trace(&dir);
    let out = hivesched(&[
        "forecast",
        "--input",
        path.to_str().unwrap(),
        "--horizon",
        "6",
        "--season",
        "48",
        "--model",
        "SeasonalNaive",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["mean"].as_array().unwrap().len(), 6);
    let warnings: Vec<&str> = doc["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    let has = |needle: &str| warnings.iter().any(|w| w.contains(needle));
    assert!(
        has("2 row(s) out of time order or with a repeated timestamp"),
        "{warnings:?}"
    );
    assert!(
        has("line 146: its timestamp repeats on line 147"),
        "{warnings:?}"
    );
    assert!(has("line 151: timestamp"), "{warnings:?}");
    assert!(
        has("1 row(s) on the same step as the row before; the later row was kept (line 149)"),
        "{warnings:?}"
    );
    // Seasonal naive repeats the last day, so its first forecasts are the true values of the
    // rows that were repeated, shifted and swapped, in time order.
    let mean: Vec<f64> = doc["mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(mean[..4], values[144..148], "{mean:?}");

    // The simulator walks one step per row, so it still refuses the file, naming the line.
    let sim = hivesched(&["simulate", "--trace", path.to_str().unwrap()]);
    assert!(!sim.status.success());
    let err = String::from_utf8_lossy(&sim.stderr);
    assert!(err.contains("irregular.csv:147"), "{err}");
    assert!(err.contains("repeats the row before"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
