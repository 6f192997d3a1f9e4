//! Alert rules, evaluated in the pure core: each rule turns the facts of one evaluation into
//! zero or more conditions (keyed by rule and labels); the [`AlertBook`] runs each key's
//! lifecycle, as Prometheus and Alertmanager do:
//!
//! - a condition must hold for the rule's `for` duration before its alert fires (a blip is
//!   not an incident);
//! - one open alert per key (de-duplicated by rule and labels);
//! - `firing → acknowledged` by an operator; `firing | acknowledged → resolved` by itself as
//!   soon as the condition stops holding;
//! - after an alert resolves, the same key does not fire again within the cooldown (a condition
//!   that flaps around its threshold raises one alert, not one per flap).
//!
//! Time is an argument, like everywhere in the core.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{EmergencyMode, Reason, Time};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Needs attention soon.
    Warning,
    /// Needs attention now.
    Critical,
}

impl Severity {
    /// Every severity.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The wire name (`info`, `warning`, `critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

crate::wire_name!(Severity, "info, warning or critical");

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// The condition holds and nobody has acknowledged it.
    Firing,
    /// The condition holds; an operator has seen it.
    Acknowledged,
    /// The condition no longer holds.
    Resolved,
}

impl AlertState {
    /// Every state.
    pub const ALL: [AlertState; 3] = [
        AlertState::Firing,
        AlertState::Acknowledged,
        AlertState::Resolved,
    ];

    /// The wire name (`firing`, `acknowledged`, `resolved`).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    /// Whether the alert is still open (firing or acknowledged).
    pub fn is_open(self) -> bool {
        self != AlertState::Resolved
    }
}

crate::wire_name!(AlertState, "firing, acknowledged or resolved");

/// The rules. Each is one condition on the facts of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// Savings over the savings window are below the target.
    SavingsBelowTarget,
    /// The forecast's rolling error against what actually came is above the threshold.
    ForecastErrorHigh,
    /// The forecast circuit breaker is open.
    BreakerOpen,
    /// The scheduler has been in fail-safe (all awake).
    FailSafe,
    /// A rail (label `reason`) has been holding actions back.
    RailBlocking,
    /// The fleet's API fails a large share of calls.
    ActuatorErrors,
    /// Scheduling ticks fail or have stalled.
    TicksFailing,
    /// The demand feed is stale.
    DemandStale,
    /// An emergency stop is in force (label `mode`).
    EmergencyStop,
    /// Agents have been in a transition (checkpoint, consolidation, wake) for too long.
    AgentsStuck,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 10] = [
        Rule::SavingsBelowTarget,
        Rule::ForecastErrorHigh,
        Rule::BreakerOpen,
        Rule::FailSafe,
        Rule::RailBlocking,
        Rule::ActuatorErrors,
        Rule::TicksFailing,
        Rule::DemandStale,
        Rule::EmergencyStop,
        Rule::AgentsStuck,
    ];

    /// The wire name (`savings_below_target`, …), also the metric and Alertmanager label.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SavingsBelowTarget => "savings_below_target",
            Rule::ForecastErrorHigh => "forecast_error_high",
            Rule::BreakerOpen => "breaker_open",
            Rule::FailSafe => "fail_safe",
            Rule::RailBlocking => "rail_blocking",
            Rule::ActuatorErrors => "actuator_errors",
            Rule::TicksFailing => "ticks_failing",
            Rule::DemandStale => "demand_stale",
            Rule::EmergencyStop => "emergency_stop",
            Rule::AgentsStuck => "agents_stuck",
        }
    }
}

impl Rule {
    /// How urgent the rule's alerts are: fixed per rule, so that Prometheus rules and
    /// dashboards can name each rule's series before it first fires.
    pub fn severity(self) -> Severity {
        match self {
            Rule::RailBlocking => Severity::Info,
            Rule::SavingsBelowTarget
            | Rule::ForecastErrorHigh
            | Rule::DemandStale
            | Rule::AgentsStuck => Severity::Warning,
            Rule::BreakerOpen
            | Rule::FailSafe
            | Rule::ActuatorErrors
            | Rule::TicksFailing
            | Rule::EmergencyStop => Severity::Critical,
        }
    }
}

crate::wire_name!(Rule, "an alert rule name");

