//! The evaluation report (`hivesched.sim.v1` JSON), the per-step schedule CSV and the summary
//! table, all computed from the runs' rows so anyone can recompute them from the CSV.

use std::io::Write;

use std::time::Duration;

use hivesched_policy::Time;
use hivesched_policy::accuracy::AccuracyTally;
use serde::Serialize;

use crate::hours::{HoursBreakdown, breakdown};
use crate::oracle::{OracleConfig, required_awake};
use crate::run::{PolicyRun, SimConfig, StepRow};
use crate::{PolicyKind, SimError, Trace};

/// Schema identifier outside checks look for.
pub const SCHEMA: &str = "hivesched.sim.v1";

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The trace that was replayed.
    pub trace: TraceInfo,
    /// The fleet and latency model.
    pub fleet: FleetInfo,
    /// One entry per policy, in the order run.
    pub policies: Vec<PolicyStats>,
}

/// What was replayed.
#[derive(Debug, Clone, Serialize)]
pub struct TraceInfo {
    /// File name.
    pub name: String,
    /// `regular` or `event_log`.
    pub kind: String,
    /// Steps (rows).
    pub steps: usize,
    /// First step, Unix milliseconds.
    pub start_ms: i64,
    /// Last step, Unix milliseconds.
    pub end_ms: i64,
    /// Total demand.
    pub total_demand: f64,
    /// Gaps found in the timestamps (kept as one step per row, reported here).
    pub gaps: usize,
    /// Steps left out of the scores as warm-up.
    pub warmup_steps: usize,
}

/// The fleet and latency model.
#[derive(Debug, Clone, Serialize)]
pub struct FleetInfo {
    /// Fleet size.
    pub agents: u32,
    /// Demand units one awake agent serves per step.
    pub capacity: f64,
    /// Step length in seconds.
    pub interval_s: f64,
    /// Wake latency in seconds.
    pub wake_latency_s: f64,
    /// Consolidation time in seconds.
    pub consolidation_s: f64,
    /// Floor of awake agents.
    pub min_awake: u32,
    /// Break-even time in seconds: (⌈consolidation / Δ⌉ + ⌈wake / Δ⌉) · Δ, the billed time of a
    /// sleep/wake cycle. A sleep pays off when the agent stays asleep at least this long.
    pub break_even_s: f64,
    /// A wake is useful when the agent is needed within this long of the wake's start (wake
    /// billed time + break-even), before it is put to sleep again.
    pub useful_window_s: f64,
}

/// Scores of one policy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyStats {
    /// Policy name.
    pub name: String,
    /// Σ billed · Δ / 3600.
    pub agent_hours: f64,
    /// The same for always-on: agents · steps · Δ / 3600.
    pub always_on_agent_hours: f64,
    /// 100 · (1 − agent_hours / always_on_agent_hours).
    pub savings_pct: f64,
    /// 100 · Σ unserved / Σ demand.
    pub unserved_pct: f64,
    /// Steps with any unserved demand.
    pub unserved_steps: u64,
    /// Sleeps started.
    pub sleeps: u64,
    /// Wakes started.
    pub wakes: u64,
    /// Sleeps whose agent's next wake started less than the break-even time after the sleep.
    pub flaps: u64,
    /// 100 · flaps / sleeps (null without sleeps).
    pub flap_rate_pct: Option<f64>,
    /// 100 · sleeps paid off / sleeps judged: a sleep pays off when its agent stays asleep at
    /// least the break-even time (null when no sleep was judged).
    pub sleep_payoff_pct: Option<f64>,
    /// 100 · useful wakes / wakes judged: a wake is useful when its agent is needed by the
    /// observed demand within the useful window, before its next sleep (null when no wake was
    /// judged).
    pub wake_useful_pct: Option<f64>,
    /// Sleeps that paid off.
    pub sleeps_paid_off: u64,
    /// Sleeps the end of the trace left unjudged (asleep less than the break-even time so far).
    pub sleeps_unresolved: u64,
    /// Useful wakes.
    pub wakes_useful: u64,
    /// Wakes the end of the trace left unjudged (still inside their window).
    pub wakes_unresolved: u64,
    /// Rail violations found by the independent audit (must be 0). For the oracle, which is held
    /// only to `min_awake`, the steps below `min_awake`.
    pub rail_violations: u64,
    /// Median decision time, microseconds (null for the oracle).
    pub decision_us_p50: Option<f64>,
    /// 99th percentile decision time, microseconds.
    pub decision_us_p99: Option<f64>,
    /// Steps decided in fail-safe.
    pub fail_safe_steps: u64,
    /// Times the forecast breaker opened.
    pub breaker_trips: u64,
    /// 100 · (agent_hours / oracle agent_hours − 1), when the oracle ran. Negative only for a
    /// schedule that left demand unserved.
    pub oracle_gap_pct: Option<f64>,
    /// Where the agent-hours go: needed, early, kept, margin, transitions (they add up to
    /// `agent_hours`), and the agents short of the need (see [`crate::hours`]).
    pub hours: HoursBreakdown,
    /// What this row is, when it is not a policy (the oracle's limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

