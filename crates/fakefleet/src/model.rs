//! The fake fleet's state: agents moving through their lifecycle over time, remembered
//! idempotency keys, the fencing high-water mark, pending faults and counters.
//!
//! Pure: the current time is an argument, and states advance lazily when looked at, so the
//! same code runs under tokio's paused clock, in property tests and behind the HTTP server.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use hivesched_policy::{ActionKind, AgentEvent, AgentId, AgentState, PolicyError};
use tokio::time::Instant;

use super::{AcceptedAction, Counters, FakeFleetConfig, Fault, FaultKind, Transition};
use hivesched_actuator::{ActuationRequest, AgentStatus, Outcome, Refusal};

/// How many recent transitions [`FakeFleet::journal`](super::FakeFleet::journal) keeps; older ones are dropped so a long-running
/// fake fleet does not grow without bound.
pub const JOURNAL_CAPACITY: usize = 10_000;

/// Agents start with a seeded random context of up to one typical model window.
const MAX_INITIAL_CONTEXT_TOKENS: u64 = 200_000;

/// What the fleet answers to one sleep or wake, before any stall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A contract answer (202, 404, 409).
    Outcome(Outcome),
    /// 503: an injected failure (before acting) or a lost response (after acting).
    Unavailable(&'static str),
    /// 422: the idempotency key was already used for another agent or direction.
    KeyReused,
}

/// An answer and how long to hold it back (a stall fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) answer: Answer,
    pub(crate) delay: Duration,
    /// This request was accepted for the first time (not a replay): the fleet took an action,
    /// whatever the response the client then got (a lost response still acted).
    pub(crate) accepted_new: bool,
}

impl Reply {
    fn now(answer: Answer) -> Self {
        Reply {
            answer,
            delay: Duration::ZERO,
            accepted_new: false,
        }
    }
}

#[derive(Debug)]
struct FakeAgent {
    id: AgentId,
    state: AgentState,
    entered: Instant,
    busy: bool,
    context_tokens: u64,
}

/// The first answer given to an idempotency key, replayed to every retry.
#[derive(Debug)]
struct Recorded {
    agent: AgentId,
    kind: ActionKind,
    outcome: Outcome,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Model {
    config: FakeFleetConfig,
    agents: Vec<FakeAgent>,
    index: HashMap<AgentId, usize>,
    keys: HashMap<String, Recorded>,
    highest_token: u64,
    rng: fastrand::Rng,
    faults: Vec<Fault>,
    counters: Counters,
    journal: VecDeque<Transition>,
    actions: VecDeque<AcceptedAction>,
}

impl Model {
    /// `config.agents` awake, idle agents named `agent-0`, `agent-1`, ... as of `now`.
    pub(crate) fn new(config: FakeFleetConfig, now: Instant) -> Self {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let agents: Vec<FakeAgent> = (0..config.agents)
            .map(|i| FakeAgent {
                id: AgentId(format!("agent-{i}")),
                state: AgentState::Awake,
                entered: now,
                busy: false,
                context_tokens: rng.u64(0..=MAX_INITIAL_CONTEXT_TOKENS),
            })
            .collect();
        let index = agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
        Model {
            config,
            agents,
            index,
            keys: HashMap::new(),
            highest_token: 0,
            rng,
            faults: Vec::new(),
            counters: Counters::default(),
            journal: VecDeque::new(),
            actions: VecDeque::new(),
        }
    }

