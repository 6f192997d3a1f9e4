//! What one tick decides: actions with their reasons, and the actions that were held back and why.

use crate::{AgentId, Time};

/// Which tier of automation produced an action (the seed's immediate / scheduled / predictive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Reacting to demand observed now.
    Immediate,
    /// Following a time-based rule or an operator pin.
    Scheduled,
    /// Acting ahead of forecast demand.
    Predictive,
    /// A safety behaviour overrode the policy (fail-safe, emergency stop).
    Safety,
}

/// Direction of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Put the agent to sleep (checkpoint, consolidate, stop).
    Sleep,
    /// Wake the agent.
    Wake,
}

/// Fixed vocabulary of reasons, so that decisions, audit records and metrics can be grouped.
///
/// Names follow Kubernetes HPA's condition vocabulary where one exists.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Reason {
    /// Observed demand needs more awake agents than there are.
    DemandAboveCapacity,
    /// Forecast demand within the wake lead time needs more agents.
    PreWakeForecast,
    /// A scheduled capacity floor is in force.
    ScheduledFloor,
    /// An operator pinned the agent awake or asleep.
    Pinned,
    /// The agent is predicted to stay idle longer than the break-even time.
    IdleBeyondBreakEven,
    /// A sleep was held back because a recent tick wanted more agents (hysteresis).
    SleepStabilized,
    /// The fleet-wide sleep rate limit is reached.
    SleepRateLimited,
    /// The disruption budget (agents in sleep transition at once) is used up.
    BudgetExhausted,
    /// Sleeping more would exceed the scale-down limit for the cooldown window.
    ScaleDownLimited,
    /// The agent moved too recently to move the other way.
    CooldownActive,
    /// Sleeping would leave fewer than the minimum awake agents.
    MinAwake,
    /// Fail-safe is active (forecast failed, demand stale): all agents awake.
    FallbackActive,
    /// The forecast circuit breaker is open: all agents awake.
    BreakerOpen,
    /// An operator emergency stop is in force.
    EmergencyStop,
    /// An operator pause of one direction is in force.
    OperatorPause,
    /// After a restart, the fleet is held until enough history is back.
    RestartHold,
    /// The clock went back; sleeps wait until it passes the latest time seen.
    ClockWentBack,
    /// A forecast peak within the break-even time vetoes the sleep.
    ForecastVeto,
    /// The agent is busy or flagged do-not-disrupt.
    DoNotDisrupt,
}

/// An action the scheduler wants carried out.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Action {
    /// Agent to move.
    pub agent: AgentId,
    /// Direction.
    pub kind: ActionKind,
    /// Tier that produced it.
    pub tier: Tier,
    /// Why.
    pub reason: Reason,
    /// Deterministic jitter: start this many milliseconds after the decision.
    pub delay_ms: u64,
}

/// An action the planner wanted but a rail or safety behaviour held back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Blocked {
    /// Agent concerned (`None` when the block applies to a count, e.g. "3 sleeps").
    pub agent: Option<AgentId>,
    /// Direction that was held back.
    pub kind: ActionKind,
    /// How many actions this entry stands for.
    pub count: u32,
    /// The rail or behaviour that held it back.
    pub reason: Reason,
}

/// Operating mode of one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The policy's recommendation, under the rails.
    Normal,
    /// Fail-safe: every agent awake.
    FailSafe,
    /// Holding the fleet after a restart until history refills.
    Hold,
    /// An emergency stop is in force.
    Emergency,
}

/// The outcome of one tick.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// When the decision was made.
    pub at: Time,
    /// Operating mode.
    pub mode: Mode,
    /// Shadow mode: recorded but never executed.
    pub shadow: bool,
    /// Awake agents the scheduler wants now and over the wake lead time.
    pub target_awake: u32,
    /// Fewest awake agents it will sleep down to (over the break-even window).
    pub sleep_floor: u32,
    /// Tier whose need set the target.
    pub tier: Tier,
    /// Actions admitted by every rail.
    pub actions: Vec<Action>,
    /// Actions held back, with the reason.
    pub blocked: Vec<Blocked>,
    /// One human sentence explaining the decision.
    pub explanation: String,
}

impl Decision {
    /// Actions to execute now: none in shadow mode.
    pub fn to_execute(&self) -> &[Action] {
        if self.shadow { &[] } else { &self.actions }
    }

    /// Admitted actions of one direction.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }
}
