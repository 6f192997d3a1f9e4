//! A reference fleet that honours the actuator contract: in process ([`FakeFleet`] implements
//! [`Actuator`]) and over HTTP ([`router`], [`serve`]), for tests, demos and fleet implementers.
//!
//! Agents move `awake → preparing_sleep → consolidating → asleep → waking → awake` on tokio's
//! clock (so tests can pause time). Idempotency keys are remembered for the life of the fleet
//! and replay their first answer; a fencing token lower than the highest seen is refused.
//! [`FakeFleet::actions`] lists what was accepted, for outside checks.
//! Failures are seeded, so a run is reproducible. [`FakeFleet::work`] gives what an agent
//! reports about its tasks in a heartbeat, and [`FakeFleet::fail_tasks`] is the switch that
//! makes a set of agents fail them (the rollout guardrails' fault).

#[cfg(feature = "http")]
mod body;
mod lock;
mod model;
#[cfg(feature = "http")]
mod server;
mod work;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hivesched_policy::{ActionKind, AgentEvent, AgentId, AgentState};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use hivesched_actuator::{ActuationRequest, Actuator, ActuatorError, AgentStatus, Outcome};

use crate::lock::lock;
use model::{Answer, Model};

pub use model::JOURNAL_CAPACITY;
#[cfg(feature = "http")]
pub use server::{router, serve};
use work::TaskFaults;
pub use work::{TASK_LATENCY_MS, WorkReport};

/// Size and timing of a fake fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeFleetConfig {
    /// Number of agents, named `agent-0` .. `agent-{N-1}`, all awake at the start.
    pub agents: u32,
    /// Time spent in `preparing_sleep` (writing the checkpoint).
    pub checkpoint: Duration,
    /// Time spent in `consolidating` before `asleep`.
    pub consolidation: Duration,
    /// Time spent in `waking` before `awake`.
    pub wake_latency: Duration,
    /// Probability that a sleep or wake fails with 503 before anything is done (0 to 1).
    pub failure_rate: f64,
    /// Seed of the failure draws and the agents' initial context sizes.
    pub seed: u64,
}

impl Default for FakeFleetConfig {
    fn default() -> Self {
        FakeFleetConfig {
            agents: 10,
            checkpoint: Duration::from_secs(2),
            consolidation: Duration::from_secs(10),
            wake_latency: Duration::from_secs(10),
            failure_rate: 0.0,
            seed: 0,
        }
    }
}

/// A fault to inject into the next matching sleep or wake, to test how clients cope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Only requests for this agent match; `None` matches any agent.
    pub agent: Option<AgentId>,
}

/// What an injected [`Fault`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer 503 before doing anything (a retry may then act).
    Fail,
    /// Handle the request (acting if it should), then answer 503 as if the response was lost:
    /// the client retries with the same key and must get the first outcome, not a second act.
    LoseResponse,
    /// Handle the request, then hold the answer back this long (beyond a client's timeout).
    Stall(Duration),
}

/// What the fake fleet has done, for tests and demos (`GET /fake/counters` over HTTP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Real sleeps started (`awake → preparing_sleep`).
    pub sleeps_started: u64,
    /// Sleeps finished (`consolidating → asleep`).
    pub sleeps_completed: u64,
    /// Real wakes started (`asleep`/`error → waking`).
    pub wakes_started: u64,
    /// Wakes finished (`waking → awake`).
    pub wakes_completed: u64,
    /// Requests answered from a remembered idempotency key without acting.
    pub replays: u64,
    /// Sleeps refused because the agent was busy.
    pub refused_busy: u64,
    /// Requests refused for a fencing token below the highest seen.
    pub refused_stale: u64,
    /// Requests refused because the agent was mid-transition the other way.
    pub refused_invalid_state: u64,
    /// Requests for agents the fleet does not have.
    pub not_found: u64,
    /// Requests failed on purpose (failure rate or an injected fault) before acting.
    pub injected_failures: u64,
}

/// One state change of one agent, as the fake fleet made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The agent that moved.
    pub agent: AgentId,
    /// State before.
    pub from: AgentState,
    /// State after.
    pub to: AgentState,
    /// The event that moved it.
    pub event: AgentEvent,
    /// The request that started it; `None` for steps that complete with time.
    pub idempotency_key: Option<String>,
}

/// A sleep or wake the fleet accepted the first time its idempotency key was seen (replays
/// are not listed again), as `GET {base}/actions` serves it, so an outside check can count
/// what was done and under which fencing token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedAction {
    /// The agent acted on.
    pub agent: AgentId,
    /// `sleep` or `wake`.
    pub kind: String,
    /// The request's idempotency key.
    pub idempotency_key: String,
    /// The request's fencing token.
    pub fencing_token: u64,
    /// When the fleet accepted it (RFC 3339, UTC, milliseconds).
    pub at: String,
}

/// The in-process fake fleet. Clones share one fleet, so a test can hold one clone while the
/// HTTP server or the engine holds another.
#[derive(Debug, Clone)]
pub struct FakeFleet {
    model: Arc<Mutex<Model>>,
    faults: Arc<Mutex<TaskFaults>>,
}

