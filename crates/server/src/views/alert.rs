//! The alerts' wire shape, shared by the alerts API and the live stream.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hivesched_policy::alerts::Alert;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock;

/// One alert and where it stands in its lifecycle (`firing → acknowledged → resolved`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    /// Unique id; acknowledge with `POST /api/v1/alerts/{id}/ack`.
    pub id: String,
    /// The rule, e.g. `breaker_open` (also the Alertmanager `alertname`).
    pub rule: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: String,
    /// Labels that tell instances of one rule apart (e.g. `reason` of `rail_blocking`).
    pub labels: BTreeMap<String, String>,
    /// One human sentence.
    pub summary: String,
    /// The measured value behind it, if any (a percentage, a ratio, a count).
    pub value: Option<f64>,
    /// When it fired (after its condition held for the rule's `for` duration).
    pub fired_at: DateTime<Utc>,
    /// When an operator acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When its condition stopped holding.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The API's view of `a`.
pub fn alert(a: &Alert) -> AlertView {
    AlertView {
        id: a.id.clone(),
        rule: a.rule.as_str().to_owned(),
        severity: a.severity.as_str().to_owned(),
        state: a.state.as_str().to_owned(),
        labels: a.labels.clone(),
        summary: a.summary.clone(),
        value: a.value.filter(|v| v.is_finite()),
        fired_at: clock::to_api(a.fired_at),
        acknowledged_at: a.acknowledged.as_ref().map(|(t, _)| clock::to_api(*t)),
        acknowledged_by: a.acknowledged.as_ref().map(|(_, by)| by.clone()),
        resolved_at: a.resolved_at.map(clock::to_api),
    }
}
