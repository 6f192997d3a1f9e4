//! Loading demand traces: regular series (NAB `timestamp,value`) and event logs (one row per arrival).
//!
//! The simulator, the forecasters and the outside check (`simcheck.py`) all walk a trace step by
//! step, so a regular series keeps exactly one step per data row: gaps in the timestamps are
//! *reported* in [`Trace::gaps`] and never filled with invented rows. An event log has no rows to
//! keep, so it is aggregated into arrival counts per interval. Bad input is rejected with the file,
//! the 1-based line and the reason; no input makes the loader panic. Rows out of time order or
//! repeating a timestamp are bad input too, unless the caller places rows by time itself (the
//! forecaster's loader): then [`TraceOptions::sort_rows`] sorts them, keeps the later of a repeated
//! timestamp and reports each row it moved or dropped in [`Trace::reordered`].

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};

use crate::error::{SimError, TraceProblem};

/// Interval used to aggregate an event log when the caller gives none (recorded in
/// [`Trace::interval_source`] so reports can say the default was used).
pub const DEFAULT_EVENT_INTERVAL: Duration = Duration::from_secs(60);

/// Longest series an event log may aggregate into; beyond this a too-short interval would exhaust
/// memory instead of giving an error.
pub const MAX_STEPS: usize = 10_000_000;

/// Longest aggregation interval accepted; keeps the step arithmetic far from overflow.
const MAX_INTERVAL_MS: i64 = 366 * 24 * 3600 * 1000;

/// How the trace is read; the CLI's `--interval` lands here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Aggregation interval for event logs. For a regular series it may only repeat the native
    /// interval (anything else is an error, since regular series are never resampled).
    pub interval: Option<Duration>,
    /// Accept rows out of time order and repeated timestamps instead of refusing them: rows are
    /// put in time order and, of rows that share a timestamp in a regular series, the last one in
    /// the file is kept; each is listed in [`Trace::reordered`]. The forecaster's loader sets it,
    /// since it places rows on a time grid anyway (three development-set series repeat an hour at
    /// a daylight-saving change, one has a day out of order); the simulator does not, because it
    /// walks one step per row in file order and its outside check (`simcheck.py`) does the same.
    pub sort_rows: bool,
}

/// Which of the two accepted layouts the file had, detected from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// A timestamp and a `value` column, one row per step.
    RegularSeries,
    /// A timestamp column and no `value` column, one row per arrival, counted per interval.
    EventLog {
        /// Number of arrival rows read.
        arrivals: usize,
    },
}

/// Where [`Trace::interval_s`] came from, so reports can tell a measured interval from a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalSource {
    /// The median spacing of a regular series.
    Native,
    /// The interval the caller asked for.
    Requested,
    /// [`DEFAULT_EVENT_INTERVAL`], because an event log was read without an interval.
    Default,
}

/// A hole in a regular series: consecutive rows further apart than 1.5 × the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// 1-based line of the row right after the gap.
    pub line: u64,
    /// Timestamp (unix ms) of the row before the gap.
    pub from: i64,
    /// Timestamp (unix ms) of the row after the gap.
    pub to: i64,
    /// Steps that would fit between the two rows at the native interval.
    pub missing_steps: u64,
}

/// A row that [`TraceOptions::sort_rows`] moved or dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reordered {
    /// The row's timestamp is earlier than a row above it; it was moved into time order.
    Moved {
        /// 1-based line of the row.
        line: u64,
        /// Its timestamp as written.
        timestamp: String,
    },
    /// A later row of the file has the same timestamp (to the millisecond) and replaced this one.
    Replaced {
        /// 1-based line of the row that was dropped.
        line: u64,
        /// 1-based line of the row kept in its place.
        by_line: u64,
    },
}

impl std::fmt::Display for Reordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Moved { line, timestamp } => write!(
                f,
                "line {line}: timestamp {timestamp} is earlier than a row above it; moved into time order"
            ),
            Self::Replaced { line, by_line } => write!(
                f,
                "line {line}: its timestamp repeats on line {by_line}, which was kept in its place"
            ),
        }
    }
}