impl FakeFleet {
    /// A fleet of awake, idle agents as of now (tokio's clock).
    pub fn new(config: FakeFleetConfig) -> Result<Self, ActuatorError> {
        if config.agents == 0 {
            return Err(ActuatorError::InvalidConfig {
                key: "fake_fleet.agents",
                reason: "a fleet needs at least one agent".into(),
            });
        }
        if !(0.0..=1.0).contains(&config.failure_rate) {
            return Err(ActuatorError::InvalidConfig {
                key: "fake_fleet.failure_rate",
                reason: format!("{} is not a probability in [0, 1]", config.failure_rate),
            });
        }
        Ok(FakeFleet {
            model: Arc::new(Mutex::new(Model::new(config, Instant::now()))),
            faults: Arc::default(),
        })
    }

    /// The fault switch: from now on the agents in `agents` fail `rate` (0 to 1) of their
    /// tasks and every other agent none (an empty set turns it off).
    pub fn fail_tasks(&self, agents: impl IntoIterator<Item = AgentId>, rate: f64) {
        lock(&self.faults).set(agents.into_iter().collect(), rate);
    }

    /// What `agent` reports about its work when `tasks` tasks came its way since its previous
    /// report: `None` unless it is awake (or when the fleet has no such agent), otherwise the
    /// tasks completed and failed under the [fault switch](FakeFleet::fail_tasks).
    pub fn work(&self, agent: &AgentId, tasks: u64) -> Option<WorkReport> {
        let state = self.agent(agent)?.state;
        lock(&self.faults).report(agent, state, tasks)
    }

    /// Marks an agent busy (sleeps are refused with 409) or idle; returns its status, or
    /// `None` if the fleet has no such agent.
    pub fn set_busy(&self, agent: &AgentId, busy: bool) -> Option<AgentStatus> {
        lock(&self.model).set_busy(agent, busy, Instant::now())
    }

    /// Puts an idle, awake agent to sleep at once, outside the contract (no request, no token,
    /// no action recorded): as if the fleet slept it by itself. Fault campaigns use it to give
    /// the scheduler agents to wake. Returns the status, or `None` for an unknown agent or one
    /// that is not awake.
    pub fn fall_asleep(&self, agent: &AgentId) -> Option<AgentStatus> {
        lock(&self.model).fall_asleep(agent, Instant::now())
    }

    /// Changes the probability that a sleep or wake fails with 503 before anything is done
    /// (fault campaigns turn errors on and off while replicas run).
    pub fn set_failure_rate(&self, rate: f64) -> Result<(), ActuatorError> {
        if !(0.0..=1.0).contains(&rate) {
            return Err(ActuatorError::InvalidConfig {
                key: "fake_fleet.failure_rate",
                reason: format!("{rate} is not a probability in [0, 1]"),
            });
        }
        lock(&self.model).set_failure_rate(rate);
        Ok(())
    }

    /// Every agent's current status.
    pub fn agents(&self) -> Vec<AgentStatus> {
        lock(&self.model).list(Instant::now())
    }

    /// One agent's current status, or `None` if the fleet has no such agent.
    pub fn agent(&self, agent: &AgentId) -> Option<AgentStatus> {
        lock(&self.model).agent(agent, Instant::now())
    }

    /// Queues a fault for the next sleep or wake it matches.
    pub fn inject(&self, fault: Fault) {
        lock(&self.model).inject(fault);
    }

    /// Drops the faults still queued (the errors stop); returns how many there were.
    pub fn clear_faults(&self) -> usize {
        lock(&self.model).clear_faults()
    }

    /// What the fleet has done so far.
    pub fn counters(&self) -> Counters {
        lock(&self.model).counters(Instant::now())
    }

    /// The last [`JOURNAL_CAPACITY`] state changes, oldest first, so tests can check that every
    /// transition was legal and no idempotency key acted twice.
    pub fn journal(&self) -> Vec<Transition> {
        lock(&self.model).journal(Instant::now())
    }

    /// The accepted requests, oldest first (the last [`JOURNAL_CAPACITY`]).
    pub fn actions(&self) -> Vec<AcceptedAction> {
        lock(&self.model).actions()
    }

    /// Handles a sleep or wake, then waits out any stall fault; shared by the [`Actuator`]
    /// implementation and the HTTP server.
    async fn answer(
        &self,
        kind: ActionKind,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Answer {
        let reply = {
            let mut model = lock(&self.model);
            let reply = model.handle(kind, agent, request, Instant::now());
            if reply.accepted_new {
                // Wall-clock time for outside readers; the model itself runs on tokio's clock.
                let at = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                model.record_action(AcceptedAction {
                    agent: agent.clone(),
                    kind: kind.as_str().to_owned(),
                    idempotency_key: request.idempotency_key.clone(),
                    fencing_token: request.fencing_token,
                    at,
                });
            }
            reply
        };
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        reply.answer
    }

    async fn act(
        &self,
        kind: ActionKind,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        match self.answer(kind, agent, request).await {
            Answer::Outcome(outcome) => Ok(outcome),
            Answer::Unavailable(message) => Err(ActuatorError::Unavailable {
                status: 503,
                message: message.into(),
            }),
            Answer::KeyReused => Err(ActuatorError::Rejected {
                status: 422,
                message: format!(
                    "idempotency key {} was already used for another request",
                    request.idempotency_key
                ),
            }),
        }
    }
}

impl Actuator for FakeFleet {
    async fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        self.act(ActionKind::Sleep, agent, request).await
    }

    async fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        self.act(ActionKind::Wake, agent, request).await
    }

    async fn list_agents(&self) -> Result<Vec<AgentStatus>, ActuatorError> {
        Ok(self.agents())
    }
}
