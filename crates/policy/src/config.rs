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
    /// Checks every value against its documented range ([`ranges`]); the error names the key.
    pub fn validate(&self) -> Result<(), PolicyError> {
        ranges::MIN_AWAKE.check(f64::from(self.min_awake))?;
        ranges::MAX_IN_TRANSITION.check(self.max_in_transition)?;
        ranges::MAX_SCALE_DOWN.check(self.max_scale_down)?;
        ranges::AGENT_COOLDOWN.check_secs(self.agent_cooldown)?;
        ranges::SLEEP_RATE.check(f64::from(self.sleep_rate))?;
        ranges::SLEEP_RATE_WINDOW.check_secs(self.sleep_rate_window)?;
        ranges::JITTER.check_secs(self.jitter)
    }

    /// The disruption budget for a fleet of `total` agents: `ceil(max_in_transition × total)`.
    pub fn transition_budget(&self, total: u32) -> u32 {
        (self.max_in_transition * f64::from(total)).ceil() as u32
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
    /// Checks every value against its documented range ([`ranges`]); the error names the key.
    pub fn validate(&self) -> Result<(), PolicyError> {
        self.rails.validate()?;
        ranges::CAPACITY.check(self.capacity)?;
        ranges::WAKE_LATENCY.check_secs(self.wake_latency)?;
        ranges::CONSOLIDATION.check_secs(self.consolidation)?;
        ranges::DEMAND_STALENESS.check_secs(self.demand_staleness)?;
        ranges::BREAKER_THRESHOLD.check(f64::from(self.breaker_threshold))?;
        ranges::BREAKER_COOLDOWN.check_secs(self.breaker_cooldown)?;
        ranges::RESTART_HOLD.check_secs(self.restart_hold)?;
        ranges::SLEEP_STABILIZATION.check_secs(self.sleep_stabilization)?;
        if self.schedules.len() > ranges::MAX_SCHEDULES {
            return Err(PolicyError::InvalidConfig {
                key: "schedules",
                reason: format!("at most {} entries", ranges::MAX_SCHEDULES),
            });
        }
        for (i, s) in self.schedules.iter().enumerate() {
            let day = ranges::MINUTES_PER_DAY;
            if s.start_minute >= day || s.end_minute > day || s.start_minute >= s.end_minute {
                return Err(PolicyError::InvalidConfig {
                    key: "schedules",
                    reason: format!("entry {i}: need 0 <= start_minute < end_minute <= {day}"),
                });
            }
            let last = ranges::LAST_WEEKDAY;
            if s.weekdays.len() > usize::from(last) + 1 || s.weekdays.iter().any(|d| *d > last) {
                return Err(PolicyError::InvalidConfig {
                    key: "schedules",
                    reason: format!("entry {i}: weekdays are 0 (Monday) to {last} (Sunday)"),
                });
            }
            if f64::from(s.min_awake) > ranges::MIN_AWAKE.max {
                return Err(PolicyError::InvalidConfig {
                    key: "schedules",
                    reason: format!("entry {i}: min_awake is at most {}", ranges::MIN_AWAKE.max),
                });
            }
        }
        Ok(())
    }
}

/// The accepted range of one numeric setting. Each range is written once, here: validation
/// (`config check`, start-up, `PUT /api/v1/config`), the API's 422 and the OpenAPI document
/// all read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// The setting's dotted key, as a config file spells it.
    pub key: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Whether `min` itself is refused (the value must be greater).
    pub exclusive_min: bool,
    /// Largest accepted value.
    pub max: f64,
    /// Unit the value is written in (`s` for seconds, empty for a plain number).
    pub unit: &'static str,
}

impl Range {
    /// The inclusive range `min..=max` of the setting `key`, in `unit`.
    pub const fn new(key: &'static str, min: f64, max: f64, unit: &'static str) -> Range {
        Range {
            key,
            min,
            exclusive_min: false,
            max,
            unit,
        }
    }

    /// Whether `v` is accepted.
    pub fn contains(&self, v: f64) -> bool {
        v.is_finite() && v <= self.max && (v > self.min || (!self.exclusive_min && v == self.min))
    }

    /// `v` if accepted, else an error naming the key and the range.
    pub fn check(&self, v: f64) -> Result<(), PolicyError> {
        if self.contains(v) {
            Ok(())
        } else {
            Err(PolicyError::InvalidConfig {
                key: self.key,
                reason: format!("{v} is not {}", self.describe()),
            })
        }
    }

    /// A duration in whole seconds, checked like [`Range::check`].
    pub fn check_secs(&self, d: Duration) -> Result<(), PolicyError> {
        // u64 seconds above 2^53 lose precision as f64 but stay far above every maximum.
        self.check(d.as_secs() as f64)
    }

