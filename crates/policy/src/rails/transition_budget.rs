//! `max_in_transition`: a concurrency budget (Karpenter-style) on agents checkpointing or
//! consolidating at once, rounded up.

use super::{RailContext, SleepLimit};
use crate::Reason;

/// At most `ceil(max_in_transition × fleet)` agents in sleep transition at once.
#[derive(Debug, Clone, Copy)]
pub struct TransitionBudget;

impl SleepLimit for TransitionBudget {
    fn reason(&self) -> Reason {
        Reason::BudgetExhausted
    }

    fn headroom(&self, ctx: &RailContext<'_>) -> u32 {
        ctx.cfg
            .transition_budget(ctx.counts.total)
            .saturating_sub(ctx.counts.in_sleep_transition())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FleetCounts, RailConfig, SleepLog, Time};

    #[test]
    fn counts_agents_already_in_transition() {
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        let ctx = |preparing, consolidating| RailContext {
            counts: FleetCounts {
                total: 20,
                awake: 10,
                preparing_sleep: preparing,
                consolidating,
                ..Default::default()
            },
            log: &log,
            now: Time(0),
            cfg: &cfg,
        };
        assert_eq!(TransitionBudget.headroom(&ctx(0, 0)), 6);
        assert_eq!(TransitionBudget.headroom(&ctx(2, 3)), 1);
        assert_eq!(TransitionBudget.headroom(&ctx(4, 4)), 0);
    }
}
