//! Property tests: for random fleets and random sequences of demand, agent events, operator
//! actions, restarts and clock jumps, no executed decision ever breaks a rail, and every action
//! a decision admits passes the gate when it is executed right after.
//!
//! The invariants are re-derived here from what was executed, independently of the rail code.

use std::collections::HashSet;
use std::time::Duration;

use hivesched_policy::baselines::{AlwaysOn, Kpa, Reactive, SeasonalReactive};
use hivesched_policy::{
    ActionKind, Agent, AgentEvent, AgentState, Controls, DemandHistory, EmergencyMode,
    EmergencyStop, Fleet, Gate, Mode, Observation, Pause, PauseDirection, Pin, Policy, PolicyError,
    Predictive, RailConfig, Reason, Recommendation, Scheduler, SchedulerConfig, SeasonalNaive,
    TickInput, Tier, Time,
};
use proptest::prelude::*;

/// A policy that asks for arbitrary counts, so the rails (not a sensible policy) keep the fleet safe.
struct Chaos {
    wants: Vec<(u32, u32)>,
    i: usize,
}

impl Policy for Chaos {
    fn name(&self) -> &str {
        "chaos"
    }

    fn recommend(&mut self, _obs: &Observation<'_>) -> Result<Recommendation, PolicyError> {
        let (w, s) = self.wants[self.i % self.wants.len()];
        self.i += 1;
        if w == 7 {
            return Err(PolicyError::Forecast(
                hivesched_policy::ForecastFailure::Timeout,
            ));
        }
        Ok(Recommendation {
            wake_to: w,
            sleep_to: s,
            tier: Tier::Predictive,
            reason: Reason::PreWakeForecast,
            explanation: String::new(),
        })
    }
}

#[derive(Debug, Clone)]
enum Op {
    Tick { dt_s: i64, demand: Option<f64> },
    Event { agent: usize, event: AgentEvent },
    Busy { agent: usize, busy: bool },
    DoNotDisrupt { agent: usize, on: bool },
    Pin { agent: usize, pin: Option<Pin> },
    Emergency(Option<(EmergencyMode, Option<i64>)>),
    Pause(Option<(PauseDirection, Option<i64>)>),
    Shadow(bool),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let event = prop_oneof![
        Just(AgentEvent::CheckpointDone),
        Just(AgentEvent::ConsolidationDone),
        Just(AgentEvent::WakeDone),
        Just(AgentEvent::Failed),
        Just(AgentEvent::WakeRequested),
        Just(AgentEvent::SleepRequested),
    ];
    let mode = prop_oneof![
        Just(EmergencyMode::FreezeSleeps),
        Just(EmergencyMode::WakeAll),
        Just(EmergencyMode::PauseWakes),
        Just(EmergencyMode::FreezeAll),
    ];
    let direction = prop_oneof![
        Just(PauseDirection::Sleeps),
        Just(PauseDirection::Wakes),
        Just(PauseDirection::Both),
    ];
    let pin = prop_oneof![Just(None), Just(Some(Pin::Awake)), Just(Some(Pin::Asleep))];
    prop_oneof![
        12 => (prop_oneof![10 => 5i64..120, 1 => -300i64..0, 1 => 120i64..2_000], proptest::option::weighted(0.9, 0.0f64..80.0)).prop_map(|(dt_s, demand)| Op::Tick { dt_s, demand }),
        4 => (0usize..64, event).prop_map(|(agent, event)| Op::Event { agent, event }),
        1 => (0usize..64, any::<bool>()).prop_map(|(agent, busy)| Op::Busy { agent, busy }),
        1 => (0usize..64, any::<bool>()).prop_map(|(agent, on)| Op::DoNotDisrupt { agent, on }),
        1 => (0usize..64, pin).prop_map(|(agent, pin)| Op::Pin { agent, pin }),
        1 => proptest::option::weighted(0.3, (mode.clone(), proptest::option::of(0i64..3_000))).prop_map(Op::Emergency),
        1 => proptest::option::weighted(0.3, (direction, proptest::option::of(0i64..3_000))).prop_map(Op::Pause),
        1 => proptest::bool::weighted(0.2).prop_map(Op::Shadow),
        1 => Just(Op::Restart),
    ]
}

fn policy(kind: u8, wants: Vec<(u32, u32)>) -> Box<dyn Policy> {
    match kind {
        0 => Box::new(Chaos { wants, i: 0 }),
        1 => Box::new(Predictive::new(Box::new(SeasonalNaive::default()))),
        2 => Box::new(Reactive::default()),
        3 => Box::new(Kpa::default()),
        4 => Box::new(SeasonalReactive::default()),
        _ => Box::new(AlwaysOn),
    }
}

