//! The simulated fleet: agents that move through their states with the configured latencies.
//!
//! One step is one trace row. A sleep started at step s leaves the agent billed and not serving
//! for `sleep_steps` steps (checkpoint in the first, consolidation after), then asleep; a wake
//! started at step u is billed for `wake_steps` steps and serves from step u + wake_steps.

use std::collections::HashMap;

use hivesched_policy::accuracy::needed_agents;
use hivesched_policy::{
    Action, ActionKind, Agent, AgentEvent, AgentId, AgentState, Fleet, PolicyError, Time,
};

/// A transition in flight and when it completes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pending {
    done_step: usize,
    fails: bool,
}

/// How one action turned out when applied, for metrics and the rail audit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    /// Index of the agent moved.
    pub index: usize,
    /// Direction.
    pub kind: ActionKind,
    /// When the agent's previous wake started (the cooldown rail's input), before this action.
    pub previous_wake: Option<Time>,
}

/// The simulated fleet.
#[derive(Debug, Clone)]
pub struct SimFleet {
    fleet: Fleet,
    pending: Vec<Option<Pending>>,
    index: HashMap<AgentId, usize>,
}

impl SimFleet {
    /// `n` agents, all awake and idle at `now` (every policy starts from the always-on state).
    pub fn new(n: u32, now: Time) -> Self {
        let agents: Vec<Agent> = (0..n)
            .map(|i| Agent::awake(format!("agent-{i:05}"), now))
            .collect();
        let index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        SimFleet {
            pending: vec![None; agents.len()],
            fleet: Fleet::new(agents),
            index,
        }
    }

    /// The snapshot the scheduler decides on.
    pub fn fleet(&self) -> &Fleet {
        &self.fleet
    }

    /// Completes the transitions due at `step` (whose start time is `now`) and returns the
    /// agents that reached a new state, with that state.
    pub fn advance(
        &mut self,
        step: usize,
        now: Time,
    ) -> Result<Vec<(usize, AgentState)>, PolicyError> {
        let mut moved = Vec::new();
        for (index, (agent, pending)) in self
            .fleet
            .agents
            .iter_mut()
            .zip(self.pending.iter_mut())
            .enumerate()
        {
            let Some(p) = *pending else { continue };
            let event = match agent.state {
                AgentState::PreparingSleep if p.done_step > step => AgentEvent::CheckpointDone,
                AgentState::PreparingSleep => {
                    agent.state = agent.state.next(AgentEvent::CheckpointDone)?;
                    AgentEvent::ConsolidationDone
                }
                _ if p.done_step > step => continue,
                AgentState::Consolidating => AgentEvent::ConsolidationDone,
                AgentState::Waking if p.fails => AgentEvent::Failed,
                AgentState::Waking => AgentEvent::WakeDone,
                _ => continue,
            };
            agent.state = agent.state.next(event)?;
            agent.last_transition = now;
            if agent.state == AgentState::Awake {
                agent.idle_since = Some(now);
            }
            if p.done_step <= step {
                *pending = None;
            }
            moved.push((index, agent.state));
        }
        Ok(moved)
    }

    /// Starts `action` at `step`; the transition takes `steps` steps (`fails`: a wake that ends
    /// in the error state).
    pub fn apply(
        &mut self,
        action: &Action,
        step: usize,
        now: Time,
        steps: u32,
        fails: bool,
    ) -> Result<Applied, PolicyError> {
        let Some(&index) = self.index.get(&action.agent) else {
            return Err(PolicyError::InvalidConfig {
                key: "agent",
                reason: format!("unknown agent {}", action.agent),
            });
        };
        let agent = &mut self.fleet.agents[index];
        let applied = Applied {
            index,
            kind: action.kind,
            previous_wake: agent.last_wake,
        };
        let event = match action.kind {
            ActionKind::Sleep => AgentEvent::SleepRequested,
            ActionKind::Wake => AgentEvent::WakeRequested,
        };
        agent.state = agent.state.next(event)?;
        agent.last_transition = now;
        match action.kind {
            ActionKind::Sleep => agent.last_sleep = Some(now),
            ActionKind::Wake => agent.last_wake = Some(now),
        }
        self.pending[index] = Some(Pending {
            done_step: step + steps.max(1) as usize,
            fails,
        });
        Ok(applied)
    }