/// The rows a run is scored on: all but the first `warmup`.
pub(crate) fn scored(run: &PolicyRun, warmup: usize) -> &[StepRow] {
    &run.rows[warmup.min(run.rows.len())..]
}

/// Demand a step left unserved: max(0, d − awake · capacity).
pub(crate) fn unserved_demand(row: &StepRow, capacity: f64) -> f64 {
    (row.demand - f64::from(row.awake) * capacity).max(0.0)
}

/// Steps of `trace` left out of the scores as warm-up.
pub(crate) fn warmup_steps(trace: &Trace, cfg: &SimConfig) -> usize {
    (cfg.train_fraction * trace.values.len() as f64).floor() as usize
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let k = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[k])
}

/// Scores one run from its rows, leaving out the first `warmup` steps.
pub fn stats(run: &PolicyRun, cfg: &SimConfig, interval_s: f64, warmup: usize) -> PolicyStats {
    let rows = scored(run, warmup);
    let hours = |billed: f64| billed * interval_s / 3600.0;
    let billed: f64 = rows.iter().map(|r| f64::from(r.billed)).sum();
    let always = hours(f64::from(cfg.agents) * rows.len() as f64);
    let agent_hours = hours(billed);
    let demand: f64 = rows.iter().map(|r| r.demand).sum();
    let unserved_of = |r: &StepRow| unserved_demand(r, cfg.capacity);
    let unserved: f64 = rows.iter().map(unserved_of).sum();
    let sleeps: u64 = rows.iter().map(|r| u64::from(r.sleeps_started)).sum();
    // Decisions started in the warm-up are left out like its rows.
    let scored_from = rows.first().map_or(Time(i64::MAX), |r| Time(r.timestamp));
    let mut tally = AccuracyTally::default();
    for outcome in &run.extras.outcomes {
        if outcome.started() >= scored_from {
            tally.add(*outcome);
        }
    }
    let (wake_steps, sleep_steps) = cfg.transition_steps(Duration::from_secs_f64(interval_s));
    let demand_rows: Vec<f64> = rows.iter().map(|r| r.demand).collect();
    let required = required_awake(
        &demand_rows,
        &OracleConfig {
            agents: cfg.agents,
            capacity: cfg.capacity,
            min_awake: cfg.rails.min_awake,
            wake_steps,
            sleep_steps,
        },
    );
    let window = (wake_steps + sleep_steps) as usize;
    let hours_by_cause = breakdown(rows, &required, window, interval_s / 3600.0);
    let mut us = run.extras.decision_us.clone();
    us.sort_by(f64::total_cmp);
    PolicyStats {
        name: run.name.clone(),
        agent_hours,
        always_on_agent_hours: always,
        savings_pct: if always > 0.0 {
            100.0 * (1.0 - agent_hours / always)
        } else {
            0.0
        },
        unserved_pct: if demand > 0.0 {
            100.0 * unserved / demand
        } else {
            0.0
        },
        unserved_steps: rows.iter().filter(|r| unserved_of(r) > 0.0).count() as u64,
        sleeps,
        wakes: rows.iter().map(|r| u64::from(r.wakes_started)).sum(),
        flaps: tally.flaps,
        flap_rate_pct: (sleeps > 0).then(|| 100.0 * tally.flaps as f64 / sleeps as f64),
        sleep_payoff_pct: tally.sleep_payoff_pct(),
        wake_useful_pct: tally.wake_useful_pct(),
        sleeps_paid_off: tally.sleeps_paid_off,
        sleeps_unresolved: tally.sleeps_unresolved,
        wakes_useful: tally.wakes_useful,
        wakes_unresolved: tally.wakes_unresolved,
        rail_violations: run.extras.rail_violations,
        decision_us_p50: percentile(&us, 0.50),
        decision_us_p99: percentile(&us, 0.99),
        fail_safe_steps: run.extras.fail_safe_steps,
        breaker_trips: run.extras.breaker_trips,
        oracle_gap_pct: None,
        hours: hours_by_cause,
        note: run.extras.note,
    }
}

