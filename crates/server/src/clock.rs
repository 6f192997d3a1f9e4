//! The wall clock, read in one place, and conversion between the core's [`Time`] and the
//! RFC 3339 timestamps of the API.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use hivesched_policy::Time;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_milliseconds() {
        let t = Time::from_millis(1_700_000_000_123);
        assert_eq!(from_api(to_api(t)), t);
    }
}
