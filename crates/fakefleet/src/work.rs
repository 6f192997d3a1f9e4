//! The agents' work as a fleet reports it in heartbeats (tasks completed and failed since the
//! previous report, their p99 latency), with a fault switch that makes a set of agents fail
//! their tasks: the rollout guardrails' input, for tests and demos.
//!
//! Pure: how many tasks a report covers is an argument; only awake agents work.

use std::collections::HashSet;

use hivesched_policy::{AgentId, AgentState};
use serde::{Deserialize, Serialize};

/// Task latency every report gives (milliseconds): the fake agents are all equally fast, so
/// only the failure switch tells arms apart.
pub const TASK_LATENCY_MS: f64 = 120.0;

/// One agent's work since its previous report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkReport {
    /// Tasks completed.
    pub completed: u64,
    /// Tasks failed.
    pub failed: u64,
    /// p99 task latency in milliseconds.
    pub latency_p99_ms: f64,
}

/// The fault switch: which agents fail which share of their tasks.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TaskFaults {
    agents: HashSet<AgentId>,
    rate: f64,
}

impl TaskFaults {
    /// Agents in `agents` fail `rate` (0 to 1) of their tasks from now on; everyone else none.
    pub(crate) fn set(&mut self, agents: HashSet<AgentId>, rate: f64) {
        self.agents = agents;
        self.rate = rate.clamp(0.0, 1.0);
    }

    /// What `agent`, in `state`, did with `tasks` tasks: nothing unless awake (an agent that
    /// is asleep or moving does not work); failed ones are rounded to the nearest task.
    pub(crate) fn report(
        &self,
        agent: &AgentId,
        state: AgentState,
        tasks: u64,
    ) -> Option<WorkReport> {
        if state != AgentState::Awake {
            return None;
        }
        let failed = if self.agents.contains(agent) {
            (tasks as f64 * self.rate).round() as u64
        } else {
            0
        };
        Some(WorkReport {
            completed: tasks - failed.min(tasks),
            failed: failed.min(tasks),
            latency_p99_ms: TASK_LATENCY_MS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_switched_agents_fail_and_only_awake_agents_work() {
        let mut f = TaskFaults::default();
        let (a, b) = (AgentId::from("a"), AgentId::from("b"));
        let ok = |c, f| {
            Some(WorkReport {
                completed: c,
                failed: f,
                latency_p99_ms: TASK_LATENCY_MS,
            })
        };
        assert_eq!(f.report(&a, AgentState::Awake, 20), ok(20, 0));
        f.set(HashSet::from([a.clone()]), 0.5);
        assert_eq!(f.report(&a, AgentState::Awake, 20), ok(10, 10));
        assert_eq!(f.report(&b, AgentState::Awake, 20), ok(20, 0));
        assert_eq!(f.report(&a, AgentState::Asleep, 20), None);
        f.set(HashSet::new(), 0.5);
        assert_eq!(f.report(&a, AgentState::Awake, 20), ok(20, 0));
    }
}
