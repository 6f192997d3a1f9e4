//! Property test of the fake fleet's state machine: whatever sequence of sleeps, wakes, retries,
//! stale tokens, busy flags, lost responses and clock jumps arrives, every transition is legal
//! in the decision core's state machine, and no idempotency key ever acts twice.

use std::collections::HashMap;
use std::time::Duration;

use hivesched_actuator::ActuatorError;
use hivesched_actuator::{ActuationRequest, Actuator, Outcome, Refusal};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, Fault, FaultKind, Transition};
use hivesched_policy::{AgentEvent, AgentId, AgentState};
use proptest::prelude::*;

const AGENTS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    /// A sleep or wake; agent index `AGENTS` is an agent the fleet does not have.
    Act {
        sleep: bool,
        agent: usize,
        key: usize,
        token: u64,
    },
    Busy {
        agent: usize,
        busy: bool,
    },
    Advance {
        ms: u64,
    },
    LoseNextResponse,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<bool>(), 0..=AGENTS, 0..8usize, 0..5u64)
            .prop_map(|(sleep, agent, key, token)| Op::Act { sleep, agent, key, token }),
        1 => (0..AGENTS, any::<bool>()).prop_map(|(agent, busy)| Op::Busy { agent, busy }),
        2 => (0..8_000u64).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::LoseNextResponse),
    ]
}

fn agent_id(i: usize) -> AgentId {
    if i < AGENTS {
        AgentId(format!("agent-{i}"))
    } else {
        AgentId::from("ghost")
    }
}

/// What the test knows about a key the fleet has recorded.
struct Seen {
    agent: usize,
    sleep: bool,
    /// The first answer the client actually received (`None` while every answer was lost).
    answer: Option<Outcome>,
}

