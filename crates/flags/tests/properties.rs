//! Properties of bucketing and of the rollout state machine, over arbitrary inputs.

use std::time::Duration;

use hivesched_flags::{
    Action, Arm, ArmWindow, BUCKETS, Command, Flag, Guardrail, GuardrailKind, Observations,
    Outcome, Percent, Phase, RollbackMode, RolloutState, apply, arm_of, bucket, step,
};
use hivesched_policy::Time;
use proptest::prelude::*;

fn share() -> impl Strategy<Value = Percent> {
    (0..=BUCKETS).prop_map(|bp| Percent::from_basis_points(bp).unwrap())
}

proptest! {
    /// A unit in treatment stays in at any higher share; one in control at a share up to 50 %
    /// stays in control at any higher share up to 50 %; nobody ever goes from treatment to
    /// control, and nobody goes from control to treatment while both shares are ≤ 50 %.
    #[test]
    fn bucketing_is_monotone_and_arms_never_swap(
        salt in "[a-z.]{1,12}",
        unit in "[a-z0-9-]{1,16}",
        version in 0u32..4,
        a in share(),
        b in share(),
    ) {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let bk = bucket(&salt, version, &unit);
        prop_assert!(bk < BUCKETS);
        prop_assert_eq!(bk, bucket(&salt, version, &unit), "sticky");
        let (before, after) = (arm_of(bk, lo), arm_of(bk, hi));
        if before == Arm::Treatment {
            prop_assert_eq!(after, Arm::Treatment);
        }
        prop_assert!(!(before == Arm::Treatment && after == Arm::Control));
        let half = Percent::from_percent(50).unwrap();
        if hi <= half {
            if before == Arm::Control {
                prop_assert_eq!(after, Arm::Control);
            }
            prop_assert!(!(before == Arm::Control && after == Arm::Treatment));
        }
    }

    /// The arms are disjoint and sized as specified: treatment has exactly the share's buckets,
    /// control as many up to 50 % and the rest above.
    #[test]
    fn arms_are_disjoint_and_sized(p in share()) {
        let (mut t, mut c) = (0u32, 0u32);
        for b in 0..BUCKETS {
            match arm_of(b, p) {
                Arm::Treatment => t += 1,
                Arm::Control => c += 1,
                Arm::Out => {}
            }
        }
        let bp = u32::from(p.basis_points());
        prop_assert_eq!(t, bp);
        prop_assert_eq!(c, bp.min(u32::from(BUCKETS) - bp));
    }
}

#[derive(Debug, Clone)]
enum Event {
    Check {
        minutes: i64,
        treatment: ArmWindow,
        control: ArmWindow,
    },
    Do(Command),
}

