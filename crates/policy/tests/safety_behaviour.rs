//! The scheduler's safety behaviours, one scenario each: shadow mode, fail-safe on stale demand
//! and failing forecasts, the circuit breaker, restart hold, emergency stop, pins and schedules.

use std::time::Duration;

use hivesched_policy::baselines::AlwaysOn;
use hivesched_policy::{
    ActionKind, Agent, AgentState, Controls, Decision, DemandHistory, EmergencyMode, EmergencyStop,
    Fleet, ForecastFailure, Gate, Mode, Observation, Pause, PauseDirection, Pin, Policy,
    PolicyError, Reason, Recommendation, ScheduledFloor, Scheduler, SchedulerConfig, SleepLog,
    TickInput, Tier, Time,
};

/// Wants a fixed count, or fails like a broken forecaster.
struct Fixed(Option<u32>);

impl Policy for Fixed {
    fn name(&self) -> &str {
        "fixed"
    }
    fn recommend(&mut self, _: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        match self.0 {
            Some(n) => Ok(Recommendation::exactly(
                n,
                Tier::Predictive,
                Reason::PreWakeForecast,
                String::new(),
            )),
            None => Err(PolicyError::Forecast(ForecastFailure::NotFinite)),
        }
    }
}

const T0: i64 = 10_000_000;

fn fleet(awake: usize, asleep: usize) -> Fleet {
    let start = Time::from_secs(0);
    let mut agents: Vec<Agent> = (0..awake + asleep)
        .map(|i| Agent::awake(format!("a{i:02}"), start))
        .collect();
    for a in agents.iter_mut().skip(awake) {
        a.state = AgentState::Asleep;
    }
    Fleet::new(agents)
}

fn history(until: i64) -> DemandHistory {
    let mut h = DemandHistory::new(Duration::from_secs(60), 10_000);
    for t in (until - 3_600..until).step_by(60) {
        h.push(Time::from_secs(t), 5.0);
    }
    h
}

/// A scheduler and the gate it plans through, as the engine and the simulator pair them.
struct Harness {
    sched: Scheduler,
    gate: Gate,
}

impl Harness {
    fn new(cfg: SchedulerConfig, policy: Box<dyn Policy>) -> Harness {
        let gate = Gate::new((&cfg).into(), Controls::default(), SleepLog::default());
        Harness {
            sched: Scheduler::new(cfg, policy).unwrap(),
            gate,
        }
    }

    fn set_controls(&mut self, emergency: Option<EmergencyStop>, pause: Option<Pause>) {
        self.gate.set_controls(Controls { emergency, pause });
    }

    fn reconfigure(&mut self, cfg: SchedulerConfig) -> Result<(), PolicyError> {
        self.sched.reconfigure(cfg.clone())?;
        self.gate.configure((&cfg).into());
        Ok(())
    }
}

fn scheduler(want: Option<u32>) -> Harness {
    let cfg = SchedulerConfig {
        shadow: false,
        restart_hold: Duration::from_secs(60),
        ..SchedulerConfig::default()
    };
    let mut h = Harness::new(cfg, Box::new(Fixed(want)));
    // First tick starts the restart hold clock.
    tick_with(&mut h, &fleet(0, 0), T0 - 600, &history(T0 - 600));
    h
}

fn tick_with(h: &mut Harness, f: &Fleet, at: i64, history: &DemandHistory) -> Decision {
    let epoch = h.gate.epoch();
    h.gate.observe(f.clone(), epoch, true, Time::from_secs(at));
    let d = h.sched.tick(TickInput {
        now: Time::from_secs(at),
        gate: &h.gate,
        history,
    });
    h.gate.set_sleep_hold(d.sleep_hold);
    d
}

fn tick(h: &mut Harness, f: &Fleet, at: i64) -> Decision {
    tick_with(h, f, at, &history(at))
}

#[test]
fn normal_tick_sleeps_down_to_the_target_within_the_rails() {
    let mut s = scheduler(Some(4));
    let d = tick(&mut s, &fleet(10, 0), T0);
    assert_eq!(d.mode, Mode::Normal);
    // 10 awake, target 4: budget ceil(0.3 × 10) = 3 sleeps now, the rest blocked and named.
    assert_eq!(d.count(ActionKind::Sleep), 3);
    assert!(
        d.blocked
            .iter()
            .any(|b| b.reason == Reason::BudgetExhausted && b.count == 3)
    );
}