/// Builds the report for `runs` over `trace`.
pub fn build_report(trace: &Trace, cfg: &SimConfig, runs: &[PolicyRun]) -> Report {
    let warmup = warmup_steps(trace, cfg);
    let mut policies: Vec<PolicyStats> = runs
        .iter()
        .map(|r| stats(r, cfg, trace.interval_s, warmup))
        .collect();
    if let Some(oracle) = policies
        .iter()
        .find(|p| p.name == "oracle")
        .map(|p| p.agent_hours)
    {
        for p in &mut policies {
            p.oracle_gap_pct = (oracle > 0.0).then(|| 100.0 * (p.agent_hours / oracle - 1.0));
        }
    }
    let judged = cfg.accuracy(Duration::from_secs_f64(trace.interval_s));
    Report {
        schema: SCHEMA,
        trace: TraceInfo {
            name: trace.name.clone(),
            kind: format!("{:?}", trace.kind).to_lowercase(),
            steps: trace.values.len(),
            start_ms: trace.timestamps.first().copied().unwrap_or(0),
            end_ms: trace.timestamps.last().copied().unwrap_or(0),
            total_demand: trace.values.iter().sum(),
            gaps: trace.gaps.len(),
            warmup_steps: warmup,
        },
        fleet: FleetInfo {
            agents: cfg.agents,
            capacity: cfg.capacity,
            interval_s: trace.interval_s,
            wake_latency_s: cfg.wake_latency.as_secs_f64(),
            consolidation_s: cfg.consolidation.as_secs_f64(),
            min_awake: cfg.rails.min_awake,
            break_even_s: judged.break_even.as_secs_f64(),
            useful_window_s: judged.useful_window.as_secs_f64(),
        },
        policies,
    }
}

fn format_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Writes the schedule CSV: `policy,step,timestamp,demand,awake,billed,sleeps_started,wakes_started`.
pub fn write_schedule(out: impl Write, runs: &[PolicyRun]) -> Result<(), SimError> {
    write_rows(out, &[(None, runs)])
}

/// The table's `rails` cell: the rail violations, or `-` for the oracle, which is held to
/// min_awake only (a 0 there would read as "kept every rail").
pub(crate) fn rails_cell(policy: &str, violations: u64) -> String {
    if policy == PolicyKind::Oracle.name() {
        "-".to_string()
    } else {
        violations.to_string()
    }
}

/// Writes the rows of `runs`, each set under its pool's name when it has one (then the CSV
/// starts with a `pool` column).
pub(crate) fn write_rows(
    mut out: impl Write,
    sets: &[(Option<&str>, &[PolicyRun])],
) -> Result<(), SimError> {
    let io = |e: std::io::Error| SimError::Output(e.to_string());
    let pooled = sets.iter().any(|(pool, _)| pool.is_some());
    writeln!(
        out,
        "{}policy,step,timestamp,demand,awake,billed,sleeps_started,wakes_started",
        if pooled { "pool," } else { "" }
    )
    .map_err(io)?;
    for (pool, runs) in sets {
        let prefix = pool.map_or(String::new(), |p| format!("{p},"));
        for run in *runs {
            for r in &run.rows {
                writeln!(
                    out,
                    "{prefix}{},{},{},{},{},{},{},{}",
                    run.name,
                    r.step,
                    format_ts(r.timestamp),
                    r.demand,
                    r.awake,
                    r.billed,
                    r.sleeps_started,
                    r.wakes_started
                )
                .map_err(io)?;
            }
        }
    }
    out.flush().map_err(io)
}

