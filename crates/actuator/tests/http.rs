//! `HttpActuator` against the fake fleet over real HTTP on 127.0.0.1:0: the contract's answers,
//! retries that reuse the idempotency key, timeouts, and the per-agent circuit breaker.

use std::sync::Arc;
use std::time::Duration;

use hivesched_actuator::ActuatorError;
use hivesched_actuator::{
    ActuationRequest, Actuator, AgentStatus, BreakerConfig, CircuitState, DynActuator,
    HttpActuator, HttpActuatorConfig, Outcome, Refusal, RetryPolicy,
};
use hivesched_fakefleet::{self, Counters, FakeFleet, FakeFleetConfig};
use hivesched_policy::{AgentEvent, AgentId, AgentState};
use tokio::sync::oneshot;

/// A fake fleet served on an ephemeral port; dropping it shuts the server down.
struct Served {
    fleet: FakeFleet,
    base: String,
    _shutdown: oneshot::Sender<()>,
}

async fn serve(config: FakeFleetConfig) -> Served {
    let fleet = FakeFleet::new(config).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = oneshot::channel();
    let served = fleet.clone();
    tokio::spawn(async move {
        let _ = hivesched_fakefleet::serve(listener, served, async {
            let _ = rx.await;
        })
        .await;
    });
    Served {
        fleet,
        base,
        _shutdown: tx,
    }
}

fn quick_fleet() -> FakeFleetConfig {
    FakeFleetConfig {
        agents: 8,
        checkpoint: Duration::from_millis(60),
        consolidation: Duration::from_millis(60),
        wake_latency: Duration::from_millis(60),
        ..FakeFleetConfig::default()
    }
}

fn actuator(base: &str) -> HttpActuator {
    HttpActuator::new(HttpActuatorConfig {
        request_timeout: Duration::from_millis(500),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        },
        breaker: BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_millis(300),
        },
        ..HttpActuatorConfig::new(base)
    })
    .expect("valid actuator config")
}

fn request(key: &str, token: u64) -> ActuationRequest {
    ActuationRequest {
        idempotency_key: key.into(),
        reason: "test".into(),
        fencing_token: token,
    }
}

fn id(s: &str) -> AgentId {
    AgentId::from(s)
}

async fn state_of(actuator: &HttpActuator, agent: &str) -> AgentState {
    let agents = actuator.list_agents().await.expect("list agents");
    agents
        .into_iter()
        .find(|a| a.id.0 == agent)
        .map(|a| a.state)
        .expect("agent listed")
}

