//! `min_awake`: never fewer awake agents than the floor.

use super::{RailContext, SleepLimit};
use crate::Reason;

/// Sleeps may only take awake agents above `min_awake`.
#[derive(Debug, Clone, Copy)]
pub struct MinAwake;

impl SleepLimit for MinAwake {
    fn reason(&self) -> Reason {
        Reason::MinAwake
    }

    fn headroom(&self, ctx: &RailContext<'_>) -> u32 {
        ctx.counts.awake.saturating_sub(ctx.cfg.min_awake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FleetCounts, RailConfig, SleepLog, Time};

    #[test]
    fn keeps_the_floor() {
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        for (awake, want) in [(0, 0), (2, 0), (3, 1), (10, 8)] {
            let ctx = RailContext {
                counts: FleetCounts {
                    total: 10,
                    awake,
                    ..Default::default()
                },
                log: &log,
                now: Time(0),
                cfg: &cfg,
            };
            assert_eq!(MinAwake.headroom(&ctx), want, "awake {awake}");
        }
    }
}
