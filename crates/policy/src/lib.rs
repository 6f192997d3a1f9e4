//! The pure decision core of Hive Scheduler.
//!
//! Given a fleet snapshot, the demand observed so far and an injected clock, decide which agents
//! to wake and which to put to sleep, under hard safety rails. No I/O and no clock reads happen
//! here, so the live service, the simulator and the property tests run exactly the same code.
//!
//! - [`agent`] and [`fleet`]: the agent state machine and fleet snapshot.
//! - [`policy`]: how many agents a policy wants awake; [`predictive`] is ours, [`baselines`]
//!   are the systems we compare against.
//! - [`forecaster`]: the forecasting interface the predictive policy consumes.
//! - [`rails`]: the named limiters every sleep must pass.
//! - [`controls`]: the emergency stop and the operator pause.
//! - [`gate`]: the one admission gate every action passes before it reaches the fleet.
//! - [`select`]: which agents to move; [`scope`]: which agents the scheduler acts on while its
//!   own acting is rolled out behind a flag.
//! - [`scheduler`]: one tick, with fail-safe, breaker, hold, hysteresis and emergency stop.
//! - [`accuracy`], [`savings`], [`alerts`]: how decisions turned out, what they saved, and the
//!   alert rules with their lifecycle.
//! - [`accuracy`]: which sleeps paid off and which wakes were useful, judged afterwards.

pub mod accuracy;
/// Serializes and parses a fieldless enum by its `as_str()` name and `ALL` list, so each wire
/// name is spelled once (JSON, SQL, metric labels and `FromStr`/`Display` all go through it).
#[macro_export]
macro_rules! wire_name {
    ($ty:ty, $expecting:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == text)
                    .ok_or_else(|| {
                        serde::de::Error::invalid_value(
                            serde::de::Unexpected::Str(&text),
                            &$expecting,
                        )
                    })
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("{s:?} is not {}", $expecting))
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod agent;
pub mod alerts;
pub mod baselines;
pub mod config;
pub mod controls;
pub mod decision;
pub mod error;
pub mod fleet;
pub mod forecaster;
pub mod gate;
pub mod history;
pub mod policy;
pub mod predictive;
pub mod rails;
pub mod safety;
pub mod savings;
pub mod scheduler;
pub mod scope;
pub mod select;
pub mod time;

pub use agent::{Agent, AgentEvent, AgentId, AgentState, Pin};
pub use config::{RailConfig, ScheduledFloor, SchedulerConfig};
pub use controls::{Controls, EmergencyMode, EmergencyStop, Pause, PauseDirection};
pub use decision::{Action, ActionKind, Blocked, Decision, Mode, Reason, Tier};
pub use error::{ForecastFailure, PolicyError};
pub use fleet::{Fleet, FleetCounts};
pub use forecaster::{DemandForecast, FitRecord, Forecaster, ForecasterFactory, SeasonalNaive};
pub use gate::{Gate, GateConfig, Preview, Source, Ticket};
pub use history::DemandHistory;
pub use policy::{Observation, Policy, Recommendation, agents_needed};
pub use predictive::Predictive;
pub use rails::SleepLog;
pub use safety::{Breaker, BreakerState};
pub use scheduler::{Scheduler, TickInput};
pub use scope::{ActingScope, Arm};
pub use time::Time;
