//! Every kind of bad trace input gives an error naming the file, the line and the reason (or,
//! for rows out of order under `sort_rows`, a report naming the line).

use std::path::Path;
use std::time::Duration;

use hivesched_sim::{Reordered, SimError, TraceOptions, TraceProblem, load_trace, parse_trace};

fn parse(text: &str) -> Result<hivesched_sim::Trace, SimError> {
    parse_trace("t.csv", text.as_bytes(), &TraceOptions::default())
}

/// Asserts the input fails on `line` with `problem`.
fn fails_on_line(text: &str, line: u64, problem: TraceProblem) {
    match parse(text) {
        Err(SimError::TraceLine {
            file,
            line: got,
            problem: p,
        }) => {
            assert_eq!(file, "t.csv");
            assert_eq!((got, p), (line, problem), "input:\n{text}");
        }
        other => panic!("expected a line error for:\n{text}\ngot {other:?}"),
    }
}

/// Asserts the input fails as a whole with `problem`.
fn fails_as_file(text: &str, problem: TraceProblem) {
    match parse(text) {
        Err(SimError::TraceFile { file, problem: p }) => {
            assert_eq!(file, "t.csv");
            assert_eq!(p, problem, "input:\n{text}");
        }
        other => panic!("expected a file error for:\n{text}\ngot {other:?}"),
    }
}

