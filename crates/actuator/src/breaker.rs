//! Per-agent circuit breakers: an agent whose calls keep failing is skipped for a cooldown, so
//! one broken agent does not spend the whole tick on timeouts and retries.

use std::collections::HashMap;
use std::time::Duration;

use hivesched_policy::AgentId;
use tokio::time::Instant;

/// When a breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failed attempts (transport errors, timeouts, 5xx) that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker refuses calls before letting one through (half-open).
    pub cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// State of one agent's breaker, for metrics and the planner's fail-safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cooldown ends.
    Open,
    /// Cooldown over: calls go through; the next failure reopens at once, a success closes.
    HalfOpen,
}

#[derive(Debug, Default)]
struct Circuit {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
}

/// The breakers of every agent that has failed at least once since its last success.
#[derive(Debug)]
pub(crate) struct Breakers {
    config: BreakerConfig,
    circuits: HashMap<AgentId, Circuit>,
}

impl Breakers {
    /// All closed.
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Breakers {
            config,
            circuits: HashMap::new(),
        }
    }

    /// State of `agent`'s breaker at `now`.
    pub(crate) fn state(&self, agent: &AgentId, now: Instant) -> CircuitState {
        match self.circuits.get(agent).and_then(|c| c.opened_at) {
            None => CircuitState::Closed,
            Some(at) if now.saturating_duration_since(at) >= self.config.cooldown => {
                CircuitState::HalfOpen
            }
            Some(_) => CircuitState::Open,
        }
    }

    /// `Err(time left)` while the breaker is open; half-open lets calls through as probes.
    /// Concurrent probes are allowed: the executor sends one task per agent at a time, and a
    /// probe that is dropped mid-flight must not leave the breaker stuck.
    pub(crate) fn admit(&self, agent: &AgentId, now: Instant) -> Result<(), Duration> {
        match self.circuits.get(agent).and_then(|c| c.opened_at) {
            Some(at) if self.state(agent, now) == CircuitState::Open => {
                Err(self.config.cooldown - now.saturating_duration_since(at))
            }
            _ => Ok(()),
        }
    }

    /// The agent answered (any answer the contract defines): close its breaker.
    pub(crate) fn record_success(&mut self, agent: &AgentId) {
        self.circuits.remove(agent);
    }

    /// An attempt failed transiently: count it, and open (or reopen, from half-open) the breaker.
    pub(crate) fn record_failure(&mut self, agent: &AgentId, now: Instant) {
        let half_open = self.state(agent, now) == CircuitState::HalfOpen;
        let threshold = self.config.failure_threshold.max(1);
        let circuit = self.circuits.entry(agent.clone()).or_default();
        circuit.consecutive_failures = circuit.consecutive_failures.saturating_add(1);
        if half_open || circuit.consecutive_failures >= threshold {
            circuit.opened_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_only() {
        let mut b = breakers();
        let a = AgentId::from("a");
        let t0 = Instant::now();
        b.record_failure(&a, t0);
        b.record_failure(&a, t0);
        b.record_success(&a);
        b.record_failure(&a, t0);
        b.record_failure(&a, t0);
        assert_eq!(b.state(&a, t0), CircuitState::Closed);
        assert!(b.admit(&a, t0).is_ok());
        b.record_failure(&a, t0);
        assert_eq!(b.state(&a, t0), CircuitState::Open);
        assert_eq!(
            b.admit(&a, t0 + Duration::from_secs(4)),
            Err(Duration::from_secs(6))
        );
        assert_eq!(b.state(&AgentId::from("other"), t0), CircuitState::Closed);
    }

    #[test]
    fn half_open_reopens_on_one_failure_and_closes_on_success() {
        let mut b = breakers();
        let a = AgentId::from("a");
        let t0 = Instant::now();
        for _ in 0..3 {
            b.record_failure(&a, t0);
        }
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.state(&a, t1), CircuitState::HalfOpen);
        assert!(b.admit(&a, t1).is_ok());
        b.record_failure(&a, t1);
        assert_eq!(b.state(&a, t1), CircuitState::Open);
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.state(&a, t2), CircuitState::HalfOpen);
        b.record_success(&a);
        assert_eq!(b.state(&a, t2), CircuitState::Closed);
    }
}
