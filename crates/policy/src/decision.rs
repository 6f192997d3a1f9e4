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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    /// Put the agent to sleep (checkpoint, consolidate, stop).
    Sleep,
    /// Wake the agent.
    Wake,
}

impl ActionKind {
    /// Both directions.
    pub const ALL: [ActionKind; 2] = [ActionKind::Sleep, ActionKind::Wake];

    /// The one wire name (`sleep`, `wake`): JSON, SQL, metrics labels and task keys use it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Sleep => "sleep",
            ActionKind::Wake => "wake",
        }
    }
}

wire_name!(ActionKind, "`sleep` or `wake`");

/// Fixed vocabulary of reasons, so that decisions, audit records and metrics can be grouped.
///
/// Names follow Kubernetes HPA's condition vocabulary where one exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
    /// Shadow mode: decisions are recorded, nothing reaches the fleet.
    ShadowMode,
    /// The fleet's state could not be read: no sleeps on stale state, all agents awake.
    FleetUnreadable,
    /// The agent is not in a state the action applies to (a sleep of an agent that is not
    /// awake, a wake of one that is not asleep or failed).
    StateMismatch,
    /// The fleet does not report the agent.
    UnknownAgent,
    /// The agent is in the control arm of the scheduler's rollout: held awake, never slept
    /// (and woken if asleep).
    RolloutControl,
    /// The agent is outside the treatment arm of the scheduler's rollout: only observed, never
    /// put to sleep by the scheduler.
    OutsideRollout,
    /// The scheduler stopped acting on the agent (its rollout rolled back or stepped down)
    /// and wakes what it had put to sleep.
    RolloutReleased,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 26] = [
        Reason::DemandAboveCapacity,
        Reason::PreWakeForecast,
        Reason::ScheduledFloor,
        Reason::Pinned,
        Reason::IdleBeyondBreakEven,
        Reason::SleepStabilized,
        Reason::SleepRateLimited,
        Reason::BudgetExhausted,
        Reason::ScaleDownLimited,
        Reason::CooldownActive,
        Reason::MinAwake,
        Reason::FallbackActive,
        Reason::BreakerOpen,
        Reason::EmergencyStop,
        Reason::OperatorPause,
        Reason::RestartHold,
        Reason::ClockWentBack,
        Reason::ForecastVeto,
        Reason::DoNotDisrupt,
        Reason::ShadowMode,
        Reason::FleetUnreadable,
        Reason::StateMismatch,
        Reason::UnknownAgent,
        Reason::RolloutControl,
        Reason::OutsideRollout,
        Reason::RolloutReleased,
    ];

    /// The one wire name (`IdleBeyondBreakEven`, …): decisions, task refusals, metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DemandAboveCapacity => "DemandAboveCapacity",
            Reason::PreWakeForecast => "PreWakeForecast",
            Reason::ScheduledFloor => "ScheduledFloor",
            Reason::Pinned => "Pinned",
            Reason::IdleBeyondBreakEven => "IdleBeyondBreakEven",
            Reason::SleepStabilized => "SleepStabilized",
            Reason::SleepRateLimited => "SleepRateLimited",
            Reason::BudgetExhausted => "BudgetExhausted",
            Reason::ScaleDownLimited => "ScaleDownLimited",
            Reason::CooldownActive => "CooldownActive",
            Reason::MinAwake => "MinAwake",
            Reason::FallbackActive => "FallbackActive",
            Reason::BreakerOpen => "BreakerOpen",
            Reason::EmergencyStop => "EmergencyStop",
            Reason::OperatorPause => "OperatorPause",
            Reason::RestartHold => "RestartHold",
            Reason::ClockWentBack => "ClockWentBack",
            Reason::ForecastVeto => "ForecastVeto",
            Reason::DoNotDisrupt => "DoNotDisrupt",
            Reason::ShadowMode => "ShadowMode",
            Reason::FleetUnreadable => "FleetUnreadable",
            Reason::StateMismatch => "StateMismatch",
            Reason::UnknownAgent => "UnknownAgent",
            Reason::RolloutControl => "RolloutControl",
            Reason::OutsideRollout => "OutsideRollout",
            Reason::RolloutReleased => "RolloutReleased",
        }
    }

    /// Whether a refusal for this reason lifts with time alone while nothing else changes: the
    /// fleet-wide rails and holds. A bulk operation's task waits these out (within its bound);
    /// controls, shadow mode and facts about the agent refuse at once.
    pub fn clears_with_time(self) -> bool {
        matches!(
            self,
            Reason::SleepRateLimited
                | Reason::BudgetExhausted
                | Reason::ScaleDownLimited
                | Reason::CooldownActive
                | Reason::MinAwake
                | Reason::RestartHold
                | Reason::ClockWentBack
                | Reason::FallbackActive
                | Reason::BreakerOpen
                | Reason::FleetUnreadable
        )
    }
}

wire_name!(Reason, "a reason from the fixed vocabulary");

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
    /// Planned for an agent the scheduler does not act on (outside its rollout's treatment
    /// arm): recorded like shadow mode, never executed. See [`crate::scope`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
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
    /// Why no sleep may start until the next decision, whatever its source (restart hold,
    /// fail-safe): the gate refuses sleeps for this reason until the next tick decides again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep_hold: Option<Reason>,
}

impl Decision {
    /// Actions to execute now: none in shadow mode, and never one only observed.
    pub fn to_execute(&self) -> Vec<&Action> {
        if self.shadow {
            return Vec::new();
        }
        self.actions.iter().filter(|a| !a.observed).collect()
    }

    /// Admitted actions of one direction.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.actions.iter().filter(|a| a.kind == kind).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(seen.insert(r.as_str()), "{} twice", r.as_str());
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json, r.as_str());
            assert_eq!(serde_json::from_value::<Reason>(json).unwrap(), r);
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        }
        for k in ActionKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        let err = serde_json::from_value::<ActionKind>("nap".into()).unwrap_err();
        assert!(err.to_string().contains("nap"), "{err}");
    }
}
