//! `always-on`: every agent awake. The cost ceiling every saving is measured against.

use crate::{Observation, Policy, PolicyError, Reason, Recommendation, Tier};

/// Keeps the whole fleet awake.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOn;

impl Policy for AlwaysOn {
    fn name(&self) -> &str {
        "always-on"
    }

    fn recommend(&mut self, obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        Ok(Recommendation::exactly(
            obs.counts.total,
            Tier::Immediate,
            Reason::DemandAboveCapacity,
            "always-on keeps every agent awake".into(),
        ))
    }
}
