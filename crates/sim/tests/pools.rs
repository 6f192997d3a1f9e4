//! Several pools in one simulation: each pool's results are those of running it alone, and the
//! totals are the sums. Two real traces, cut short so the debug build stays quick.

use std::path::PathBuf;
use std::time::Duration;

use hivesched_sim::report::PolicyStats;
use hivesched_sim::{
    PolicyKind, PolicyRun, Pool, SimConfig, TraceOptions, build_pools_report, build_report,
    parse_trace, pools_table, run_policy, run_pools, summary_table, write_pools_schedule,
    write_schedule,
};

/// The first `rows` rows of a shared NAB trace.
fn nab(name: &str, rows: usize) -> hivesched_sim::Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/traces/nab")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "shared trace {} is missing ({e}): these tests need ../shared/data/traces beside the project",
            path.display()
        )
    });
    let head: Vec<&str> = text.lines().take(rows + 1).collect();
    parse_trace(name, head.join("\n").as_bytes(), &TraceOptions::default()).unwrap()
}

fn pools() -> Vec<Pool> {
    // Two weeks of taxi demand on the default fleet; two days of tweets on a smaller fleet with
    // faster transitions, its own rails and a warm-up, so that no setting is shared by accident.
    let web = SimConfig::new(
        45,
        1000.0,
        Duration::from_secs(600),
        Duration::from_secs(600),
        2,
    );
    let mut tweets = SimConfig::new(
        20,
        46.47,
        Duration::from_secs(300),
        Duration::from_secs(120),
        1,
    );
    tweets.rails.max_in_transition = 0.2;
    tweets.rails.agent_cooldown = Duration::from_secs(300);
    tweets.train_fraction = 0.25;
    vec![
        Pool {
            name: "web".into(),
            trace: nab("nyc_taxi.csv", 14 * 48),
            cfg: web,
        },
        Pool {
            name: "tweets".into(),
            trace: nab("Twitter_volume_AMZN.csv", 2 * 288),
            cfg: tweets,
        },
    ]
}

const KINDS: [PolicyKind; 5] = [
    PolicyKind::AlwaysOn,
    PolicyKind::Reactive,
    PolicyKind::Kpa,
    PolicyKind::Predictive,
    PolicyKind::Oracle,
];

/// A report as JSON without the wall-clock decision times, the one thing two runs do not share.
fn comparable(report: &impl serde::Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(report).unwrap();
    strip_timings(&mut v);
    v
}

fn strip_timings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("decision_us_p50");
            map.remove("decision_us_p99");
            map.values_mut().for_each(strip_timings);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_timings),
        _ => {}
    }
}

fn alone(pool: &Pool) -> Vec<PolicyRun> {
    KINDS
        .iter()
        .map(|&k| run_policy(&pool.trace, &pool.cfg, k, &|| {}).unwrap())
        .collect()
}

fn same_schedule(a: &[PolicyRun], b: &[PolicyRun]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.rows, y.rows, "{}", x.name);
        assert_eq!(x.extras.outcomes, y.extras.outcomes, "{}", x.name);
    }
}

