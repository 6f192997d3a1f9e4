//! Jitter: spreads a bulk of actions over a short window so agents don't move in lock-step.
//!
//! The delay is a hash of the agent and the decision time, so the same decision always gets the
//! same delays (deterministic, testable) while different agents land at different moments.

use std::time::Duration;

use crate::{AgentId, Time};

/// Delay in `[0, max)` milliseconds for `agent` in the decision made at `now`.
pub fn jitter_delay_ms(agent: &AgentId, now: Time, max: Duration) -> u64 {
    let max_ms = max.as_millis() as u64;
    if max_ms == 0 {
        return 0;
    }
    // FNV-1a over the id and the time: cheap, stable across platforms and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in agent.0.bytes().chain(now.as_millis().to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % max_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_bounded_and_spread() {
        let max = Duration::from_secs(5);
        let now = Time::from_secs(42);
        let delays: Vec<u64> = (0..100)
            .map(|i| jitter_delay_ms(&AgentId(format!("agent-{i}")), now, max))
            .collect();
        assert!(delays.iter().all(|d| *d < 5000));
        assert_eq!(
            delays[7],
            jitter_delay_ms(&AgentId("agent-7".into()), now, max)
        );
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 90);
        assert_eq!(
            jitter_delay_ms(&AgentId("x".into()), now, Duration::ZERO),
            0
        );
    }
}
