//! Property tests of the scheduler's acting scope (its own rollout behind `scheduler.acting`):
//! for random fleets, arms and policy wishes, a tick never executes a sleep outside the
//! treatment arm nor any action on an observed agent, it wakes the control arm's sleepers, the
//! gate agrees with every executed action and refuses every sleep outside treatment, and
//! without a rollout (or with everyone in treatment) a decision is exactly what it was before.

use std::time::Duration;

use hivesched_policy::{
    ActingScope, ActionKind, Agent, AgentId, AgentState, Arm, Controls, DemandHistory, Fleet, Gate,
    Observation, Policy, PolicyError, Reason, Recommendation, Scheduler, SchedulerConfig,
    TickInput, Tier, Time,
};
use proptest::prelude::*;

/// A policy that asks for fixed counts.
struct Wants(u32, u32);

impl Policy for Wants {
    fn name(&self) -> &str {
        "wants"
    }

    fn recommend(&mut self, _obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        Ok(Recommendation {
            wake_to: self.0,
            sleep_to: self.1,
            tier: Tier::Predictive,
            reason: Reason::PreWakeForecast,
            explanation: String::new(),
        })
    }
}

fn state() -> impl Strategy<Value = AgentState> {
    prop_oneof![
        4 => Just(AgentState::Awake),
        2 => Just(AgentState::Asleep),
        1 => Just(AgentState::Consolidating),
        1 => Just(AgentState::Error),
    ]
}

fn arm() -> impl Strategy<Value = Arm> {
    prop_oneof![
        Just(Arm::Treatment),
        Just(Arm::Control),
        Just(Arm::Observed)
    ]
}

fn scope_of(arms: &[Arm]) -> ActingScope {
    let arms = arms.to_vec();
    ActingScope::split(move |id: &AgentId| {
        let i: usize = id.0[1..].parse().unwrap();
        arms[i]
    })
}

fn decide(
    fleet: &Fleet,
    scope: ActingScope,
    wants: (u32, u32),
    now: Time,
) -> (Gate, hivesched_policy::Decision) {
    let cfg = SchedulerConfig {
        shadow: false,
        restart_hold: Duration::ZERO,
        sleep_stabilization: Duration::ZERO,
        rails: hivesched_policy::RailConfig {
            min_awake: 0,
            max_in_transition: 1.0,
            max_scale_down: 1.0,
            sleep_rate: 1000,
            ..Default::default()
        },
        ..SchedulerConfig::default()
    };
    let mut gate = Gate::new((&cfg).into(), Controls::default(), Default::default());
    gate.observe(fleet.clone(), gate.epoch(), true, now);
    gate.set_sleep_hold(None);
    gate.set_scope(scope);
    let mut history = DemandHistory::new(Duration::from_secs(60), 100);
    history.push(now.minus(Duration::from_secs(1)), 1.0);
    let mut sched = Scheduler::new(cfg, Box::new(Wants(wants.0, wants.1))).unwrap();
    let d = sched.tick(TickInput {
        now,
        gate: &gate,
        history: &history,
    });
    (gate, d)
}

proptest! {
    #[test]
    fn only_treatment_is_slept_control_is_held_awake_observed_is_never_acted_on(
        agents in proptest::collection::vec((state(), arm()), 1..40),
        wants in (0u32..40, 0u32..40),
    ) {
        let now = Time::from_secs(1_000_000);
        let fleet = Fleet::new(agents.iter().enumerate().map(|(i, (s, _))| {
            let mut a = Agent::awake(format!("a{i}"), Time::from_secs(0));
            a.state = *s;
            a
        }).collect());
        let arms: Vec<Arm> = agents.iter().map(|(_, a)| *a).collect();
        let scope = scope_of(&arms);
        let (mut gate, d) = decide(&fleet, scope.clone(), wants, now);
        let arm_of = |id: &AgentId| arms[id.0[1..].parse::<usize>().unwrap()];
        for a in d.to_execute() {
            let arm = arm_of(&a.agent);
            prop_assert!(arm != Arm::Observed, "executed {a:?} on an observed agent");
            if a.kind == ActionKind::Sleep {
                prop_assert_eq!(arm, Arm::Treatment, "slept {:?}", a);
            }
            prop_assert!(gate.admit(&a.agent, a.kind, now).is_ok(), "the gate refused {:?}", a);
        }
        for a in &d.actions {
            prop_assert_eq!(a.observed, !scope.acts(&a.agent, a.kind));
        }
        // Every control agent asleep (or failed) is woken for real.
        for (i, (s, arm)) in agents.iter().enumerate() {
            let id = AgentId(format!("a{i}"));
            if *arm == Arm::Control && matches!(s, AgentState::Asleep | AgentState::Error) {
                prop_assert!(
                    d.to_execute().iter().any(|a| a.agent == id && a.kind == ActionKind::Wake),
                    "control agent {id} left asleep: {d:?}"
                );
            }
        }
        // The gate refuses any sleep outside treatment, from any source.
        let (mut fresh, _) = decide(&fleet, scope, (0, 0), now);
        for (i, (s, arm)) in agents.iter().enumerate() {
            let id = AgentId(format!("a{i}"));
            let got = fresh.admit(&id, ActionKind::Sleep, now);
            match arm {
                Arm::Control => prop_assert_eq!(got, Err(Reason::RolloutControl)),
                Arm::Observed => prop_assert_eq!(got, Err(Reason::OutsideRollout)),
                Arm::Treatment if *s != AgentState::Awake => prop_assert!(got.is_err()),
                Arm::Treatment => {}
            }
            let wake = fresh.admit(&id, ActionKind::Wake, now);
            prop_assert!(wake.is_ok(), "{:?}", wake);
        }
    }

    #[test]
    fn without_a_rollout_decisions_are_unchanged(
        states in proptest::collection::vec(state(), 1..40),
        wants in (0u32..40, 0u32..40),
    ) {
        let now = Time::from_secs(1_000_000);
        let fleet = Fleet::new(states.iter().enumerate().map(|(i, s)| {
            let mut a = Agent::awake(format!("a{i}"), Time::from_secs(0));
            a.state = *s;
            a
        }).collect());
        let (_, all) = decide(&fleet, ActingScope::all(), wants, now);
        let (_, everyone) = decide(&fleet, ActingScope::split(|_| Arm::Treatment), wants, now);
        prop_assert_eq!(&all, &everyone);
        prop_assert!(all.actions.iter().all(|a| !a.observed));
    }
}