/// Thresholds and durations of the rules. Defaults are reasoned in docs/alerts.md.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    /// Savings (% of always-on agent-hours) below which `savings_below_target` fires.
    pub savings_target_pct: f64,
    /// Window the savings are measured over (seconds).
    #[serde(with = "secs")]
    pub savings_window: Duration,
    /// Rolling forecast error (mean absolute error / mean demand) above which
    /// `forecast_error_high` fires.
    pub forecast_error_max: f64,
    /// Share of fleet calls failing above which `actuator_errors` fires.
    pub actuator_error_rate_max: f64,
    /// A transition older than this counts as stuck (seconds).
    #[serde(with = "secs")]
    pub stuck_after: Duration,
    /// How long a condition must hold before it fires, for the slow rules (savings, forecast
    /// error, rails, fail-safe) (seconds).
    #[serde(with = "secs")]
    pub sustained_for: Duration,
    /// How long a condition must hold for the fast rules (breaker, actuator errors, ticks,
    /// demand, stuck agents) (seconds). Emergency stops fire at once.
    #[serde(with = "secs")]
    pub fast_for: Duration,
    /// After an alert resolves, the same rule and labels do not fire again within this
    /// (seconds).
    #[serde(with = "secs")]
    pub cooldown: Duration,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            savings_target_pct: 20.0,
            savings_window: Duration::from_secs(3600),
            forecast_error_max: 0.5,
            actuator_error_rate_max: 0.2,
            stuck_after: Duration::from_secs(1800),
            sustained_for: Duration::from_secs(900),
            fast_for: Duration::from_secs(120),
            cooldown: Duration::from_secs(600),
        }
    }
}

impl AlertConfig {
    /// Checks every value; the error names the key (prefix `alerts.`).
    pub fn validate(&self) -> Result<(), crate::PolicyError> {
        let bad = |key, reason: String| Err(crate::PolicyError::InvalidConfig { key, reason });
        if !(0.0..=100.0).contains(&self.savings_target_pct) {
            return bad(
                "alerts.savings_target_pct",
                format!("{} is not between 0 and 100", self.savings_target_pct),
            );
        }
        if !(self.forecast_error_max.is_finite() && self.forecast_error_max > 0.0) {
            return bad(
                "alerts.forecast_error_max",
                format!("{} is not a positive number", self.forecast_error_max),
            );
        }
        if !(0.0..=1.0).contains(&self.actuator_error_rate_max) {
            return bad(
                "alerts.actuator_error_rate_max",
                format!("{} is not between 0 and 1", self.actuator_error_rate_max),
            );
        }
        const WEEK: u64 = 7 * 86_400;
        for (key, d) in [
            ("alerts.savings_window", self.savings_window),
            ("alerts.stuck_after", self.stuck_after),
            ("alerts.sustained_for", self.sustained_for),
            ("alerts.fast_for", self.fast_for),
            ("alerts.cooldown", self.cooldown),
        ] {
            if d.as_secs() > WEEK {
                return bad(
                    key,
                    format!("{} is not between 0 and {WEEK} s", d.as_secs()),
                );
            }
        }
        if self.savings_window.is_zero() {
            return bad("alerts.savings_window", "must be longer than zero".into());
        }
        Ok(())
    }

    fn for_duration(&self, rule: Rule) -> Duration {
        match rule {
            Rule::SavingsBelowTarget | Rule::ForecastErrorHigh | Rule::RailBlocking => {
                self.sustained_for
            }
            Rule::FailSafe => self.sustained_for / 3,
            Rule::EmergencyStop => Duration::ZERO,
            Rule::BreakerOpen
            | Rule::ActuatorErrors
            | Rule::TicksFailing
            | Rule::DemandStale
            | Rule::AgentsStuck => self.fast_for,
        }
    }
}

/// What one evaluation knows. `None` means "no data", which never fires a rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFacts {
    /// Savings over the configured window, in % of always-on agent-hours.
    pub savings_pct: Option<f64>,
    /// Rolling forecast error relative to mean demand.
    pub forecast_error: Option<f64>,
    /// The breaker is open.
    pub breaker_open: bool,
    /// The latest decision was a fail-safe, and why.
    pub fail_safe: Option<Reason>,
    /// Rails that held actions back in the latest decision.
    pub rails_blocking: Vec<Reason>,
    /// Share of recent fleet calls that failed.
    pub actuator_error_rate: Option<f64>,
    /// The latest tick failed, or ticks stalled.
    pub ticks_failing: bool,
    /// The newest demand sample is older than the staleness limit.
    pub demand_stale: bool,
    /// The emergency stop in force.
    pub emergency: Option<EmergencyMode>,
    /// Agents in a transition for longer than `stuck_after`.
    pub stuck_agents: Vec<String>,
}