/// A demand trace ready for simulation: one entry per step in `timestamps` and `values`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// File name of the trace, for reports.
    pub name: String,
    /// Layout of the source file.
    pub kind: TraceKind,
    /// Step length in seconds.
    pub interval_s: f64,
    /// Where the step length came from.
    pub interval_source: IntervalSource,
    /// Start of each step, unix milliseconds (UTC; naive timestamps are taken as UTC).
    pub timestamps: Vec<i64>,
    /// Demand of each step: the series value, or the arrival count of an event log.
    pub values: Vec<f64>,
    /// 1-based line of each step's row in a regular series, for messages (empty for an event log,
    /// whose steps are counts of many rows).
    pub lines: Vec<u64>,
    /// Holes in a regular series (always empty for an event log, whose empty intervals count 0).
    pub gaps: Vec<Gap>,
    /// Rows moved or dropped under [`TraceOptions::sort_rows`] (always empty without it).
    pub reordered: Vec<Reordered>,
}

/// Reads and validates the trace at `path`. Errors name the path as given, so they point at the
/// file the user typed.
pub fn load_trace(path: &Path, opts: &TraceOptions) -> Result<Trace, SimError> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|source| SimError::Io {
        file: label.clone(),
        source,
    })?;
    let name = path
        .file_name()
        .map_or_else(|| label.clone(), |n| n.to_string_lossy().into_owned());
    parse(&label, name, file, opts)
}

/// Parses a trace from any reader; `name` labels errors and the result. This is the entry point for
/// tests and fuzzing, which feed it text that never was a file.
pub fn parse_trace<R: Read>(name: &str, reader: R, opts: &TraceOptions) -> Result<Trace, SimError> {
    parse(name, name.to_string(), reader, opts)
}

/// Column positions found in the header.
struct Columns {
    count: usize,
    timestamp: usize,
    value: Option<usize>,
}

/// Rows read from the file, before regular/event-log specific handling.
struct Rows {
    timestamps: Vec<i64>,
    values: Vec<f64>,
    lines: Vec<u64>,
}

/// Reads the whole input and walks it line by line. Line numbers are counted here, not by a CSV
/// library, so they match an editor for LF and CRLF files with blank lines alike.
fn parse<R: Read>(
    label: &str,
    name: String,
    mut reader: R,
    opts: &TraceOptions,
) -> Result<Trace, SimError> {
    let line_err = |line: u64, problem| SimError::TraceLine {
        file: label.to_string(),
        line,
        problem,
    };
    let file_err = |problem| SimError::TraceFile {
        file: label.to_string(),
        problem,
    };
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| SimError::Io {
            file: label.to_string(),
            source,
        })?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .zip(1u64..)
        .filter(|(text, _)| !text.trim_ascii().is_empty())
        .map(|(text, line)| {
            std::str::from_utf8(text.strip_suffix(b"\r").unwrap_or(text))
                .map_err(|_| {
                    line_err(
                        line,
                        TraceProblem::Malformed("the line is not valid UTF-8".into()),
                    )
                })
                .and_then(|text| split_fields(text).map_err(|p| line_err(line, p)))
                .map(|fields| (fields, line))
        });

    let (header, header_line) = lines
        .next()
        .ok_or_else(|| file_err(TraceProblem::Empty))??;
    let columns = find_columns(&header).map_err(|p| line_err(header_line, p))?;

    let mut rows = Rows {
        timestamps: Vec::new(),
        values: Vec::new(),
        lines: Vec::new(),
    };
    let mut previous_raw = String::new();
    let mut latest: Option<i64> = None;
    let mut reordered = Vec::new();
    for next in lines {
        let (fields, line) = next?;
        if fields.len() != columns.count {
            return Err(line_err(
                line,
                TraceProblem::ColumnCount {
                    expected: columns.count,
                    found: fields.len(),
                },
            ));
        }
        let raw_ts = fields[columns.timestamp].trim();
        let ts = parse_timestamp(raw_ts)
            .ok_or_else(|| line_err(line, TraceProblem::BadTimestamp(raw_ts.to_string())))?;
        if let Some(&prev) = rows.timestamps.last().filter(|_| !opts.sort_rows) {
            if ts < prev {
                return Err(line_err(
                    line,
                    TraceProblem::Unsorted {
                        this: raw_ts.to_string(),
                        previous: previous_raw,
                    },
                ));
            }
            if ts == prev && columns.value.is_some() {
                return Err(line_err(line, TraceProblem::Duplicate(raw_ts.to_string())));
            }
        }
        if opts.sort_rows && latest.is_some_and(|t| ts < t) {
            reordered.push(Reordered::Moved {
                line,
                timestamp: raw_ts.to_string(),
            });
        }
        latest = latest.max(Some(ts));
        if let Some(col) = columns.value {
            rows.values
                .push(parse_value(&fields[col]).map_err(|p| line_err(line, p))?);
        }
        rows.lines.push(line);
        rows.timestamps.push(ts);
        previous_raw.clear();
        previous_raw.push_str(raw_ts);
    }

    if opts.sort_rows {
        rows = into_time_order(rows, columns.value.is_some(), &mut reordered);
    }
    if rows.timestamps.len() < 2 {
        return Err(file_err(TraceProblem::TooFewRows(rows.timestamps.len())));
    }
    let mut trace = if columns.value.is_some() {
        regular_series(name, rows, opts).map_err(file_err)?
    } else {
        event_log(name, &rows.timestamps, opts).map_err(file_err)?
    };
    reordered.sort_by_key(|r| match r {
        Reordered::Moved { line, .. } | Reordered::Replaced { line, .. } => *line,
    });
    trace.reordered = reordered;
    Ok(trace)
}

