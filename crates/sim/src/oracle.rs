//! The perfect-foresight lower bound on billed agent-steps: what no policy that serves all demand
//! can beat with the same latencies and `min_awake`. It is a yardstick for the report, not a
//! policy: it sees the future and ignores every rail but `min_awake` (sleep rate, disruption
//! budget, scale-down limit, cooldown). A schedule that leaves demand unserved can bill less.
//!
//! Agents are interchangeable and independent once the rails are ignored, so the problem splits by
//! level: agent k must be awake at every step where r_t ≥ k. Between two needs at one level the
//! agent either stays awake (g billed steps for a gap of g) or sleeps through the gap (consolidation
//! plus wake, `sleep_steps + wake_steps` billed), which it only does when that is strictly cheaper;
//! after the last need it may sleep and is billed only for what is left of its consolidation.
//! Levels with the same set of needed steps share one plan, so the work is O(T · distinct levels).

/// What the report says about the oracle's row (its `note`).
pub const ORACLE_NOTE: &str = "perfect-foresight bound, not a policy: it ignores every rail but \
min_awake (sleep_rate, max_in_transition, max_scale_down, agent_cooldown), so its rail_violations \
counts only steps below min_awake; its agent_hours bound only schedules that serve all demand (one \
that leaves demand unserved can bill less); its sleeps and wakes are judged on its per-level plan";

/// Fleet and latency model of the bound, in steps; the same model the simulator uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OracleConfig {
    /// Fleet size N; all agents are awake at step 0.
    pub agents: u32,
    /// Demand one awake agent serves per step.
    pub capacity: f64,
    /// Agents that must be awake at every step (capped at `agents`).
    pub min_awake: u32,
    /// Billed steps of a wake before the agent is awake.
    pub wake_steps: u32,
    /// Billed steps of consolidation after a sleep starts, before the agent is asleep.
    pub sleep_steps: u32,
}

/// The bound's schedule, one entry per step, in the shape of the simulator's schedule CSV.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OracleSchedule {
    /// Agents awake (serving) during the step.
    pub awake: Vec<u32>,
    /// Agents billed during the step: awake, consolidating or waking.
    pub billed: Vec<u32>,
    /// Sleeps started at the start of the step.
    pub sleeps_started: Vec<u32>,
    /// Wakes started at the start of the step.
    pub wakes_started: Vec<u32>,
    /// Every sleep of the schedule, per level, in the order the levels were planned.
    pub sleeps: Vec<OracleSleep>,
}

/// `agents` interchangeable agents of one level put to sleep together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OracleSleep {
    /// How many agents.
    pub agents: u32,
    /// Step whose start the sleep starts at.
    pub sleep: usize,
    /// Step whose start the wake starts at; `None` when they sleep to the end of the trace.
    /// The wake is for step `wake + wake_steps`, where ceil(d / capacity) reaches the level.
    pub wake: Option<usize>,
}

/// Agents required at each step: min(agents, max(min_awake, ceil(d / capacity))). A demand that is
/// not a positive number needs none beyond `min_awake`; a capacity of zero needs everyone whenever
/// there is demand.
pub fn required_awake(demand: &[f64], cfg: &OracleConfig) -> Vec<u32> {
    demand
        .iter()
        .map(|&d| {
            // `as` saturates: NaN → 0, +∞ → u32::MAX, which the min below caps at the fleet.
            let need = if d > 0.0 {
                (d / cfg.capacity).ceil() as u32
            } else {
                0
            };
            need.max(cfg.min_awake).min(cfg.agents)
        })
        .collect()
}

/// Computes the cheapest schedule that keeps `awake_t ≥ r_t` at every step (see the module docs).
pub fn oracle_schedule(demand: &[f64], cfg: &OracleConfig) -> OracleSchedule {
    let steps = demand.len();
    let required = required_awake(demand, cfg);
    let mut plan = Accumulator::new(steps);

    // Group levels 1..=agents by the smallest required value ≥ the level: levels in
    // (previous value, value] are needed at exactly the steps where r_t ≥ value.
    let mut values = required.clone();
    values.sort_unstable();
    values.dedup();
    let mut below = 0;
    for &value in values.iter().filter(|&&v| v > 0) {
        let needed: Vec<usize> = (0..steps).filter(|&t| required[t] >= value).collect();
        plan.add_level(&needed, value - below, cfg);
        below = value;
    }
    if cfg.agents > below {
        plan.add_level(&[], cfg.agents - below, cfg);
    }
    plan.finish()
}

/// Builds the schedule from per-level plans with difference arrays, so each plan costs O(gaps).
struct Accumulator {
    steps: usize,
    /// awake[t] − awake[t−1] (one extra slot for ranges ending at the horizon).
    awake: Vec<i64>,
    billed: Vec<i64>,
    sleeps_started: Vec<u32>,
    wakes_started: Vec<u32>,
    sleeps: Vec<OracleSleep>,
}

impl Accumulator {
    fn new(steps: usize) -> Self {
        Self {
            steps,
            awake: vec![0; steps + 1],
            billed: vec![0; steps + 1],
            sleeps_started: vec![0; steps],
            wakes_started: vec![0; steps],
            sleeps: Vec::new(),
        }
    }

    /// Adds `agents` agents that must be awake at the (sorted) `needed` steps.
    fn add_level(&mut self, needed: &[usize], agents: u32, cfg: &OracleConfig) {
        let count = i64::from(agents);
        let (sleep, wake) = (cfg.sleep_steps as usize, cfg.wake_steps as usize);
        Self::add(&mut self.awake, 0, self.steps, count);
        Self::add(&mut self.billed, 0, self.steps, count);
        let mut start = 0;
        for &need in needed {
            // Gap start..need: sleep at `start`, asleep after consolidating, wake to be awake at `need`.
            let gap = need - start;
            if sleep + wake < gap {
                Self::add(&mut self.awake, start, need, -count);
                Self::add(&mut self.billed, start + sleep, need - wake, -count);
                self.sleeps_started[start] += agents;
                self.wakes_started[need - wake] += agents;
                self.sleeps.push(OracleSleep {
                    agents,
                    sleep: start,
                    wake: Some(need - wake),
                });
            }
            start = need + 1;
        }
        // Trailing gap (the whole horizon for a level never needed): no wake to pay for.
        if sleep < self.steps.saturating_sub(start) {
            Self::add(&mut self.awake, start, self.steps, -count);
            Self::add(&mut self.billed, start + sleep, self.steps, -count);
            self.sleeps_started[start] += agents;
            self.sleeps.push(OracleSleep {
                agents,
                sleep: start,
                wake: None,
            });
        }
    }

    fn add(diff: &mut [i64], from: usize, to: usize, amount: i64) {
        if from < to {
            diff[from] += amount;
            diff[to] -= amount;
        }
    }

    fn finish(self) -> OracleSchedule {
        let running = |diff: &[i64]| -> Vec<u32> {
            diff[..self.steps]
                .iter()
                .scan(0i64, |sum, d| {
                    *sum += d;
                    Some(u32::try_from(*sum).unwrap_or(0))
                })
                .collect()
        };
        OracleSchedule {
            awake: running(&self.awake),
            billed: running(&self.billed),
            sleeps_started: self.sleeps_started,
            wakes_started: self.wakes_started,
            sleeps: self.sleeps,
        }
    }
}
