//! The fleet's sleep/wake contract, as the engine calls it.
//!
//! [`Actuator`] is what the executor programs against; [`HttpActuator`] speaks the HTTP contract
//! in `docs/actuator.md`, and the fake fleet (crate `hivesched-fakefleet`) honours the same
//! contract in process. [`DynActuator`] lets the service choose one at run time.

mod breaker;
mod error;
mod http;
mod lock;
mod retry;
pub mod wire;

pub use error::ActuatorError;

use std::future::Future;
use std::pin::Pin;

use hivesched_policy::{AgentId, AgentState};
use serde::{Deserialize, Serialize};

pub use breaker::{BreakerConfig, CircuitState};
pub use http::{HttpActuator, HttpActuatorConfig};
pub use retry::RetryPolicy;

/// What accompanies every sleep or wake, so the fleet can deduplicate retries and refuse a
/// deposed leader. The same request (same key) is sent on every retry of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActuationRequest {
    /// Identifies one task; the fleet acts at most once per key and replays the first answer.
    pub idempotency_key: String,
    /// Why the scheduler asks, for the fleet's own logs (e.g. `IdleBeyondBreakEven`).
    pub reason: String,
    /// The scheduler leader's fencing token; the fleet refuses tokens lower than the highest seen.
    pub fencing_token: u64,
}

/// The fleet's answer to a sleep or wake, when it gave one the contract defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// 202: the fleet took the request (it started the transition, or the agent already is
    /// where it was asked to go).
    Accepted,
    /// 409: the fleet refused; the reason says whether to try later or give up.
    Busy(Refusal),
    /// 404: the fleet does not know this agent.
    NotFound,
}

/// Why a fleet answered 409, so the executor can tell "try later" from "you are not the leader".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The agent is working and must not be put to sleep now.
    Busy,
    /// The fencing token is lower than one the fleet has already seen: a newer leader exists.
    StaleToken,
    /// The agent's state does not allow this direction now (e.g. waking one mid-consolidation).
    InvalidState,
    /// A 409 whose body names no code this client knows.
    Unspecified,
}

impl Refusal {
    /// The `code` this refusal carries in a 409 error body.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Busy => "busy",
            Refusal::StaleToken => "stale_token",
            Refusal::InvalidState => "invalid_state",
            Refusal::Unspecified => "conflict",
        }
    }

    /// The refusal a 409 error body's `code` stands for; unknown codes are `Unspecified`.
    pub fn from_code(code: &str) -> Self {
        match code {
            "busy" => Refusal::Busy,
            "stale_token" => Refusal::StaleToken,
            "invalid_state" => Refusal::InvalidState,
            _ => Refusal::Unspecified,
        }
    }
}

/// One agent as `GET {base}/agents` reports it. Fleets may send more fields; they are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The fleet's identifier for the agent.
    pub id: AgentId,
    /// Current lifecycle state (`awake`, `preparing_sleep`, `consolidating`, `asleep`, `waking`,
    /// `error`).
    pub state: AgentState,
    /// Working right now: the fleet refuses to put it to sleep.
    pub busy: bool,
    /// Context (tokens) a sleep would have to consolidate.
    pub context_tokens: u64,
}

/// The fleet's sleep/wake API. Implementations must be safe to retry with the same request:
/// a repeated idempotency key never acts twice.
///
/// Uses `async fn`-style methods returning `Send` futures (native, no macro), so generic callers
/// pay no allocation; [`DynActuator`] is the boxed, object-safe view for choosing at run time.
pub trait Actuator: Send + Sync {
    /// Asks the fleet to put `agent` to sleep (checkpoint, consolidate, stop).
    fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send;

    /// Asks the fleet to wake `agent`.
    fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send;

    /// Reads every agent's current state from the fleet.
    fn list_agents(&self) -> impl Future<Output = Result<Vec<AgentStatus>, ActuatorError>> + Send;
}

/// A boxed future, as [`DynActuator`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Object-safe twin of [`Actuator`], implemented for every actuator, so the service can hold an
/// `Arc<dyn DynActuator>` chosen from configuration. `dyn DynActuator` implements [`Actuator`]
/// again, so code written against the trait works with either.
pub trait DynActuator: Send + Sync {
    /// [`Actuator::sleep`], boxed.
    fn boxed_sleep<'a>(
        &'a self,
        agent: &'a AgentId,
        request: &'a ActuationRequest,
    ) -> BoxFuture<'a, Result<Outcome, ActuatorError>>;

    /// [`Actuator::wake`], boxed.
    fn boxed_wake<'a>(
        &'a self,
        agent: &'a AgentId,
        request: &'a ActuationRequest,
    ) -> BoxFuture<'a, Result<Outcome, ActuatorError>>;

    /// [`Actuator::list_agents`], boxed.
    fn boxed_list_agents(&self) -> BoxFuture<'_, Result<Vec<AgentStatus>, ActuatorError>>;
}

impl<T: Actuator> DynActuator for T {
    fn boxed_sleep<'a>(
        &'a self,
        agent: &'a AgentId,
        request: &'a ActuationRequest,
    ) -> BoxFuture<'a, Result<Outcome, ActuatorError>> {
        Box::pin(self.sleep(agent, request))
    }

    fn boxed_wake<'a>(
        &'a self,
        agent: &'a AgentId,
        request: &'a ActuationRequest,
    ) -> BoxFuture<'a, Result<Outcome, ActuatorError>> {
        Box::pin(self.wake(agent, request))
    }

    fn boxed_list_agents(&self) -> BoxFuture<'_, Result<Vec<AgentStatus>, ActuatorError>> {
        Box::pin(self.list_agents())
    }
}

impl Actuator for dyn DynActuator {
    async fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        self.boxed_sleep(agent, request).await
    }

    async fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        self.boxed_wake(agent, request).await
    }

    fn list_agents(&self) -> impl Future<Output = Result<Vec<AgentStatus>, ActuatorError>> + Send {
        self.boxed_list_agents()
    }
}