fn initial_state() -> impl Strategy<Value = AgentState> {
    prop_oneof![
        4 => Just(AgentState::Awake),
        1 => Just(AgentState::PreparingSleep),
        1 => Just(AgentState::Consolidating),
        2 => Just(AgentState::Asleep),
        1 => Just(AgentState::Waking),
        1 => Just(AgentState::Error),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_events_breaks_a_rail(
        states in proptest::collection::vec((initial_state(), any::<bool>(), proptest::option::of(0i64..1_200)), 1..40),
        min_awake in 0u32..6,
        max_in_transition in 0.0f64..=1.0,
        max_scale_down in 0.0f64..=1.0,
        sleep_rate in 0u32..12,
        kind in prop_oneof![3 => Just(0u8), 2 => 1u8..6],
        stabilization_s in prop_oneof![Just(0u64), 0u64..600],
        wants in proptest::collection::vec((0u32..8, 0u32..10), 1..8),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let rails = RailConfig { min_awake, max_in_transition, max_scale_down, sleep_rate, ..RailConfig::default() };
        let cfg = SchedulerConfig {
            rails: rails.clone(),
            shadow: false,
            capacity: 10.0,
            wake_latency: Duration::from_secs(60),
            consolidation: Duration::from_secs(60),
            restart_hold: Duration::from_secs(120),
            sleep_stabilization: Duration::from_secs(stabilization_s),
            ..SchedulerConfig::default()
        };
        let mut gate = Gate::new((&cfg).into(), Controls::default(), Default::default());
        let mut sched = Scheduler::new(cfg.clone(), policy(kind, wants)).unwrap();
        let mut now = Time::from_secs(1_000_000);
        let mut fleet = Fleet::new(states.iter().enumerate().map(|(i, (state, busy, woke))| {
            let mut a = Agent::awake(format!("a{i}"), now);
            a.state = *state;
            a.busy = *busy;
            a.last_wake = woke.map(|s| now.minus(Duration::from_secs(s as u64)));
            a
        }).collect());
        let n = fleet.agents.len();
        let mut history = DemandHistory::new(Duration::from_secs(60), 10_000);
        let mut executed_sleeps: Vec<Time> = Vec::new();
        let mut emergency: Option<EmergencyStop> = None;
        let mut pause: Option<Pause> = None;
        let mut shadow = false;
        let mut latest = Time(i64::MIN);

        for op in ops {
            match op {
                Op::Tick { dt_s, demand } => {
                    now = Time::from_millis(now.as_millis() + dt_s * 1000);
                    if let Some(d) = demand {
                        history.push(now.minus(Duration::from_secs(1)), d);
                    }
                    let before = fleet.counts();
                    let epoch = gate.epoch();
                    gate.observe(fleet.clone(), epoch, true, now);
                    let d = sched.tick(TickInput { now, gate: &gate, history: &history });
                    gate.set_sleep_hold(d.sleep_hold);
                    // What the decision admitted, the gate admits when it is executed at once.
                    for a in d.to_execute() {
                        let admitted = gate.admit(&a.agent, a.kind, now);
                        prop_assert!(admitted.is_ok(), "the gate refused {:?} that the plan admitted: {:?}", a, admitted);
                        if let Ok(ticket) = admitted { gate.settle(ticket, true); }
                    }

                    // Wakes are never held back by a sleep rail.
                    for b in &d.blocked {
                        if b.kind == ActionKind::Wake {
                            prop_assert!(matches!(b.reason, Reason::EmergencyStop | Reason::OperatorPause), "wake held back by {:?}", b.reason);
                        }
                    }
                    let executed = d.to_execute();
                    if shadow {
                        prop_assert!(executed.is_empty(), "shadow mode executed {:?}", executed);
                    }
                    let sleeps: Vec<usize> = executed.iter().filter(|a| a.kind == ActionKind::Sleep)
                        .map(|a| fleet.agents.iter().position(|x| x.id == a.agent).unwrap()).collect();
                    let wakes: Vec<usize> = executed.iter().filter(|a| a.kind == ActionKind::Wake)
                        .map(|a| fleet.agents.iter().position(|x| x.id == a.agent).unwrap()).collect();
                    let mut seen = HashSet::new();
                    for i in sleeps.iter().chain(&wakes) {
                        prop_assert!(seen.insert(*i), "agent moved twice in one decision");
                    }
                    if let Some(stop) = emergency.as_ref().filter(|e| e.active(now)) {
                        if stop.mode.halts(ActionKind::Sleep) { prop_assert!(sleeps.is_empty(), "emergency stop let a sleep through"); }
                        if stop.mode.halts(ActionKind::Wake) { prop_assert!(wakes.is_empty(), "emergency stop let a wake through"); }
                    }
                    if let Some(p) = pause.as_ref().filter(|p| p.active(now)) {
                        if p.direction.holds(ActionKind::Sleep) { prop_assert!(sleeps.is_empty(), "pause let a sleep through"); }
                        if p.direction.holds(ActionKind::Wake) { prop_assert!(wakes.is_empty(), "pause let a wake through"); }
                    }
                    if now < latest {
                        prop_assert!(sleeps.is_empty(), "slept while the clock was behind");
                    }
                    latest = latest.max(now);
                    if matches!(d.mode, Mode::FailSafe | Mode::Hold) {
                        prop_assert!(sleeps.is_empty(), "{:?} mode let a sleep through", d.mode);
                    }
                    if !sleeps.is_empty() {
                        let k = sleeps.len() as u32;
                        prop_assert!(before.awake - k >= min_awake.min(n as u32), "min_awake broken");
                        let budget = (max_in_transition * n as f64).ceil() as u32;
                        prop_assert!(before.in_sleep_transition() + k <= budget, "disruption budget broken");
                        let within = |w: Duration| executed_sleeps.iter().filter(|t| **t > now.minus(w)).count() as u32;
                        prop_assert!(within(rails.sleep_rate_window) + k <= sleep_rate, "sleep rate broken");
                        let recent = within(rails.agent_cooldown) + k;
                        let cap = (max_scale_down * f64::from(before.awake - k + recent)).floor() as u32;
                        prop_assert!(recent <= cap, "max_scale_down broken: {} > {}", recent, cap);
                        for &i in &sleeps {
                            let a = &fleet.agents[i];
                            prop_assert_eq!(a.state, AgentState::Awake);
                            prop_assert!(!a.busy && !a.do_not_disrupt && a.pin != Some(Pin::Awake), "slept a protected agent");
                            prop_assert!(a.last_wake.is_none_or(|w| w <= now.minus(rails.agent_cooldown)), "cooldown broken");
                        }
                    }
                    for &i in &sleeps {
                        let a = &mut fleet.agents[i];
                        a.state = AgentState::PreparingSleep;
                        a.last_sleep = Some(now);
                        a.last_transition = now;
                        executed_sleeps.push(now);
                    }
                    for &i in &wakes {
                        let a = &mut fleet.agents[i];
                        prop_assert!(a.may_wake(), "woke an agent in state {}", a.state);
                        a.state = AgentState::Waking;
                        a.last_wake = Some(now);
                        a.last_transition = now;
                    }
                }
                Op::Event { agent, event } => {
                    let a = &mut fleet.agents[agent % n];
                    if let Ok(next) = a.state.next(event) {
                        a.state = next;
                        a.last_transition = now;
                        if event == AgentEvent::WakeRequested { a.last_wake = Some(now); }
                        if event == AgentEvent::SleepRequested {
                            // Put to sleep by someone else: it counts in the disruption budget
                            // (the gate sees its state) but not in our own sleep rate.
                            a.last_sleep = Some(now);
                        }
                    }
                }
                Op::Busy { agent, busy } => fleet.agents[agent % n].busy = busy,
                Op::DoNotDisrupt { agent, on } => fleet.agents[agent % n].do_not_disrupt = on,
                Op::Pin { agent, pin } => fleet.agents[agent % n].pin = pin,
                Op::Emergency(stop) => {
                    emergency = stop.map(|(mode, until)| EmergencyStop { mode, until: until.map(|s| now.plus(Duration::from_secs(s as u64))) });
                    gate.set_controls(Controls { emergency: emergency.clone(), pause: pause.clone() });
                }
                Op::Pause(p) => {
                    pause = p.map(|(direction, until)| Pause { direction, until: until.map(|s| now.plus(Duration::from_secs(s as u64))) });
                    gate.set_controls(Controls { emergency: emergency.clone(), pause: pause.clone() });
                }
                Op::Shadow(on) => {
                    shadow = on;
                    let mut c = sched.config().clone();
                    c.shadow = on;
                    sched.reconfigure(c.clone()).unwrap();
                    gate.configure((&c).into());
                }
                Op::Restart => {
                    sched.restart();
                    latest = Time(i64::MIN);
                    // A restart rebuilds the gate: the controls come back from their durable
                    // record and the rate log from the task journal, nothing else survives.
                    gate = Gate::new((&sched.config().clone()).into(), gate.controls().clone(), gate.sleep_log().clone());
                }
            }
        }
    }
}
