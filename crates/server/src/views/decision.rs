//! The decisions' wire shape, shared by the decisions list and the live stream.

use chrono::{DateTime, Utc};
use hivesched_policy::Decision;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock;

/// An action admitted by every rail.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionView {
    /// Agent to move.
    pub agent: String,
    /// `sleep` or `wake`.
    pub kind: String,
    /// Tier that produced it: `immediate`, `scheduled`, `predictive`, `safety`.
    pub tier: String,
    /// Why, from the fixed vocabulary (e.g. `IdleBeyondBreakEven`).
    pub reason: String,
    /// Jitter before it starts, in milliseconds.
    pub delay_ms: u64,
    /// Planned for an agent outside the treatment arm of the scheduler's rollout
    /// (`scheduler.acting`): recorded, not executed.
    pub observed: bool,
}

/// Actions a rail or safety behaviour held back.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BlockedView {
    /// Agent concerned, or `null` for a count.
    pub agent: Option<String>,
    /// `sleep` or `wake`.
    pub kind: String,
    /// How many actions this stands for.
    pub count: u32,
    /// The rail or behaviour, e.g. `SleepRateLimited`.
    pub reason: String,
}

/// One scheduling decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionView {
    /// Database id.
    pub id: i64,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// `normal`, `fail_safe`, `hold` or `emergency`.
    pub mode: String,
    /// Recorded only, not executed.
    pub shadow: bool,
    /// Awake agents wanted.
    pub target_awake: u32,
    /// Fewest awake agents it would sleep down to.
    pub sleep_floor: u32,
    /// Tier whose need set the target.
    pub tier: String,
    /// Admitted actions.
    pub actions: Vec<ActionView>,
    /// Held-back actions with reasons.
    pub blocked: Vec<BlockedView>,
    /// One sentence explaining it.
    pub explanation: String,
}

/// The serde name of an enum value (its wire form), e.g. `fail_safe`.
fn name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The API's view of the stored decision `id`: the decisions list and the live stream show
/// the same shape.
pub fn decision(id: i64, d: &Decision) -> DecisionView {
    DecisionView {
        id,
        at: clock::to_api(d.at),
        mode: name(&d.mode),
        shadow: d.shadow,
        target_awake: d.target_awake,
        sleep_floor: d.sleep_floor,
        tier: name(&d.tier),
        actions: d
            .actions
            .iter()
            .map(|a| ActionView {
                agent: a.agent.0.clone(),
                kind: name(&a.kind),
                tier: name(&a.tier),
                reason: name(&a.reason),
                delay_ms: a.delay_ms,
                observed: a.observed,
            })
            .collect(),
        blocked: d
            .blocked
            .iter()
            .map(|b| BlockedView {
                agent: b.agent.as_ref().map(|a| a.0.clone()),
                kind: name(&b.kind),
                count: b.count,
                reason: name(&b.reason),
            })
            .collect(),
        explanation: d.explanation.clone(),
    }
}
