//! Several pools in one simulation (issue 13): each pool is its own fleet with its own trace,
//! agents, capacity, latencies, rails and forecaster, planned on its own demand by the same
//! planner, exactly as the service plans one pool per lease.
//!
//! Pools share nothing while they run: every pool is a [`run_policy`] of its own, so a pool's
//! results in a several-pool run are those of running it alone, and the totals are sums over the
//! pools' scored steps. Demand is counted in different units in different pools (passengers,
//! tweets, CPU), so the total unserved share is taken in agent-hours of work: a pool's demand d
//! at capacity c over a step of Δ is d / c · Δ agent-hours, and its unserved work
//! max(0, d − awake · c) / c · Δ. For one pool this is its `unserved_pct` exactly.

use std::io::Write;

use hivesched_policy::RailConfig;
use serde::Serialize;

use crate::hours::HoursBreakdown;
use crate::report::{
    Report, build_report, hours_table, scored, summary_table, unserved_demand, warmup_steps,
    write_rows,
};
use crate::run::{PolicyRun, SimConfig, run_policy};
use crate::{PolicyKind, SimError, Trace};

/// Schema identifier of the several-pool report.
pub const POOLS_SCHEMA: &str = "hivesched.sim.pools.v1";

/// One pool of a simulation.
#[derive(Clone)]
pub struct Pool {
    /// The pool's name, as the service's `pools.<name>` spells it.
    pub name: String,
    /// The pool's demand.
    pub trace: Trace,
    /// The pool's fleet, latencies, rails and forecaster.
    pub cfg: SimConfig,
}

/// A pool and its runs, one per policy, in the order run.
pub struct PoolRuns<'a> {
    /// The pool.
    pub pool: &'a Pool,
    /// Its runs.
    pub runs: Vec<PolicyRun>,
}

/// Runs every policy of `kinds` on every pool; `progress(pool, kind)` is called after each
/// step with the pool and policy being run.
pub fn run_pools<'a>(
    pools: &'a [Pool],
    kinds: &[PolicyKind],
    progress: &dyn Fn(&Pool, PolicyKind),
) -> Result<Vec<PoolRuns<'a>>, SimError> {
    pools
        .iter()
        .map(|pool| {
            let runs = kinds
                .iter()
                .map(|&kind| run_policy(&pool.trace, &pool.cfg, kind, &|| progress(pool, kind)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PoolRuns { pool, runs })
        })
        .collect()
}

/// The several-pool report: each pool's own `hivesched.sim.v1` report, and the totals.
#[derive(Debug, Clone, Serialize)]
pub struct PoolsReport {
    /// Always [`POOLS_SCHEMA`].
    pub schema: &'static str,
    /// One entry per pool, in the order given.
    pub pools: Vec<PoolReport>,
    /// Sums over the pools, per policy.
    pub totals: Totals,
}

/// One pool's results.
#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    /// The pool's name.
    pub pool: String,
    /// The rails the pool ran under (the report's `fleet` carries only `min_awake`).
    pub rails: RailConfig,
    /// The pool's report, as running it alone writes it.
    pub report: Report,
}

/// The totals over every pool.
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// Pools simulated.
    pub pools: usize,
    /// Agents in all pools.
    pub agents: u32,
    /// One entry per policy, in the order run.
    pub policies: Vec<PolicyTotals>,
}

/// One policy summed over the pools.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PolicyTotals {
    /// Policy name.
    pub name: String,
    /// Σ over pools of the pool's `agent_hours`.
    pub agent_hours: f64,
    /// Σ over pools of the pool's `always_on_agent_hours`.
    pub always_on_agent_hours: f64,
    /// 100 · (1 − agent_hours / always_on_agent_hours).
    pub savings_pct: f64,
    /// Demand in agent-hours of work: Σ d / capacity · Δ / 3600 over every pool's scored steps.
    pub demand_agent_hours: f64,
    /// Work left unserved: Σ max(0, d − awake · capacity) / capacity · Δ / 3600.
    pub unserved_agent_hours: f64,
    /// 100 · unserved_agent_hours / demand_agent_hours (for one pool, its `unserved_pct`).
    pub unserved_pct: f64,
    /// Σ sleeps started.
    pub sleeps: u64,
    /// Σ wakes started.
    pub wakes: u64,
    /// Σ flaps.
    pub flaps: u64,
    /// Σ rail violations (the oracle's: steps below `min_awake`).
    pub rail_violations: u64,
    /// Σ steps decided in fail-safe.
    pub fail_safe_steps: u64,
    /// Σ times the forecast breaker opened.
    pub breaker_trips: u64,
    /// 100 · (agent_hours / oracle agent_hours − 1), when the oracle ran.
    pub oracle_gap_pct: Option<f64>,
    /// Σ over pools of where the agent-hours go.
    pub hours: HoursBreakdown,
}

