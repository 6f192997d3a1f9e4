//! Where a schedule's agent-hours go: each billed agent-step is put in exactly one bucket, so a
//! policy's gap to the oracle can be read by cause rather than as one number.
//!
//! With r_t the agents demand needs at step t (as the oracle counts them: ⌈d / capacity⌉ between
//! `min_awake` and the fleet) and W the break-even window in steps (a sleep/wake cycle's billed
//! steps), an awake agent at step t is
//!
//! - **needed** while awake_t ≤ r_t;
//! - **early** when it is above r_t but below the highest need of the next W steps — awake ahead of
//!   demand that does come (a perfect planner holds part of this too: sleeping through a gap
//!   shorter than W costs more than staying awake);
//! - **kept** when above both of those but below the highest need of the previous W steps — kept
//!   after demand left;
//! - **margin** otherwise: above every need within W on either side, the provisioning margin a
//!   forecast's upper quantile buys.
//!
//! A billed agent that is not awake is in a **transition** (consolidating or waking). Steps where
//! awake_t < r_t are the **short** agent-steps (the demand the schedule left unserved, in agents).

use serde::Serialize;

use crate::run::StepRow;

/// Agent-hours of one schedule by cause (see the module docs); the first five add up to the
/// schedule's billed agent-hours.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct HoursBreakdown {
    /// Awake and needed by the demand of the step.
    pub needed: f64,
    /// Awake above the step's need, for demand within the next break-even window.
    pub early: f64,
    /// Awake above the step's need, kept from demand within the previous break-even window.
    pub kept: f64,
    /// Awake above every need within the break-even window on either side.
    pub margin: f64,
    /// Billed while consolidating or waking.
    pub transitions: f64,
    /// Agents missing below the step's need (not billed; the unserved side).
    pub short: f64,
}

impl std::ops::AddAssign<&HoursBreakdown> for HoursBreakdown {
    /// Adds another schedule's hours cause by cause (the totals over several pools).
    fn add_assign(&mut self, other: &HoursBreakdown) {
        self.needed += other.needed;
        self.early += other.early;
        self.kept += other.kept;
        self.margin += other.margin;
        self.transitions += other.transitions;
        self.short += other.short;
    }
}

/// Splits `rows` by cause; `required[t]` is the need of `rows[t]`, `window` the break-even window
/// in steps and `step_hours` the length of a step in hours.
pub fn breakdown(
    rows: &[StepRow],
    required: &[u32],
    window: usize,
    step_hours: f64,
) -> HoursBreakdown {
    let mut steps = [0u64; 6];
    let n = rows.len().min(required.len());
    let highest = |from: usize, to: usize| required[from..to].iter().copied().max().unwrap_or(0);
    for t in 0..n {
        let (awake, need) = (rows[t].awake, required[t]);
        steps[0] += u64::from(awake.min(need));
        steps[5] += u64::from(need.saturating_sub(awake));
        let mut surplus = awake.saturating_sub(need);
        let early =
            surplus.min(highest((t + 1).min(n), (t + 1 + window).min(n)).saturating_sub(need));
        surplus -= early;
        let kept = surplus.min(highest(t.saturating_sub(window), t).saturating_sub(need));
        surplus -= kept;
        steps[1] += u64::from(early);
        steps[2] += u64::from(kept);
        steps[3] += u64::from(surplus);
        steps[4] += u64::from(rows[t].billed.saturating_sub(awake));
    }
    let h = |i: usize| steps[i] as f64 * step_hours;
    HoursBreakdown {
        needed: h(0),
        early: h(1),
        kept: h(2),
        margin: h(3),
        transitions: h(4),
        short: h(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(awake: &[u32], billed: &[u32]) -> Vec<StepRow> {
        awake
            .iter()
            .zip(billed)
            .enumerate()
            .map(|(i, (&a, &b))| StepRow {
                step: i,
                timestamp: i as i64,
                demand: 0.0,
                awake: a,
                billed: b,
                sleeps_started: 0,
                wakes_started: 0,
            })
            .collect()
    }

    #[test]
    fn every_billed_step_lands_in_one_bucket() {
        // Need rises at step 2 and falls at step 4; the schedule wakes early, keeps late and
        // holds one spare agent throughout.
        let required = [2, 2, 5, 5, 2, 2, 2];
        let awake = [3, 6, 6, 6, 6, 3, 3];
        let billed = [3, 7, 6, 6, 6, 4, 3];
        let b = breakdown(&rows(&awake, &billed), &required, 1, 1.0);
        assert_eq!(b.needed, 2.0 + 2.0 + 5.0 + 5.0 + 2.0 + 2.0 + 2.0);
        // Step 1: 4 above need, 3 of them for step 2's need of 5.
        assert_eq!(b.early, 3.0);
        // Step 4: 4 above need, 3 of them kept from step 3's need of 5.
        assert_eq!(b.kept, 3.0);
        assert_eq!(b.margin, 1.0 + 1.0 + 1.0 + 1.0 + 1.0 + 1.0 + 1.0);
        assert_eq!(b.transitions, 2.0);
        assert_eq!(b.short, 0.0);
        let billed_total: u32 = billed.iter().sum();
        assert_eq!(
            b.needed + b.early + b.kept + b.margin + b.transitions,
            f64::from(billed_total)
        );
    }

    #[test]
    fn a_schedule_below_need_is_short_not_needed() {
        let b = breakdown(&rows(&[1, 4], &[1, 4]), &[3, 3], 1, 0.5);
        assert_eq!(b.needed, 2.0);
        assert_eq!(b.short, 1.0);
        assert_eq!(b.margin, 0.5);
    }
}