/// One condition that holds now: which alert it would be.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    rule: Rule,
    labels: BTreeMap<String, String>,
    severity: Severity,
    summary: String,
    value: Option<f64>,
}

fn conditions(f: &AlertFacts, cfg: &AlertConfig) -> Vec<Condition> {
    let mut out = Vec::new();
    let mut push = |rule: Rule, labels: &[(&str, &str)], summary: String, value| {
        out.push(Condition {
            rule,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            severity: rule.severity(),
            summary,
            value,
        });
    };
    if let Some(s) = f.savings_pct.filter(|s| *s < cfg.savings_target_pct) {
        push(
            Rule::SavingsBelowTarget,
            &[],
            format!(
                "savings {s:.1} % over the last {} min, below the {:.1} % target",
                cfg.savings_window.as_secs() / 60,
                cfg.savings_target_pct
            ),
            Some(s),
        );
    }
    if let Some(e) = f.forecast_error.filter(|e| *e > cfg.forecast_error_max) {
        push(
            Rule::ForecastErrorHigh,
            &[],
            format!(
                "forecast error {:.0} % of mean demand, above {:.0} %",
                100.0 * e,
                100.0 * cfg.forecast_error_max
            ),
            Some(e),
        );
    }
    if f.breaker_open {
        push(
            Rule::BreakerOpen,
            &[],
            "the forecast circuit breaker is open: all agents are kept awake".into(),
            None,
        );
    }
    if let Some(reason) = f.fail_safe {
        push(
            Rule::FailSafe,
            &[("reason", reason.as_str())],
            format!("fail-safe ({}): all agents awake", reason.as_str()),
            None,
        );
    }
    for reason in &f.rails_blocking {
        push(
            Rule::RailBlocking,
            &[("reason", reason.as_str())],
            format!("the {} rail keeps holding actions back", reason.as_str()),
            None,
        );
    }
    if let Some(r) = f
        .actuator_error_rate
        .filter(|r| *r > cfg.actuator_error_rate_max)
    {
        push(
            Rule::ActuatorErrors,
            &[],
            format!("{:.0} % of recent fleet calls failed", 100.0 * r),
            Some(r),
        );
    }
    if f.ticks_failing {
        push(
            Rule::TicksFailing,
            &[],
            "scheduling ticks fail or have stalled: nothing is being decided".into(),
            None,
        );
    }
    if f.demand_stale {
        push(
            Rule::DemandStale,
            &[],
            "the demand feed is stale".into(),
            None,
        );
    }
    if let Some(mode) = f.emergency {
        push(
            Rule::EmergencyStop,
            &[("mode", mode.as_str())],
            format!("an emergency stop ({}) is in force", mode.as_str()),
            None,
        );
    }
    if !f.stuck_agents.is_empty() {
        let n = f.stuck_agents.len();
        let first: Vec<&str> = f.stuck_agents.iter().take(5).map(String::as_str).collect();
        push(
            Rule::AgentsStuck,
            &[],
            format!(
                "{n} agent(s) in a transition for over {} min: {}",
                cfg.stuck_after.as_secs() / 60,
                first.join(", ")
            ),
            Some(n as f64),
        );
    }
    out
}

/// One alert, as the book keeps it (and the store records it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Alert {
    /// Unique id (rule, labels and firing time).
    pub id: String,
    /// The rule.
    pub rule: Rule,
    /// Labels that tell instances of one rule apart (e.g. `reason`).
    pub labels: BTreeMap<String, String>,
    /// Urgency.
    pub severity: Severity,
    /// One human sentence.
    pub summary: String,
    /// The measured value behind it, if any.
    pub value: Option<f64>,
    /// Where it stands.
    pub state: AlertState,
    /// When it fired.
    pub fired_at: Time,
    /// When an operator acknowledged it, and who.
    pub acknowledged: Option<(Time, String)>,
    /// When it resolved.
    pub resolved_at: Option<Time>,
}

/// A change the book made, to store, publish and send.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// A new alert fired.
    Fired(Alert),
    /// An open alert's condition stopped holding.
    Resolved(Alert),
}

/// Per key: since when the condition holds, the open alert, and when the last one resolved.
#[derive(Debug, Clone, Default, PartialEq)]
struct Track {
    holding_since: Option<Time>,
    open: Option<Alert>,
    resolved_at: Option<Time>,
}

