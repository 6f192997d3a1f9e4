//! `max_scale_down`: within one cooldown window, never put more than a fraction (50 %) of the
//! agents that were awake to sleep.

use super::{RailContext, SleepLimit};
use crate::Reason;

/// Counts sleeps started within the last `agent_cooldown` and caps them at
/// `floor(max_scale_down × (awake now + slept in window))`.
#[derive(Debug, Clone, Copy)]
pub struct MaxScaleDown;

impl SleepLimit for MaxScaleDown {
    fn reason(&self) -> Reason {
        Reason::ScaleDownLimited
    }

    fn headroom(&self, ctx: &RailContext<'_>) -> u32 {
        let recent = ctx.log.count_within(ctx.now, ctx.cfg.agent_cooldown);
        let base = ctx.counts.awake + recent;
        let cap = (ctx.cfg.max_scale_down * f64::from(base)).floor() as u32;
        cap.saturating_sub(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FleetCounts, RailConfig, SleepLog, Time};

    #[test]
    fn half_of_the_awake_agents_per_window() {
        let cfg = RailConfig::default();
        let mut log = SleepLog::default();
        let now = Time::from_secs(10_000);
        let counts = |awake| FleetCounts {
            total: 40,
            awake,
            ..Default::default()
        };
        let ctx = RailContext {
            counts: counts(20),
            log: &log,
            now,
            cfg: &cfg,
        };
        assert_eq!(MaxScaleDown.headroom(&ctx), 10);
        for _ in 0..6 {
            log.record(now.minus(std::time::Duration::from_secs(120)));
        }
        // 14 awake now + 6 slept = 20 that were awake: cap 10, 6 used.
        let ctx = RailContext {
            counts: counts(14),
            log: &log,
            now,
            cfg: &cfg,
        };
        assert_eq!(MaxScaleDown.headroom(&ctx), 4);
        // Outside the window the earlier sleeps no longer count.
        let later = now.plus(std::time::Duration::from_secs(600));
        let ctx = RailContext {
            counts: counts(14),
            log: &log,
            now: later,
            cfg: &cfg,
        };
        assert_eq!(MaxScaleDown.headroom(&ctx), 7);
    }
}