fn window() -> impl Strategy<Value = ArmWindow> {
    (
        (0u64..40, 0u64..40),
        0u64..800,
        0u64..40,
        20_000.0f64..40_000.0,
        0u64..800,
        (0u64..20, 0u64..5),
    )
        .prop_map(
            |((units, assigned), completed, failed, p99, samples, (wakes, wakes_failed))| {
                ArmWindow {
                    units,
                    assigned,
                    completed,
                    failed,
                    latency_p99_ms: Some(p99),
                    latency_samples: samples,
                    wakes: wakes + wakes_failed,
                    wakes_failed,
                }
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        // Mostly identical arms, so that walks do climb; sometimes anything at all.
        6 => (1i64..240, window()).prop_map(|(minutes, w)| Event::Check {
            minutes,
            treatment: w,
            control: w,
        }),
        3 => (1i64..240, window(), window()).prop_map(|(minutes, treatment, control)| Event::Check {
            minutes,
            treatment,
            control,
        }),
        1 => prop_oneof![
            Just(Command::Approve),
            Just(Command::Pause),
            Just(Command::Resume),
            Just(Command::Rollback),
            Just(Command::Rearm),
        ]
        .prop_map(Event::Do),
    ]
}

fn flag(step_down: bool, service: bool) -> Flag {
    let mut f = Flag::boolean("p");
    if service {
        f.guardrails.kind = GuardrailKind::Service;
    }
    f.min_bake = Duration::from_secs(1800);
    f.min_full_rollout = Duration::from_secs(6 * 3600);
    if step_down {
        f.rollback = RollbackMode::StepDown;
    }
    f
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Over any sequence of checks and commands: an advance goes exactly one stage up and only
    /// with no failing guardrail, baked, with enough units, a healthy sample ratio and, into
    /// 100 %, an approval; the share never falls except by a rollback (or a re-arm, which
    /// starts a new revision at the first stage); the served share is always 0 or a stage.
    #[test]
    fn the_state_machine_never_skips_and_never_advances_on_a_failure(
        step_down in any::<bool>(),
        service in any::<bool>(),
        events in prop::collection::vec(event(), 1..80),
    ) {
        let f = flag(step_down, service);
        let mut t = 0i64;
        let mut s = RolloutState::start(&f, Time::from_secs(0));
        let mut advances = 0;
        for e in events {
            let before = s.clone();
            let (mut treatment_units, mut control_units) = (0, 0);
            let (mut treatment_assigned, mut control_assigned) = (0, 0);
            let (next, d) = match e {
                Event::Check { minutes, treatment, control } => {
                    t += minutes * 60;
                    (treatment_units, control_units) = (treatment.units, control.units);
                    (treatment_assigned, control_assigned) = (treatment.assigned, control.assigned);
                    step(&f, &s, &Observations { treatment, control }, Time::from_secs(t))
                }
                Event::Do(c) => match apply(&f, &s, c, Time::from_secs(t)) {
                    Ok(r) => r,
                    Err(_) => continue,
                },
            };
            prop_assert_eq!(d.from, before.percentage);
            prop_assert_eq!(d.to, next.percentage);
            prop_assert!(
                next.percentage == Percent::ZERO || f.ladder.contains(&next.percentage),
                "{:?}", next.percentage
            );
            match d.action {
                Action::Advance => {
                    advances += 1;
                    prop_assert_eq!(next.stage, before.stage + 1);
                    prop_assert_eq!(next.percentage, f.ladder[before.stage + 1]);
                    prop_assert!(!before.paused);
                    for c in &d.checks {
                        let bad = c.outcome == Outcome::Fail
                            || (c.outcome == Outcome::NoData
                                && !matches!(c.guardrail, Guardrail::ErrorRateSequential | Guardrail::UnservedSequential | Guardrail::SampleRatio));
                        prop_assert!(!bad, "advanced with {}", c.explain());
                        // Idle is only for service flags whose arms have assigned units.
                        if c.outcome == Outcome::Idle {
                            prop_assert!(service && d.gates.units.0 > 0 && d.gates.units.1 > 0);
                        }
                    }
                    // Service flags count units by assignment, the others by who reported.
                    prop_assert_eq!(d.gates.units, if service {
                        (treatment_assigned, control_assigned)
                    } else {
                        (treatment_units, control_units)
                    });
                    prop_assert!(d.gates.baked_s >= d.gates.bake_required_s);
                    prop_assert!(d.gates.units.0 >= f.min_units_per_arm && d.gates.units.1 >= f.min_units_per_arm);
                    if next.percentage == Percent::FULL {
                        prop_assert!(before.approved);
                        prop_assert!(d.gates.since_start_s >= d.gates.min_full_rollout_s);
                    }
                }
                Action::Rollback => {
                    prop_assert!(next.breaker_open());
                    prop_assert!(next.percentage < before.percentage || before.percentage == Percent::ZERO);
                    if !step_down || d.cause == Some(hivesched_flags::Cause::Manual) {
                        prop_assert_eq!(next.percentage, Percent::ZERO);
                    }
                }
                Action::Rearm => {
                    prop_assert!(before.breaker_open());
                    prop_assert_eq!(next.revision, before.revision + 1);
                    prop_assert_eq!(next.percentage, f.ladder[0]);
                }
                _ => prop_assert_eq!(next.percentage, before.percentage, "{:?}", d.action),
            }
            if before.breaker_open() && d.action != Action::Rearm {
                prop_assert!(next.breaker_open(), "only a re-arm closes the breaker");
            }
            if next.phase == Phase::Full {
                prop_assert_eq!(next.percentage, Percent::FULL);
            }
            s = next;
        }
        prop_assert!(advances <= 4 * s.revision as usize);
    }
}

/// A sanity check that the random walk above does reach every stage, so the property is not
/// vacuously true.
#[test]
fn healthy_walks_reach_full() {
    let f = flag(false, false);
    let arm = ArmWindow {
        units: 20,
        completed: 495,
        failed: 5,
        latency_p99_ms: Some(30_000.0),
        latency_samples: 500,
        ..ArmWindow::default()
    };
    let obs = Observations {
        treatment: arm,
        control: arm,
    };
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    s = apply(&f, &s, Command::Approve, Time::from_secs(0))
        .unwrap()
        .0;
    for i in 1..=100 {
        s = step(&f, &s, &obs, Time::from_secs(i * 600)).0;
    }
    assert_eq!((s.phase, s.percentage), (Phase::Full, Percent::FULL));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A `service` flag (the scheduler's own rollout) whose treatment arm is entirely asleep —
    /// assigned agents, none reporting — never holds for data or units while each arm has its
    /// assigned units, whatever control reports; and with arms of matching sizes (a healthy
    /// sample ratio) and a failure-free control it climbs.
    #[test]
    fn an_asleep_service_arm_never_holds_for_data(
        treatment_assigned in 5u64..40,
        difference in 0u64..3,
        control in window(),
        checks in 1usize..30,
    ) {
        let control_assigned = treatment_assigned + difference;
        let f = flag(false, true);
        let mut s = RolloutState::start(&f, Time::from_secs(0));
        let obs = Observations {
            treatment: ArmWindow { assigned: treatment_assigned, ..ArmWindow::default() },
            control: ArmWindow { assigned: control_assigned, failed: 0, ..control },
        };
        for i in 1..=checks {
            let (next, d) = step(&f, &s, &obs, Time::from_secs(i as i64 * 3600));
            prop_assert!(
                !d.waiting.contains(&hivesched_flags::Wait::NoData)
                    && !d.waiting.contains(&hivesched_flags::Wait::MinUnits),
                "{:?}", d
            );
            prop_assert_ne!(d.action, Action::Rollback);
            s = next;
        }
        prop_assert!(checks < 3 || s.stage > 0, "never advanced: {:?}", s);
    }
}
