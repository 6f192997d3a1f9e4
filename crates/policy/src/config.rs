//! Configuration of the rails and the scheduler, with validation that names the offending key.

use std::time::Duration;

use crate::PolicyError;

/// Safety rails. Defaults are the seed's; every one is configurable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RailConfig {
    /// Never fewer awake agents than this.
    pub min_awake: u32,
    /// Fraction of the fleet allowed in sleep transition at once (rounded up).
    pub max_in_transition: f64,
    /// Fraction of awake agents that may be put to sleep within one cooldown window.
    pub max_scale_down: f64,
    /// An agent moved one way is not moved the other way before this.
    #[serde(with = "secs")]
    pub agent_cooldown: Duration,
    /// Fleet-wide sleeps started per `sleep_rate_window`.
    pub sleep_rate: u32,
    /// Sliding window of the sleep rate.
    #[serde(with = "secs")]
    pub sleep_rate_window: Duration,
    /// Upper bound of the deterministic per-agent delay that spreads bulk actions (0 = off).
    #[serde(with = "secs")]
    pub jitter: Duration,
}

impl Default for RailConfig {
    fn default() -> Self {
        RailConfig {
            min_awake: 2,
            max_in_transition: 0.30,
            max_scale_down: 0.50,
            agent_cooldown: Duration::from_secs(600),
            sleep_rate: 10,
            sleep_rate_window: Duration::from_secs(60),
            jitter: Duration::from_secs(5),
        }
    }
}

impl RailConfig {
    /// Checks every value; the error names the key and the accepted range.
    pub fn validate(&self) -> Result<(), PolicyError> {
        fraction("rails.max_in_transition", self.max_in_transition)?;
        fraction("rails.max_scale_down", self.max_scale_down)?;
        if self.sleep_rate_window.is_zero() {
            return Err(PolicyError::InvalidConfig {
                key: "rails.sleep_rate_window",
                reason: "must be longer than zero".into(),
            });
        }
        Ok(())
    }

    /// The disruption budget for a fleet of `total` agents: `ceil(max_in_transition × total)`.
    pub fn transition_budget(&self, total: u32) -> u32 {
        (self.max_in_transition * f64::from(total)).ceil() as u32
    }
}

fn fraction(key: &'static str, v: f64) -> Result<(), PolicyError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(PolicyError::InvalidConfig {
            key,
            reason: format!("{v} is not a fraction between 0 and 1"),
        })
    }
}

/// Timing and safety settings of the scheduler around the policy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Rails applied to every decision.
    pub rails: RailConfig,
    /// Decide and record, never act. The default for a new deployment.
    pub shadow: bool,
    /// Demand units one awake agent serves per tick.
    pub capacity: f64,
    /// How long a wake takes.
    #[serde(with = "secs")]
    pub wake_latency: Duration,
    /// How long checkpoint plus consolidation take.
    #[serde(with = "secs")]
    pub consolidation: Duration,
    /// Demand older than this puts the scheduler in fail-safe (all awake).
    #[serde(with = "secs")]
    pub demand_staleness: Duration,
    /// Consecutive forecast failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before it lets one probe through.
    #[serde(with = "secs")]
    pub breaker_cooldown: Duration,
    /// After a (re)start no sleeps until this much demand history has been seen.
    #[serde(with = "secs")]
    pub restart_hold: Duration,
    /// Sleeps use the highest need seen over this window (hysteresis).
    #[serde(with = "secs")]
    pub sleep_stabilization: Duration,
    /// Time-of-day capacity floors (the scheduled tier).
    pub schedules: Vec<ScheduledFloor>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            rails: RailConfig::default(),
            shadow: true,
            capacity: 1.0,
            wake_latency: Duration::from_secs(600),
            consolidation: Duration::from_secs(600),
            demand_staleness: Duration::from_secs(300),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(300),
            restart_hold: Duration::from_secs(600),
            sleep_stabilization: Duration::from_secs(600),
            schedules: Vec::new(),
        }
    }
}

impl SchedulerConfig {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.rails.validate()?;
        if !(self.capacity.is_finite() && self.capacity > 0.0) {
            return Err(PolicyError::InvalidConfig {
                key: "capacity",
                reason: format!("{} is not a positive number", self.capacity),
            });
        }
        if self.breaker_threshold == 0 {
            return Err(PolicyError::InvalidConfig {
                key: "breaker_threshold",
                reason: "must be at least 1".into(),
            });
        }
        for (i, s) in self.schedules.iter().enumerate() {
            if s.start_minute >= 1440 || s.end_minute > 1440 || s.start_minute >= s.end_minute {
                return Err(PolicyError::InvalidConfig {
                    key: "schedules",
                    reason: format!("entry {i}: need 0 <= start_minute < end_minute <= 1440"),
                });
            }
        }
        Ok(())
    }
}

/// A capacity floor in force on some days between two times of day (UTC), e.g. office hours.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFloor {
    /// Minute of the day the floor starts (0..1440, UTC).
    pub start_minute: u32,
    /// Minute of the day the floor ends (exclusive).
    pub end_minute: u32,
    /// Days it applies, 0 = Monday … 6 = Sunday; empty means every day.
    #[serde(default)]
    pub weekdays: Vec<u8>,
    /// Awake agents to keep at least.
    pub min_awake: u32,
}

impl ScheduledFloor {
    /// Whether the floor is in force at `unix_ms`.
    pub fn applies(&self, unix_ms: i64) -> bool {
        let minutes = unix_ms.div_euclid(60_000);
        let minute_of_day = minutes.rem_euclid(1440) as u32;
        // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
        let weekday = ((minutes.div_euclid(1440) + 3).rem_euclid(7)) as u8;
        (self.weekdays.is_empty() || self.weekdays.contains(&weekday))
            && (self.start_minute..self.end_minute).contains(&minute_of_day)
    }
}

/// Serialises durations as whole seconds, the unit operators write in config files.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        SchedulerConfig::default().validate().unwrap();
    }

    #[test]
    fn bad_fraction_names_the_key() {
        let cfg = RailConfig {
            max_in_transition: 1.5,
            ..RailConfig::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("rails.max_in_transition"), "{err}");
    }

    #[test]
    fn budget_rounds_up() {
        let cfg = RailConfig::default();
        assert_eq!(cfg.transition_budget(45), 14);
        assert_eq!(cfg.transition_budget(1), 1);
        assert_eq!(cfg.transition_budget(10), 3);
    }

    #[test]
    fn schedule_matches_weekday_and_time() {
        // 2014-07-07 was a Monday; 09:30 UTC.
        let monday_930 = 1_404_725_400_000;
        let floor = ScheduledFloor {
            start_minute: 9 * 60,
            end_minute: 17 * 60,
            weekdays: vec![0, 1, 2, 3, 4],
            min_awake: 10,
        };
        assert!(floor.applies(monday_930));
        assert!(!floor.applies(monday_930 + 8 * 3_600_000));
        assert!(!floor.applies(monday_930 - 2 * 86_400_000)); // Saturday
    }
}
