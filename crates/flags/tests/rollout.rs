//! The rollout state machine through whole scenarios: climbing, holding, approving, rolling
//! back on evidence, the breaker and re-arming.

use std::time::Duration;

use hivesched_flags::{
    Action, ArmWindow, Cause, Command, Flag, FlagError, Guardrail, GuardrailKind, NoDataPolicy,
    Observations, Outcome, Percent, Phase, RollbackMode, RolloutState, Wait, apply, step,
};
use hivesched_policy::Time;

const MIN: i64 = 60;

fn arm(units: u64, completed: u64, failed: u64, p99: f64) -> ArmWindow {
    ArmWindow {
        units,
        completed,
        failed,
        latency_p99_ms: Some(p99),
        latency_samples: completed + failed,
        ..ArmWindow::default()
    }
}

/// Both arms alike: 1 % errors, 30 s p99.
fn healthy() -> Observations {
    Observations {
        treatment: arm(20, 495, 5, 30_000.0),
        control: arm(20, 495, 5, 30_000.0),
    }
}

fn flag() -> Flag {
    let mut f = Flag::boolean("scheduler.acting");
    f.min_bake = Duration::from_secs(30 * 60);
    f.min_full_rollout = Duration::from_secs(24 * 3600);
    f
}

/// Takes `steps` checks 10 minutes apart from `t`, returning the last decision.
fn run(
    f: &Flag,
    s: &mut RolloutState,
    t: &mut i64,
    obs: Observations,
    steps: usize,
) -> hivesched_flags::Decision {
    let mut last = None;
    for _ in 0..steps {
        *t += 10 * MIN;
        let (next, d) = step(f, s, &obs, Time::from_secs(*t));
        *s = next;
        last = Some(d);
    }
    last.unwrap()
}

fn pct(p: u16) -> Percent {
    Percent::from_percent(p).unwrap()
}

#[test]
fn a_healthy_rollout_climbs_every_stage_then_waits_for_approval_and_time() {
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(t));
    assert_eq!(s.percentage, pct(1));
    let mut seen = vec![s.percentage];
    for _ in 0..40 {
        t += 10 * MIN;
        let (next, d) = step(&f, &s, &healthy(), Time::from_secs(t));
        if d.action == Action::Advance {
            assert!(d.gates.baked_s >= 30 * 60, "{d:?}");
            seen.push(d.to);
        }
        s = next;
    }
    assert_eq!(seen, [pct(1), pct(10), pct(25), pct(50)]);
    assert_eq!(s.phase, Phase::AwaitingApproval);
    let (_, d) = step(&f, &s, &healthy(), Time::from_secs(t + 600));
    assert_eq!(d.action, Action::AwaitApproval);
    assert_eq!(d.waiting, [Wait::Approval, Wait::MinFullRollout]);

    let (approved, d) = apply(&f, &s, Command::Approve, Time::from_secs(t)).unwrap();
    assert_eq!(d.action, Action::Approve);
    s = approved;
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(
        d.waiting,
        [Wait::MinFullRollout],
        "a day has not passed yet"
    );
    t = 24 * 3600;
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(
        (d.action, d.to, s.phase),
        (Action::Advance, Percent::FULL, Phase::Full)
    );
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(d.action, Action::Steady);
    assert_eq!(d.checks.len(), 1, "at 100 % only the SLO is judged");
}

#[test]
fn bake_time_and_min_units_hold_a_stage() {
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(d.action, Action::Hold);
    assert_eq!(d.waiting, [Wait::BakeTime]);
    let mut few = healthy();
    few.treatment.units = 4;
    let d = run(&f, &mut s, &mut t, few, 5);
    assert_eq!(d.action, Action::Hold);
    assert_eq!(d.waiting, [Wait::MinUnits]);
    assert_eq!(s.percentage, pct(1));
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(d.action, Action::Advance);
}

#[test]
fn evidence_of_harm_rolls_back_at_once_and_opens_the_breaker() {
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    run(&f, &mut s, &mut t, healthy(), 6);
    assert_eq!(s.percentage, pct(25));
    // 4.6 % against 1 %: under the 5 % SLO, so only the sequence can see it.
    let bad = Observations {
        treatment: arm(20, 477, 23, 30_000.0),
        control: arm(20, 495, 5, 30_000.0),
    };
    let mut rolled = None;
    for _ in 0..20 {
        let d = run(&f, &mut s, &mut t, bad, 1);
        if d.action == Action::Rollback {
            rolled = Some(d);
            break;
        }
    }
    let d = rolled.expect("harm detected within 20 checks");
    assert_eq!(d.cause, Some(Cause::StatisticalHarm));
    assert!(d.from >= pct(25), "{d:?}");
    assert_eq!(d.to, Percent::ZERO);
    let seq = d
        .checks
        .iter()
        .find(|c| c.guardrail == Guardrail::ErrorRateSequential)
        .unwrap();
    assert_eq!(seq.outcome, Outcome::Fail);
    assert!(seq.lower_bound.unwrap() > 0.0, "{}", seq.explain());
    let slo = d
        .checks
        .iter()
        .find(|c| c.guardrail == Guardrail::ErrorRateSlo)
        .unwrap();
    assert_eq!(slo.outcome, Outcome::Pass);
    assert!(s.breaker_open());

    let d = run(&f, &mut s, &mut t, healthy(), 3);
    assert_eq!((d.action, d.to), (Action::Blocked, Percent::ZERO));
    assert_eq!(d.waiting, [Wait::BreakerOpen]);
    assert!(matches!(
        apply(&f, &s, Command::Approve, Time::from_secs(t)),
        Err(FlagError::NotAllowed { .. })
    ));

    let (rearmed, d) = apply(&f, &s, Command::Rearm, Time::from_secs(t)).unwrap();
    assert_eq!((d.action, d.to), (Action::Rearm, pct(1)));
    assert_eq!(
        (rearmed.revision, rearmed.stage, rearmed.totals),
        (2, 0, Default::default())
    );
    assert!(!rearmed.breaker_open());
}

