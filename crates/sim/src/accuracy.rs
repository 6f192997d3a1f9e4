//! A run's decision accuracy: each simulated agent's sleeps, wakes and service fed to the decision
//! core's judgement (`hivesched_policy::accuracy`), the same one the service will use.

use hivesched_policy::Time;
use hivesched_policy::accuracy::{AccuracyConfig, AgentTimeline, Outcome, TimelineEvent};

use crate::oracle::OracleSleep;

/// Per-agent timelines of one run and the outcomes decided so far.
#[derive(Debug, Clone)]
pub struct RunAccuracy {
    cfg: AccuracyConfig,
    timelines: Vec<AgentTimeline>,
    outcomes: Vec<Outcome>,
}

impl RunAccuracy {
    /// `agents` agents, all awake with nothing to judge.
    pub fn new(agents: usize, cfg: AccuracyConfig) -> Self {
        RunAccuracy {
            cfg,
            timelines: vec![AgentTimeline::default(); agents],
            outcomes: Vec::new(),
        }
    }

    /// Records what happened to agent `index`.
    pub fn record(&mut self, index: usize, event: TimelineEvent) {
        if let Some(outcome) = self.timelines[index].record(event, &self.cfg) {
            self.outcomes.push(outcome);
        }
    }

    /// Ends the run at `end` (the end of its last step) and returns every decision's outcome.
    pub fn finish(mut self, end: Time) -> Vec<Outcome> {
        for timeline in &mut self.timelines {
            self.outcomes.extend(timeline.finish(end, &self.cfg));
        }
        self.outcomes
    }
}

/// The oracle's outcomes, judged on its level plan: a level woken for a step where
/// ceil(d / capacity) reaches it serves from that step. `time_of(step)` is the start of a step
/// (also past the end of the trace), `end` the end of the last one.
pub fn oracle_outcomes(
    sleeps: &[OracleSleep],
    sleep_steps: usize,
    wake_steps: usize,
    time_of: impl Fn(usize) -> Time,
    end: Time,
    cfg: &AccuracyConfig,
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for s in sleeps {
        let mut events = vec![
            TimelineEvent::SleepStarted(time_of(s.sleep)),
            TimelineEvent::Asleep(time_of(s.sleep + sleep_steps)),
        ];
        if let Some(wake) = s.wake {
            events.push(TimelineEvent::WakeStarted(time_of(wake)));
            events.push(TimelineEvent::Served(time_of(wake + wake_steps)));
        }
        // Events past the end are not observed: the end of the trace cuts them off.
        events.retain(|e| e.at() < end);
        let judged = hivesched_policy::accuracy::classify(&events, end, cfg);
        for _ in 0..s.agents {
            out.extend_from_slice(&judged);
        }
    }
    out
}
