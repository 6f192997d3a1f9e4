//! Safety rails: separate, named limiters that every proposed sleep must pass.
//!
//! Each limiter answers one question ("how many more sleeps may start now?", or "may this agent
//! move yet?") from the fleet counts, the recent sleep log and the injected clock. Wakes are the
//! safe direction and pass no rail.

mod cooldown;
mod jitter;
mod log;
mod min_awake;
mod scale_down;
mod sleep_rate;
mod transition_budget;

pub use cooldown::AgentCooldown;
pub use jitter::jitter_delay_ms;
pub use log::SleepLog;
pub use min_awake::MinAwake;
pub use scale_down::MaxScaleDown;
pub use sleep_rate::SleepRate;
pub use transition_budget::TransitionBudget;

use crate::{FleetCounts, RailConfig, Reason, Time};

/// Everything a limiter may look at.
#[derive(Debug, Clone, Copy)]
pub struct RailContext<'a> {
    /// Counts by state before this tick's actions.
    pub counts: FleetCounts,
    /// Sleeps started recently.
    pub log: &'a SleepLog,
    /// The injected clock.
    pub now: Time,
    /// Rail settings.
    pub cfg: &'a RailConfig,
}

/// A fleet-wide limit on how many sleeps may start now.
pub trait SleepLimit {
    /// Reason recorded when this limit holds a sleep back.
    fn reason(&self) -> Reason;
    /// How many more sleeps may start now.
    fn headroom(&self, ctx: &RailContext<'_>) -> u32;
}

/// The fleet-wide limiters in the order they are reported when several bind at once.
const LIMITS: [&dyn SleepLimit; 4] = [&MinAwake, &TransitionBudget, &MaxScaleDown, &SleepRate];

/// How many sleeps may start now, and the limiter that binds (the tightest one).
pub fn headroom(ctx: &RailContext<'_>) -> (u32, Reason) {
    LIMITS
        .iter()
        .map(|l| (l.headroom(ctx), l.reason()))
        .min_by_key(|(h, _)| *h)
        .expect("LIMITS is not empty")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fleet;

    #[test]
    fn the_tightest_limit_binds_and_is_named() {
        let f = Fleet::new(
            (0..10)
                .map(|i| crate::Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        );
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        let ctx = RailContext {
            counts: f.counts(),
            log: &log,
            now: Time::from_secs(3600),
            cfg: &cfg,
        };
        // budget ceil(0.3 × 10) = 3 is tighter than scale-down 5, rate 10, min-awake 8.
        assert_eq!(headroom(&ctx), (3, Reason::BudgetExhausted));
    }
}