#[test]
fn two_pools_are_the_two_runs_alone_and_the_totals_their_sums() {
    let pools = pools();
    let runs = run_pools(&pools, &KINDS, &|_, _| {}).unwrap();
    let report = build_pools_report(&runs).unwrap();
    assert_eq!(report.schema, "hivesched.sim.pools.v1");
    assert_eq!((report.totals.pools, report.totals.agents), (2, 65));

    let mut singles = Vec::new();
    for (pool, together) in pools.iter().zip(&runs) {
        let by_itself = alone(pool);
        same_schedule(&together.runs, &by_itself);
        let single = build_report(&pool.trace, &pool.cfg, &by_itself);
        let entry = report.pools.iter().find(|p| p.pool == pool.name).unwrap();
        assert_eq!(
            comparable(&entry.report),
            comparable(&single),
            "{}",
            pool.name
        );
        assert_eq!(entry.rails, pool.cfg.rails);
        singles.push((pool, by_itself, single));
    }

    for (i, total) in report.totals.policies.iter().enumerate() {
        let each: Vec<&PolicyStats> = singles.iter().map(|(_, _, r)| &r.policies[i]).collect();
        assert!(each.iter().all(|p| p.name == total.name));
        let sum = |f: &dyn Fn(&PolicyStats) -> f64| each.iter().map(|p| f(p)).sum::<f64>();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * a.abs().max(1.0);
        assert!(close(total.agent_hours, sum(&|p| p.agent_hours)));
        assert!(close(
            total.always_on_agent_hours,
            sum(&|p| p.always_on_agent_hours)
        ));
        assert_eq!(total.sleeps, each.iter().map(|p| p.sleeps).sum::<u64>());
        assert_eq!(total.wakes, each.iter().map(|p| p.wakes).sum::<u64>());
        assert_eq!(total.flaps, each.iter().map(|p| p.flaps).sum::<u64>());
        assert_eq!(
            total.rail_violations,
            each.iter().map(|p| p.rail_violations).sum::<u64>()
        );
        assert!(close(total.hours.needed, sum(&|p| p.hours.needed)));
        assert!(close(total.hours.early, sum(&|p| p.hours.early)));
        assert!(close(total.hours.kept, sum(&|p| p.hours.kept)));
        assert!(close(total.hours.margin, sum(&|p| p.hours.margin)));
        assert!(close(
            total.hours.transitions,
            sum(&|p| p.hours.transitions)
        ));
        assert!(close(total.hours.short, sum(&|p| p.hours.short)));

        // Unserved work in agent-hours, recounted from each pool's scored rows.
        let (mut demand, mut unserved) = (0.0, 0.0);
        for (pool, runs, single) in &singles {
            let warmup = single.trace.warmup_steps;
            let h = pool.trace.interval_s / 3600.0 / pool.cfg.capacity;
            for r in &runs[i].rows[warmup..] {
                demand += r.demand * h;
                unserved += (r.demand - f64::from(r.awake) * pool.cfg.capacity).max(0.0) * h;
            }
        }
        assert!(close(total.demand_agent_hours, demand));
        assert!(close(total.unserved_agent_hours, unserved));
        assert!(close(total.unserved_pct, 100.0 * unserved / demand));
    }
    // The oracle bounds the always-on total from below, so its gap is positive there.
    let always = &report.totals.policies[0];
    assert!(always.oracle_gap_pct.unwrap() > 0.0, "{always:?}");

    // Each pool's table is printed as running it alone prints it.
    let table = pools_table(&report);
    for entry in &report.pools {
        assert!(table.contains(&format!(
            "pool {}\n{}",
            entry.pool,
            summary_table(&entry.report)
        )));
    }
    assert!(table.contains("totals over 2 pools · 65 agents"), "{table}");
}

#[test]
fn one_pool_totals_are_its_own_figures() {
    let pools = pools();
    let web = &pools[..1];
    let runs = run_pools(web, &KINDS, &|_, _| {}).unwrap();
    let report = build_pools_report(&runs).unwrap();
    for (total, own) in report
        .totals
        .policies
        .iter()
        .zip(&report.pools[0].report.policies)
    {
        assert_eq!(total.agent_hours, own.agent_hours);
        assert_eq!(total.savings_pct, own.savings_pct);
        assert!(
            (total.unserved_pct - own.unserved_pct).abs() < 1e-9,
            "{}",
            own.name
        );
        assert_eq!(total.oracle_gap_pct, own.oracle_gap_pct);
        assert_eq!(total.hours, own.hours);
    }
}

#[test]
fn the_schedule_names_each_rows_pool() {
    let pools = pools();
    let runs = run_pools(&pools, &[PolicyKind::Reactive], &|_, _| {}).unwrap();
    let mut csv = Vec::new();
    write_pools_schedule(&mut csv, &runs).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "pool,policy,step,timestamp,demand,awake,billed,sleeps_started,wakes_started"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 14 * 48 + 2 * 288);
    assert!(rows[0].starts_with("web,reactive,0,"));
    assert!(rows[14 * 48].starts_with("tweets,reactive,0,"));
    // Without the pool column, each pool's rows are the single-pool schedule's.
    let mut alone = Vec::new();
    write_schedule(&mut alone, &runs[1].runs).unwrap();
    let alone = String::from_utf8(alone).unwrap();
    let tweets: Vec<&str> = rows[14 * 48..]
        .iter()
        .map(|r| r.strip_prefix("tweets,").unwrap())
        .collect();
    assert_eq!(alone.lines().skip(1).collect::<Vec<_>>(), tweets);
}