/// Puts rows in time order (a stable sort: rows with one timestamp keep their file order) and, in a
/// regular series (`dedup`), keeps only the last row of each timestamp, recording the others.
fn into_time_order(rows: Rows, dedup: bool, reordered: &mut Vec<Reordered>) -> Rows {
    let mut order: Vec<usize> = (0..rows.timestamps.len()).collect();
    order.sort_by_key(|&i| rows.timestamps[i]);
    let mut sorted = Rows {
        timestamps: Vec::with_capacity(order.len()),
        values: Vec::with_capacity(rows.values.len()),
        lines: Vec::with_capacity(order.len()),
    };
    for (k, &i) in order.iter().enumerate() {
        let next_same = order
            .get(k + 1)
            .filter(|&&j| rows.timestamps[j] == rows.timestamps[i]);
        if let Some(&j) = next_same.filter(|_| dedup) {
            reordered.push(Reordered::Replaced {
                line: rows.lines[i],
                by_line: rows.lines[j],
            });
            continue;
        }
        sorted.timestamps.push(rows.timestamps[i]);
        sorted.lines.push(rows.lines[i]);
        if let Some(&v) = rows.values.get(i) {
            sorted.values.push(v);
        }
    }
    sorted
}

/// Splits one CSV line into fields, honouring RFC 4180 double quotes (`""` is a literal quote).
/// Quoted fields may not span lines: no trace format we read needs that.
fn split_fields(line: &str) -> Result<Vec<String>, TraceProblem> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '"') if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err(TraceProblem::Malformed(
            "a quoted field is not closed on this line".into(),
        ));
    }
    fields.push(field);
    Ok(fields)
}

fn find_columns(header: &[String]) -> Result<Columns, TraceProblem> {
    let position = |wanted: &[&str]| {
        header
            .iter()
            .position(|n| wanted.iter().any(|w| n.trim().eq_ignore_ascii_case(w)))
    };
    let timestamp =
        position(&["timestamp", "time"]).ok_or_else(|| TraceProblem::NoTimestampColumn {
            found: header.join(","),
        })?;
    Ok(Columns {
        count: header.len(),
        timestamp,
        value: position(&["value"]),
    })
}

/// Parses NAB's `YYYY-MM-DD HH:MM:SS`, the ISO `T` form, fractional seconds (Azure has 7 digits),
/// and a trailing `Z` or UTC offset. Naive times are taken as UTC. Returns unix milliseconds.
fn parse_timestamp(raw: &str) -> Option<i64> {
    let s = raw.trim();
    // Most traces (NAB, Azure) carry no zone: read those with the naive formats first rather than
    // after three zoned attempts that each fail only at the end of the string (timestamp parsing
    // was 2–5 % of a short `hivesched forecast`).
    let zoned = s.ends_with(['Z', 'z']) || s.get(10..).is_some_and(|t| t.contains(['+', '-']));
    if !zoned {
        return naive_timestamp(s);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.timestamp_millis());
        }
    }
    naive_timestamp(s.strip_suffix(['Z', 'z']).unwrap_or(s))
}

