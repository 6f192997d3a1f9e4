//! Trace simulator for Hive Scheduler: replays real demand traces against every policy under the
//! same latencies and rails, bounds what any policy could achieve (the perfect-foresight oracle),
//! scores the runs and draws them.
//!
//! - [`trace`]: loading regular series and event logs, with errors naming file and line.
//! - [`run`]: the step loop; [`fleet_sim`] moves agents through their states.
//! - [`audit`]: an independent recount of the rails; [`faults`]: fault injection.
//! - [`accuracy`]: which sleeps paid off and which wakes were useful, per agent.
//! - [`pools`]: several pools in one run, each planned alone, and their totals.
//! - [`oracle`]: the lower bound; [`hours`]: where a schedule's agent-hours go; [`report`] and [`plot`]: what comes out.

pub mod accuracy;
pub mod audit;
pub mod error;
pub mod faults;
pub mod fleet_sim;
pub mod hours;
pub mod oracle;
pub mod plot;
pub mod policies;
pub mod pools;
pub mod report;
pub mod run;
pub mod trace;

pub use error::{SimError, TraceProblem};
pub use faults::Faults;
pub use oracle::{OracleConfig, OracleSchedule, oracle_schedule, required_awake};
pub use plot::render_svg;
pub use policies::PolicyKind;
pub use pools::{
    Pool, PoolRuns, PoolsReport, build_pools_report, pools_table, run_pools, write_pools_schedule,
};
pub use report::{Report, build_report, summary_table, write_schedule};
pub use run::{ForecasterFactory, PolicyRun, SimConfig, run_policy};
pub use trace::{
    Gap, IntervalSource, Reordered, Trace, TraceKind, TraceOptions, load_trace, parse_trace,
};