    /// The range in words, e.g. "between 0 and 86400 s".
    pub fn describe(&self) -> String {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        if self.exclusive_min {
            format!("greater than {} and at most {}{unit}", self.min, self.max)
        } else {
            format!("between {} and {}{unit}", self.min, self.max)
        }
    }
}

/// Every numeric setting's range. Durations are whole seconds; the bounds keep every sum and
/// product of durations the planner forms far from overflow (a day is longer than any wake or
/// consolidation we have heard of; a week is the longest season the forecaster models).
pub mod ranges {
    use super::Range;

    const DAY: f64 = 86_400.0;
    const WEEK: f64 = 7.0 * DAY;
    /// Fleets of up to a million agents.
    const AGENTS: f64 = 1_000_000.0;

    /// `capacity`: demand one awake agent serves per step.
    pub const CAPACITY: Range = Range {
        exclusive_min: true,
        ..Range::new("capacity", 0.0, 1e12, "")
    };
    /// `wake_latency`.
    pub const WAKE_LATENCY: Range = Range::new("wake_latency", 0.0, DAY, "s");
    /// `consolidation`.
    pub const CONSOLIDATION: Range = Range::new("consolidation", 0.0, DAY, "s");
    /// `demand_staleness`.
    pub const DEMAND_STALENESS: Range = Range::new("demand_staleness", 1.0, WEEK, "s");
    /// `breaker_threshold`.
    pub const BREAKER_THRESHOLD: Range = Range::new("breaker_threshold", 1.0, 1000.0, "");
    /// `breaker_cooldown`.
    pub const BREAKER_COOLDOWN: Range = Range::new("breaker_cooldown", 1.0, WEEK, "s");
    /// `restart_hold`.
    pub const RESTART_HOLD: Range = Range::new("restart_hold", 0.0, DAY, "s");
    /// `sleep_stabilization`.
    pub const SLEEP_STABILIZATION: Range = Range::new("sleep_stabilization", 0.0, DAY, "s");
    /// Most entries in `schedules`.
    pub const MAX_SCHEDULES: usize = 1000;
    /// Minutes in a day: a schedule's `start_minute` is below it, its `end_minute` at most it.
    pub const MINUTES_PER_DAY: u32 = 1440;
    /// A schedule's weekdays run from 0 (Monday) to this (Sunday).
    pub const LAST_WEEKDAY: u8 = 6;
    /// `rails.min_awake` (and a schedule's `min_awake`).
    pub const MIN_AWAKE: Range = Range::new("rails.min_awake", 0.0, AGENTS, "");
    /// `rails.max_in_transition`.
    pub const MAX_IN_TRANSITION: Range = Range::new("rails.max_in_transition", 0.0, 1.0, "");
    /// `rails.max_scale_down`.
    pub const MAX_SCALE_DOWN: Range = Range::new("rails.max_scale_down", 0.0, 1.0, "");
    /// `rails.agent_cooldown`.
    pub const AGENT_COOLDOWN: Range = Range::new("rails.agent_cooldown", 0.0, DAY, "s");
    /// `rails.sleep_rate`.
    pub const SLEEP_RATE: Range = Range::new("rails.sleep_rate", 0.0, AGENTS, "");
    /// `rails.sleep_rate_window`.
    pub const SLEEP_RATE_WINDOW: Range = Range::new("rails.sleep_rate_window", 1.0, DAY, "s");
    /// `rails.jitter`.
    pub const JITTER: Range = Range::new("rails.jitter", 0.0, 3600.0, "s");

    /// Every range above, for documents generated from them.
    pub const ALL: [Range; 15] = [
        CAPACITY,
        WAKE_LATENCY,
        CONSOLIDATION,
        DEMAND_STALENESS,
        BREAKER_THRESHOLD,
        BREAKER_COOLDOWN,
        RESTART_HOLD,
        SLEEP_STABILIZATION,
        MIN_AWAKE,
        MAX_IN_TRANSITION,
        MAX_SCALE_DOWN,
        AGENT_COOLDOWN,
        SLEEP_RATE,
        SLEEP_RATE_WINDOW,
        JITTER,
    ];
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
    fn durations_out_of_range_name_the_key() {
        let cfg = SchedulerConfig {
            rails: RailConfig {
                agent_cooldown: Duration::from_secs(u64::MAX),
                ..RailConfig::default()
            },
            ..SchedulerConfig::default()
        };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(
            err.contains("rails.agent_cooldown") && err.contains("86400"),
            "{err}"
        );
        let cfg = SchedulerConfig {
            wake_latency: Duration::from_secs(86_401),
            ..SchedulerConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("wake_latency")
        );
        let cfg = SchedulerConfig {
            capacity: 0.0,
            ..SchedulerConfig::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("capacity"));
    }

    #[test]
    fn ranges_name_their_keys_once() {
        let mut keys: Vec<&str> = ranges::ALL.iter().map(|r| r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ranges::ALL.len());
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