#[test]
fn threshold_breaches_roll_back_only_when_sustained() {
    let f = flag();
    assert_eq!(f.guardrails.sustained_failures, 3);
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    run(&f, &mut s, &mut t, healthy(), 4);
    let slow = Observations {
        treatment: arm(20, 495, 5, 33_000.0),
        control: arm(20, 495, 5, 30_000.0),
    };
    let d = run(&f, &mut s, &mut t, slow, 2);
    assert_eq!((d.action, d.consecutive_failed), (Action::Hold, 2));
    assert!(d.waiting.contains(&Wait::FailingGuardrail));
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(d.consecutive_failed, 0, "a passing check resets the count");
    run(&f, &mut s, &mut t, slow, 2);
    let d = run(&f, &mut s, &mut t, slow, 1);
    assert_eq!(
        (d.action, d.cause),
        (Action::Rollback, Some(Cause::SustainedFailures))
    );
    let lat = d
        .checks
        .iter()
        .find(|c| c.guardrail == Guardrail::LatencyP99)
        .unwrap();
    assert_eq!(
        (lat.treatment, lat.control, lat.threshold),
        (Some(33_000.0), Some(30_000.0), 32_000.0)
    );
}

#[test]
fn step_down_mode_returns_to_the_previous_stage() {
    let mut f = flag();
    f.rollback = RollbackMode::StepDown;
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    run(&f, &mut s, &mut t, healthy(), 4);
    assert_eq!(s.percentage, pct(10));
    let failing = Observations {
        treatment: arm(20, 400, 100, 30_000.0),
        control: arm(20, 495, 5, 30_000.0),
    };
    let d = run(&f, &mut s, &mut t, failing, 1);
    assert_eq!(
        (d.action, d.from, d.to),
        (Action::Rollback, pct(10), pct(1))
    );
    assert_eq!((s.stage, s.phase), (0, Phase::RolledBack));
}

#[test]
fn sample_ratio_mismatch_holds_without_rolling_back() {
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let skewed = Observations {
        treatment: arm(60, 1485, 15, 30_000.0),
        control: arm(20, 495, 5, 30_000.0),
    };
    let d = run(&f, &mut s, &mut t, skewed, 10);
    assert_eq!(
        (d.action, d.waiting.as_slice()),
        (Action::Hold, &[Wait::SampleRatio][..])
    );
    assert_eq!(s.percentage, pct(1));
}

#[test]
fn no_data_holds_or_fails_as_configured() {
    let quiet = Observations {
        treatment: arm(20, 5, 0, 30_000.0),
        control: arm(20, 5, 0, 30_000.0),
    };
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let d = run(&f, &mut s, &mut t, quiet, 10);
    assert_eq!(
        (d.action, d.waiting.as_slice()),
        (Action::Hold, &[Wait::NoData][..])
    );

    let mut f = flag();
    f.guardrails.no_data = NoDataPolicy::Fail;
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let d = run(&f, &mut s, &mut t, quiet, 3);
    assert_eq!(
        (d.action, d.cause),
        (Action::Rollback, Some(Cause::SustainedFailures))
    );
}

#[test]
fn operators_pause_roll_back_and_the_kill_switch_wins() {
    let f = flag();
    let mut t = 0;
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let (paused, _) = apply(&f, &s, Command::Pause, Time::from_secs(0)).unwrap();
    s = paused;
    let d = run(&f, &mut s, &mut t, healthy(), 6);
    assert_eq!(d.waiting, [Wait::Paused]);
    let (resumed, _) = apply(&f, &s, Command::Resume, Time::from_secs(t)).unwrap();
    s = resumed;
    let d = run(&f, &mut s, &mut t, healthy(), 1);
    assert_eq!(d.action, Action::Advance);

    let (rolled, d) = apply(&f, &s, Command::Rollback, Time::from_secs(t)).unwrap();
    assert_eq!(
        (d.action, d.cause, d.to),
        (Action::Rollback, Some(Cause::Manual), Percent::ZERO)
    );
    let (again, d) = apply(&f, &rolled, Command::Rollback, Time::from_secs(t)).unwrap();
    assert_eq!(
        (again, d.action),
        (rolled.clone(), Action::Blocked),
        "idempotent"
    );

    let mut killed = flag();
    killed.kill_switch = true;
    assert!(apply(&killed, &rolled, Command::Rearm, Time::from_secs(t)).is_err());
    let fresh = RolloutState::start(&killed, Time::from_secs(0));
    let (s, d) = step(&killed, &fresh, &healthy(), Time::from_secs(60));
    assert_eq!(
        (d.action, d.cause, s.percentage),
        (Action::Rollback, Some(Cause::KillSwitch), Percent::ZERO)
    );
}

