//! `agent_cooldown`: an agent that was just woken is not put back to sleep before the cooldown.
//!
//! The other direction (waking an agent that just went to sleep) is never blocked: waking is
//! the safe direction. The wake picker prefers agents outside their cooldown instead.

use super::RailContext;
use crate::Agent;

/// Blocks sleeping an agent whose last wake started less than `agent_cooldown` ago.
#[derive(Debug, Clone, Copy)]
pub struct AgentCooldown;

impl AgentCooldown {
    /// Whether `agent` must not be put to sleep yet.
    pub fn blocks(&self, ctx: &RailContext<'_>, agent: &Agent) -> bool {
        agent
            .last_wake
            .is_some_and(|woke| woke > ctx.now.minus(ctx.cfg.agent_cooldown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FleetCounts, RailConfig, SleepLog, Time};
    use std::time::Duration;

    #[test]
    fn ten_minutes_after_a_wake() {
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        let now = Time::from_secs(100_000);
        let ctx = RailContext {
            counts: FleetCounts::default(),
            log: &log,
            now,
            cfg: &cfg,
        };
        let mut a = Agent::awake("a", Time(0));
        assert!(!AgentCooldown.blocks(&ctx, &a));
        a.last_wake = Some(now.minus(Duration::from_secs(599)));
        assert!(AgentCooldown.blocks(&ctx, &a));
        a.last_wake = Some(now.minus(Duration::from_secs(600)));
        assert!(!AgentCooldown.blocks(&ctx, &a));
        // A wake stamped in the future (clock jumped back) still blocks.
        a.last_wake = Some(now.plus(Duration::from_secs(30)));
        assert!(AgentCooldown.blocks(&ctx, &a));
    }
}
