//! The in-process fake fleet on tokio's paused clock: exact state timing, the answers for every
//! state, faults, seeded failures and configuration checks.

use std::time::Duration;

use hivesched_actuator::ActuatorError;
use hivesched_actuator::{ActuationRequest, Actuator, Outcome, Refusal};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, Fault, FaultKind};
use hivesched_policy::{AgentId, AgentState};

fn fleet(config: FakeFleetConfig) -> FakeFleet {
    FakeFleet::new(config).expect("valid config")
}

fn timed() -> FakeFleetConfig {
    FakeFleetConfig {
        agents: 3,
        checkpoint: Duration::from_secs(2),
        consolidation: Duration::from_secs(10),
        wake_latency: Duration::from_secs(5),
        ..FakeFleetConfig::default()
    }
}

fn request(key: &str) -> ActuationRequest {
    ActuationRequest {
        idempotency_key: key.into(),
        reason: "test".into(),
        fencing_token: 1,
    }
}

fn state(fleet: &FakeFleet, agent: &AgentId) -> AgentState {
    fleet.agent(agent).expect("known agent").state
}

#[tokio::test(start_paused = true)]
async fn states_follow_the_configured_durations_exactly() {
    let f = fleet(timed());
    let a = AgentId::from("agent-0");
    assert!(f.agent(&a).expect("agent").context_tokens <= 200_000);
    assert_eq!(
        f.sleep(&a, &request("s")).await.expect("sleep"),
        Outcome::Accepted
    );
    let steps = [
        (Duration::from_millis(1999), AgentState::PreparingSleep),
        (Duration::from_millis(1), AgentState::Consolidating),
        (Duration::from_millis(9999), AgentState::Consolidating),
        (Duration::from_millis(1), AgentState::Asleep),
    ];
    for (advance, expected) in steps {
        tokio::time::advance(advance).await;
        assert_eq!(state(&f, &a), expected);
    }
    assert_eq!(f.agent(&a).expect("agent").context_tokens, 0);
    assert_eq!(
        f.wake(&a, &request("w")).await.expect("wake"),
        Outcome::Accepted
    );
    tokio::time::advance(Duration::from_millis(4999)).await;
    assert_eq!(state(&f, &a), AgentState::Waking);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(state(&f, &a), AgentState::Awake);
    let c = f.counters();
    assert_eq!(
        (
            c.sleeps_started,
            c.sleeps_completed,
            c.wakes_started,
            c.wakes_completed
        ),
        (1, 1, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_gap_completes_every_step_in_order() {
    let f = fleet(timed());
    let a = AgentId::from("agent-1");
    f.sleep(&a, &request("s")).await.expect("sleep");
    tokio::time::advance(Duration::from_secs(3600)).await;
    let listed = f.list_agents().await.expect("list");
    assert_eq!(listed[1].state, AgentState::Asleep);
    let to: Vec<AgentState> = f.journal().into_iter().map(|t| t.to).collect();
    assert_eq!(
        to,
        [
            AgentState::PreparingSleep,
            AgentState::Consolidating,
            AgentState::Asleep
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn requests_toward_where_an_agent_is_heading_are_accepted_without_acting() {
    let f = fleet(timed());
    let a = AgentId::from("agent-0");
    assert_eq!(
        f.wake(&a, &request("w-awake")).await.expect("wake"),
        Outcome::Accepted
    );
    f.sleep(&a, &request("s-1")).await.expect("sleep");
    assert_eq!(
        f.sleep(&a, &request("s-2")).await.expect("sleep"),
        Outcome::Accepted
    );
    let mid = f.wake(&a, &request("w-mid")).await.expect("wake");
    assert_eq!(mid, Outcome::Busy(Refusal::InvalidState));
    tokio::time::advance(Duration::from_secs(12)).await;
    assert_eq!(
        f.sleep(&a, &request("s-3")).await.expect("sleep"),
        Outcome::Accepted
    );
    f.wake(&a, &request("w-1")).await.expect("wake");
    let waking = f.sleep(&a, &request("s-waking")).await.expect("sleep");
    assert_eq!(waking, Outcome::Busy(Refusal::InvalidState));
    let c = f.counters();
    assert_eq!(
        (c.sleeps_started, c.wakes_started, c.refused_invalid_state),
        (1, 1, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn busy_is_only_a_veto_on_sleep() {
    let f = fleet(timed());
    let a = AgentId::from("agent-2");
    assert!(f.set_busy(&a, true).expect("known").busy);
    assert!(f.set_busy(&AgentId::from("ghost"), true).is_none());
    let refused = f.sleep(&a, &request("s-busy")).await.expect("answer");
    assert_eq!(refused, Outcome::Busy(Refusal::Busy));
    // The same key keeps its first answer even once the agent is idle.
    f.set_busy(&a, false);
    let replay = f.sleep(&a, &request("s-busy")).await.expect("answer");
    assert_eq!(replay, Outcome::Busy(Refusal::Busy));
    assert_eq!(
        f.sleep(&a, &request("s-idle")).await.expect("sleep"),
        Outcome::Accepted
    );
    assert_eq!(f.counters().replays, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stall_fault_holds_the_answer_back_after_acting() {
    let f = fleet(timed());
    let a = AgentId::from("agent-0");
    f.inject(Fault {
        kind: FaultKind::Stall(Duration::from_secs(30)),
        agent: Some(a.clone()),
    });
    let started = tokio::time::Instant::now();
    f.sleep(&a, &request("s")).await.expect("sleep");
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    // The transition started when the request arrived, not when the answer left.
    assert_eq!(state(&f, &a), AgentState::Asleep);
}

#[tokio::test(start_paused = true)]
async fn faults_for_one_agent_leave_others_alone() {
    let f = fleet(timed());
    f.inject(Fault {
        kind: FaultKind::Fail,
        agent: Some(AgentId::from("agent-1")),
    });
    let other = f.sleep(&AgentId::from("agent-0"), &request("a")).await;
    assert_eq!(other.expect("sleep"), Outcome::Accepted);
    let failed = f.sleep(&AgentId::from("agent-1"), &request("b")).await;
    assert!(matches!(
        failed,
        Err(ActuatorError::Unavailable { status: 503, .. })
    ));
    let retried = f.sleep(&AgentId::from("agent-1"), &request("b")).await;
    assert_eq!(retried.expect("retry acts"), Outcome::Accepted);
    assert_eq!(f.counters().sleeps_started, 2);
}

#[tokio::test(start_paused = true)]
async fn failures_are_seeded_and_reproducible() {
    let config = FakeFleetConfig {
        agents: 50,
        failure_rate: 0.3,
        seed: 42,
        ..timed()
    };
    let run = |f: FakeFleet| async move {
        let mut failed = Vec::new();
        for i in 0..50 {
            let r = f
                .sleep(&AgentId(format!("agent-{i}")), &request(&format!("k{i}")))
                .await;
            failed.push(r.is_err());
        }
        (failed, f.agents())
    };
    let (first, agents_a) = run(fleet(config.clone())).await;
    let (second, agents_b) = run(fleet(config)).await;
    assert_eq!(first, second);
    let contexts = |v: &[hivesched_actuator::AgentStatus]| {
        v.iter().map(|a| a.context_tokens).collect::<Vec<_>>()
    };
    assert_eq!(contexts(&agents_a), contexts(&agents_b));
    let failures = first.iter().filter(|f| **f).count();
    assert!((5..=25).contains(&failures), "{failures} of 50 at rate 0.3");
}

#[test]
fn bad_configuration_names_the_key() {
    let no_agents = FakeFleet::new(FakeFleetConfig {
        agents: 0,
        ..FakeFleetConfig::default()
    });
    assert!(matches!(
        no_agents,
        Err(ActuatorError::InvalidConfig {
            key: "fake_fleet.agents",
            ..
        })
    ));
    for rate in [-0.1, 1.5, f64::NAN] {
        let bad = FakeFleet::new(FakeFleetConfig {
            failure_rate: rate,
            ..FakeFleetConfig::default()
        });
        assert!(
            matches!(
                bad,
                Err(ActuatorError::InvalidConfig {
                    key: "fake_fleet.failure_rate",
                    ..
                })
            ),
            "{rate}"
        );
    }
}