#[test]
fn decisions_serialize_with_their_wire_names() {
    let f = flag();
    let s = RolloutState::start(&f, Time::from_secs(0));
    let (_, d) = step(&f, &s, &healthy(), Time::from_secs(600));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["action"], "hold");
    assert_eq!(json["waiting"][0], "bake_time");
    assert_eq!(json["checks"][0]["guardrail"], "error_rate_slo");
    assert_eq!(json["checks"][0]["outcome"], "pass");
    assert_eq!(json["from"], 1.0);
    let back: hivesched_flags::Decision = serde_json::from_value(json).unwrap();
    assert_eq!(back.action, d.action);
}

/// The scheduler's own rollout: a `service` flag over 40 known agents, 20 per arm at 50 %.
fn acting() -> Flag {
    let mut f = flag();
    f.guardrails.kind = GuardrailKind::Service;
    f
}

/// Treatment asleep (the scheduler sleeps it at low demand: nothing reported), control held
/// awake and serving its work; both arms' units known by assignment.
fn treatment_asleep() -> Observations {
    Observations {
        treatment: ArmWindow {
            assigned: 20,
            ..ArmWindow::default()
        },
        control: ArmWindow {
            assigned: 20,
            ..arm(20, 495, 5, 30_000.0)
        },
    }
}

#[test]
fn a_service_rollout_advances_while_the_scheduler_sleeps_treatment() {
    let f = acting();
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let mut t = 0;
    let d = run(&f, &mut s, &mut t, treatment_asleep(), 3);
    assert_eq!(d.action, Action::Advance, "{d:?}");
    assert!(!d.waiting.contains(&Wait::NoData), "{:?}", d.waiting);
    assert_eq!(d.gates.units, (20, 20));
    let idle = d
        .checks
        .iter()
        .find(|c| c.guardrail == Guardrail::UnservedRate)
        .unwrap();
    assert_eq!(idle.outcome, Outcome::Idle, "{}", idle.explain());
    run(&f, &mut s, &mut t, treatment_asleep(), 20);
    assert_eq!(s.phase, Phase::AwaitingApproval);
    assert_eq!(s.percentage, pct(50));

    // The same windows under the default kind hold forever: treatment reported no unit.
    let mut g = acting();
    g.guardrails.kind = GuardrailKind::Throughput;
    let mut s = RolloutState::start(&g, Time::from_secs(0));
    let mut t = 0;
    let d = run(&g, &mut s, &mut t, treatment_asleep(), 20);
    assert_eq!(d.action, Action::Hold);
    assert!(d.waiting.contains(&Wait::NoData) && d.waiting.contains(&Wait::MinUnits));
    assert_eq!(s.percentage, pct(1));
}

#[test]
fn a_service_rollout_rolls_back_when_treatment_leaves_demand_unserved() {
    let f = acting();
    let mut s = RolloutState::start(&f, Time::from_secs(0));
    let mut t = 0;
    run(&f, &mut s, &mut t, treatment_asleep(), 6);
    assert!(s.percentage >= pct(10), "{:?}", s.percentage);
    // Awake again for a peak, treatment's wakes fail and its tasks with them: 30 of 300
    // wakes, and 4 % of the tasks it did run (below the 5 % SLO on its own).
    let harmed = Observations {
        treatment: ArmWindow {
            assigned: 20,
            wakes: 300,
            wakes_failed: 30,
            ..arm(20, 480, 20, 30_000.0)
        },
        control: treatment_asleep().control,
    };
    let mut decisions = Vec::new();
    for _ in 0..5 {
        t += 10 * MIN;
        let (next, d) = step(&f, &s, &harmed, Time::from_secs(t));
        s = next;
        decisions.push(d);
        if s.breaker_open() {
            break;
        }
    }
    let d = decisions.last().unwrap();
    assert_eq!(d.action, Action::Rollback, "{decisions:?}");
    assert_eq!(s.percentage, Percent::ZERO);
    let failing: Vec<Guardrail> = d
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .map(|c| c.guardrail)
        .collect();
    assert!(
        failing.contains(&Guardrail::UnservedRate)
            || failing.contains(&Guardrail::UnservedSequential),
        "{failing:?}"
    );
    assert!(!failing.contains(&Guardrail::ErrorRateSlo), "{failing:?}");
}