    /// Handles one sleep or wake at `now`, in the order a real fleet would: injected failures
    /// (nothing looked at), unknown agent, replay of a known key, fencing, then the state machine.
    pub(crate) fn handle(
        &mut self,
        kind: ActionKind,
        agent: &AgentId,
        request: &ActuationRequest,
        now: Instant,
    ) -> Reply {
        let fail = self.take_fault(agent, |k| matches!(k, FaultKind::Fail));
        if fail.is_some() || self.draw_failure() {
            self.counters.injected_failures += 1;
            return Reply::now(Answer::Unavailable("injected failure; nothing was done"));
        }
        let Some(&i) = self.index.get(agent) else {
            self.counters.not_found += 1;
            return Reply::now(Answer::Outcome(Outcome::NotFound));
        };
        let mut accepted_new = false;
        let outcome = match self.keys.get(&request.idempotency_key) {
            Some(first) if first.agent != *agent || first.kind != kind => {
                return Reply::now(Answer::KeyReused);
            }
            Some(first) => {
                self.counters.replays += 1;
                first.outcome
            }
            None => {
                let outcome = if request.fencing_token < self.highest_token {
                    self.counters.refused_stale += 1;
                    Outcome::Busy(Refusal::StaleToken)
                } else {
                    self.highest_token = request.fencing_token;
                    self.apply(i, kind, &request.idempotency_key, now)
                };
                accepted_new = outcome == Outcome::Accepted;
                let first = Recorded {
                    agent: agent.clone(),
                    kind,
                    outcome,
                };
                self.keys.insert(request.idempotency_key.clone(), first);
                outcome
            }
        };
        let after = self.take_fault(agent, |k| !matches!(k, FaultKind::Fail));
        let mut reply = match after {
            Some(FaultKind::LoseResponse) => Reply::now(Answer::Unavailable(
                "response lost after the request was handled",
            )),
            Some(FaultKind::Stall(delay)) => Reply {
                answer: Answer::Outcome(outcome),
                delay,
                accepted_new: false,
            },
            Some(FaultKind::Fail) | None => Reply::now(Answer::Outcome(outcome)),
        };
        reply.accepted_new = accepted_new;
        reply
    }

    /// Remembers an accepted request (the last [`JOURNAL_CAPACITY`] are kept).
    pub(crate) fn record_action(&mut self, action: AcceptedAction) {
        if self.actions.len() == JOURNAL_CAPACITY {
            self.actions.pop_front();
        }
        self.actions.push_back(action);
    }

    /// The accepted requests remembered, oldest first.
    pub(crate) fn actions(&self) -> Vec<AcceptedAction> {
        self.actions.iter().cloned().collect()
    }

    /// Every agent as of `now`.
    pub(crate) fn list(&mut self, now: Instant) -> Vec<AgentStatus> {
        (0..self.agents.len())
            .map(|i| {
                self.settle(i, now);
                self.status(i)
            })
            .collect()
    }

    /// Marks an agent busy or idle; `None` for an unknown agent.
    pub(crate) fn set_busy(
        &mut self,
        agent: &AgentId,
        busy: bool,
        now: Instant,
    ) -> Option<AgentStatus> {
        let i = *self.index.get(agent)?;
        self.settle(i, now);
        self.agents[i].busy = busy;
        Some(self.status(i))
    }

    /// Puts an awake agent straight to sleep (no request, no journal entry); `None` for an
    /// unknown agent or one that is not awake.
    pub(crate) fn fall_asleep(&mut self, agent: &AgentId, now: Instant) -> Option<AgentStatus> {
        let i = *self.index.get(agent)?;
        self.settle(i, now);
        if self.agents[i].state != AgentState::Awake {
            return None;
        }
        self.agents[i].state = AgentState::Asleep;
        self.agents[i].entered = now;
        Some(self.status(i))
    }

    /// One agent as of `now`; `None` for an unknown agent.
    pub(crate) fn agent(&mut self, agent: &AgentId, now: Instant) -> Option<AgentStatus> {
        let i = *self.index.get(agent)?;
        self.settle(i, now);
        Some(self.status(i))
    }

    /// Queues a fault for the next matching request.
    pub(crate) fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Drops every queued fault; returns how many there were.
    pub(crate) fn clear_faults(&mut self) -> usize {
        std::mem::take(&mut self.faults).len()
    }

    /// Counters as of `now` (completions up to `now` included).
    pub(crate) fn counters(&mut self, now: Instant) -> Counters {
        for i in 0..self.agents.len() {
            self.settle(i, now);
        }
        self.counters.clone()
    }

    /// Recent transitions as of `now`, oldest first.
    pub(crate) fn journal(&mut self, now: Instant) -> Vec<Transition> {
        for i in 0..self.agents.len() {
            self.settle(i, now);
        }
        self.journal.iter().cloned().collect()
    }