/// `YYYY-MM-DD HH:MM:SS[.f]` or the `T` form, taken as UTC.
fn naive_timestamp(s: &str) -> Option<i64> {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
        .map(|dt| dt.and_utc().timestamp_millis())
}

fn parse_value(raw: &str) -> Result<f64, TraceProblem> {
    let trimmed = raw.trim();
    let value: f64 = trimmed
        .parse()
        .map_err(|_| TraceProblem::NotANumber(trimmed.to_string()))?;
    if !value.is_finite() {
        return Err(TraceProblem::NotFinite(trimmed.to_string()));
    }
    if value < 0.0 {
        return Err(TraceProblem::Negative(value));
    }
    Ok(value)
}

/// Keeps one step per row; the interval is the median spacing and wider spacings become [`Gap`]s.
fn regular_series(name: String, rows: Rows, opts: &TraceOptions) -> Result<Trace, TraceProblem> {
    let ts = &rows.timestamps;
    let mut spacings: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    let middle = (spacings.len() - 1) / 2;
    let interval_ms = *spacings.select_nth_unstable(middle).1;
    let native_s = interval_ms as f64 / 1000.0;
    let native_ns = i128::from(interval_ms).unsigned_abs() * 1_000_000;
    if let Some(requested) = opts.interval.filter(|r| r.as_nanos() != native_ns) {
        return Err(TraceProblem::IntervalMismatch {
            native_s,
            requested_s: requested.as_secs_f64(),
        });
    }
    let gaps = (1..ts.len())
        .filter_map(|i| {
            let spacing = i128::from(ts[i] - ts[i - 1]);
            let interval = i128::from(interval_ms);
            (2 * spacing > 3 * interval).then(|| Gap {
                line: rows.lines[i],
                from: ts[i - 1],
                to: ts[i],
                missing_steps: u64::try_from((spacing + interval / 2) / interval - 1)
                    .unwrap_or(u64::MAX),
            })
        })
        .collect();
    Ok(Trace {
        name,
        kind: TraceKind::RegularSeries,
        interval_s: native_s,
        interval_source: if opts.interval.is_some() {
            IntervalSource::Requested
        } else {
            IntervalSource::Native
        },
        timestamps: rows.timestamps,
        values: rows.values,
        lines: rows.lines,
        gaps,
        reordered: Vec::new(),
    })
}

/// Counts arrivals per interval, intervals aligned to the floor of the first arrival; empty
/// intervals are steps with zero demand.
fn event_log(name: String, arrivals: &[i64], opts: &TraceOptions) -> Result<Trace, TraceProblem> {
    let interval = opts.interval.unwrap_or(DEFAULT_EVENT_INTERVAL);
    let interval_ms = i64::try_from(interval.as_millis())
        .ok()
        .filter(|&ms| {
            ms > 0
                && ms <= MAX_INTERVAL_MS
                && interval.as_nanos() == interval.as_millis() * 1_000_000
        })
        .ok_or(TraceProblem::BadInterval(interval))?;
    let first = arrivals[0];
    let last = arrivals[arrivals.len() - 1];
    let start = first - first.rem_euclid(interval_ms);
    let steps = u128::try_from((last - start) / interval_ms).unwrap_or(0) + 1;
    let steps = usize::try_from(steps)
        .ok()
        .filter(|&s| s <= MAX_STEPS)
        .ok_or(TraceProblem::TooManySteps {
            steps,
            limit: MAX_STEPS,
        })?;
    if steps < 2 {
        return Err(TraceProblem::SingleInterval);
    }
    let mut values = vec![0.0; steps];
    for &t in arrivals {
        let step = usize::try_from((t - start) / interval_ms).unwrap_or(0);
        values[step] += 1.0;
    }
    Ok(Trace {
        name,
        kind: TraceKind::EventLog {
            arrivals: arrivals.len(),
        },
        interval_s: interval_ms as f64 / 1000.0,
        interval_source: if opts.interval.is_some() {
            IntervalSource::Requested
        } else {
            IntervalSource::Default
        },
        timestamps: (0..steps as i64).map(|i| start + i * interval_ms).collect(),
        values,
        lines: Vec::new(),
        gaps: Vec::new(),
        reordered: Vec::new(),
    })
}
