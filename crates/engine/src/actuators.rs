//! The `[actuator]` settings and the one factory that builds the configured actuator. A new
//! kind of fleet is added here (a variant and its arm), and nothing in the HTTP crate changes.

use std::sync::Arc;

use hivesched_actuator::{DynActuator, HttpActuator, HttpActuatorConfig};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};
use serde::{Deserialize, Serialize};

use crate::EngineError;

/// Most agents the in-process fake fleet may have.
pub const MAX_FAKE_AGENTS: u32 = 100_000;

/// Where the engine sends sleeps and wakes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActuatorSettings {
    /// The fleet's HTTP API (the actuator contract, docs/actuator.md).
    Http {
        /// Base URL, e.g. `http://fleet.internal:9000`.
        base_url: String,
    },
    /// The built-in fake fleet, in process: for demos and trials.
    Fake {
        /// Number of agents (`agent-0` …), 1 to [`MAX_FAKE_AGENTS`].
        #[serde(default = "default_fake_agents")]
        agents: u32,
    },
}

fn default_fake_agents() -> u32 {
    20
}

impl Default for ActuatorSettings {
    fn default() -> Self {
        ActuatorSettings::Fake {
            agents: default_fake_agents(),
        }
    }
}

impl ActuatorSettings {
    /// Checks the settings; the error names the key.
    pub fn validate(&self) -> Result<(), EngineError> {
        match self {
            ActuatorSettings::Http { base_url }
                if !(base_url.starts_with("http://") || base_url.starts_with("https://")) =>
            {
                Err(EngineError::InvalidConfig {
                    key: "actuator.base_url",
                    reason: "must start with http:// or https://".into(),
                })
            }
            ActuatorSettings::Fake { agents } if !(1..=MAX_FAKE_AGENTS).contains(agents) => {
                Err(EngineError::InvalidConfig {
                    key: "actuator.agents",
                    reason: format!("{agents} is not between 1 and {MAX_FAKE_AGENTS}"),
                })
            }
            _ => Ok(()),
        }
    }

    /// The actuator these settings name.
    pub fn build(&self) -> Result<Arc<dyn DynActuator>, EngineError> {
        self.validate()?;
        Ok(match self {
            ActuatorSettings::Http { base_url } => Arc::new(HttpActuator::new(
                HttpActuatorConfig::new(base_url.clone()),
            )?),
            ActuatorSettings::Fake { agents } => Arc::new(FakeFleet::new(FakeFleetConfig {
                agents: *agents,
                ..FakeFleetConfig::default()
            })?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_name_the_key() {
        let bad = ActuatorSettings::Http {
            base_url: "ftp://x".into(),
        };
        assert!(
            bad.build()
                .err()
                .unwrap()
                .to_string()
                .contains("actuator.base_url")
        );
        let bad = ActuatorSettings::Fake { agents: 0 };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("actuator.agents")
        );
        assert!(ActuatorSettings::default().build().is_ok());
    }
}