/// Every key's lifecycle. See the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertBook {
    tracks: BTreeMap<(Rule, BTreeMap<String, String>), Track>,
    /// Labels added to every condition (a pool's book: `pool`), so several books can share
    /// one store without their alerts' ids meeting.
    extra: BTreeMap<String, String>,
}

impl AlertBook {
    /// A book that already has these alerts open (read back after a restart).
    pub fn with_open(alerts: impl IntoIterator<Item = Alert>) -> Self {
        let mut book = AlertBook::default();
        for a in alerts.into_iter().filter(|a| a.state.is_open()) {
            book.tracks.insert(
                (a.rule, a.labels.clone()),
                Track {
                    holding_since: Some(a.fired_at),
                    open: Some(a),
                    resolved_at: None,
                },
            );
        }
        book
    }

    /// This book with `labels` on every alert it raises (and on its keys): one book per agent
    /// pool, `pool=NAME` (none for the default pool, whose alerts stay as they were).
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.extra = labels;
        self
    }

    /// The open alerts.
    pub fn open(&self) -> impl Iterator<Item = &Alert> {
        self.tracks.values().filter_map(|t| t.open.as_ref())
    }

    /// Evaluates every rule on `facts` at `now` and returns what fired and what resolved.
    pub fn evaluate(
        &mut self,
        facts: &AlertFacts,
        cfg: &AlertConfig,
        now: Time,
    ) -> Vec<AlertChange> {
        let mut holding = conditions(facts, cfg);
        for c in &mut holding {
            c.labels
                .extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let mut changes = Vec::new();
        let holding_keys: Vec<(Rule, BTreeMap<String, String>)> =
            holding.iter().map(|c| (c.rule, c.labels.clone())).collect();
        // Conditions that stopped holding: reset, and resolve what was open.
        for (key, track) in self.tracks.iter_mut() {
            if holding_keys.contains(key) {
                continue;
            }
            track.holding_since = None;
            if let Some(mut alert) = track.open.take() {
                alert.state = AlertState::Resolved;
                alert.resolved_at = Some(now);
                track.resolved_at = Some(now);
                changes.push(AlertChange::Resolved(alert));
            }
        }
        for c in holding {
            let key = (c.rule, c.labels.clone());
            let track = self.tracks.entry(key).or_default();
            let since = *track.holding_since.get_or_insert(now);
            if let Some(open) = track.open.as_mut() {
                // Still holding: keep the newest wording and value on the open alert.
                open.summary = c.summary;
                open.value = c.value;
                continue;
            }
            let sustained = now.since(since) >= cfg.for_duration(c.rule);
            let cooling = track
                .resolved_at
                .is_some_and(|r| now.since(r) < cfg.cooldown);
            if !sustained || cooling {
                continue;
            }
            let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let alert = Alert {
                id: format!(
                    "{}{}{}-{}",
                    c.rule.as_str(),
                    if labels.is_empty() { "" } else { "-" },
                    labels.join(","),
                    now.as_millis()
                ),
                rule: c.rule,
                labels: c.labels,
                severity: c.severity,
                summary: c.summary,
                value: c.value,
                state: AlertState::Firing,
                fired_at: now,
                acknowledged: None,
                resolved_at: None,
            };
            track.open = Some(alert.clone());
            changes.push(AlertChange::Fired(alert));
        }
        // Keys that hold nothing any more and are past their cooldown are forgotten.
        self.tracks.retain(|_, t| {
            t.open.is_some()
                || t.holding_since.is_some()
                || t.resolved_at.is_some_and(|r| now.since(r) < cfg.cooldown)
        });
        changes
    }

    /// An operator acknowledges the open alert `id`; the acknowledged alert, or `None` when no
    /// open alert has that id.
    pub fn acknowledge(&mut self, id: &str, by: &str, now: Time) -> Option<Alert> {
        let alert = self
            .tracks
            .values_mut()
            .filter_map(|t| t.open.as_mut())
            .find(|a| a.id == id)?;
        if alert.state == AlertState::Firing {
            alert.state = AlertState::Acknowledged;
            alert.acknowledged = Some((now, by.to_owned()));
        }
        Some(alert.clone())
    }
}

