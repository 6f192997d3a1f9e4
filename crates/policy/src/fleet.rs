//! The fleet as one decision sees it: every agent plus the counts the rails work from.

use crate::agent::{Agent, AgentState};

/// A snapshot of the fleet at decision time.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fleet {
    /// Every agent, in a stable order (ties in selection are broken by this order).
    pub agents: Vec<Agent>,
}

/// How many agents are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FleetCounts {
    /// Agents in the fleet.
    pub total: u32,
    /// Serving work.
    pub awake: u32,
    /// Checkpointing before sleep.
    pub preparing_sleep: u32,
    /// Consolidating before sleep.
    pub consolidating: u32,
    /// Asleep.
    pub asleep: u32,
    /// Waking up.
    pub waking: u32,
    /// Failed.
    pub error: u32,
}

impl FleetCounts {
    /// Agents on their way to sleep (the disruption budget counts these).
    pub fn in_sleep_transition(&self) -> u32 {
        self.preparing_sleep + self.consolidating
    }

    /// Agents that cost money now.
    pub fn billed(&self) -> u32 {
        self.awake + self.preparing_sleep + self.consolidating + self.waking
    }
}

impl Fleet {
    /// Wraps a list of agents.
    pub fn new(agents: Vec<Agent>) -> Self {
        Fleet { agents }
    }

    /// Counts agents by state in one pass.
    pub fn counts(&self) -> FleetCounts {
        let mut c = FleetCounts {
            total: self.agents.len() as u32,
            ..FleetCounts::default()
        };
        for a in &self.agents {
            match a.state {
                AgentState::Awake => c.awake += 1,
                AgentState::PreparingSleep => c.preparing_sleep += 1,
                AgentState::Consolidating => c.consolidating += 1,
                AgentState::Asleep => c.asleep += 1,
                AgentState::Waking => c.waking += 1,
                AgentState::Error => c.error += 1,
            }
        }
        c
    }
}