/// Polls until `agent` reaches `wanted`, at most two seconds.
async fn wait_for(actuator: &HttpActuator, agent: &str, wanted: AgentState) {
    for _ in 0..200 {
        if state_of(actuator, agent).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{agent} never reached {wanted}");
}

async fn control(base: &str, method: reqwest::Method, path: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("control request")
}

async fn counters(base: &str) -> Counters {
    control(base, reqwest::Method::GET, "/fake/counters", "")
        .await
        .json()
        .await
        .expect("counters JSON")
}

#[tokio::test]
async fn sleep_and_wake_walk_the_whole_lifecycle() {
    // Long enough that the first read lands inside `preparing_sleep` even on a loaded machine.
    let s = serve(FakeFleetConfig {
        checkpoint: Duration::from_millis(400),
        wake_latency: Duration::from_millis(400),
        ..quick_fleet()
    })
    .await;
    let a = actuator(&s.base);

    let listed: Vec<AgentStatus> = a.list_agents().await.expect("list");
    assert_eq!(listed.len(), 8);
    assert!(
        listed
            .iter()
            .all(|x| x.state == AgentState::Awake && !x.busy)
    );

    let outcome = a.sleep(&id("agent-0"), &request("s-1", 1)).await;
    assert_eq!(outcome.expect("sleep"), Outcome::Accepted);
    assert_eq!(state_of(&a, "agent-0").await, AgentState::PreparingSleep);
    wait_for(&a, "agent-0", AgentState::Asleep).await;

    let outcome = a.wake(&id("agent-0"), &request("w-1", 1)).await;
    assert_eq!(outcome.expect("wake"), Outcome::Accepted);
    assert_eq!(state_of(&a, "agent-0").await, AgentState::Waking);
    wait_for(&a, "agent-0", AgentState::Awake).await;

    let events: Vec<AgentEvent> = s.fleet.journal().into_iter().map(|t| t.event).collect();
    assert_eq!(
        events,
        [
            AgentEvent::SleepRequested,
            AgentEvent::CheckpointDone,
            AgentEvent::ConsolidationDone,
            AgentEvent::WakeRequested,
            AgentEvent::WakeDone,
        ]
    );
    let c = counters(&s.base).await;
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

#[tokio::test]
async fn a_lost_response_is_retried_with_the_same_key_and_acts_once() {
    let s = serve(quick_fleet()).await;
    let a = actuator(&s.base);
    let r = control(
        &s.base,
        reqwest::Method::POST,
        "/fake/faults",
        r#"{"kind":"lose_response","agent":"agent-1"}"#,
    )
    .await;
    assert_eq!(r.status(), 204);

    let outcome = a.sleep(&id("agent-1"), &request("lost-1", 1)).await;
    assert_eq!(outcome.expect("retried sleep"), Outcome::Accepted);

    let c = counters(&s.base).await;
    assert_eq!(c.sleeps_started, 1, "the retry must not act again");
    assert_eq!(c.replays, 1, "the retry is answered from the key");
    let acted: Vec<_> = s
        .fleet
        .journal()
        .into_iter()
        .filter(|t| t.idempotency_key.as_deref() == Some("lost-1"))
        .collect();
    assert_eq!(acted.len(), 1);
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_the_retry_replays_the_first_outcome() {
    let s = serve(quick_fleet()).await;
    let a = HttpActuator::new(HttpActuatorConfig {
        request_timeout: Duration::from_millis(100),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        ..HttpActuatorConfig::new(&s.base)
    })
    .expect("config");
    let r = control(
        &s.base,
        reqwest::Method::POST,
        "/fake/faults",
        r#"{"kind":"stall","stall_ms":400,"agent":"agent-2"}"#,
    )
    .await;
    assert_eq!(r.status(), 204);

    let outcome = a.wake(&id("agent-2"), &request("stall-1", 1)).await;
    // agent-2 is awake, so the wake is accepted without a transition either way.
    assert_eq!(outcome.expect("retried wake"), Outcome::Accepted);
    let outcome = a.sleep(&id("agent-2"), &request("stall-2", 1)).await;
    assert_eq!(outcome.expect("sleep"), Outcome::Accepted);
    let c = counters(&s.base).await;
    assert_eq!((c.replays, c.sleeps_started, c.wakes_started), (1, 1, 0));
}

#[tokio::test]
async fn without_retries_a_stall_is_a_timeout_error() {
    let s = serve(quick_fleet()).await;
    let a = HttpActuator::new(HttpActuatorConfig {
        request_timeout: Duration::from_millis(100),
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..HttpActuatorConfig::new(&s.base)
    })
    .expect("config");
    s.fleet.inject(hivesched_fakefleet::Fault {
        kind: hivesched_fakefleet::FaultKind::Stall(Duration::from_millis(400)),
        agent: None,
    });
    let started = tokio::time::Instant::now();
    let result = a.sleep(&id("agent-3"), &request("t-1", 1)).await;
    assert!(matches!(result, Err(ActuatorError::Timeout(d)) if d == Duration::from_millis(100)));
    assert!(started.elapsed() < Duration::from_millis(390));
    // The fleet did act: a later retry with the same key must replay, not act again.
    let retried = a.sleep(&id("agent-3"), &request("t-1", 1)).await;
    assert_eq!(retried.expect("replay"), Outcome::Accepted);
    assert_eq!(s.fleet.counters().sleeps_started, 1);
}

#[tokio::test]
async fn a_stale_fencing_token_is_refused_and_not_retried() {
    let s = serve(quick_fleet()).await;
    let a = actuator(&s.base);
    let fresh = a.sleep(&id("agent-1"), &request("new-leader", 7)).await;
    assert_eq!(fresh.expect("sleep"), Outcome::Accepted);
    let stale = a.sleep(&id("agent-2"), &request("old-leader", 6)).await;
    assert_eq!(stale.expect("answer"), Outcome::Busy(Refusal::StaleToken));
    let c = counters(&s.base).await;
    assert_eq!((c.refused_stale, c.replays, c.sleeps_started), (1, 0, 1));
    assert_eq!(state_of(&a, "agent-2").await, AgentState::Awake);
    // A retry of the accepted request is a replay, not a second action.
    let again = a.sleep(&id("agent-1"), &request("new-leader", 7)).await;
    assert_eq!(again.expect("replay"), Outcome::Accepted);
    // GET /actions lists only what was accepted, once, with its token.
    let listed: serde_json::Value = control(&s.base, reqwest::Method::GET, "/actions", "")
        .await
        .json()
        .await
        .expect("json");
    let listed = listed.as_array().expect("an array");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let one = &listed[0];
    assert_eq!(one["agent"], "agent-1");
    assert_eq!(one["kind"], "sleep");
    assert_eq!(one["idempotency_key"], "new-leader");
    assert_eq!(one["fencing_token"], 7);
    let at = one["at"].as_str().expect("at is text");
    assert!(
        at.ends_with('Z') && at.len() == 24,
        "RFC 3339 with milliseconds: {at}"
    );
}

#[tokio::test]
async fn a_busy_agent_refuses_sleep() {
    let s = serve(quick_fleet()).await;
    let a = actuator(&s.base);
    let r = control(
        &s.base,
        reqwest::Method::PUT,
        "/fake/agents/agent-5/busy",
        r#"{"busy":true}"#,
    )
    .await;
    assert_eq!(r.status(), 200);
    let outcome = a.sleep(&id("agent-5"), &request("b-1", 1)).await;
    assert_eq!(outcome.expect("answer"), Outcome::Busy(Refusal::Busy));
    let c = counters(&s.base).await;
    assert_eq!((c.refused_busy, c.replays, c.sleeps_started), (1, 0, 0));
    let listed = a.list_agents().await.expect("list");
    assert!(listed.iter().any(|x| x.id.0 == "agent-5" && x.busy));
}

#[tokio::test]
async fn an_unknown_agent_is_not_found_without_retry() {
    let s = serve(quick_fleet()).await;
    let a = actuator(&s.base);
    for ghost in ["ghost", "a/b", "agent-0/../agent-1"] {
        let outcome = a.wake(&id(ghost), &request(ghost, 1)).await;
        assert_eq!(outcome.expect("answer"), Outcome::NotFound, "{ghost}");
    }
    assert_eq!(counters(&s.base).await.not_found, 3);
    assert_eq!(s.fleet.counters().wakes_started, 0);
}

#[tokio::test]
async fn the_breaker_opens_after_consecutive_failures_and_half_opens_after_cooldown() {
    let s = serve(quick_fleet()).await;
    let a = HttpActuator::new(HttpActuatorConfig {
        retry: RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(5),
        },
        breaker: BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_millis(800),
        },
        ..HttpActuatorConfig::new(&s.base)
    })
    .expect("config");
    let broken = id("agent-4");
    let r = control(
        &s.base,
        reqwest::Method::POST,
        "/fake/faults",
        r#"{"kind":"fail","agent":"agent-4","count":4}"#,
    )
    .await;
    assert_eq!(r.status(), 204);

    // Three failed attempts open the breaker, which stops the retries early.
    let first = a.sleep(&broken, &request("k-1", 1)).await;
    assert!(
        matches!(first, Err(ActuatorError::Unavailable { status: 503, .. })),
        "{first:?}"
    );
    assert_eq!(s.fleet.counters().injected_failures, 3);
    assert_eq!(a.circuit_state(&broken), CircuitState::Open);

    // While open, calls fail fast without reaching the fleet; other agents are unaffected.
    let fast = a.sleep(&broken, &request("k-1", 1)).await;
    assert!(matches!(fast, Err(ActuatorError::CircuitOpen { ref agent, .. }) if *agent == broken));
    assert_eq!(s.fleet.counters().injected_failures, 3);
    let other = a.sleep(&id("agent-5"), &request("k-other", 1)).await;
    assert_eq!(other.expect("other agent"), Outcome::Accepted);
    assert_eq!(a.circuit_state(&id("agent-5")), CircuitState::Closed);

    // Half-open: one failure reopens at once.
    tokio::time::sleep(Duration::from_millis(850)).await;
    assert_eq!(a.circuit_state(&broken), CircuitState::HalfOpen);
    let probe = a.sleep(&broken, &request("k-1", 1)).await;
    assert!(
        matches!(probe, Err(ActuatorError::Unavailable { .. })),
        "{probe:?}"
    );
    assert_eq!(s.fleet.counters().injected_failures, 4);
    assert_eq!(a.circuit_state(&broken), CircuitState::Open);

    // Half-open again: a success closes it, and the same key still acts only once.
    tokio::time::sleep(Duration::from_millis(850)).await;
    let healed = a.sleep(&broken, &request("k-1", 1)).await;
    assert_eq!(healed.expect("healed"), Outcome::Accepted);
    assert_eq!(a.circuit_state(&broken), CircuitState::Closed);
    assert_eq!(s.fleet.counters().sleeps_started, 2);
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        l.local_addr().expect("addr").port()
    };
    let a = actuator(&format!("http://127.0.0.1:{port}"));
    let result = a.sleep(&id("agent-0"), &request("k", 1)).await;
    assert!(
        matches!(result, Err(ActuatorError::Transport(_))),
        "{result:?}"
    );
    assert!(result.is_err_and(|e| e.is_transient()));
    let listed = a.list_agents().await;
    assert!(
        matches!(listed, Err(ActuatorError::Transport(_))),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_reused_key_is_a_rejection_not_a_retry() {
    let s = serve(quick_fleet()).await;
    let a = actuator(&s.base);
    let first = a.sleep(&id("agent-6"), &request("dup", 1)).await;
    assert_eq!(first.expect("sleep"), Outcome::Accepted);
    let reused = a.sleep(&id("agent-7"), &request("dup", 1)).await;
    assert!(
        matches!(reused, Err(ActuatorError::Rejected { status: 422, .. })),
        "{reused:?}"
    );
    assert_eq!(s.fleet.counters().sleeps_started, 1);
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_and_a_dyn_actuator_work() {
    let s = serve(quick_fleet()).await;
    // The fake serves at the root; a trailing slash must not produce `//agents`.
    let a: Arc<dyn DynActuator> = Arc::new(actuator(&format!("{}/", s.base)));
    assert_eq!(a.list_agents().await.expect("list").len(), 8);
    let outcome = a.sleep(&id("agent-0"), &request("dyn", 1)).await;
    assert_eq!(outcome.expect("sleep"), Outcome::Accepted);

    let prefixed = actuator(&format!("{}/fleet/v1", s.base));
    let missing = prefixed.list_agents().await;
    assert!(
        matches!(missing, Err(ActuatorError::Rejected { status: 404, .. })),
        "{missing:?}"
    );
}

#[tokio::test]
async fn bad_configuration_names_the_key() {
    for (base, key) in [
        ("not a url", "actuator.base_url"),
        ("ftp://fleet", "actuator.base_url"),
        ("mailto:ops@example.com", "actuator.base_url"),
    ] {
        let err = HttpActuator::new(HttpActuatorConfig::new(base)).expect_err(base);
        assert!(
            matches!(err, ActuatorError::InvalidConfig { key: k, .. } if k == key),
            "{err}"
        );
    }
    let zero_attempts = HttpActuatorConfig {
        retry: RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        },
        ..HttpActuatorConfig::new("http://127.0.0.1:1")
    };
    let err = HttpActuator::new(zero_attempts).expect_err("zero attempts");
    assert!(matches!(
        err,
        ActuatorError::InvalidConfig {
            key: "actuator.retry.max_attempts",
            ..
        }
    ));
}

#[tokio::test]
async fn the_fake_fleet_answers_bad_input_with_json_errors_naming_the_field() {
    let s = serve(quick_fleet()).await;
    let post = |path: &'static str, body: String| {
        let base = s.base.clone();
        async move { control(&base, reqwest::Method::POST, path, &body).await }
    };
    let cases = [
        ("/agents/agent-0/sleep", "{".to_owned(), 400, None),
        ("/agents/agent-0/sleep", "[1]".to_owned(), 422, None),
        (
            "/agents/agent-0/sleep",
            r#"{"idempotency_key":"k","reason":"r"}"#.to_owned(),
            422,
            Some("fencing_token"),
        ),
        (
            "/agents/agent-0/wake",
            r#"{"idempotency_key":"k","reason":"r","fencing_token":"1"}"#.to_owned(),
            422,
            Some("fencing_token"),
        ),
        (
            "/agents/agent-0/wake",
            r#"{"idempotency_key":"k","reason":"r","fencing_token":1,"force":true}"#.to_owned(),
            422,
            Some("force"),
        ),
        (
            "/fake/faults",
            r#"{"kind":"explode"}"#.to_owned(),
            422,
            Some("kind"),
        ),
        ("/agents/agent-0/sleep", "x".repeat(64 * 1024), 413, None),
        ("/nowhere", "{}".to_owned(), 404, None),
    ];
    for (path, body, status, field) in cases {
        let r = post(path, body).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        let error: serde_json::Value = r.json().await.expect("JSON error body");
        assert!(error["code"].is_string(), "{error}");
        assert!(error["message"].is_string(), "{error}");
        assert_eq!(error["field"].as_str(), field, "{error}");
    }
    let r = control(
        &s.base,
        reqwest::Method::PUT,
        "/fake/agents/agent-0/busy",
        r#"{"busy":"yes"}"#,
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = control(
        &s.base,
        reqwest::Method::PUT,
        "/fake/agents/nope/busy",
        r#"{"busy":true}"#,
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(s.fleet.counters(), Counters::default());
}
