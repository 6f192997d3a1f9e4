//! Decision accuracy, live: the simulator's `sleep_payoff_pct` and `wake_useful_pct`
//! ([`hivesched_policy::accuracy`]) judged on the real fleet, tick by tick, and exported as
//! metrics.
//!
//! Each tick the engine hands over the fleet as it knows it and the newest demand. A changed
//! `last_sleep` / `last_wake` on an agent is a sleep or wake that started (the executor stamps
//! them when the fleet accepts), an agent newly `asleep` reached the end of its consolidation,
//! and the agents the demand needs ([`needed_agents`]) served. Agents seen for the first time
//! open no decision: their history is unknown.

use std::collections::HashMap;
use std::sync::Mutex;

use hivesched_policy::accuracy::{
    AccuracyConfig, AccuracyTally, AgentTimeline, Outcome, SleepVerdict, TimelineEvent,
    WakeVerdict, needed_agents,
};
use hivesched_policy::{AgentId, AgentState, Fleet, Time};

use crate::lock::lock;
use crate::metrics::{EngineMetrics, VerdictLabels};

/// What the last tick saw of one agent, and its open decision.
#[derive(Debug, Clone)]
struct Seen {
    state: AgentState,
    last_sleep: Option<Time>,
    last_wake: Option<Time>,
    timeline: AgentTimeline,
}

#[derive(Debug)]
struct State {
    cfg: AccuracyConfig,
    agents: HashMap<AgentId, Seen>,
    tally: AccuracyTally,
}

/// Judges the service's sleeps and wakes as they play out.
#[derive(Debug)]
pub struct LiveAccuracy(Mutex<State>);

impl LiveAccuracy {
    /// Judging against `cfg` (break-even time and useful window from the fleet's latencies).
    pub fn new(cfg: AccuracyConfig) -> Self {
        LiveAccuracy(Mutex::new(State {
            cfg,
            agents: HashMap::new(),
            tally: AccuracyTally::default(),
        }))
    }

    /// New latencies apply to decisions judged from now on.
    pub fn reconfigure(&self, cfg: AccuracyConfig) {
        lock(&self.0).cfg = cfg;
    }

    /// The counts so far.
    pub fn tally(&self) -> AccuracyTally {
        lock(&self.0).tally
    }

    /// Takes one tick's view of the fleet and the newest demand (units per step), and records
    /// every decision it settles in `metrics`.
    pub fn observe(
        &self,
        fleet: &Fleet,
        demand: Option<f64>,
        capacity: f64,
        now: Time,
        metrics: &EngineMetrics,
    ) {
        let mut state = lock(&self.0);
        let State { cfg, agents, tally } = &mut *state;
        let cfg = *cfg;
        let mut outcomes = Vec::new();
        for agent in &fleet.agents {
            let Some(seen) = agents.get_mut(&agent.id) else {
                agents.insert(
                    agent.id.clone(),
                    Seen {
                        state: agent.state,
                        last_sleep: agent.last_sleep,
                        last_wake: agent.last_wake,
                        timeline: AgentTimeline::default(),
                    },
                );
                continue;
            };
            let mut events = Vec::new();
            if let Some(t) = agent.last_sleep.filter(|t| Some(*t) != seen.last_sleep) {
                events.push(TimelineEvent::SleepStarted(t));
            }
            if let Some(t) = agent.last_wake.filter(|t| Some(*t) != seen.last_wake) {
                events.push(TimelineEvent::WakeStarted(t));
            }
            if agent.state == AgentState::Asleep && seen.state != AgentState::Asleep {
                events.push(TimelineEvent::Asleep(now));
            }
            events.sort_by_key(|e| e.at());
            for event in events {
                outcomes.extend(seen.timeline.record(event, &cfg));
            }
            outcomes.extend(seen.timeline.settle(now, &cfg));
            seen.state = agent.state;
            seen.last_sleep = agent.last_sleep;
            seen.last_wake = agent.last_wake;
        }
        if let Some(demand) = demand {
            for i in needed_agents(fleet, demand, capacity) {
                if let Some(seen) = agents.get_mut(&fleet.agents[i].id) {
                    outcomes.extend(seen.timeline.record(TimelineEvent::Served(now), &cfg));
                }
            }
        }
        for outcome in outcomes {
            tally.add(outcome);
            let (family, verdict) = match outcome {
                Outcome::Sleep { verdict, .. } => (&metrics.sleep_outcomes, sleep_label(verdict)),
                Outcome::Wake { verdict, .. } => (&metrics.wake_outcomes, wake_label(verdict)),
            };
            family
                .get_or_create(&VerdictLabels {
                    verdict: verdict.into(),
                })
                .inc();
        }
        if let Some(pct) = tally.sleep_payoff_pct() {
            metrics.sleep_payoff_pct.set(pct);
        }
        if let Some(pct) = tally.wake_useful_pct() {
            metrics.wake_useful_pct.set(pct);
        }
    }
}

