//! The server keeps the contract its OpenAPI document states: what schemathesis
//! (`scripts/api_fuzz.sh`) found the server doing otherwise, kept fixed.
//!
//! - JSON Schema counts `5.0` as the integer 5: integer fields take it (they answered 422).
//! - `PUT /config` with `base_version` 2^63 − 1 dropped the connection (the next version number
//!   overflowed); it is 422 naming the field, like every value outside its declared range.
//! - A body that repeats a key is refused naming it, not read as its last occurrence.
//! - Rules the document declares are checked everywhere it declares them: a blank `reason` on
//!   registration, a `stage_size` beyond the largest bulk.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_version_outside_the_version_numbers_is_refused() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let admin = token(Role::Admin);
        let (_, current) = server
            .send(Method::GET, "/api/v1/config", Some(&admin), None)
            .await;
        for base in [i64::MAX, 0, -1] {
            let update = json!({"base_version": base, "settings": current["settings"],
                                "reason": "edge"});
            let r = server
                .send(Method::PUT, "/api/v1/config", Some(&admin), Some(&update))
                .await;
            assert_refused(&format!("base {base}"), r, "invalid_value", "base_version");
        }
        // The one after the newest is a conflict, as before.
        let update = json!({"base_version": current["version"].as_i64().unwrap() + 1,
                            "settings": current["settings"], "reason": "ahead"});
        let (status, body) = server
            .send(Method::PUT, "/api/v1/config", Some(&admin), Some(&update))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_rules_are_checked_where_declared() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let op = token(Role::Operator);
        let r = server
            .send(
                Method::POST,
                "/api/v1/agents",
                Some(&op),
                Some(&json!({"id": format!("blank-{}", std::process::id()), "reason": "\t "})),
            )
            .await;
        assert_refused("blank registration reason", r, "invalid_value", "reason");

        let bulk = |stage_size: u64| {
            json!({"agents": ["agent-0"], "action": "wake", "strategy": "staged",
                   "stage_size": stage_size, "reason": "stages"})
        };
        let r = server
            .send(Method::POST, "/api/v1/bulk", Some(&op), Some(&bulk(10_001)))
            .await;
        assert_refused("stage_size", r, "invalid_value", "stage_size");
        let (status, body) = server
            .send(Method::POST, "/api/v1/bulk", Some(&op), Some(&bulk(10_000)))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");

        let viewer = token(Role::Viewer);
        let r = server
            .send(
                Method::GET,
                "/api/v1/decisions?cursor=%2B1.2",
                Some(&viewer),
                None,
            )
            .await;
        assert_refused("cursor with a plus sign", r, "invalid_value", "cursor");
        server.stop().await;
    }
}

/// Every 401 names the scheme, as the document declares for every secured route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_answers_carry_www_authenticate() {
    let url = backends().await.remove(0);
    let server = TestServer::start(&url).await;
    let doc: Value = serde_json::from_str(&hivesched_server::openapi_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("security").is_none() {
                continue;
            }
            let path = path.replace("{id}", "agent-0");
            let method: Method = method.to_uppercase().parse().unwrap();
            let resp = server
                .client
                .request(method.clone(), format!("{}{path}", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(
                resp.headers()["www-authenticate"],
                "Bearer",
                "{method} {path}"
            );
        }
    }
    server.stop().await;
}
