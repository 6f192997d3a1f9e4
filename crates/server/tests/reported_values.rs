//! What agents and feeds report is refused when the store could not keep it faithfully: a
//! `context_tokens` above 2^63 − 1 (would be clamped) and a time outside the accepted window
//! (before 1970, or more than 5 minutes ahead of the server's clock). Each answer is 422
//! `invalid_value` naming the field.

mod common;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use common::{TestServer, backends, token};
use hivesched_engine::clock::ManualClock;
use hivesched_server::auth::Role;
use hivesched_server::{Server, StartMode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// 2^63 − 1, the largest count the store keeps exactly.
const MAX: u64 = 9_223_372_036_854_775_807;

/// The wall clock (chrono is built without its `clock` feature).
fn wall_now() -> DateTime<Utc> {
    hivesched_server::clock::to_api(hivesched_server::clock::now())
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn assert_invalid_value(what: &str, (status, err): (StatusCode, Value), field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {err}");
    assert_eq!(err["code"], "invalid_value", "{what}: {err}");
    assert_eq!(err["field"], field, "{what}: {err}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_tokens_above_i64_max_are_refused_not_clamped() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let op = token(Role::Operator);
        let suffix = std::process::id();
        let agent = format!("ctx-{suffix}");
        let beat = |tokens: u64| json!({"state": "awake", "busy": false, "context_tokens": tokens});

        let r = server
            .send(
                Method::POST,
                &format!("/api/v1/agents/{agent}/heartbeat"),
                Some(&op),
                Some(&beat(MAX + 1)),
            )
            .await;
        assert_invalid_value("single heartbeat", r, "context_tokens");

        let mut batch: Vec<Value> = (0..4)
            .map(|i| json!({"agent": format!("ctx-{suffix}-{i}"), "state": "awake", "busy": false}))
            .collect();
        batch[3]["context_tokens"] = json!(u64::MAX);
        let r = server
            .send(
                Method::POST,
                "/api/v1/heartbeats",
                Some(&op),
                Some(&json!({ "heartbeats": batch })),
            )
            .await;
        assert_invalid_value("batch", r, "heartbeats[3].context_tokens");

        let r = server
            .send(
                Method::POST,
                "/api/v1/agents",
                Some(&op),
                Some(&json!({"id": format!("ctx-reg-{suffix}"), "context_tokens": MAX + 1})),
            )
            .await;
        assert_invalid_value("register", r, "context_tokens");

        // The largest accepted value is stored as sent.
        let (status, body) = server
            .send(
                Method::POST,
                &format!("/api/v1/agents/{agent}/heartbeat"),
                Some(&op),
                Some(&beat(MAX)),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (_, detail) = server
            .send(
                Method::GET,
                &format!("/api/v1/agents/{agent}"),
                Some(&op),
                None,
            )
            .await;
        assert_eq!(detail["agent"]["context_tokens"].as_u64(), Some(MAX));
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_times_outside_the_window_are_refused() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let op = token(Role::Operator);
        let now = wall_now();
        let ok = rfc3339(now - chrono::Duration::minutes(1));
        for (bad, why) in [
            ("0001-01-01T00:00:00Z".to_owned(), "year 1"),
            ("1969-12-31T23:59:59Z".to_owned(), "before the epoch"),
            ("9999-12-31T23:59:59Z".to_owned(), "year 9999"),
            (
                rfc3339(now + chrono::Duration::minutes(10)),
                "10 minutes ahead",
            ),
        ] {
            let samples: Vec<Value> = [&ok, &ok, &bad, &ok]
                .iter()
                .map(|at| json!({"at": at, "value": 1.0}))
                .collect();
            let r = server
                .send(
                    Method::POST,
                    "/api/v1/demand",
                    Some(&op),
                    Some(&json!({ "samples": samples })),
                )
                .await;
            assert_invalid_value(&format!("demand {why}"), r, "samples[2].at");

            let r = server
                .send(
                    Method::POST,
                    "/api/v1/agents/agent-0/heartbeat",
                    Some(&op),
                    Some(&json!({"state": "awake", "busy": false, "at": bad})),
                )
                .await;
            assert_invalid_value(&format!("heartbeat {why}"), r, "at");

            let r = server
                .send(
                    Method::POST,
                    "/api/v1/heartbeats",
                    Some(&op),
                    Some(&json!({"heartbeats": [
                        {"agent": "agent-0", "state": "awake", "busy": false, "at": ok},
                        {"agent": "agent-1", "state": "awake", "busy": false, "at": bad},
                    ]})),
                )
                .await;
            assert_invalid_value(&format!("batch {why}"), r, "heartbeats[1].at");
        }
        // The edges of the window are inside it.
        let (status, body) = server
            .send(
                Method::POST,
                "/api/v1/demand",
                Some(&op),
                Some(&json!({"samples": [
                    {"at": "1970-01-01T00:00:00Z", "value": 0.0},
                    {"at": rfc3339(now + chrono::Duration::minutes(4)), "value": 1.0},
                ]})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        server.stop().await;
    }
}

/// The window follows the engine's clock (the demo's runs on trace time, 2014), not the wall
/// clock: on a server whose clock says 2014, a sample dated today is 12 years ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_is_measured_on_the_engines_clock() {
    let url = &backends().await[0];
    let cfg = common::config(url, "");
    let trace_now: DateTime<Utc> = "2014-07-01T12:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(hivesched_server::clock::from_api(
        trace_now,
    )));
    let actuator = cfg.actuator.build().unwrap();
    let server = Server::start_with(&cfg, StartMode::Serve, clock, actuator)
        .await
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let post = |at: String| {
        client
            .post(format!("{base}/api/v1/demand"))
            .bearer_auth(token(Role::Operator))
            .json(&json!({"samples": [{"at": at, "value": 1.0}]}))
            .send()
    };
    let trace = post(rfc3339(trace_now - chrono::Duration::minutes(30)))
        .await
        .unwrap();
    assert_eq!(trace.status(), StatusCode::ACCEPTED);
    let today = post(rfc3339(wall_now())).await.unwrap();
    assert_eq!(today.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = today.json().await.unwrap();
    assert_eq!(err["field"], "samples[0].at", "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("2014-07-01T12:00:00Z")),
        "the message says what the server's clock reads: {err}"
    );
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