/// A readable table of the report: one row per policy, then what the columns rest on.
pub fn summary_table(report: &Report) -> String {
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |v| format!("{v:.prec$}"));
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}%"));
    let mut out = format!(
        "trace {} ({} steps of {}s, {} gaps) · {} agents × {} capacity · wake {}s · consolidation {}s · min_awake {}\n",
        report.trace.name,
        report.trace.steps,
        report.fleet.interval_s,
        report.trace.gaps,
        report.fleet.agents,
        report.fleet.capacity,
        report.fleet.wake_latency_s,
        report.fleet.consolidation_s,
        report.fleet.min_awake
    );
    out += &format!(
        "{:<16} {:>11} {:>8} {:>10} {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>9} {:>9} {:>9}\n",
        "policy",
        "agent-hours",
        "savings",
        "unserved",
        "sleeps",
        "wakes",
        "flaps",
        "payoff",
        "useful",
        "rails",
        "vs oracle",
        "p50 µs",
        "p99 µs"
    );
    for p in &report.policies {
        let rails = rails_cell(&p.name, p.rail_violations);
        out += &format!(
            "{:<16} {:>11.1} {:>7.1}% {:>9.3}% {:>7} {:>7} {:>6} {:>7} {:>7} {:>6} {:>9} {:>9} {:>9}\n",
            p.name,
            p.agent_hours,
            p.savings_pct,
            p.unserved_pct,
            p.sleeps,
            p.wakes,
            p.flaps,
            pct(p.sleep_payoff_pct),
            pct(p.wake_useful_pct),
            rails,
            p.oracle_gap_pct.map_or("-".into(), |g| format!("{g:+.1}%")),
            opt(p.decision_us_p50, 1),
            opt(p.decision_us_p99, 1),
        );
    }
    out += &hours_table(
        report
            .policies
            .iter()
            .map(|p| (p.name.as_str(), p.agent_hours, &p.hours)),
    );
    out += "needed: awake within the step's need; early: above it, for demand within the next break-even window; \
kept: above it, from demand within the previous window; margin: above every need within the window either side; \
transit: consolidating or waking; short: agents missing below the need (unserved)\n";
    out += &format!(
        "break-even {}s: a sleep pays off when its agent stays asleep that long, and flaps when it is woken sooner after the sleep started; \
a wake is useful when its agent is needed by demand within {}s of the wake, before its next sleep; - where nothing was judged\n",
        report.fleet.break_even_s, report.fleet.useful_window_s
    );
    for p in &report.policies {
        if let Some(note) = p.note {
            out += &format!("{}: {note}\n", p.name);
        }
    }
    out
}

/// The table of where each policy's agent-hours go, from `(name, agent_hours, hours)` rows, with
/// each row's hours over the oracle's when the oracle is among them.
pub(crate) fn hours_table<'a>(
    rows: impl Iterator<Item = (&'a str, f64, &'a HoursBreakdown)> + Clone,
) -> String {
    let mut out = format!(
        "\n{:<16} {:>11} {:>9} {:>9} {:>9} {:>9} {:>11} {:>9}\n",
        "agent-hours in", "needed", "early", "kept", "margin", "transit", "over oracle", "short"
    );
    let oracle_hours = rows
        .clone()
        .find(|(name, _, _)| *name == PolicyKind::Oracle.name())
        .map(|(_, hours, _)| hours);
    for (name, agent_hours, h) in rows {
        out += &format!(
            "{:<16} {:>11.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>11} {:>9.1}\n",
            name,
            h.needed,
            h.early,
            h.kept,
            h.margin,
            h.transitions,
            oracle_hours.map_or("-".into(), |o| format!("{:+.1}", agent_hours - o)),
            h.short,
        );
    }
    out
}
