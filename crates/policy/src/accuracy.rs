//! Decision accuracy: which sleeps paid off and which wakes were useful, judged per agent from
//! what happened to it afterwards.
//!
//! Pure and clock-free like the rest of the core: every event carries its time (the simulator
//! feeds trace time, the service the real time), so the simulator's report and the service's
//! metrics share one definition.
//!
//! With `C` the billed checkpoint + consolidation time and `W` the billed wake time:
//!
//! - **Break-even time** `T_be = C + W`. A sleep/wake cycle is billed `C + W` during which the
//!   agent serves nothing; only the time it spends asleep is unbilled. `T_be` is the time asleep
//!   whose unbilled agent-time equals what the cycle was billed. This is a bar above the bill's
//!   own break-even: the transitions are billed at the awake rate, so against staying awake and
//!   idle any sleep that reaches `asleep` bills less. Paying off asks that it also saved at least
//!   what its transitions cost. The billing-optimal oracle sleeps through every idle gap longer
//!   than `C + W` and so has short sleeps of its own, those with gaps under `2 (C + W)`.
//! - A sleep **pays off** when the agent stays asleep at least `T_be` (from reaching `asleep` to
//!   the start of its next wake, or to the end of observation). A sleep that ends sooner is
//!   **short**; a short sleep whose next wake starts less than `T_be` after the sleep started is a
//!   **flap** (reversed before one sleep/wake cycle could even have run).
//! - A wake is **useful** when the agent serves (or is needed by) demand after it and before the
//!   earlier of its next sleep and `wake start + W + T_be`. An agent left idle for longer than
//!   `T_be` after its wake completed was woken more than a whole sleep/wake cycle too early: left
//!   asleep and woken later it would have cost less. A wake that fails, or is followed by another
//!   wake or a sleep before the agent serves, is **wasted**.
//! - What the end of observation leaves open (a sleep asleep less than `T_be` so far, a wake
//!   still inside its window) is **unresolved** and counts in neither numerator nor denominator.
//!   With nothing judged, the percentages are `None` (not 100 and not 0).

use std::time::Duration;

use crate::{AgentState, Fleet, Time};

/// The two durations every judgement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccuracyConfig {
    /// Time asleep a sleep must reach to pay off (`C + W`).
    pub break_even: Duration,
    /// How long after a wake starts the agent must serve for the wake to be useful (`W + T_be`).
    pub useful_window: Duration,
}

impl AccuracyConfig {
    /// The judgement for a fleet whose checkpoint + consolidation is billed `consolidation` and
    /// whose wake is billed `wake`: `T_be = consolidation + wake`, window = `wake + T_be`.
    pub fn new(consolidation: Duration, wake: Duration) -> Self {
        let break_even = consolidation + wake;
        AccuracyConfig {
            break_even,
            useful_window: wake + break_even,
        }
    }
}

/// Something that happened to one agent, at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineEvent {
    /// A sleep started (checkpoint requested).
    SleepStarted(Time),
    /// The agent reached `asleep` (consolidation done). A sleep without this event never
    /// counted as asleep.
    Asleep(Time),
    /// A wake started.
    WakeStarted(Time),
    /// The agent served demand (or was needed by it) at this time.
    Served(Time),
}

impl TimelineEvent {
    /// When it happened.
    pub fn at(self) -> Time {
        match self {
            TimelineEvent::SleepStarted(t)
            | TimelineEvent::Asleep(t)
            | TimelineEvent::WakeStarted(t)
            | TimelineEvent::Served(t) => t,
        }
    }
}

/// How a sleep turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SleepVerdict {
    /// Asleep at least the break-even time.
    PaidOff,
    /// Woken before it had been asleep the break-even time.
    Short,
    /// Short, and the next wake started less than the break-even time after the sleep did.
    Flap,
    /// Observation ended (or the record broke off) before the sleep could be judged.
    Unresolved,
}

