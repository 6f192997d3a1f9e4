//! What agents report is refused when the store could not keep it faithfully: a
//! `context_tokens` above 2^63 − 1 (would be clamped). The answer is 422 `invalid_value` naming
//! the field.

mod common;

use common::{TestServer, backends, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// 2^63 − 1, the largest count the store keeps exactly.
const MAX: u64 = 9_223_372_036_854_775_807;

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
    for url in backends() {
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