    fn status(&self, i: usize) -> AgentStatus {
        let a = &self.agents[i];
        AgentStatus {
            id: a.id.clone(),
            state: a.state,
            busy: a.busy,
            context_tokens: a.context_tokens,
        }
    }

    /// See [`FakeFleet::set_failure_rate`](super::FakeFleet::set_failure_rate).
    pub(crate) fn set_failure_rate(&mut self, rate: f64) {
        self.config.failure_rate = rate;
    }

    fn draw_failure(&mut self) -> bool {
        self.config.failure_rate > 0.0 && self.rng.f64() < self.config.failure_rate
    }

    /// Removes and returns the first queued fault for `agent` (or any agent) that `wanted` accepts.
    fn take_fault(
        &mut self,
        agent: &AgentId,
        wanted: impl Fn(FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let at = self
            .faults
            .iter()
            .position(|f| f.agent.as_ref().is_none_or(|a| a == agent) && wanted(f.kind))?;
        Some(self.faults.remove(at).kind)
    }

    /// Starts a sleep or wake if the state machine allows it. A request for where the agent
    /// already is or is heading is accepted without acting; the other direction mid-transition,
    /// and sleeping a busy agent, are refused.
    fn apply(&mut self, i: usize, kind: ActionKind, key: &str, now: Instant) -> Outcome {
        self.settle(i, now);
        let state = self.agents[i].state;
        let event = match kind {
            ActionKind::Sleep if self.agents[i].busy && state == AgentState::Awake => {
                self.counters.refused_busy += 1;
                return Outcome::Busy(Refusal::Busy);
            }
            ActionKind::Sleep => AgentEvent::SleepRequested,
            ActionKind::Wake => AgentEvent::WakeRequested,
        };
        if self.step(i, event, now, Some(key)).is_ok() {
            return Outcome::Accepted;
        }
        let already_there = match kind {
            ActionKind::Sleep => matches!(
                state,
                AgentState::PreparingSleep | AgentState::Consolidating | AgentState::Asleep
            ),
            ActionKind::Wake => matches!(state, AgentState::Awake | AgentState::Waking),
        };
        if already_there {
            Outcome::Accepted
        } else {
            self.counters.refused_invalid_state += 1;
            Outcome::Busy(Refusal::InvalidState)
        }
    }

    /// Moves agent `i` through every timed step that has completed by `now`.
    fn settle(&mut self, i: usize, now: Instant) {
        loop {
            let agent = &self.agents[i];
            let (event, takes) = match agent.state {
                AgentState::PreparingSleep => (AgentEvent::CheckpointDone, self.config.checkpoint),
                AgentState::Consolidating => {
                    (AgentEvent::ConsolidationDone, self.config.consolidation)
                }
                AgentState::Waking => (AgentEvent::WakeDone, self.config.wake_latency),
                _ => return,
            };
            let done_at = agent.entered + takes;
            if done_at > now || self.step(i, event, done_at, None).is_err() {
                return;
            }
        }
    }

    /// Applies `event` to agent `i` at time `at` through the decision core's state machine, so
    /// the fake can never make a transition the scheduler's model calls illegal.
    fn step(
        &mut self,
        i: usize,
        event: AgentEvent,
        at: Instant,
        key: Option<&str>,
    ) -> Result<AgentState, PolicyError> {
        let agent = &mut self.agents[i];
        let from = agent.state;
        let to = from.next(event)?;
        agent.state = to;
        agent.entered = at;
        if to == AgentState::Asleep {
            agent.context_tokens = 0;
        }
        match event {
            AgentEvent::SleepRequested => self.counters.sleeps_started += 1,
            AgentEvent::WakeRequested => self.counters.wakes_started += 1,
            AgentEvent::ConsolidationDone => self.counters.sleeps_completed += 1,
            AgentEvent::WakeDone => self.counters.wakes_completed += 1,
            AgentEvent::CheckpointDone | AgentEvent::Failed => {}
        }
        if self.journal.len() == JOURNAL_CAPACITY {
            self.journal.pop_front();
        }
        self.journal.push_back(Transition {
            agent: agent.id.clone(),
            from,
            to,
            event,
            idempotency_key: key.map(str::to_owned),
        });
        Ok(to)
    }
}
