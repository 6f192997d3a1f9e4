//! What the engine publishes, for live views and logs ([`Engine::subscribe`](crate::Engine)):
//! the server turns each into a stream message. Publishing never waits: a subscriber that falls
//! behind loses the oldest events and is told so.

use hivesched_policy::alerts::Alert;
use hivesched_policy::{AgentId, AgentState, Decision, Time};

use crate::bulk::BulkReport;

/// One agent's state as a fleet read found it changed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AgentChange {
    /// The agent.
    pub agent: AgentId,
    /// State before.
    pub from: AgentState,
    /// State now.
    pub to: AgentState,
}

/// The forecast after a tick: the demand steps ahead of the newest sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ForecastUpdate {
    /// Time of the first forecast step.
    pub start: Time,
    /// Step length in seconds.
    pub step_s: u64,
    /// Point forecast per step.
    pub mean: Vec<f64>,
    /// The upper bound the planner provisions on, per step.
    pub upper: Vec<f64>,
    /// The model that made it.
    pub model: String,
}

/// A change of the controls or settings, as its audit record tells it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ControlChange {
    /// When.
    pub at: Time,
    /// The audit action: `emergency.stop`, `emergency.resume`, `pause.set`, `pause.clear`,
    /// `config.update`.
    pub action: String,
    /// Who.
    pub actor: String,
    /// Why, in their words.
    pub reason: String,
    /// The control or settings now in force (`null` when lifted).
    pub after: serde_json::Value,
}

/// What the engine publishes.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A tick decided; `id` is the stored decision's.
    Decision {
        /// Database id of the decision.
        id: i64,
        /// The decision.
        decision: Decision,
    },
    /// A fleet read found agents in new states.
    Agents {
        /// When the read was taken.
        at: Time,
        /// The changes.
        changes: Vec<AgentChange>,
    },
    /// The forecast after a tick.
    Forecast(ForecastUpdate),
    /// A stage of a bulk operation finished (`finished` on its last).
    Bulk {
        /// Its id.
        id: String,
        /// Counts so far.
        report: BulkReport,
        /// Whether the operation ended.
        finished: bool,
    },
    /// An alert fired, was acknowledged, or resolved.
    Alert(Alert),
    /// The controls or settings changed.
    Control(ControlChange),
    /// A tick failed and the engine did not act.
    TickFailed {
        /// When.
        at: Time,
        /// Why.
        error: String,
    },
}