/// Builds the several-pool report. Every pool must have run the same policies in the same order
/// ([`run_pools`] does).
pub fn build_pools_report(pools: &[PoolRuns<'_>]) -> Result<PoolsReport, SimError> {
    let reports: Vec<PoolReport> = pools
        .iter()
        .map(|p| PoolReport {
            pool: p.pool.name.clone(),
            rails: p.pool.cfg.rails(),
            report: build_report(&p.pool.trace, &p.pool.cfg, &p.runs),
        })
        .collect();
    let names: Vec<&str> = pools
        .first()
        .map(|p| p.runs.iter().map(|r| r.name.as_str()).collect())
        .unwrap_or_default();
    let mut totals: Vec<PolicyTotals> = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let mut t = PolicyTotals {
            name: (*name).to_string(),
            agent_hours: 0.0,
            always_on_agent_hours: 0.0,
            savings_pct: 0.0,
            demand_agent_hours: 0.0,
            unserved_agent_hours: 0.0,
            unserved_pct: 0.0,
            sleeps: 0,
            wakes: 0,
            flaps: 0,
            rail_violations: 0,
            fail_safe_steps: 0,
            breaker_trips: 0,
            oracle_gap_pct: None,
            hours: HoursBreakdown::default(),
        };
        for (p, report) in pools.iter().zip(&reports) {
            let (Some(run), Some(s)) = (p.runs.get(i), report.report.policies.get(i)) else {
                return Err(SimError::Simulation(format!(
                    "pool {} did not run policy {name}",
                    p.pool.name
                )));
            };
            if run.name != *name {
                return Err(SimError::Simulation(format!(
                    "pool {} ran {} where the first pool ran {name}",
                    p.pool.name, run.name
                )));
            }
            let (capacity, step_hours) = (p.pool.cfg.capacity, p.pool.trace.interval_s / 3600.0);
            let rows = scored(run, warmup_steps(&p.pool.trace, &p.pool.cfg));
            t.demand_agent_hours +=
                rows.iter().map(|r| r.demand).sum::<f64>() / capacity * step_hours;
            t.unserved_agent_hours += rows
                .iter()
                .map(|r| unserved_demand(r, capacity))
                .sum::<f64>()
                / capacity
                * step_hours;
            t.agent_hours += s.agent_hours;
            t.always_on_agent_hours += s.always_on_agent_hours;
            t.sleeps += s.sleeps;
            t.wakes += s.wakes;
            t.flaps += s.flaps;
            t.rail_violations += s.rail_violations;
            t.fail_safe_steps += s.fail_safe_steps;
            t.breaker_trips += s.breaker_trips;
            t.hours += &s.hours;
        }
        t.savings_pct = if t.always_on_agent_hours > 0.0 {
            100.0 * (1.0 - t.agent_hours / t.always_on_agent_hours)
        } else {
            0.0
        };
        t.unserved_pct = if t.demand_agent_hours > 0.0 {
            100.0 * t.unserved_agent_hours / t.demand_agent_hours
        } else {
            0.0
        };
        totals.push(t);
    }
    if let Some(oracle) = totals
        .iter()
        .find(|t| t.name == PolicyKind::Oracle.name())
        .map(|t| t.agent_hours)
    {
        for t in &mut totals {
            t.oracle_gap_pct = (oracle > 0.0).then(|| 100.0 * (t.agent_hours / oracle - 1.0));
        }
    }
    Ok(PoolsReport {
        schema: POOLS_SCHEMA,
        totals: Totals {
            pools: reports.len(),
            agents: reports.iter().map(|p| p.report.fleet.agents).sum(),
            policies: totals,
        },
        pools: reports,
    })
}

/// The readable form: each pool's table as running it alone prints it, under the pool's name,
/// then the totals.
pub fn pools_table(report: &PoolsReport) -> String {
    let mut out = String::new();
    for p in &report.pools {
        out += &format!("pool {}\n{}\n", p.pool, summary_table(&p.report));
    }
    let t = &report.totals;
    out += &format!(
        "totals over {} pools · {} agents (unserved: share of the demand's agent-hours of work)\n",
        t.pools, t.agents
    );
    out += &format!(
        "{:<16} {:>11} {:>8} {:>10} {:>7} {:>7} {:>6} {:>6} {:>9}\n",
        "policy",
        "agent-hours",
        "savings",
        "unserved",
        "sleeps",
        "wakes",
        "flaps",
        "rails",
        "vs oracle"
    );
    for p in &t.policies {
        let rails = crate::report::rails_cell(&p.name, p.rail_violations);
        out += &format!(
            "{:<16} {:>11.1} {:>7.1}% {:>9.3}% {:>7} {:>7} {:>6} {:>6} {:>9}\n",
            p.name,
            p.agent_hours,
            p.savings_pct,
            p.unserved_pct,
            p.sleeps,
            p.wakes,
            p.flaps,
            rails,
            p.oracle_gap_pct.map_or("-".into(), |g| format!("{g:+.1}%")),
        );
    }
    out += &hours_table(
        t.policies
            .iter()
            .map(|p| (p.name.as_str(), p.agent_hours, &p.hours)),
    );
    out
}

/// Writes the schedule CSV of every pool: `pool,policy,step,timestamp,demand,awake,billed,
/// sleeps_started,wakes_started`.
pub fn write_pools_schedule(out: impl Write, pools: &[PoolRuns<'_>]) -> Result<(), SimError> {
    let sets: Vec<(Option<&str>, &[PolicyRun])> = pools
        .iter()
        .map(|p| (Some(p.pool.name.as_str()), p.runs.as_slice()))
        .collect();
    write_rows(out, &sets)
}
