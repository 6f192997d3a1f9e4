//! Shared helpers for tests on the real traces in `shared/data/traces`.

use std::path::PathBuf;

/// Path of a NAB trace, or a panic that says clearly where it was looked for: a missing trace must
/// fail the test, never let it pass silently.
pub fn nab_trace(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/traces/nab")
        .join(name);
    assert!(
        path.exists(),
        "trace {name} is missing: expected at {} (the shared/ folder beside the project)",
        path.display()
    );
    path
}

/// Values of a NAB `timestamp,value` CSV and its step in seconds (from the first two rows).
pub fn load_nab(name: &str) -> (Vec<f64>, f64) {
    let text = std::fs::read_to_string(nab_trace(name)).expect("readable trace");
    let mut ts = Vec::new();
    let mut ys = Vec::new();
    for line in text.lines().skip(1) {
        let (t, v) = line.split_once(',').expect("timestamp,value row");
        ts.push(seconds(t));
        ys.push(v.trim().parse::<f64>().expect("numeric value"));
    }
    let step = (ts[1] - ts[0]) as f64;
    (ys, step)
}

/// Seconds since 2000-01-01 of `YYYY-MM-DD HH:MM:SS` (enough to difference two timestamps).
fn seconds(t: &str) -> i64 {
    let num = |a: usize, b: usize| t[a..b].parse::<i64>().expect("timestamp field");
    let (y, m, d) = (num(0, 4), num(5, 7), num(8, 10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe;
    days * 86_400 + num(11, 13) * 3600 + num(14, 16) * 60 + num(17, 19)
}