/// How a wake turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WakeVerdict {
    /// The agent served within the window, before its next sleep.
    Useful,
    /// It did not: slept, woken again, or idle through the window.
    Wasted,
    /// Observation ended inside the window.
    Unresolved,
}

/// A judged decision, named by when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A sleep started at `started`.
    Sleep {
        /// When the sleep started.
        started: Time,
        /// How it turned out.
        verdict: SleepVerdict,
    },
    /// A wake started at `started`.
    Wake {
        /// When the wake started.
        started: Time,
        /// How it turned out.
        verdict: WakeVerdict,
    },
}

impl Outcome {
    /// When the judged decision started.
    pub fn started(self) -> Time {
        match self {
            Outcome::Sleep { started, .. } | Outcome::Wake { started, .. } => started,
        }
    }
}

/// The one decision an agent can have open: a sleep and a wake each close the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Open {
    #[default]
    Nothing,
    Sleep {
        started: Time,
        asleep_since: Option<Time>,
    },
    Wake {
        started: Time,
    },
}

/// One agent's open decision: fed its events in time order, it hands back each decision's
/// outcome as soon as it is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentTimeline {
    open: Open,
}

impl AgentTimeline {
    /// Judges what the passage of time alone decides by `now`: a sleep asleep for the break-even
    /// time has paid off; a wake whose window has passed without service was wasted. (A live
    /// observer calls this every tick; `record` does it before each event.)
    pub fn settle(&mut self, now: Time, cfg: &AccuracyConfig) -> Option<Outcome> {
        let outcome = match self.open {
            Open::Sleep {
                started,
                asleep_since: Some(asleep),
            } if now.since(asleep) >= cfg.break_even => Outcome::Sleep {
                started,
                verdict: SleepVerdict::PaidOff,
            },
            Open::Wake { started } if now.since(started) >= cfg.useful_window => Outcome::Wake {
                started,
                verdict: WakeVerdict::Wasted,
            },
            _ => return None,
        };
        self.open = Open::Nothing;
        Some(outcome)
    }

    /// Feeds one event (one agent's events must come in time order) and returns the outcome it
    /// decided, if any. At most one decision is open at a time, so at most one is decided.
    pub fn record(&mut self, event: TimelineEvent, cfg: &AccuracyConfig) -> Option<Outcome> {
        if let Some(settled) = self.settle(event.at(), cfg) {
            // Nothing is open any more; the event can only open a new decision.
            self.apply(event, cfg);
            return Some(settled);
        }
        self.apply(event, cfg)
    }

    fn apply(&mut self, event: TimelineEvent, cfg: &AccuracyConfig) -> Option<Outcome> {
        let open = self.open;
        let (next, outcome) = match (event, open) {
            (TimelineEvent::SleepStarted(at), _) => {
                let outcome = match open {
                    // Put back to sleep before it served: the wake bought nothing.
                    Open::Wake { started } => Some(Outcome::Wake {
                        started,
                        verdict: WakeVerdict::Wasted,
                    }),
                    // A second sleep means the wake between was never recorded.
                    Open::Sleep { started, .. } => Some(Outcome::Sleep {
                        started,
                        verdict: SleepVerdict::Unresolved,
                    }),
                    Open::Nothing => None,
                };
                let next = Open::Sleep {
                    started: at,
                    asleep_since: None,
                };
                (next, outcome)
            }
            (
                TimelineEvent::Asleep(at),
                Open::Sleep {
                    started,
                    asleep_since,
                },
            ) => {
                let next = Open::Sleep {
                    started,
                    asleep_since: asleep_since.or(Some(at)),
                };
                (next, None)
            }
            (TimelineEvent::Asleep(_), _) => (open, None),
            (TimelineEvent::WakeStarted(at), _) => {
                let outcome = match open {
                    // settle() already took every sleep that reached the break-even time.
                    Open::Sleep { started, .. } => Some(Outcome::Sleep {
                        started,
                        verdict: if at.since(started) < cfg.break_even {
                            SleepVerdict::Flap
                        } else {
                            SleepVerdict::Short
                        },
                    }),
                    // Woken again before it served (the first wake failed, or was lost).
                    Open::Wake { started } => Some(Outcome::Wake {
                        started,
                        verdict: WakeVerdict::Wasted,
                    }),
                    Open::Nothing => None,
                };
                (Open::Wake { started: at }, outcome)
            }
            (TimelineEvent::Served(_), Open::Wake { started }) => (
                Open::Nothing,
                Some(Outcome::Wake {
                    started,
                    verdict: WakeVerdict::Useful,
                }),
            ),
            (TimelineEvent::Served(_), _) => (open, None),
        };
        self.open = next;
        outcome
    }

