//! The wall clock, read in one place, conversion between the core's [`Time`] and the
//! RFC 3339 timestamps of the API, and the window a client-reported time must fall in.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use hivesched_policy::Time;

use crate::error::ApiError;

/// How far ahead of the server's clock a reported time may be: clock skew between the reporter
/// and the server, not reports about the future.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60 * 1000;

/// Now, as the decision core counts time.
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    Time::from_millis(ms)
}

/// A core time as an API timestamp (out-of-range values clamp to the epoch).
pub fn to_api(t: Time) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.as_millis()).unwrap_or_default()
}

/// An API timestamp as a core time.
pub fn from_api(t: DateTime<Utc>) -> Time {
    Time::from_millis(t.timestamp_millis())
}

/// A time a client reports (a heartbeat's or a demand sample's `at`) as a core time, or a 422
/// naming `field` when it is outside the window the service accepts: not before the Unix epoch
/// (the store counts milliseconds since it; an earlier time is a bug in the reporter, not an
/// observation), and at most [`MAX_FUTURE_SKEW_MS`] ahead of `now`.
///
/// `now` is the engine's clock ([`crate::state::AppState::now`]), which the demo runs on trace time, so
/// the window follows the clock the reports are planned against, not the wall clock.
pub fn reported_time(field: &str, at: DateTime<Utc>, now: Time) -> Result<Time, ApiError> {
    let t = from_api(at);
    if t.as_millis() < 0 {
        return Err(ApiError::invalid_value(
            field,
            "is before 1970-01-01T00:00:00Z",
        ));
    }
    if t.as_millis() > now.as_millis().saturating_add(MAX_FUTURE_SKEW_MS) {
        return Err(ApiError::invalid_value(
            field,
            format!(
                "is more than {} minutes ahead of the server's clock ({})",
                MAX_FUTURE_SKEW_MS / 60_000,
                to_api(now).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let t = Time::from_millis(1_700_000_000_123);
        assert_eq!(from_api(to_api(t)), t);
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn reported_times_must_fall_in_the_window() {
        let now = from_api(at("2014-07-01T12:00:00Z"));
        for ok in [
            "1970-01-01T00:00:00Z",
            "2014-07-01T12:00:00Z",
            "2014-07-01T12:05:00Z",
        ] {
            assert!(reported_time("at", at(ok), now).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("0001-01-01T00:00:00Z", "before 1970"),
            ("1969-12-31T23:59:59.999Z", "before 1970"),
            (
                "2014-07-01T12:05:00.001Z",
                "ahead of the server's clock (2014-07-01T12:00:00Z)",
            ),
            ("9999-12-31T23:59:59Z", "ahead"),
        ] {
            match reported_time("samples[2].at", at(bad), now) {
                Err(ApiError::InvalidValue { field, message }) => {
                    assert_eq!(field, "samples[2].at");
                    assert!(message.contains(why), "{bad}: {message}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
