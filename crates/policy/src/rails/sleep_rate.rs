//! `sleep_rate`: fleet-wide sleeps started per sliding window (HPA-style rate policy).

use super::{RailContext, SleepLimit};
use crate::Reason;

/// At most `sleep_rate` sleeps started within any `sleep_rate_window`.
#[derive(Debug, Clone, Copy)]
pub struct SleepRate;

impl SleepLimit for SleepRate {
    fn reason(&self) -> Reason {
        Reason::SleepRateLimited
    }

    fn headroom(&self, ctx: &RailContext<'_>) -> u32 {
        let recent = ctx.log.count_within(ctx.now, ctx.cfg.sleep_rate_window);
        ctx.cfg.sleep_rate.saturating_sub(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FleetCounts, RailConfig, SleepLog, Time};
    use std::time::Duration;

    #[test]
    fn sliding_window() {
        let cfg = RailConfig::default();
        let mut log = SleepLog::default();
        let t0 = Time::from_secs(1000);
        for i in 0..8 {
            log.record(t0.plus(Duration::from_secs(i * 5)));
        }
        let counts = FleetCounts {
            total: 100,
            awake: 90,
            ..Default::default()
        };
        let at = |now| RailContext {
            counts,
            log: &log,
            now,
            cfg: &cfg,
        };
        assert_eq!(SleepRate.headroom(&at(t0.plus(Duration::from_secs(40)))), 2);
        // 59 s after the first sleep it still counts; at 60 s it has left the window.
        assert_eq!(SleepRate.headroom(&at(t0.plus(Duration::from_secs(59)))), 2);
        assert_eq!(SleepRate.headroom(&at(t0.plus(Duration::from_secs(60)))), 3);
    }
}