/// Creates the verdict series at zero (see `EngineMetrics::zero_known_series`); `unresolved`
/// is left out, as it is a verdict not reached yet rather than one of the documented outcomes.
pub(crate) fn zero_verdicts(metrics: &EngineMetrics) {
    let sleeps = [
        SleepVerdict::PaidOff,
        SleepVerdict::Short,
        SleepVerdict::Flap,
    ];
    for v in sleeps.map(sleep_label) {
        let _ = metrics
            .sleep_outcomes
            .get_or_create(&VerdictLabels { verdict: v.into() });
    }
    let wakes = [WakeVerdict::Useful, WakeVerdict::Wasted];
    for v in wakes.map(wake_label) {
        let _ = metrics
            .wake_outcomes
            .get_or_create(&VerdictLabels { verdict: v.into() });
    }
}

fn sleep_label(v: SleepVerdict) -> &'static str {
    match v {
        SleepVerdict::PaidOff => "paid_off",
        SleepVerdict::Short => "short",
        SleepVerdict::Flap => "flap",
        SleepVerdict::Unresolved => "unresolved",
    }
}

fn wake_label(v: WakeVerdict) -> &'static str {
    match v {
        WakeVerdict::Useful => "useful",
        WakeVerdict::Wasted => "wasted",
        WakeVerdict::Unresolved => "unresolved",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use hivesched_policy::Agent;

    fn fleet(states: &[(AgentState, Option<i64>, Option<i64>)]) -> Fleet {
        Fleet::new(
            states
                .iter()
                .enumerate()
                .map(|(i, &(state, slept, woke))| {
                    let mut a = Agent::awake(format!("a{i}"), Time(0));
                    a.state = state;
                    a.last_sleep = slept.map(Time::from_secs);
                    a.last_wake = woke.map(Time::from_secs);
                    a.last_transition = Time::from_secs(slept.max(woke).unwrap_or(0));
                    a
                })
                .collect(),
        )
    }

    #[test]
    fn a_sleep_that_lasts_pays_off_and_a_wake_nobody_needs_is_wasted() {
        use AgentState::*;
        // Break-even 20 min, useful window 30 min.
        let cfg = AccuracyConfig::new(Duration::from_secs(600), Duration::from_secs(600));
        let live = LiveAccuracy::new(cfg);
        let m = EngineMetrics::default();
        let t = |min: i64| Time::from_secs(min * 60);
        live.observe(
            &fleet(&[(Awake, None, None), (Awake, None, None)]),
            Some(1.0),
            1.0,
            t(0),
            &m,
        );
        // Agent 1 is put to sleep at 1 min, asleep by 11 min.
        live.observe(
            &fleet(&[(Awake, None, None), (PreparingSleep, Some(60), None)]),
            Some(1.0),
            1.0,
            t(1),
            &m,
        );
        live.observe(
            &fleet(&[(Awake, None, None), (Asleep, Some(60), None)]),
            Some(1.0),
            1.0,
            t(11),
            &m,
        );
        // Asleep 20 minutes: paid off.
        live.observe(
            &fleet(&[(Awake, None, None), (Asleep, Some(60), None)]),
            Some(1.0),
            1.0,
            t(31),
            &m,
        );
        assert_eq!(live.tally().sleeps_paid_off, 1);
        // Woken at 40 min; demand 1 keeps needing only the agent awake longer: wasted by 70 min.
        live.observe(
            &fleet(&[(Awake, None, None), (Waking, Some(60), Some(2400))]),
            Some(1.0),
            1.0,
            t(40),
            &m,
        );
        live.observe(
            &fleet(&[(Awake, None, None), (Awake, Some(60), Some(2400))]),
            Some(1.0),
            1.0,
            t(71),
            &m,
        );
        let tally = live.tally();
        assert_eq!((tally.wakes_wasted, tally.wakes_useful), (1, 0));
        assert_eq!(m.sleep_payoff_pct.get(), 100.0);
        assert_eq!(m.wake_useful_pct.get(), 0.0);
        // Slept again at 72 min and woken at 75: a flap.
        live.observe(
            &fleet(&[
                (Awake, None, None),
                (PreparingSleep, Some(4320), Some(2400)),
            ]),
            Some(1.0),
            1.0,
            t(72),
            &m,
        );
        live.observe(
            &fleet(&[(Awake, None, None), (Waking, Some(4320), Some(4500))]),
            Some(2.0),
            1.0,
            t(75),
            &m,
        );
        // Demand for two: the new wake serves as soon as it is awake.
        live.observe(
            &fleet(&[(Awake, None, None), (Awake, Some(4320), Some(4500))]),
            Some(2.0),
            1.0,
            t(80),
            &m,
        );
        let tally = live.tally();
        assert_eq!((tally.flaps, tally.wakes_useful), (1, 1));
        assert_eq!(m.wake_useful_pct.get(), 50.0);
    }
}
