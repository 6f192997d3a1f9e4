//! One agent: its lifecycle state machine and the facts the planner needs about it.

use std::fmt;

use crate::{PolicyError, Time};

/// Identifier of an agent as the fleet names it.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for AgentId {
    fn from(s: &str) -> Self {
        AgentId(s.to_owned())
    }
}

/// Lifecycle of an agent. Only `Awake` serves work; every state but `Asleep` and `Error` is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Serving work (or idle and ready to).
    Awake,
    /// Asked to sleep; writing its checkpoint.
    PreparingSleep,
    /// Compacting and persisting its context before it sleeps.
    Consolidating,
    /// Not running, not billed.
    Asleep,
    /// Restoring from its checkpoint.
    Waking,
    /// A transition failed; needs a wake (the safe direction) to recover.
    Error,
}

impl AgentState {
    /// Every state, in lifecycle order.
    pub const ALL: [AgentState; 6] = [
        AgentState::Awake,
        AgentState::PreparingSleep,
        AgentState::Consolidating,
        AgentState::Asleep,
        AgentState::Waking,
        AgentState::Error,
    ];

    /// The one wire name (`awake`, `preparing_sleep`, …): JSON, SQL, metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Awake => "awake",
            AgentState::PreparingSleep => "preparing_sleep",
            AgentState::Consolidating => "consolidating",
            AgentState::Asleep => "asleep",
            AgentState::Waking => "waking",
            AgentState::Error => "error",
        }
    }

    /// Whether the agent costs money in this state.
    pub fn is_billed(self) -> bool {
        !matches!(self, AgentState::Asleep | AgentState::Error)
    }

    /// Whether the agent is on its way to sleep (counts against the disruption budget).
    pub fn is_sleep_transition(self) -> bool {
        matches!(self, AgentState::PreparingSleep | AgentState::Consolidating)
    }

    /// Applies `event`, returning the next state or why the event is not allowed now.
    pub fn next(self, event: AgentEvent) -> Result<AgentState, PolicyError> {
        use AgentEvent as E;
        use AgentState as S;
        let next = match (self, event) {
            (_, E::Failed) => S::Error,
            (S::Awake, E::SleepRequested) => S::PreparingSleep,
            (S::PreparingSleep, E::CheckpointDone) => S::Consolidating,
            (S::Consolidating, E::ConsolidationDone) => S::Asleep,
            (S::Asleep | S::Error, E::WakeRequested) => S::Waking,
            (S::Waking, E::WakeDone) => S::Awake,
            (from, event) => return Err(PolicyError::InvalidTransition { from, event }),
        };
        Ok(next)
    }
}

wire_name!(AgentState, "an agent state");

/// Something that happens to an agent and may move it to another state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentEvent {
    /// The scheduler asked it to sleep.
    SleepRequested,
    /// Its checkpoint is written.
    CheckpointDone,
    /// Its context is consolidated; it is now asleep.
    ConsolidationDone,
    /// The scheduler asked it to wake.
    WakeRequested,
    /// It finished waking.
    WakeDone,
    /// A transition failed.
    Failed,
}

/// An operator pin that overrides the planner for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pin {
    /// Keep (or bring) the agent awake.
    Awake,
    /// Keep (or put) the agent asleep.
    Asleep,
}

/// What the planner knows about one agent at decision time.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Agent {
    /// Fleet-wide identifier.
    pub id: AgentId,
    /// Current lifecycle state.
    pub state: AgentState,
    /// Working on a task right now: never put to sleep.
    pub busy: bool,
    /// Operator flag: never put to sleep.
    pub do_not_disrupt: bool,
    /// Operator pin, if any.
    pub pin: Option<Pin>,
    /// Since when the agent has had no work (`None` while busy).
    pub idle_since: Option<Time>,
    /// When the agent entered its current state.
    pub last_transition: Time,
    /// When a wake of this agent last started.
    pub last_wake: Option<Time>,
    /// When a sleep of this agent last started.
    pub last_sleep: Option<Time>,
    /// Context (tokens) that a sleep would consolidate.
    pub context_tokens: u64,
}

impl Agent {
    /// A fresh awake, idle agent; convenient for fleets built in tests and simulations.
    pub fn awake(id: impl Into<String>, now: Time) -> Self {
        Agent {
            id: AgentId(id.into()),
            state: AgentState::Awake,
            busy: false,
            do_not_disrupt: false,
            pin: None,
            idle_since: Some(now),
            last_transition: now,
            last_wake: None,
            last_sleep: None,
            context_tokens: 0,
        }
    }

    /// Whether nothing about the agent itself forbids putting it to sleep.
    pub fn may_sleep(&self) -> bool {
        self.state == AgentState::Awake
            && !self.busy
            && !self.do_not_disrupt
            && self.pin != Some(Pin::Awake)
    }

    /// Whether the agent can be woken (asleep, or recovering from an error), pins aside.
    pub fn may_wake(&self) -> bool {
        matches!(self.state, AgentState::Asleep | AgentState::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_cycle_is_allowed() {
        let mut s = AgentState::Awake;
        for e in [
            AgentEvent::SleepRequested,
            AgentEvent::CheckpointDone,
            AgentEvent::ConsolidationDone,
            AgentEvent::WakeRequested,
            AgentEvent::WakeDone,
        ] {
            s = s.next(e).unwrap();
        }
        assert_eq!(s, AgentState::Awake);
    }

    #[test]
    fn illegal_events_are_refused() {
        assert!(AgentState::Awake.next(AgentEvent::WakeRequested).is_err());
        assert!(
            AgentState::Consolidating
                .next(AgentEvent::WakeRequested)
                .is_err()
        );
        assert!(AgentState::Asleep.next(AgentEvent::SleepRequested).is_err());
    }

    #[test]
    fn any_state_can_fail_and_error_recovers_by_waking() {
        for s in [
            AgentState::Awake,
            AgentState::PreparingSleep,
            AgentState::Consolidating,
            AgentState::Asleep,
            AgentState::Waking,
        ] {
            assert_eq!(s.next(AgentEvent::Failed).unwrap(), AgentState::Error);
        }
        assert_eq!(
            AgentState::Error.next(AgentEvent::WakeRequested).unwrap(),
            AgentState::Waking
        );
    }

    #[test]
    fn billing_follows_the_design() {
        assert!(AgentState::Waking.is_billed());
        assert!(AgentState::Consolidating.is_billed());
        assert!(!AgentState::Asleep.is_billed());
    }
}