#[test]
fn shadow_mode_decides_but_executes_nothing() {
    let mut s = scheduler(Some(2));
    let mut cfg = s.sched.config().clone();
    cfg.shadow = true;
    s.reconfigure(cfg).unwrap();
    let d = tick(&mut s, &fleet(10, 0), T0);
    assert!(d.shadow);
    assert!(
        d.count(ActionKind::Sleep) > 0,
        "the decision is still recorded"
    );
    assert!(d.to_execute().is_empty());
    // And the gate refuses whatever would reach the fleet anyway.
    assert_eq!(
        s.gate
            .admit(&d.actions[0].agent, ActionKind::Sleep, Time::from_secs(T0)),
        Err(Reason::ShadowMode)
    );
}

#[test]
fn stale_demand_fails_safe_to_all_awake() {
    let mut s = scheduler(Some(2));
    let f = fleet(3, 7);
    let d = tick_with(&mut s, &f, T0, &history(T0 - 3_600));
    assert_eq!(d.mode, Mode::FailSafe);
    assert_eq!(d.count(ActionKind::Wake), 7);
    assert_eq!(d.count(ActionKind::Sleep), 0);
    assert!(
        d.actions
            .iter()
            .all(|a| a.tier == Tier::Safety && a.reason == Reason::FallbackActive)
    );
    assert_eq!(d.sleep_hold, Some(Reason::FallbackActive));
    // Stale demand is not a forecast failure: the breaker stays closed.
    for i in 1..=5 {
        tick_with(&mut s, &f, T0 + i, &history(T0 - 3_600));
    }
    let d = tick(&mut s, &f, T0 + 10);
    assert_eq!(d.mode, Mode::Normal);
    assert_eq!(s.sched.breaker_trips(), 0);
}

#[test]
fn an_unreadable_fleet_fails_safe_and_the_gate_refuses_sleeps() {
    let mut s = scheduler(Some(2));
    let f = fleet(8, 2);
    let epoch = s.gate.epoch();
    s.gate.observe(f.clone(), epoch, false, Time::from_secs(T0));
    let d = s.sched.tick(TickInput {
        now: Time::from_secs(T0),
        gate: &s.gate,
        history: &history(T0),
    });
    s.gate.set_sleep_hold(d.sleep_hold);
    assert_eq!(d.mode, Mode::FailSafe);
    assert_eq!(d.sleep_hold, Some(Reason::FleetUnreadable));
    assert_eq!(
        (d.count(ActionKind::Sleep), d.count(ActionKind::Wake)),
        (0, 2)
    );
    assert!(
        d.explanation.contains("could not be read"),
        "{}",
        d.explanation
    );
    assert_eq!(
        s.gate
            .admit(&f.agents[0].id, ActionKind::Sleep, Time::from_secs(T0)),
        Err(Reason::FleetUnreadable)
    );
}

#[test]
fn failing_forecasts_fail_safe_and_open_the_breaker() {
    let mut s = scheduler(None);
    let f = fleet(3, 7);
    let s = &mut s;
    for i in 0..3 {
        let d = tick(s, &f, T0 + i * 10);
        assert_eq!(d.mode, Mode::FailSafe);
        assert_eq!(d.count(ActionKind::Wake), 7);
    }
    let d = tick(s, &f, T0 + 30);
    assert!(
        d.actions.iter().all(|a| a.reason == Reason::BreakerOpen),
        "{:?}",
        d.actions
    );
    assert_eq!(s.sched.breaker_trips(), 1);
}

#[test]
fn restart_holds_sleeps_but_not_wakes() {
    let mut s = scheduler(Some(5));
    s.sched.restart();
    let d = tick(&mut s, &fleet(10, 0), T0);
    assert_eq!(d.mode, Mode::Hold);
    assert_eq!(d.count(ActionKind::Sleep), 0);
    assert!(d.blocked.iter().any(|b| b.reason == Reason::RestartHold));
    let d = tick(&mut s, &fleet(1, 9), T0 + 10);
    assert_eq!(d.count(ActionKind::Wake), 4, "wakes pass during the hold");
    let d = tick(&mut s, &fleet(10, 0), T0 + 61);
    assert_eq!(d.mode, Mode::Normal);
    assert!(d.count(ActionKind::Sleep) > 0);
}

