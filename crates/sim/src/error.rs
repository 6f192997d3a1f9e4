//! The one error type of the simulator crate.
//!
//! Trace errors are written the way an editor or a compiler points at a file (`file:line: reason`),
//! so a user can jump straight to the bad row; the reason is a typed [`TraceProblem`] so that
//! callers and tests can tell the cases apart without matching on text.

/// Everything that can go wrong in the simulator crate.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The trace file could not be opened or read (missing file, permissions, I/O failure).
    #[error("{file}: cannot read the trace")]
    Io {
        /// The path as the caller gave it.
        file: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A specific line of the trace is bad.
    #[error("{file}:{line}: {problem}")]
    TraceLine {
        /// The path (or name) of the trace as the caller gave it.
        file: String,
        /// 1-based line number, as an editor shows it (the header is line 1).
        line: u64,
        /// What is wrong with that line.
        problem: TraceProblem,
    },
    /// The trace as a whole is unusable (empty, too short, wrong interval) — no single line to blame.
    #[error("{file}: {problem}")]
    TraceFile {
        /// The path (or name) of the trace as the caller gave it.
        file: String,
        /// What is wrong with the file.
        problem: TraceProblem,
    },
    /// A simulation setting is invalid; the message names the flag.
    #[error("{0}")]
    Config(String),
    /// The simulation reached a state the model forbids (a bug, reported instead of panicking).
    #[error("simulation error: {0}")]
    Simulation(String),
    /// A report, schedule or plot could not be written.
    #[error("cannot write output: {0}")]
    Output(String),
    /// The SVG plot could not be drawn.
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

/// Why a trace was rejected. Kept separate from [`SimError`] so the reasons can be matched on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceProblem {
    /// The file has no content at all (or only whitespace).
    #[error("the file is empty; expected a CSV header such as `timestamp,value`")]
    Empty,
    /// The first line has no column named `timestamp` or `time` (any case).
    #[error(
        "header {found:?} has no timestamp column; expected a header such as `timestamp,value` \
         (regular series) or `TIMESTAMP,...` (event log)"
    )]
    NoTimestampColumn {
        /// The header line as read.
        found: String,
    },
    /// A row has a different number of fields than the header.
    #[error("expected {expected} columns as in the header, found {found}")]
    ColumnCount {
        /// Columns in the header.
        expected: usize,
        /// Columns in this row.
        found: usize,
    },
    /// A row is not valid CSV text (e.g. not UTF-8).
    #[error("not readable as CSV: {0}")]
    Malformed(String),
    /// The timestamp field does not parse as a date-time.
    #[error(
        "timestamp {0:?} is not a date-time; expected `YYYY-MM-DD HH:MM:SS` or ISO 8601 \
         (`T` separator, fractional seconds, `Z` or an offset)"
    )]
    BadTimestamp(String),
    /// The value field does not parse as a number.
    #[error("value {0:?} is not a number")]
    NotANumber(String),
    /// The value is NaN or infinite.
    #[error("value {0:?} is not finite")]
    NotFinite(String),
    /// The value is below zero; demand cannot be negative.
    #[error("value {0} is negative; demand cannot be negative")]
    Negative(f64),
    /// A timestamp is earlier than the row before it.
    #[error(
        "timestamp {this} is earlier than {previous} on the row before; rows must be in time order"
    )]
    Unsorted {
        /// This row's timestamp as written.
        this: String,
        /// The previous row's timestamp as written.
        previous: String,
    },
    /// A regular series repeats a timestamp (to the millisecond).
    #[error(
        "timestamp {0} repeats the row before (to the millisecond); a regular series has one row per step"
    )]
    Duplicate(String),
    /// Too few data rows to define a series (an interval needs two points).
    #[error("only {0} data row(s); a trace needs at least 2")]
    TooFewRows(usize),
    /// A regular series was asked to be read at a different interval than its own.
    #[error(
        "this regular series has a native interval of {native_s} s but {requested_s} s was requested; \
         regular series are not resampled, so drop the interval option or give the native one"
    )]
    IntervalMismatch {
        /// The trace's own (median) spacing in seconds.
        native_s: f64,
        /// The interval that was asked for, in seconds.
        requested_s: f64,
    },
    /// The requested aggregation interval is unusable (zero, not whole milliseconds, or over a year).
    #[error(
        "interval of {0:?} is unusable; it must be a whole number of milliseconds, from 1 ms to 366 days"
    )]
    BadInterval(std::time::Duration),
    /// Every arrival of the event log falls into one interval, which is not a series.
    #[error(
        "all arrivals fall into one interval; a trace needs at least 2 steps, so choose a shorter interval"
    )]
    SingleInterval,
    /// Aggregating the event log at this interval would make an unreasonably long series.
    #[error(
        "the event log spans {steps} steps at this interval (limit {limit}); choose a longer interval"
    )]
    TooManySteps {
        /// Steps the aggregation would produce.
        steps: u128,
        /// The limit.
        limit: usize,
    },
}
