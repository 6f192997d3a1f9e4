//! Trace simulator for Hive Scheduler: loads real demand traces, bounds what any policy could
//! achieve on them (the perfect-foresight oracle), and draws the result.

pub mod error;
pub mod oracle;
pub mod plot;
pub mod trace;

pub use error::{SimError, TraceProblem};
pub use oracle::{OracleConfig, OracleSchedule, oracle_schedule, required_awake};
pub use plot::render_svg;
pub use trace::{Gap, IntervalSource, Trace, TraceKind, TraceOptions, load_trace, parse_trace};