#[test]
fn missing_file_names_the_path() {
    let err = load_trace(
        Path::new("/nonexistent/dir/nyc_taxi.csv"),
        &TraceOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, SimError::Io { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("/nonexistent/dir/nyc_taxi.csv: cannot read the trace"),
        "{text}"
    );
}

#[test]
fn empty_file() {
    fails_as_file("", TraceProblem::Empty);
    fails_as_file("\n\n", TraceProblem::Empty);
    fails_as_file("  \n", TraceProblem::Empty);
}

#[test]
fn header_without_a_timestamp_column() {
    fails_on_line(
        "date,count\n2014-07-01 00:00:00,1\n",
        1,
        TraceProblem::NoTimestampColumn {
            found: "date,count".into(),
        },
    );
}

#[test]
fn missing_header_is_reported_on_line_one() {
    fails_on_line(
        "2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n",
        1,
        TraceProblem::NoTimestampColumn {
            found: "2014-07-01 00:00:00,10844".into(),
        },
    );
}

#[test]
fn wrong_column_count() {
    let text = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:30:00,2,3\n";
    fails_on_line(
        text,
        3,
        TraceProblem::ColumnCount {
            expected: 2,
            found: 3,
        },
    );
    let text = "timestamp,value\n2014-07-01 00:00:00\n";
    fails_on_line(
        text,
        2,
        TraceProblem::ColumnCount {
            expected: 2,
            found: 1,
        },
    );
}

#[test]
fn unparseable_timestamp() {
    let text = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 25:00:00,2\n";
    fails_on_line(
        text,
        3,
        TraceProblem::BadTimestamp("2014-07-01 25:00:00".into()),
    );
    let text = "timestamp,value\nyesterday,1\n";
    fails_on_line(text, 2, TraceProblem::BadTimestamp("yesterday".into()));
}

#[test]
fn non_numeric_value_reads_like_an_editor_location() {
    let mut text = String::from("timestamp,value\n");
    for i in 0..15 {
        text.push_str(&format!("2014-07-01 00:{i:02}:00,{i}\n"));
    }
    text.push_str("2014-07-01 00:15:00,abc\n");
    let err = parse_trace("nyc_taxi.csv", text.as_bytes(), &TraceOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"nyc_taxi.csv:17: value "abc" is not a number"#
    );
}

#[test]
fn empty_value_is_not_a_number() {
    let text = "timestamp,value\n2014-07-01 00:00:00,\n";
    fails_on_line(text, 2, TraceProblem::NotANumber(String::new()));
}

#[test]
fn nan_and_infinity() {
    for bad in ["NaN", "nan", "inf", "-inf", "infinity", "1e999"] {
        let text = format!("timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,{bad}\n");
        fails_on_line(&text, 3, TraceProblem::NotFinite(bad.into()));
    }
}

#[test]
fn negative_value() {
    let text = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,-3.5\n";
    fails_on_line(text, 3, TraceProblem::Negative(-3.5));
}

#[test]
fn unsorted_timestamps() {
    let text = "timestamp,value\n2014-07-01 00:10:00,1\n2014-07-01 00:05:00,2\n";
    fails_on_line(
        text,
        3,
        TraceProblem::Unsorted {
            this: "2014-07-01 00:05:00".into(),
            previous: "2014-07-01 00:10:00".into(),
        },
    );
}

#[test]
fn unsorted_event_log() {
    let text =
        "TIMESTAMP,ContextTokens\n2023-11-16 18:17:03.9799600,1\n2023-11-16 18:17:02.0000000,1\n";
    fails_on_line(
        text,
        3,
        TraceProblem::Unsorted {
            this: "2023-11-16 18:17:02.0000000".into(),
            previous: "2023-11-16 18:17:03.9799600".into(),
        },
    );
}

#[test]
fn duplicate_timestamps_in_a_regular_series() {
    let text =
        "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n2014-07-01 00:05:00,3\n";
    fails_on_line(
        text,
        4,
        TraceProblem::Duplicate("2014-07-01 00:05:00".into()),
    );
}

#[test]
fn simultaneous_arrivals_in_an_event_log_are_fine() {
    let text = "TIMESTAMP,ContextTokens\n2023-11-16 18:17:00,1\n2023-11-16 18:17:00,1\n2023-11-16 18:18:30,1\n";
    let trace = parse(text).unwrap();
    assert_eq!(trace.values, [2.0, 1.0]);
}

#[test]
fn fewer_than_two_rows() {
    fails_as_file("timestamp,value\n", TraceProblem::TooFewRows(0));
    fails_as_file(
        "timestamp,value\n2014-07-01 00:00:00,1\n",
        TraceProblem::TooFewRows(1),
    );
    fails_as_file(
        "TIMESTAMP,ContextTokens\n2023-11-16 18:17:00,1\n",
        TraceProblem::TooFewRows(1),
    );
}

#[test]
fn event_log_inside_one_interval() {
    fails_as_file(
        "TIMESTAMP\n2023-11-16 18:17:00\n2023-11-16 18:17:30\n",
        TraceProblem::SingleInterval,
    );
}

#[test]
fn regular_series_refuses_a_different_interval() {
    let text = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n";
    let opts = TraceOptions {
        interval: Some(Duration::from_secs(60)),
        ..TraceOptions::default()
    };
    match parse_trace("t.csv", text.as_bytes(), &opts) {
        Err(SimError::TraceFile {
            problem:
                TraceProblem::IntervalMismatch {
                    native_s,
                    requested_s,
                },
            ..
        }) => assert_eq!((native_s, requested_s), (300.0, 60.0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unusable_event_intervals() {
    let text = "TIMESTAMP\n2023-11-16 18:17:00\n2023-11-16 18:19:00\n";
    for interval in [
        Duration::ZERO,
        Duration::from_micros(1500),
        Duration::from_secs(400 * 86_400),
    ] {
        let opts = TraceOptions {
            interval: Some(interval),
            ..TraceOptions::default()
        };
        match parse_trace("t.csv", text.as_bytes(), &opts) {
            Err(SimError::TraceFile {
                problem: TraceProblem::BadInterval(d),
                ..
            }) => assert_eq!(d, interval),
            other => panic!("{interval:?}: {other:?}"),
        }
    }
}

#[test]
fn event_log_too_long_for_its_interval() {
    let text = "TIMESTAMP\n1990-01-01 00:00:00\n2030-01-01 00:00:00\n";
    let opts = TraceOptions {
        interval: Some(Duration::from_millis(1)),
        ..TraceOptions::default()
    };
    let err = parse_trace("t.csv", text.as_bytes(), &opts).unwrap_err();
    assert!(
        matches!(
            err,
            SimError::TraceFile {
                problem: TraceProblem::TooManySteps { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn invalid_utf8_is_an_error_on_its_line() {
    let bytes = b"timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,\xff\n";
    let err = parse_trace("t.csv", &bytes[..], &TraceOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            SimError::TraceLine {
                line: 3,
                problem: TraceProblem::Malformed(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn line_numbers_count_blank_lines_and_crlf() {
    let text = "timestamp,value\r\n2014-07-01 00:00:00,1\r\n\r\n2014-07-01 00:05:00,x\r\n";
    fails_on_line(text, 4, TraceProblem::NotANumber("x".into()));
}

/// The forecaster's loader: rows out of order and repeated timestamps are put right and reported
/// instead of refused.
fn sorted(text: &str) -> hivesched_sim::Trace {
    let opts = TraceOptions {
        sort_rows: true,
        ..TraceOptions::default()
    };
    parse_trace("t.csv", text.as_bytes(), &opts).unwrap()
}

#[test]
fn sort_rows_keeps_the_last_of_a_repeated_timestamp() {
    let trace = sorted(
        "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n2014-07-01 00:05:00,3\n2014-07-01 00:10:00,4\n",
    );
    assert_eq!(trace.values, [1.0, 3.0, 4.0]);
    assert_eq!(trace.lines, [2, 4, 5]);
    assert_eq!(
        trace.reordered,
        [Reordered::Replaced {
            line: 3,
            by_line: 4
        }]
    );
    assert_eq!(trace.interval_s, 300.0);
    assert_eq!(
        trace.reordered[0].to_string(),
        "line 3: its timestamp repeats on line 4, which was kept in its place"
    );
}

#[test]
fn sort_rows_moves_rows_into_time_order() {
    let trace = sorted(
        "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:15:00,4\n2014-07-01 00:05:00,2\n2014-07-01 00:10:00,3\n",
    );
    assert_eq!(trace.values, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(trace.lines, [2, 4, 5, 3]);
    assert!(trace.gaps.is_empty());
    assert_eq!(
        trace.reordered,
        [
            Reordered::Moved {
                line: 4,
                timestamp: "2014-07-01 00:05:00".into()
            },
            Reordered::Moved {
                line: 5,
                timestamp: "2014-07-01 00:10:00".into()
            }
        ]
    );
}

#[test]
fn sort_rows_counts_an_unsorted_event_log() {
    let trace = sorted(
        "TIMESTAMP,ContextTokens\n2023-11-16 18:18:30,1\n2023-11-16 18:17:00,1\n2023-11-16 18:17:00,1\n",
    );
    assert_eq!(trace.values, [2.0, 1.0]);
    assert_eq!(
        trace.reordered,
        [
            Reordered::Moved {
                line: 3,
                timestamp: "2023-11-16 18:17:00".into()
            },
            Reordered::Moved {
                line: 4,
                timestamp: "2023-11-16 18:17:00".into()
            }
        ]
    );
}

#[test]
fn sort_rows_still_refuses_bad_rows() {
    let opts = TraceOptions {
        sort_rows: true,
        ..TraceOptions::default()
    };
    let text = "timestamp,value\n2014-07-01 00:05:00,1\n2014-07-01 00:00:00,x\n";
    match parse_trace("t.csv", text.as_bytes(), &opts) {
        Err(SimError::TraceLine { line, problem, .. }) => {
            assert_eq!((line, problem), (3, TraceProblem::NotANumber("x".into())));
        }
        other => panic!("expected a line error, got {other:?}"),
    }
}