    /// Serves `demand` during the step ending at `step_end`: the needed number of awake agents
    /// (most recently busy first, as a load balancer packs work onto warm agents) are busy
    /// until `step_end`; the others keep accruing idle time.
    pub fn serve(&mut self, demand: f64, capacity: f64, step_end: Time) {
        let mut awake: Vec<usize> = (0..self.fleet.agents.len())
            .filter(|&i| self.fleet.agents[i].state == AgentState::Awake)
            .collect();
        let needed = if capacity > 0.0 {
            (demand / capacity).ceil().max(0.0) as usize
        } else {
            0
        };
        awake.sort_by_key(|&i| std::cmp::Reverse(self.fleet.agents[i].idle_since));
        for &i in awake.iter().take(needed) {
            self.fleet.agents[i].idle_since = Some(step_end);
        }
    }

    /// The agents `demand` needs during a step ([`needed_agents`]). (`serve` packs work onto
    /// the warmest agents instead, which is what the scheduler sees as idle time; a just-woken
    /// agent ties with the busiest there, so it cannot say whether a wake was needed.)
    pub fn needed(&self, demand: f64, capacity: f64) -> Vec<usize> {
        needed_agents(&self.fleet, demand, capacity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hivesched_policy::{Reason, Tier};

    fn act(id: &str, kind: ActionKind) -> Action {
        Action {
            agent: AgentId(id.into()),
            kind,
            tier: Tier::Immediate,
            reason: Reason::IdleBeyondBreakEven,
            delay_ms: 0,
            observed: false,
        }
    }

    #[test]
    fn sleep_and_wake_take_their_steps() {
        let mut f = SimFleet::new(2, Time(0));
        f.apply(&act("agent-00000", ActionKind::Sleep), 0, Time(0), 2, false)
            .unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::PreparingSleep);
        f.advance(1, Time(1)).unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::Consolidating);
        f.advance(2, Time(2)).unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::Asleep);
        f.apply(&act("agent-00000", ActionKind::Wake), 2, Time(2), 1, false)
            .unwrap();
        f.advance(3, Time(3)).unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::Awake);
    }

    #[test]
    fn one_step_sleep_goes_straight_to_asleep_and_failed_wake_errors() {
        let mut f = SimFleet::new(1, Time(0));
        f.apply(&act("agent-00000", ActionKind::Sleep), 0, Time(0), 1, false)
            .unwrap();
        f.advance(1, Time(1)).unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::Asleep);
        f.apply(&act("agent-00000", ActionKind::Wake), 1, Time(1), 1, true)
            .unwrap();
        f.advance(2, Time(2)).unwrap();
        assert_eq!(f.fleet().agents[0].state, AgentState::Error);
        assert!(
            f.apply(&act("agent-00000", ActionKind::Sleep), 2, Time(2), 1, false)
                .is_err()
        );
    }

    #[test]
    fn the_newest_wake_is_needed_only_beyond_the_older_agents() {
        let mut f = SimFleet::new(3, Time(0));
        f.apply(&act("agent-00000", ActionKind::Sleep), 0, Time(0), 1, false)
            .unwrap();
        f.advance(1, Time(1)).unwrap();
        f.apply(&act("agent-00000", ActionKind::Wake), 1, Time(1), 1, false)
            .unwrap();
        let moved = f.advance(2, Time(2)).unwrap();
        assert_eq!(moved, [(0, AgentState::Awake)]);
        // Agent 0 is awake again, newest of the three: demand for two needs only the others.
        assert_eq!(f.needed(15.0, 10.0), [1, 2]);
        assert_eq!(f.needed(25.0, 10.0), [1, 2, 0]);
        assert!(f.needed(0.0, 10.0).is_empty());
    }

    #[test]
    fn serving_marks_the_warmest_agents_busy() {
        let mut f = SimFleet::new(3, Time(0));
        f.serve(15.0, 10.0, Time(100));
        let busy = f
            .fleet()
            .agents
            .iter()
            .filter(|a| a.idle_since == Some(Time(100)))
            .count();
        assert_eq!(busy, 2);
    }
}