    /// Ends observation at `end`: judges what time decides and returns a decision still open
    /// as unresolved.
    pub fn finish(&mut self, end: Time, cfg: &AccuracyConfig) -> Option<Outcome> {
        if let Some(settled) = self.settle(end, cfg) {
            return Some(settled);
        }
        let outcome = match self.open {
            Open::Sleep { started, .. } => Outcome::Sleep {
                started,
                verdict: SleepVerdict::Unresolved,
            },
            Open::Wake { started } => Outcome::Wake {
                started,
                verdict: WakeVerdict::Unresolved,
            },
            Open::Nothing => return None,
        };
        self.open = Open::Nothing;
        Some(outcome)
    }
}

/// The agents `demand` needs: the ⌈demand / capacity⌉ agents awake the longest (indices into
/// `fleet.agents`). The newest wakes are the marginal capacity, so a wake counts as needed only
/// when demand exceeds what the agents awake before it can serve.
pub fn needed_agents(fleet: &Fleet, demand: f64, capacity: f64) -> Vec<usize> {
    let agents = &fleet.agents;
    let mut awake: Vec<usize> = (0..agents.len())
        .filter(|&i| agents[i].state == AgentState::Awake)
        .collect();
    let needed = if capacity > 0.0 && demand > 0.0 {
        (demand / capacity).ceil() as usize
    } else {
        0
    };
    awake.sort_by_key(|&i| (agents[i].last_transition, i));
    awake.truncate(needed);
    awake
}

/// Judges one agent's whole record (events in time order) up to `end`.
pub fn classify(events: &[TimelineEvent], end: Time, cfg: &AccuracyConfig) -> Vec<Outcome> {
    let mut timeline = AgentTimeline::default();
    let mut out: Vec<Outcome> = events
        .iter()
        .filter_map(|&e| timeline.record(e, cfg))
        .collect();
    out.extend(timeline.finish(end, cfg));
    out
}

/// Counts of judged decisions and the two percentages built from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccuracyTally {
    /// Sleeps asleep at least the break-even time.
    pub sleeps_paid_off: u64,
    /// Sleeps woken sooner, flaps excluded.
    pub sleeps_short: u64,
    /// Sleeps reversed within the break-even time of starting.
    pub flaps: u64,
    /// Sleeps left open when observation ended.
    pub sleeps_unresolved: u64,
    /// Wakes whose agent served within the window.
    pub wakes_useful: u64,
    /// Wakes whose agent did not.
    pub wakes_wasted: u64,
    /// Wakes still inside their window when observation ended.
    pub wakes_unresolved: u64,
}

