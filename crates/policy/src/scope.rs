//! The acting scope: which agents the scheduler acts on while its own automation is being
//! rolled out behind a flag (`scheduler.acting`, unit = agent id).
//!
//! Each agent is in one [`Arm`]: **treatment** agents are scheduled for real; **control**
//! agents are held always awake (they are the comparison, the always-on baseline); every other
//! agent is **observed**: planned and recorded like shadow mode, never acted on. The scope is a
//! pure function of the agent's id; this crate does not know flags, so whoever knows the flag
//! (the server) hands the gate a function ([`ActingScope::split`]). [`ActingScope::all`] — no
//! flag — acts on every agent, as before rollouts existed.
//!
//! The rules, in one place ([`ActingScope::acts`]): a sleep reaches the fleet only for a
//! treatment agent; a wake for a treatment or control agent. The admission gate refuses sleeps
//! outside treatment; wakes are the safe direction and pass the gate from every other source
//! (a bulk, a rollback): only the tick's own wakes of observed agents stay on paper.

use std::fmt;
use std::sync::Arc;

use crate::{ActionKind, AgentId, Reason};

/// The arm of one agent in the scheduler's rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// Scheduled for real.
    Treatment,
    /// Held always awake: the comparison.
    Control,
    /// Planned and recorded, never acted on (shadow for this agent).
    Observed,
}

impl Arm {
    /// Every arm.
    pub const ALL: [Arm; 3] = [Arm::Treatment, Arm::Control, Arm::Observed];

    /// The wire name (`treatment`, `control`, `observed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Treatment => "treatment",
            Arm::Control => "control",
            Arm::Observed => "observed",
        }
    }
}

type ArmFn = dyn Fn(&AgentId) -> Arm + Send + Sync;

/// Which agents the scheduler acts on. Cheap to clone (the function is shared).
#[derive(Clone, Default)]
pub struct ActingScope {
    /// `None`: every agent is in treatment (no rollout).
    split: Option<Arc<ArmFn>>,
}

impl fmt::Debug for ActingScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.split.is_some() {
            "ActingScope::Split"
        } else {
            "ActingScope::All"
        })
    }
}

impl ActingScope {
    /// Acts on every agent (no rollout of the scheduler's acting).
    pub fn all() -> Self {
        ActingScope { split: None }
    }

    /// Acts on the agents `arm` puts in treatment. `arm` must be a pure function of the id
    /// (the flag's sticky bucketing is).
    pub fn split(arm: impl Fn(&AgentId) -> Arm + Send + Sync + 'static) -> Self {
        ActingScope {
            split: Some(Arc::new(arm)),
        }
    }

    /// Whether this scope is a rollout's split (not [`ActingScope::all`]).
    pub fn is_split(&self) -> bool {
        self.split.is_some()
    }

    /// The arm of `agent`.
    pub fn arm(&self, agent: &AgentId) -> Arm {
        self.split.as_ref().map_or(Arm::Treatment, |f| f(agent))
    }

    /// Whether `kind` on `agent` is carried out (rather than only recorded): sleeps in
    /// treatment only; wakes in treatment and control (control is held awake).
    pub fn acts(&self, agent: &AgentId, kind: ActionKind) -> bool {
        match (self.arm(agent), kind) {
            (Arm::Treatment, _) => true,
            (Arm::Control, ActionKind::Wake) => true,
            (Arm::Control, ActionKind::Sleep) | (Arm::Observed, _) => false,
        }
    }

    /// Why the gate refuses a sleep of `agent`, if it does: a control agent is held awake
    /// ([`Reason::RolloutControl`]), an observed one is not acted on
    /// ([`Reason::OutsideRollout`]). Wakes are never refused here.
    pub fn refuses(&self, agent: &AgentId, kind: ActionKind) -> Option<Reason> {
        match (kind, self.arm(agent)) {
            (ActionKind::Wake, _) | (ActionKind::Sleep, Arm::Treatment) => None,
            (ActionKind::Sleep, Arm::Control) => Some(Reason::RolloutControl),
            (ActionKind::Sleep, Arm::Observed) => Some(Reason::OutsideRollout),
        }
    }

    /// The agents the scheduler acted on under `self` and no longer acts on under `next`:
    /// treatment agents that left treatment (a rollback, a step down, the flag created). Of
    /// these, the ones the scheduler put to sleep must be woken.
    pub fn released<'a>(
        &self,
        next: &ActingScope,
        agents: impl IntoIterator<Item = &'a AgentId>,
    ) -> Vec<&'a AgentId> {
        agents
            .into_iter()
            .filter(|a| self.arm(a) == Arm::Treatment && next.arm(a) != Arm::Treatment)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A scope like the flag's: a stable hash of the id against the treatment and control
    /// shares (control from the top, disjoint), as `hivesched_flags` buckets.
    fn bucketed(treatment: u32, control: u32) -> ActingScope {
        ActingScope::split(move |id| {
            let b =
                id.0.bytes()
                    .fold(7u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)))
                    % 100;
            if b < treatment {
                Arm::Treatment
            } else if b >= 100 - control {
                Arm::Control
            } else {
                Arm::Observed
            }
        })
    }

    #[test]
    fn no_rollout_acts_on_everyone() {
        let s = ActingScope::all();
        let a = AgentId::from("a");
        assert_eq!(s.arm(&a), Arm::Treatment);
        assert!(s.acts(&a, ActionKind::Sleep) && s.acts(&a, ActionKind::Wake));
        assert_eq!(s.refuses(&a, ActionKind::Sleep), None);
    }

    proptest! {
        /// Sleeps are carried out and admitted exactly in treatment; wakes are never refused
        /// and carried out for every agent but an observed one; the two rules agree.
        #[test]
        fn sleeps_only_in_treatment_wakes_always_pass(
            t in 0u32..=100, ids in prop::collection::vec("[a-z0-9-]{1,12}", 1..50)
        ) {
            let s = bucketed(t, t.min(100 - t));
            for id in ids.iter().map(|i| AgentId::from(i.as_str())) {
                let arm = s.arm(&id);
                prop_assert_eq!(s.acts(&id, ActionKind::Sleep), arm == Arm::Treatment);
                prop_assert_eq!(s.refuses(&id, ActionKind::Sleep).is_none(), arm == Arm::Treatment);
                prop_assert_eq!(s.refuses(&id, ActionKind::Wake), None);
                prop_assert_eq!(s.acts(&id, ActionKind::Wake), arm != Arm::Observed);
            }
        }

        /// A rollback (to nobody) releases every treatment agent, a raise releases nobody,
        /// and creating the flag releases everyone it leaves outside treatment.
        #[test]
        fn released_is_who_left_treatment(
            from in 0u32..=100, to in 0u32..=100,
            ids in prop::collection::vec("[a-z0-9-]{1,12}", 1..50)
        ) {
            let ids: Vec<AgentId> = ids.iter().map(|i| AgentId::from(i.as_str())).collect();
            let (a, b) = (bucketed(from, 0), bucketed(to, 0));
            let released = a.released(&b, &ids);
            for id in &ids {
                let left = a.arm(id) == Arm::Treatment && b.arm(id) != Arm::Treatment;
                prop_assert_eq!(released.contains(&id), left);
            }
            if to >= from {
                prop_assert!(released.is_empty());
            }
            let all = ActingScope::all().released(&b, &ids);
            prop_assert_eq!(all.len(), ids.iter().filter(|i| b.arm(i) != Arm::Treatment).count());
            prop_assert!(a.released(&bucketed(0, 0), &ids).len()
                == ids.iter().filter(|i| a.arm(i) == Arm::Treatment).count());
        }
    }
}
