//! The recent sleep starts that the rate and scale-down rails count.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Time;

/// Times at which sleeps started, oldest first, pruned to the longest rail window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SleepLog {
    starts: VecDeque<Time>,
}

impl SleepLog {
    /// Records a sleep that started at `at`.
    pub fn record(&mut self, at: Time) {
        let pos = self.starts.partition_point(|t| *t <= at);
        self.starts.insert(pos, at);
    }

    /// Sleeps started within `window` before `now` (`now - window` exclusive). Entries stamped
    /// after `now` (a clock that jumped back) count too: the conservative reading.
    pub fn count_within(&self, now: Time, window: Duration) -> u32 {
        let from = now.minus(window);
        let first = self.starts.partition_point(|t| *t <= from);
        (self.starts.len() - first) as u32
    }

    /// Drops entries older than `keep` before `now`.
    pub fn prune(&mut self, now: Time, keep: Duration) {
        let from = now.minus(keep);
        while self.starts.front().is_some_and(|t| *t <= from) {
            self.starts.pop_front();
        }
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether no sleep is recorded.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_and_prune() {
        let mut log = SleepLog::default();
        for s in [10, 20, 30, 5] {
            log.record(Time::from_secs(s));
        }
        assert_eq!(
            log.count_within(Time::from_secs(30), Duration::from_secs(15)),
            2
        );
        log.prune(Time::from_secs(30), Duration::from_secs(21));
        assert_eq!(log.len(), 3);
    }
}