impl AccuracyTally {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Sleep { verdict, .. } => match verdict {
                SleepVerdict::PaidOff => &mut self.sleeps_paid_off,
                SleepVerdict::Short => &mut self.sleeps_short,
                SleepVerdict::Flap => &mut self.flaps,
                SleepVerdict::Unresolved => &mut self.sleeps_unresolved,
            },
            Outcome::Wake { verdict, .. } => match verdict {
                WakeVerdict::Useful => &mut self.wakes_useful,
                WakeVerdict::Wasted => &mut self.wakes_wasted,
                WakeVerdict::Unresolved => &mut self.wakes_unresolved,
            },
        };
        *slot += 1;
    }

    /// Sleeps judged (paid off, short or flap).
    pub fn sleeps_judged(&self) -> u64 {
        self.sleeps_paid_off + self.sleeps_short + self.flaps
    }

    /// Wakes judged (useful or wasted).
    pub fn wakes_judged(&self) -> u64 {
        self.wakes_useful + self.wakes_wasted
    }

    /// 100 · paid off / judged sleeps; `None` when no sleep was judged.
    pub fn sleep_payoff_pct(&self) -> Option<f64> {
        pct(self.sleeps_paid_off, self.sleeps_judged())
    }

    /// 100 · useful / judged wakes; `None` when no wake was judged.
    pub fn wake_useful_pct(&self) -> Option<f64> {
        pct(self.wakes_useful, self.wakes_judged())
    }
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimelineEvent::{Asleep, Served, SleepStarted, WakeStarted};

    /// 10-minute consolidation and wake: break-even 20 min, useful window 30 min.
    fn cfg() -> AccuracyConfig {
        AccuracyConfig::new(Duration::from_secs(600), Duration::from_secs(600))
    }

    fn m(minutes: i64) -> Time {
        Time::from_secs(minutes * 60)
    }

    fn sleep_verdicts(out: &[Outcome]) -> Vec<SleepVerdict> {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Sleep { verdict, .. } => Some(*verdict),
                Outcome::Wake { .. } => None,
            })
            .collect()
    }

    fn wake_verdicts(out: &[Outcome]) -> Vec<WakeVerdict> {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Wake { verdict, .. } => Some(*verdict),
                Outcome::Sleep { .. } => None,
            })
            .collect()
    }

    #[test]
    fn break_even_and_window_come_from_the_latencies() {
        let c = AccuracyConfig::new(Duration::from_secs(300), Duration::from_secs(120));
        assert_eq!(c.break_even, Duration::from_secs(420));
        assert_eq!(c.useful_window, Duration::from_secs(540));
    }

    #[test]
    fn a_sleep_pays_off_exactly_at_the_break_even_time() {
        // Asleep at 10, woken at 30: exactly 20 minutes asleep.
        let paid = classify(
            &[SleepStarted(m(0)), Asleep(m(10)), WakeStarted(m(30))],
            m(100),
            &cfg(),
        );
        assert_eq!(sleep_verdicts(&paid), [SleepVerdict::PaidOff]);
        // One minute less asleep: short, but not a flap (woken 29 ≥ 20 minutes after the sleep).
        let short = classify(
            &[SleepStarted(m(0)), Asleep(m(10)), WakeStarted(m(29))],
            m(100),
            &cfg(),
        );
        assert_eq!(sleep_verdicts(&short), [SleepVerdict::Short]);
    }

    #[test]
    fn a_wake_inside_the_break_even_time_is_a_flap() {
        let out = classify(
            &[SleepStarted(m(0)), Asleep(m(10)), WakeStarted(m(19))],
            m(100),
            &cfg(),
        );
        assert_eq!(sleep_verdicts(&out), [SleepVerdict::Flap]);
        // A sleep that never reached `asleep` (woken mid-consolidation) is a flap too.
        let out = classify(&[SleepStarted(m(0)), WakeStarted(m(5))], m(100), &cfg());
        assert_eq!(sleep_verdicts(&out), [SleepVerdict::Flap]);
    }

    #[test]
    fn a_flapping_schedule_scores_zero_payoff() {
        // Sleep, asleep after 10, woken after 15, awake and serving, again and again.
        let mut events = Vec::new();
        for k in 0..10 {
            let t = k * 40;
            events.extend([
                SleepStarted(m(t)),
                Asleep(m(t + 10)),
                WakeStarted(m(t + 15)),
                Served(m(t + 25)),
            ]);
        }
        let mut tally = AccuracyTally::default();
        classify(&events, m(400), &cfg())
            .into_iter()
            .for_each(|o| tally.add(o));
        assert_eq!(tally.flaps, 10);
        assert_eq!(tally.sleep_payoff_pct(), Some(0.0));
        assert_eq!(tally.wake_useful_pct(), Some(100.0));
    }

    #[test]
    fn wakes_are_useful_only_when_served_inside_the_window_and_before_a_sleep() {
        let useful = classify(&[WakeStarted(m(0)), Served(m(29))], m(100), &cfg());
        assert_eq!(wake_verdicts(&useful), [WakeVerdict::Useful]);
        let late = classify(&[WakeStarted(m(0)), Served(m(30))], m(100), &cfg());
        assert_eq!(wake_verdicts(&late), [WakeVerdict::Wasted]);
        let slept_first = classify(
            &[WakeStarted(m(0)), SleepStarted(m(12)), Served(m(13))],
            m(100),
            &cfg(),
        );
        assert_eq!(wake_verdicts(&slept_first), [WakeVerdict::Wasted]);
        // A wake that failed and was retried: the first was wasted, the retry served.
        let retried = classify(
            &[WakeStarted(m(0)), WakeStarted(m(11)), Served(m(21))],
            m(100),
            &cfg(),
        );
        assert_eq!(
            wake_verdicts(&retried),
            [WakeVerdict::Wasted, WakeVerdict::Useful]
        );
    }

    #[test]
    fn the_end_of_observation_resolves_what_time_decides_and_leaves_the_rest_open() {
        // Asleep since 10, observed until 30: paid off without a wake.
        let out = classify(&[SleepStarted(m(0)), Asleep(m(10))], m(30), &cfg());
        assert_eq!(sleep_verdicts(&out), [SleepVerdict::PaidOff]);
        // Observed until 29: not yet.
        let out = classify(&[SleepStarted(m(0)), Asleep(m(10))], m(29), &cfg());
        assert_eq!(sleep_verdicts(&out), [SleepVerdict::Unresolved]);
        // A wake 20 minutes before the end is still in its window; 30 minutes before, wasted.
        let out = classify(&[WakeStarted(m(10))], m(30), &cfg());
        assert_eq!(wake_verdicts(&out), [WakeVerdict::Unresolved]);
        let out = classify(&[WakeStarted(m(0))], m(30), &cfg());
        assert_eq!(wake_verdicts(&out), [WakeVerdict::Wasted]);
    }

    #[test]
    fn a_broken_record_leaves_the_lost_sleep_unresolved() {
        // Two sleeps with no wake seen between: the first cannot be judged.
        let out = classify(&[SleepStarted(m(0)), SleepStarted(m(5))], m(6), &cfg());
        assert_eq!(
            sleep_verdicts(&out),
            [SleepVerdict::Unresolved, SleepVerdict::Unresolved]
        );
        // The same with the first asleep long enough: time decided it before the second came.
        let out = classify(
            &[SleepStarted(m(0)), Asleep(m(1)), SleepStarted(m(40))],
            m(41),
            &cfg(),
        );
        assert_eq!(
            sleep_verdicts(&out),
            [SleepVerdict::PaidOff, SleepVerdict::Unresolved]
        );
    }

    #[test]
    fn nothing_judged_gives_no_percentage() {
        let mut tally = AccuracyTally::default();
        assert_eq!(tally.sleep_payoff_pct(), None);
        assert_eq!(tally.wake_useful_pct(), None);
        tally.add(Outcome::Sleep {
            started: m(0),
            verdict: SleepVerdict::Unresolved,
        });
        assert_eq!(tally.sleep_payoff_pct(), None, "unresolved is not judged");
        tally.add(Outcome::Sleep {
            started: m(0),
            verdict: SleepVerdict::Short,
        });
        assert_eq!(tally.sleep_payoff_pct(), Some(0.0));
    }
}