#[test]
fn emergency_modes_halt_their_direction() {
    let mut s = scheduler(Some(5));
    let stop = |mode| {
        Some(EmergencyStop {
            mode,
            until: Some(Time::from_secs(T0 + 100)),
        })
    };
    s.set_controls(stop(EmergencyMode::FreezeSleeps), None);
    let d = tick(&mut s, &fleet(10, 0), T0);
    assert_eq!((d.mode, d.count(ActionKind::Sleep)), (Mode::Emergency, 0));
    assert!(d.blocked.iter().any(|b| b.reason == Reason::EmergencyStop));

    s.set_controls(stop(EmergencyMode::WakeAll), None);
    let d = tick(&mut s, &fleet(3, 7), T0 + 1);
    assert_eq!(d.count(ActionKind::Wake), 7);

    s.set_controls(stop(EmergencyMode::PauseWakes), None);
    let d = tick(&mut s, &fleet(1, 9), T0 + 2);
    assert_eq!(d.count(ActionKind::Wake), 0);

    // Time-limited: lifts by itself.
    let d = tick(&mut s, &fleet(1, 9), T0 + 100);
    assert_eq!(d.mode, Mode::Normal);
    assert_eq!(d.count(ActionKind::Wake), 4);
}

#[test]
fn pins_and_do_not_disrupt_are_honoured() {
    let mut s = scheduler(Some(2));
    let mut f = fleet(6, 2);
    f.agents[0].pin = Some(Pin::Awake);
    f.agents[1].do_not_disrupt = true;
    f.agents[2].busy = true;
    f.agents[6].pin = Some(Pin::Awake);
    f.agents[3].pin = Some(Pin::Asleep);
    let d = tick(&mut s, &f, T0);
    let moved = |id: &str, kind| d.actions.iter().any(|a| a.agent.0 == id && a.kind == kind);
    assert!(
        !moved("a00", ActionKind::Sleep)
            && !moved("a01", ActionKind::Sleep)
            && !moved("a02", ActionKind::Sleep)
    );
    assert!(
        moved("a06", ActionKind::Wake),
        "pinned-awake agent is woken"
    );
    assert!(
        moved("a03", ActionKind::Sleep),
        "pinned-asleep agent is put to sleep"
    );
    assert!(!moved("a07", ActionKind::Wake));
}

#[test]
fn scheduled_floor_raises_the_target() {
    let cfg = SchedulerConfig {
        shadow: false,
        restart_hold: Duration::ZERO,
        schedules: vec![ScheduledFloor {
            start_minute: 0,
            end_minute: 1440,
            weekdays: vec![],
            min_awake: 8,
        }],
        ..SchedulerConfig::default()
    };
    let mut s = Harness::new(cfg, Box::new(Fixed(Some(2))));
    let d = tick(&mut s, &fleet(3, 7), T0);
    assert_eq!(d.tier, Tier::Scheduled);
    assert_eq!(d.count(ActionKind::Wake), 5);
    assert!(d.actions.iter().all(|a| a.reason == Reason::ScheduledFloor));
}

#[test]
fn always_on_wakes_everyone_and_never_sleeps() {
    let cfg = SchedulerConfig {
        shadow: false,
        restart_hold: Duration::ZERO,
        ..SchedulerConfig::default()
    };
    let mut s = Harness::new(cfg, Box::new(AlwaysOn));
    let d = tick(&mut s, &fleet(2, 8), T0);
    assert_eq!(
        (d.count(ActionKind::Wake), d.count(ActionKind::Sleep)),
        (8, 0)
    );
}

#[test]
fn operator_pause_halts_one_direction_and_reconfigure_keeps_state() {
    let mut s = scheduler(Some(2));
    s.set_controls(
        None,
        Some(Pause {
            direction: PauseDirection::Sleeps,
            until: None,
        }),
    );
    let d = tick(&mut s, &fleet(10, 0), T0);
    assert_eq!(d.count(ActionKind::Sleep), 0);
    assert!(d.blocked.iter().any(|b| b.reason == Reason::OperatorPause));
    s.set_controls(None, None);
    let mut cfg = s.sched.config().clone();
    cfg.rails.sleep_rate = 1;
    s.reconfigure(cfg).unwrap();
    let d = tick(&mut s, &fleet(10, 0), T0 + 1);
    assert_eq!(d.count(ActionKind::Sleep), 1);
    let mut bad = s.sched.config().clone();
    bad.rails.max_scale_down = 2.0;
    assert!(s.reconfigure(bad).is_err());
    assert_eq!(s.sched.config().rails.sleep_rate, 1);
}
