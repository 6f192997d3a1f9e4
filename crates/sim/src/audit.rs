//! An independent check of the rails, recomputed from what actually happened in the simulation.
//!
//! It shares no code with the rails in the policy crate: it re-derives each limit from the
//! executed sleeps, so a bug in a rail shows up here as a violation instead of being trusted.

use std::collections::VecDeque;

use hivesched_policy::{RailConfig, Time};

/// What one step did, as the audit needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepFacts {
    /// Start time of the step.
    pub now: Time,
    /// Fleet size.
    pub total: u32,
    /// Awake agents after this step's actions.
    pub awake_after: u32,
    /// Agents in sleep transition after this step's actions.
    pub in_transition_after: u32,
    /// Sleeps started this step.
    pub sleeps: u32,
    /// Sleeps started this step on agents woken less than the cooldown ago.
    pub sleeps_in_cooldown: u32,
}

/// Counts rail violations over a run.
#[derive(Debug, Clone)]
pub struct RailAudit {
    cfg: RailConfig,
    starts: VecDeque<Time>,
    violations: u64,
    first: Vec<String>,
}

impl RailAudit {
    /// An audit of the rails in `cfg`.
    pub fn new(cfg: RailConfig) -> Self {
        RailAudit {
            cfg,
            starts: VecDeque::new(),
            violations: 0,
            first: Vec::new(),
        }
    }

    fn violate(&mut self, what: String) {
        self.violations += 1;
        if self.first.len() < 5 {
            self.first.push(what);
        }
    }

    /// Checks one step.
    pub fn check(&mut self, f: StepFacts) {
        for _ in 0..f.sleeps {
            self.starts.push_back(f.now);
        }
        if f.sleeps == 0 {
            return;
        }
        let at = f.now.as_millis();
        if f.awake_after < self.cfg.min_awake.min(f.total) {
            self.violate(format!(
                "t={at}: min_awake: {} awake after sleeping",
                f.awake_after
            ));
        }
        let budget = (self.cfg.max_in_transition * f64::from(f.total)).ceil() as u32;
        if f.in_transition_after > budget {
            self.violate(format!(
                "t={at}: max_in_transition: {} > {budget}",
                f.in_transition_after
            ));
        }
        let window_ms = |d: std::time::Duration| d.as_millis() as i64;
        let starts = &self.starts;
        let in_window = |w: i64| starts.iter().filter(|t| t.as_millis() > at - w).count() as u32;
        let rate = in_window(window_ms(self.cfg.sleep_rate_window));
        let recent = in_window(window_ms(self.cfg.agent_cooldown));
        if rate > self.cfg.sleep_rate {
            self.violate(format!("t={at}: sleep_rate: {rate} sleeps in the window"));
        }
        let cap = (self.cfg.max_scale_down * f64::from(f.awake_after + recent)).floor() as u32;
        if recent > cap {
            self.violate(format!(
                "t={at}: max_scale_down: {recent} sleeps in the window, cap {cap}"
            ));
        }
        if f.sleeps_in_cooldown > 0 {
            self.violate(format!(
                "t={at}: agent_cooldown: {} agents slept right after a wake",
                f.sleeps_in_cooldown
            ));
        }
        let keep = window_ms(self.cfg.agent_cooldown.max(self.cfg.sleep_rate_window));
        while self
            .starts
            .front()
            .is_some_and(|t| t.as_millis() <= at - keep)
        {
            self.starts.pop_front();
        }
    }

    /// Violations found so far.
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// The first few violations, described.
    pub fn examples(&self) -> &[String] {
        &self.first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(now_s: i64, awake_after: u32, sleeps: u32) -> StepFacts {
        StepFacts {
            now: Time::from_secs(now_s),
            total: 20,
            awake_after,
            in_transition_after: sleeps,
            sleeps,
            sleeps_in_cooldown: 0,
        }
    }

    #[test]
    fn clean_steps_pass() {
        let mut a = RailAudit::new(RailConfig::default());
        a.check(facts(0, 18, 2));
        a.check(facts(120, 16, 2));
        assert_eq!(a.violations(), 0);
    }

    #[test]
    fn each_rail_is_caught() {
        let cfg = RailConfig::default();
        let mut a = RailAudit::new(cfg.clone());
        a.check(facts(0, 1, 1));
        assert_eq!(a.violations(), 1, "min_awake");
        let mut a = RailAudit::new(cfg.clone());
        a.check(StepFacts {
            in_transition_after: 7,
            ..facts(0, 13, 1)
        });
        assert_eq!(a.violations(), 1, "budget of 6");
        let mut a = RailAudit::new(cfg.clone());
        for i in 0..11 {
            a.check(StepFacts {
                in_transition_after: 1,
                ..facts(i, 100, 1)
            });
        }
        assert!(a.violations() >= 1, "rate");
        let mut a = RailAudit::new(cfg.clone());
        a.check(StepFacts {
            in_transition_after: 0,
            total: 100,
            ..facts(0, 5, 6)
        });
        assert!(a.examples().iter().any(|e| e.contains("max_scale_down")));
        let mut a = RailAudit::new(cfg);
        a.check(StepFacts {
            sleeps_in_cooldown: 1,
            ..facts(0, 18, 1)
        });
        assert_eq!(a.violations(), 1, "cooldown");
    }
}
