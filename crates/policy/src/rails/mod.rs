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

use crate::{ActionKind, Agent, Blocked, FleetCounts, RailConfig, Reason, Time};

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

/// The result of passing proposed sleeps through the rails.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    /// Indices (into the candidate slice) of the sleeps that may start.
    pub admitted: Vec<usize>,
    /// What was held back and why.
    pub blocked: Vec<Blocked>,
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

/// Admits a prefix of `candidates` (best sleep candidates first) that breaks no rail.
pub fn admit_sleeps(ctx: &RailContext<'_>, candidates: &[&Agent]) -> Admission {
    let mut out = Admission::default();
    if candidates.is_empty() {
        return out;
    }
    let (headroom, binding) = headroom(ctx);
    let cooldown = AgentCooldown;
    let mut over_limit = 0;
    for (i, agent) in candidates.iter().enumerate() {
        if cooldown.blocks(ctx, agent) {
            out.blocked.push(Blocked {
                agent: Some(agent.id.clone()),
                kind: ActionKind::Sleep,
                count: 1,
                reason: Reason::CooldownActive,
            });
        } else if (out.admitted.len() as u32) < headroom {
            out.admitted.push(i);
        } else {
            over_limit += 1;
        }
    }
    if over_limit > 0 {
        out.blocked.push(Blocked {
            agent: None,
            kind: ActionKind::Sleep,
            count: over_limit,
            reason: binding,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Fleet;

    fn fleet(n: usize) -> Fleet {
        Fleet::new(
            (0..n)
                .map(|i| Agent::awake(format!("a{i}"), Time(0)))
                .collect(),
        )
    }

    #[test]
    fn admits_up_to_the_tightest_limit_and_names_it() {
        let f = fleet(10);
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        let ctx = RailContext {
            counts: f.counts(),
            log: &log,
            now: Time::from_secs(3600),
            cfg: &cfg,
        };
        let cands: Vec<&Agent> = f.agents.iter().collect();
        let adm = admit_sleeps(&ctx, &cands);
        // budget ceil(0.3 × 10) = 3 is tighter than scale-down 5, rate 10, min-awake 8.
        assert_eq!(adm.admitted.len(), 3);
        assert_eq!(adm.blocked.len(), 1);
        assert_eq!(adm.blocked[0].reason, Reason::BudgetExhausted);
        assert_eq!(adm.blocked[0].count, 7);
    }

    #[test]
    fn recently_woken_agents_are_skipped_not_counted() {
        let mut f = fleet(10);
        f.agents[0].last_wake = Some(Time::from_secs(3500));
        let cfg = RailConfig::default();
        let log = SleepLog::default();
        let ctx = RailContext {
            counts: f.counts(),
            log: &log,
            now: Time::from_secs(3600),
            cfg: &cfg,
        };
        let cands: Vec<&Agent> = f.agents.iter().collect();
        let adm = admit_sleeps(&ctx, &cands);
        assert_eq!(adm.admitted, vec![1, 2, 3]);
        assert_eq!(adm.blocked[0].reason, Reason::CooldownActive);
    }
}
