//! The accepted trace layouts, and a fuzz test: any input gives Ok or Err, never a panic.

use std::time::Duration;

use hivesched_sim::{Gap, IntervalSource, TraceKind, TraceOptions, parse_trace};
use proptest::prelude::*;

fn ok(text: &str) -> hivesched_sim::Trace {
    parse_trace("t.csv", text.as_bytes(), &TraceOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn timestamp_forms_agree() {
    // The same two instants written eight ways.
    let forms = [
        ("2014-07-01 00:00:00", "2014-07-01 00:30:00"),
        ("2014-07-01T00:00:00", "2014-07-01T00:30:00"),
        ("2014-07-01T00:00:00Z", "2014-07-01T00:30:00Z"),
        ("2014-07-01T00:00:00.000Z", "2014-07-01T00:30:00.0000000Z"),
        ("2014-07-01T02:00:00+02:00", "2014-07-01T02:30:00+02:00"),
        ("2014-07-01 00:00:00.0000000", "2014-07-01 00:30:00.0000000"),
        ("2014-06-30 19:00:00-05:00", "2014-06-30 19:30:00.000-05:00"),
        ("2014-07-01 00:00:00z", "2014-07-01 00:30:00.000Z"),
    ];
    for (a, b) in forms {
        let trace = ok(&format!("timestamp,value\n{a},1\n{b},2\n"));
        assert_eq!(
            trace.timestamps,
            [1_404_172_800_000, 1_404_174_600_000],
            "{a}"
        );
        assert_eq!(trace.interval_s, 1800.0);
    }
}

#[test]
fn fractional_seconds_are_kept_to_the_millisecond() {
    let trace = ok("time,value\n2023-11-16 18:17:03.9799600,1\n2023-11-16 18:17:04.0319600,2\n");
    assert_eq!(trace.timestamps[1] - trace.timestamps[0], 52);
}

#[test]
fn header_names_are_case_insensitive_and_columns_may_be_in_any_order() {
    let trace = ok("Value , TIME,label\n3,2014-07-01 00:00:00,a\n4,2014-07-01 00:05:00,b\n");
    assert_eq!(trace.values, [3.0, 4.0]);
    assert_eq!(trace.kind, TraceKind::RegularSeries);
}

#[test]
fn byte_order_mark_and_crlf_are_accepted() {
    let trace = ok("\u{feff}timestamp,value\r\n2014-07-01 00:00:00,1\r\n2014-07-01 00:05:00,2");
    assert_eq!(trace.values, [1.0, 2.0]);
}

#[test]
fn gaps_are_reported_not_filled() {
    let text = "timestamp,value\n\
                2014-07-01 00:00:00,1\n\
                2014-07-01 00:05:00,2\n\
                2014-07-01 00:20:00,3\n\
                2014-07-01 00:25:00,4\n\
                2014-07-01 00:32:00,5\n\
                2014-07-01 00:37:00,6\n";
    let trace = ok(text);
    assert_eq!(
        trace.values,
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        "one step per row"
    );
    let t0 = 1_404_172_800_000;
    // 15 minutes at a 5-minute interval: two steps missing. 7 minutes is only 1.4 intervals: no gap.
    assert_eq!(
        trace.gaps,
        [Gap {
            line: 4,
            from: t0 + 300_000,
            to: t0 + 1_200_000,
            missing_steps: 2
        }]
    );
}

#[test]
fn event_log_counts_per_interval_from_the_floor_of_the_first_arrival() {
    let text = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                2023-11-16 18:17:03.9799600,4808,10\n\
                2023-11-16 18:17:09.0000000,1,1\n\
                2023-11-16 18:17:31.5000000,1,1\n\
                2023-11-16 18:17:50.0000000,1,1\n";
    let opts = TraceOptions {
        interval: Some(Duration::from_secs(10)),
        ..TraceOptions::default()
    };
    let trace = parse_trace("azure.csv", text.as_bytes(), &opts).unwrap();
    assert_eq!(trace.kind, TraceKind::EventLog { arrivals: 4 });
    assert_eq!(trace.interval_source, IntervalSource::Requested);
    // Steps start 18:17:00, :10, :20, :30, :40, :50; the empty ones have zero demand.
    assert_eq!(trace.values, [2.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let start = 1_700_158_620_000;
    let expected: Vec<i64> = (0..6).map(|i| start + i * 10_000).collect();
    assert_eq!(trace.timestamps, expected);
    assert!(trace.gaps.is_empty());
}

/// Text built from the pieces traces are made of, so the fuzzer reaches deep into the parser
/// rather than stopping at the header every time.
fn tracey_text() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        Just("timestamp,value"),
        Just("TIMESTAMP,ContextTokens,GeneratedTokens"),
        Just("time"),
        Just("value,timestamp"),
        Just("x,y"),
        Just(""),
    ];
    let ts = prop_oneof![
        (2000i32..2030, 1u32..13, 1u32..29, 0u32..24, 0u32..60)
            .prop_map(|(y, mo, d, h, mi)| format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:00")),
        Just("2014-07-01T00:00:00.1234567Z".to_string()),
        Just("9999-12-31 23:59:59".to_string()),
        Just("0000-01-01 00:00:00".to_string()),
        "[0-9 :T.Z+-]{0,25}",
    ];
    let value = prop_oneof![
        (0.0f64..1e6).prop_map(|v| v.to_string()),
        Just("-1".to_string()),
        Just("NaN".to_string()),
        Just("".to_string()),
        "[0-9.e+-]{0,6}",
    ];
    let row = (ts, value, prop::option::of("[,\"x]{0,3}"))
        .prop_map(|(t, v, extra)| format!("{t},{v}{}", extra.unwrap_or_default()));
    let sep = prop_oneof![Just("\n"), Just("\r\n"), Just("\n\n"), Just("\"")];
    (header, prop::collection::vec((row, sep), 0..12)).prop_map(|(h, rows)| {
        let mut text = format!("{h}\n");
        for (r, s) in rows {
            text.push_str(&r);
            text.push_str(s);
        }
        text
    })
}

fn any_interval() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        (0u64..u64::MAX).prop_map(|n| Some(Duration::from_nanos(n))),
        (0u64..u64::MAX).prop_map(|s| Some(Duration::from_secs(s))),
        (1u64..3600).prop_map(|s| Some(Duration::from_secs(s))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), interval in any_interval(), sort_rows in any::<bool>()) {
        let _ = parse_trace("fuzz.csv", &bytes[..], &TraceOptions { interval, sort_rows });
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,300}", interval in any_interval(), sort_rows in any::<bool>()) {
        let _ = parse_trace("fuzz.csv", text.as_bytes(), &TraceOptions { interval, sort_rows });
    }

    #[test]
    fn trace_like_text_never_panics_and_ok_means_consistent(text in tracey_text(), interval in any_interval(), sort_rows in any::<bool>()) {
        if let Ok(trace) = parse_trace("fuzz.csv", text.as_bytes(), &TraceOptions { interval, sort_rows }) {
            prop_assert!(trace.values.len() >= 2);
            prop_assert_eq!(trace.values.len(), trace.timestamps.len());
            prop_assert!(trace.timestamps.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(trace.values.iter().all(|v| v.is_finite() && *v >= 0.0));
            prop_assert!(trace.interval_s > 0.0);
        }
    }
}

#[test]
fn quoted_fields_are_unquoted() {
    let trace = ok(
        "\"timestamp\",\"value\"\n\"2014-07-01 00:00:00\",\"1\"\n\"2014-07-01 00:05:00\", \"2\"\n",
    );
    assert_eq!(trace.values, [1.0, 2.0]);
    let err = parse_trace(
        "t.csv",
        "timestamp,value\n\"2014-07-01 00:00:00,1\n".as_bytes(),
        &TraceOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "t.csv:2: not readable as CSV: a quoted field is not closed on this line"
    );
}