/// Checks the whole journal: legal steps, unbroken chains per agent, one act per key, and that
/// the listed states are where the chains end.
fn check_journal(fleet: &FakeFleet, journal: &[Transition]) -> Result<(), TestCaseError> {
    let mut current: HashMap<AgentId, AgentState> = HashMap::new();
    let mut acted_keys: HashMap<&str, usize> = HashMap::new();
    for t in journal {
        prop_assert_eq!(
            t.from.next(t.event).ok(),
            Some(t.to),
            "illegal step {:?}",
            t
        );
        let before = current.get(&t.agent).copied().unwrap_or(AgentState::Awake);
        prop_assert_eq!(before, t.from, "broken chain at {:?}", t);
        current.insert(t.agent.clone(), t.to);
        let requested = matches!(
            t.event,
            AgentEvent::SleepRequested | AgentEvent::WakeRequested
        );
        prop_assert_eq!(requested, t.idempotency_key.is_some(), "{:?}", t);
        if let Some(key) = &t.idempotency_key {
            *acted_keys.entry(key).or_default() += 1;
        }
    }
    prop_assert!(
        acted_keys.values().all(|n| *n == 1),
        "a key acted twice: {:?}",
        acted_keys
    );
    for status in fleet.agents() {
        let expected = current
            .get(&status.id)
            .copied()
            .unwrap_or(AgentState::Awake);
        prop_assert_eq!(status.state, expected);
    }
    let counters = fleet.counters();
    let count = |e: AgentEvent| journal.iter().filter(|t| t.event == e).count() as u64;
    prop_assert_eq!(counters.sleeps_started, count(AgentEvent::SleepRequested));
    prop_assert_eq!(counters.wakes_started, count(AgentEvent::WakeRequested));
    prop_assert_eq!(
        counters.sleeps_completed,
        count(AgentEvent::ConsolidationDone)
    );
    prop_assert_eq!(counters.wakes_completed, count(AgentEvent::WakeDone));
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents: AGENTS as u32,
        checkpoint: Duration::from_secs(1),
        consolidation: Duration::from_secs(3),
        wake_latency: Duration::from_secs(2),
        ..FakeFleetConfig::default()
    })
    .expect("valid config");
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut busy = [false; AGENTS];
    let mut highest = 0u64;
    let mut pending_losses = 0usize;

    for op in ops {
        match op {
            Op::Advance { ms } => tokio::time::advance(Duration::from_millis(ms)).await,
            Op::Busy { agent, busy: b } => {
                prop_assert!(fleet.set_busy(&agent_id(agent), b).is_some());
                busy[agent] = b;
            }
            Op::LoseNextResponse => {
                fleet.inject(Fault {
                    kind: FaultKind::LoseResponse,
                    agent: None,
                });
                pending_losses += 1;
            }
            Op::Act {
                sleep,
                agent,
                key,
                token,
            } => {
                let key = format!("key-{key}");
                let request = ActuationRequest {
                    idempotency_key: key.clone(),
                    reason: "proptest".into(),
                    fencing_token: token,
                };
                let id = agent_id(agent);
                let before = fleet.journal();
                let state_before = fleet.agent(&id).map(|s| s.state);
                let answer = if sleep {
                    fleet.sleep(&id, &request).await
                } else {
                    fleet.wake(&id, &request).await
                };
                let after = fleet.journal();
                let new: Vec<&Transition> = after[before.len()..].iter().collect();
                prop_assert!(
                    new.len() <= 1,
                    "one request, one transition at most: {:?}",
                    new
                );

                let Some(state_before) = state_before else {
                    prop_assert_eq!(answer.ok(), Some(Outcome::NotFound));
                    prop_assert!(new.is_empty());
                    continue;
                };
                let reused = seen
                    .get(&key)
                    .is_some_and(|first| first.agent != agent || first.sleep != sleep);
                if reused {
                    prop_assert!(
                        matches!(answer, Err(ActuatorError::Rejected { status: 422, .. })),
                        "reused key: {:?}",
                        answer
                    );
                    prop_assert!(new.is_empty());
                    continue;
                }
                let lost = pending_losses > 0;
                if lost {
                    pending_losses -= 1;
                    prop_assert!(
                        matches!(answer, Err(ActuatorError::Unavailable { status: 503, .. })),
                        "lost response: {:?}",
                        answer
                    );
                }
                let outcome = if lost { None } else { answer.ok() };
                prop_assert!(lost || outcome.is_some(), "no error without a fault");

                if let Some(first) = seen.get_mut(&key) {
                    // A retry: never acts, and answers what the key first answered.
                    prop_assert!(new.is_empty(), "a retried key acted: {:?}", new);
                    match (first.answer, outcome) {
                        (Some(a), Some(b)) => prop_assert_eq!(a, b),
                        (None, Some(b)) => first.answer = Some(b),
                        (_, None) => {}
                    }
                    continue;
                }
                seen.insert(
                    key.clone(),
                    Seen {
                        agent,
                        sleep,
                        answer: outcome,
                    },
                );
                if token < highest {
                    prop_assert!(new.is_empty(), "a stale token acted");
                    if let Some(o) = outcome {
                        prop_assert_eq!(o, Outcome::Busy(Refusal::StaleToken));
                    }
                    continue;
                }
                highest = token;
                if let Some(t) = new.first() {
                    prop_assert_eq!(t.idempotency_key.as_deref(), Some(key.as_str()));
                    prop_assert_eq!(&t.agent, &id);
                    let event = if sleep {
                        AgentEvent::SleepRequested
                    } else {
                        AgentEvent::WakeRequested
                    };
                    prop_assert_eq!(t.event, event);
                    prop_assert!(!(sleep && busy[agent]), "a busy agent was put to sleep");
                    if let Some(o) = outcome {
                        prop_assert_eq!(o, Outcome::Accepted);
                    }
                } else if let Some(o) = outcome {
                    let refused_busy = sleep && busy[agent] && state_before == AgentState::Awake;
                    prop_assert_eq!(o == Outcome::Busy(Refusal::Busy), refused_busy);
                }
            }
        }
        check_journal(&fleet, &fleet.journal())?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_illegal_transition_and_no_key_acts_twice(ops in proptest::collection::vec(op(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        runtime.block_on(run(ops))?;
    }
}
