//! The server keeps the contract its OpenAPI document states: what schemathesis
//! (`scripts/api_fuzz.sh`) found the server doing otherwise, kept fixed.
//!
//! - JSON Schema counts `5.0` as the integer 5: integer fields take it (they answered 422).
//! - A body that repeats a key is refused naming it, not read as its last occurrence.

mod common;

use common::{TestServer, backends, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

fn assert_refused(what: &str, (status, err): (StatusCode, Value), code: &str, field: &str) {
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {err}");
    assert_eq!(err["code"], code, "{what}: {err}");
    assert_eq!(err["field"], field, "{what}: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integers_written_with_a_zero_fraction_are_integers() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let op = token(Role::Operator);
        let agent = format!("whole-{}", std::process::id());
        let (status, body) = server
            .send(
                Method::POST,
                &format!("/api/v1/agents/{agent}/heartbeat"),
                Some(&op),
                Some(&json!({"state": "awake", "busy": false, "queue_depth": 3.0,
                             "context_tokens": 118.0})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (status, body) = server
            .send(
                Method::GET,
                &format!("/api/v1/agents/{agent}"),
                Some(&op),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["agent"]["queue_depth"], 3, "{body}");
        assert_eq!(body["agent"]["context_tokens"], 118, "{body}");

        // The scheduler's settings are typed by the decision core, and take them too.
        let admin = token(Role::Admin);
        let (_, current) = server
            .send(Method::GET, "/api/v1/config", Some(&admin), None)
            .await;
        let mut settings = current["settings"].clone();
        settings["tick_interval"] = json!(3600.0);
        settings["scheduler"]["rails"]["min_awake"] = json!(4.0);
        let update = json!({"base_version": current["version"].as_i64().unwrap() as f64,
                            "settings": settings, "reason": "whole numbers"});
        let (status, body) = server
            .send(Method::PUT, "/api/v1/config", Some(&admin), Some(&update))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["settings"]["scheduler"]["rails"]["min_awake"], 4);

        // A fraction is still not an integer.
        let r = server
            .send(
                Method::POST,
                &format!("/api/v1/agents/{agent}/heartbeat"),
                Some(&op),
                Some(&json!({"state": "awake", "busy": false, "queue_depth": 2.5})),
            )
            .await;
        assert_refused("2.5 queued items", r, "invalid_field", "queue_depth");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_is_refused_naming_it() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let op = token(Role::Operator);
        let r = server
            .raw(
                Method::PUT,
                "/api/v1/controls/pause",
                &op,
                "application/json",
                br#"{"direction": "sleeps", "reason": "ok", "reason": " "}"#.to_vec(),
            )
            .await;
        assert_refused("repeated key", r, "invalid_field", "reason");
        server.stop().await;
    }
}