/// Serialises durations as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Time {
        Time::from_secs(s)
    }

    fn cfg() -> AlertConfig {
        AlertConfig {
            fast_for: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            ..AlertConfig::default()
        }
    }

    fn fired(changes: &[AlertChange]) -> Vec<Rule> {
        changes
            .iter()
            .filter_map(|c| match c {
                AlertChange::Fired(a) => Some(a.rule),
                AlertChange::Resolved(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_condition_fires_only_when_sustained_and_resolves_by_itself() {
        let mut book = AlertBook::default();
        let stale = AlertFacts {
            demand_stale: true,
            ..AlertFacts::default()
        };
        assert!(book.evaluate(&stale, &cfg(), t(0)).is_empty());
        assert!(book.evaluate(&stale, &cfg(), t(59)).is_empty());
        assert_eq!(
            fired(&book.evaluate(&stale, &cfg(), t(60))),
            [Rule::DemandStale]
        );
        // De-duplicated: it stays one alert while the condition holds.
        assert!(book.evaluate(&stale, &cfg(), t(70)).is_empty());
        assert_eq!(book.open().count(), 1);
        let changes = book.evaluate(&AlertFacts::default(), &cfg(), t(80));
        assert!(matches!(&changes[..], [AlertChange::Resolved(a)] if a.resolved_at == Some(t(80))));
        assert_eq!(book.open().count(), 0);
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let mut book = AlertBook::default();
        let broken = AlertFacts {
            breaker_open: true,
            ..AlertFacts::default()
        };
        for s in [0, 30] {
            assert!(book.evaluate(&broken, &cfg(), t(s)).is_empty());
        }
        assert!(
            book.evaluate(&AlertFacts::default(), &cfg(), t(40))
                .is_empty()
        );
        // It starts counting again from scratch.
        assert!(book.evaluate(&broken, &cfg(), t(50)).is_empty());
        assert!(book.evaluate(&broken, &cfg(), t(100)).is_empty());
        assert_eq!(
            fired(&book.evaluate(&broken, &cfg(), t(110))),
            [Rule::BreakerOpen]
        );
    }

    #[test]
    fn the_cooldown_keeps_a_flapping_condition_to_one_alert() {
        let mut book = AlertBook::default();
        let stop = AlertFacts {
            emergency: Some(EmergencyMode::FreezeSleeps),
            ..AlertFacts::default()
        };
        assert_eq!(
            fired(&book.evaluate(&stop, &cfg(), t(0))),
            [Rule::EmergencyStop]
        );
        book.evaluate(&AlertFacts::default(), &cfg(), t(10));
        // Back within the cooldown: no new alert.
        assert!(fired(&book.evaluate(&stop, &cfg(), t(20))).is_empty());
        book.evaluate(&AlertFacts::default(), &cfg(), t(30));
        assert!(fired(&book.evaluate(&stop, &cfg(), t(300))).is_empty());
        assert_eq!(
            fired(&book.evaluate(&stop, &cfg(), t(320))),
            [Rule::EmergencyStop]
        );
    }

    #[test]
    fn labels_tell_instances_apart_and_acknowledging_keeps_them_open() {
        let mut book = AlertBook::default();
        let c = AlertConfig {
            sustained_for: Duration::ZERO,
            ..cfg()
        };
        let rails = AlertFacts {
            rails_blocking: vec![Reason::MinAwake, Reason::SleepRateLimited],
            ..AlertFacts::default()
        };
        let changes = book.evaluate(&rails, &c, t(0));
        assert_eq!(changes.len(), 2);
        let id = match &changes[0] {
            AlertChange::Fired(a) => a.id.clone(),
            AlertChange::Resolved(_) => unreachable!(),
        };
        let acked = book.acknowledge(&id, "alice", t(5)).unwrap();
        assert_eq!(acked.state, AlertState::Acknowledged);
        assert!(book.acknowledge("no-such-id", "alice", t(5)).is_none());
        // Only one rail still blocks: the other alert resolves, the acknowledged one stays.
        let one = AlertFacts {
            rails_blocking: vec![Reason::MinAwake],
            ..AlertFacts::default()
        };
        let changes = book.evaluate(&one, &c, t(10));
        assert_eq!(changes.len(), 1);
        assert_eq!(book.open().count(), 1);
    }

    #[test]
    fn no_data_never_fires_and_defaults_are_valid() {
        AlertConfig::default().validate().unwrap();
        let mut book = AlertBook::default();
        for s in 0..100 {
            assert!(
                book.evaluate(&AlertFacts::default(), &cfg(), t(s * 60))
                    .is_empty()
            );
        }
        let bad = AlertConfig {
            savings_target_pct: 120.0,
            ..AlertConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("alerts.savings_target_pct")
        );
    }
}
