//! Choosing which agents to move: a savings/disruption score for sleeps (Karpenter-style), and
//! longest-asleep first for wakes.
//!
//! Selection is O(n) in the fleet (a partial selection, not a full sort) so one planning step
//! stays well under a millisecond at 10 000 agents.

use std::cmp::Ordering;
use std::time::Duration;

use crate::{Agent, AgentState, Fleet, Pin, Time};

/// A wake within this long before now makes an agent a worse sleep candidate.
const RECENT_WAKE: Duration = Duration::from_secs(3600);

/// How much putting `agent` to sleep is worth relative to the disruption it causes.
///
/// Savings grow with the time it has already been idle (the best cheap predictor of further
/// idleness) and with the context it would consolidate; disruption grows when it was woken
/// recently (it is likely to be needed again).
pub fn sleep_score(agent: &Agent, now: Time) -> f64 {
    let idle_since = agent.idle_since.unwrap_or(agent.last_transition);
    let idle_s = now.since(idle_since).as_secs_f64();
    let context = (1.0 + agent.context_tokens as f64).ln();
    let savings = (1.0 + idle_s) * (1.0 + context / 10.0);
    let recent_wake = agent.last_wake.map_or(0.0, |w| {
        let since = now.since(w).as_secs_f64();
        (1.0 - since / RECENT_WAKE.as_secs_f64()).max(0.0)
    });
    savings / (1.0 + 2.0 * recent_wake)
}

/// Top `k` of `items` by `better` (a strict "comes first" order), in that order.
fn top_k<T>(mut items: Vec<T>, k: usize, better: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    if k == 0 {
        return Vec::new();
    }
    if items.len() > k {
        items.select_nth_unstable_by(k - 1, &better);
        items.truncate(k);
    }
    items.sort_unstable_by(better);
    items
}

/// Up to `k` agents to put to sleep, best first. `eligible` filters agents the rails would
/// refuse anyway (e.g. in cooldown) so they don't crowd out good candidates.
pub fn sleep_candidates(
    fleet: &Fleet,
    now: Time,
    k: usize,
    eligible: impl Fn(&Agent) -> bool,
) -> Vec<&Agent> {
    let scored: Vec<(f64, usize)> = fleet
        .agents
        .iter()
        .enumerate()
        .filter(|(_, a)| a.may_sleep() && a.pin.is_none() && eligible(a))
        .map(|(i, a)| (sleep_score(a, now), i))
        .collect();
    top_k(scored, k, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)))
        .into_iter()
        .map(|(_, i)| &fleet.agents[i])
        .collect()
}

/// Agents whose operator pin disagrees with their state: pinned awake but not running (to wake),
/// and pinned asleep but awake (to sleep, unless busy or do-not-disrupt).
pub fn pin_mismatches(fleet: &Fleet) -> (Vec<&Agent>, Vec<&Agent>) {
    let mut wake = Vec::new();
    let mut sleep = Vec::new();
    for a in &fleet.agents {
        match a.pin {
            Some(Pin::Awake) if a.may_wake() => wake.push(a),
            Some(Pin::Asleep) if a.state == AgentState::Awake && !a.busy && !a.do_not_disrupt => {
                sleep.push(a)
            }
            _ => {}
        }
    }
    (wake, sleep)
}

/// Up to `k` agents to wake, best first: fully asleep before failed ones, outside their
/// post-sleep cooldown before inside it, then asleep longest. `eligible` filters agents as in
/// [`sleep_candidates`].
pub fn wake_candidates(
    fleet: &Fleet,
    now: Time,
    k: usize,
    cooldown: Duration,
    eligible: impl Fn(&Agent) -> bool,
) -> Vec<&Agent> {
    let keyed: Vec<((bool, bool, Time), usize)> = fleet
        .agents
        .iter()
        .enumerate()
        .filter(|(_, a)| a.may_wake() && a.pin.is_none() && eligible(a))
        .map(|(i, a)| {
            let cooling = a.last_sleep.is_some_and(|s| s > now.minus(cooldown));
            (
                (a.state == AgentState::Error, cooling, a.last_transition),
                i,
            )
        })
        .collect();
    top_k(keyed, k, |a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)))
        .into_iter()
        .map(|(_, i)| &fleet.agents[i])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, idle_since: i64) -> Agent {
        let mut a = Agent::awake(id, Time::from_secs(0));
        a.idle_since = Some(Time::from_secs(idle_since));
        a
    }

    #[test]
    fn longest_idle_first_and_never_busy() {
        let mut f = Fleet::new(vec![
            agent("a", 900),
            agent("b", 100),
            agent("c", 500),
            agent("d", 0),
        ]);
        f.agents[3].busy = true;
        let picked: Vec<&str> = sleep_candidates(&f, Time::from_secs(1000), 2, |_| true)
            .iter()
            .map(|a| a.id.0.as_str())
            .collect();
        assert_eq!(picked, ["b", "c"]);
    }

    #[test]
    fn recent_wake_and_context_shift_the_score() {
        let now = Time::from_secs(10_000);
        let plain = agent("a", 9_000);
        let mut woken = plain.clone();
        woken.last_wake = Some(Time::from_secs(9_900));
        let mut big = plain.clone();
        big.context_tokens = 100_000;
        assert!(sleep_score(&woken, now) < sleep_score(&plain, now));
        assert!(sleep_score(&big, now) > sleep_score(&plain, now));
    }

    #[test]
    fn wakes_prefer_consolidated_and_longest_asleep() {
        let mut f = Fleet::new(vec![
            agent("a", 0),
            agent("b", 0),
            agent("c", 0),
            agent("d", 0),
        ]);
        for (a, (state, since)) in f.agents.iter_mut().zip([
            (AgentState::Asleep, 500),
            (AgentState::Error, 10),
            (AgentState::Asleep, 100),
            (AgentState::Awake, 0),
        ]) {
            a.state = state;
            a.last_transition = Time::from_secs(since);
        }
        let picked: Vec<&str> = wake_candidates(
            &f,
            Time::from_secs(10_000),
            3,
            Duration::from_secs(600),
            |_| true,
        )
        .iter()
        .map(|a| a.id.0.as_str())
        .collect();
        assert_eq!(picked, ["c", "a", "b"]);
    }
}
