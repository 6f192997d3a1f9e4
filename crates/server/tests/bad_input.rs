//! Bad input on every write route: unknown fields, wrong types and out-of-range values are
//! answered 422 naming the field, broken JSON (or JSON followed by anything but whitespace)
//! 400, a non-JSON body 415, an oversized body 413.

mod common;

use common::{TestServer, backends, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct WriteRoute {
    method: Method,
    path: &'static str,
    /// A valid body.
    valid: Value,
    /// A field set to a value of the wrong type, and that field's name.
    wrong_type: (Value, &'static str),
    /// A field with an out-of-range value, and that field's name.
    out_of_range: (Value, &'static str),
}

fn write_routes() -> Vec<WriteRoute> {
    let future = "2999-01-01T00:00:00Z";
    // Unique per run: the PostgreSQL database is shared between runs.
    let new_agent = format!(
        "new-agent-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    vec![
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/agents",
            valid: json!({"id": new_agent}),
            wrong_type: (json!({"id": "x", "busy": "yes"}), "busy"),
            out_of_range: (json!({"id": "has space"}), "id"),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/agents/agent-0/heartbeat",
            valid: json!({"state": "awake", "busy": false}),
            wrong_type: (
                json!({"state": "awake", "busy": false, "queue_depth": -1}),
                "queue_depth",
            ),
            out_of_range: (json!({"state": "awake", "busy": false, "at": future}), "at"),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/heartbeats",
            valid: json!({"heartbeats": [{"agent": "agent-1", "state": "awake", "busy": true}]}),
            wrong_type: (
                json!({"heartbeats": [{"agent": "a", "state": "sleepy", "busy": true}]}),
                "heartbeats[0].state",
            ),
            out_of_range: (json!({"heartbeats": []}), "heartbeats"),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/demand",
            valid: json!({"samples": [{"at": "2026-01-01T00:00:00Z", "value": 3.5}]}),
            wrong_type: (
                json!({"samples": [{"at": "yesterday", "value": 1}]}),
                "samples[0].at",
            ),
            out_of_range: (
                json!({"samples": [{"at": "2026-01-01T00:00:00Z", "value": -1}]}),
                "samples[0].value",
            ),
        },
        WriteRoute {
            method: Method::PUT,
            path: "/api/v1/agents/agent-0/override",
            valid: json!({"pin": "awake", "reason": "test"}),
            wrong_type: (json!({"pin": "sideways", "reason": "x"}), "pin"),
            out_of_range: (
                json!({"pin": "awake", "until": "2000-01-01T00:00:00Z", "reason": "x"}),
                "until",
            ),
        },
        WriteRoute {
            method: Method::PUT,
            path: "/api/v1/config",
            valid: Value::Null, // filled in from GET /config
            wrong_type: (
                json!({"base_version": 1, "reason": "x",
                       "settings": {"tick_interval": 10, "scheduler": {"rails": {"min_awake": "two"}}}}),
                "settings.scheduler.rails.min_awake",
            ),
            out_of_range: (
                json!({"base_version": 1, "reason": "x",
                       "settings": {"tick_interval": 10, "scheduler": {"rails": {"max_scale_down": 1.5}}}}),
                "settings.scheduler.rails.max_scale_down",
            ),
        },
        WriteRoute {
            method: Method::PUT,
            path: "/api/v1/controls/pause",
            valid: json!({"direction": "sleeps", "reason": "maintenance"}),
            wrong_type: (json!({"direction": 3, "reason": "x"}), "direction"),
            out_of_range: (
                json!({"direction": "wakes", "until": "2000-01-01T00:00:00Z", "reason": "x"}),
                "until",
            ),
        },
        WriteRoute {
            method: Method::DELETE,
            path: "/api/v1/controls/pause",
            valid: json!({"reason": "done"}),
            wrong_type: (json!({"reason": 5}), "reason"),
            out_of_range: (json!({"reason": "  "}), "reason"),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/emergency/stop",
            valid: Value::Null, // needs a fresh code; covered by the emergency tests
            wrong_type: (json!({"code": "x", "mode": "panic", "reason": "x"}), "mode"),
            out_of_range: (
                json!({"code": "x", "mode": "wake_all", "until": "2000-01-01T00:00:00Z", "reason": "x"}),
                "until",
            ),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/emergency/resume",
            valid: Value::Null,
            wrong_type: (json!({"code": 1234, "reason": "x"}), "code"),
            out_of_range: (json!({"code": "x", "reason": ""}), "reason"),
        },
        WriteRoute {
            method: Method::POST,
            path: "/api/v1/bulk",
            valid: json!({"agents": ["agent-2"], "action": "wake", "strategy": "parallel", "reason": "t"}),
            wrong_type: (
                json!({"agents": "agent-2", "action": "wake", "strategy": "parallel", "reason": "t"}),
                "agents",
            ),
            out_of_range: (
                json!({"agents": ["agent-2"], "action": "wake", "strategy": "staged",
                       "stage_size": 0, "reason": "t"}),
                "stage_size",
            ),
        },
    ]
}

fn with_unknown_field(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut()
        .unwrap()
        .insert("surprise".into(), json!(1));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_route_rejects_bad_input_naming_the_field() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let admin = token(Role::Admin);
        // The fake fleet's agents become known at the first tick; register one explicitly.
        let (s, _) = server
            .send(
                Method::POST,
                "/api/v1/agents",
                Some(&admin),
                Some(&json!({"id": "agent-0"})),
            )
            .await;
        assert!(s == StatusCode::CREATED || s == StatusCode::CONFLICT, "{s}");
        let (_, cfg) = server
            .send(Method::GET, "/api/v1/config", Some(&admin), None)
            .await;
        let config_body = json!({
            "base_version": cfg["version"], "settings": cfg["settings"], "reason": "no-op check"
        });
        for r in write_routes() {
            let what = format!("{} {}", r.method, r.path);
            let valid = if r.path == "/api/v1/config" {
                config_body.clone()
            } else {
                r.valid.clone()
            };
            let template = if valid.is_null() {
                r.out_of_range.0.clone()
            } else {
                valid.clone()
            };

            let (status, err) = server
                .send(
                    r.method.clone(),
                    r.path,
                    Some(&admin),
                    Some(&with_unknown_field(&template)),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what} unknown field: {err}"
            );
            assert_eq!(
                (err["code"].as_str(), err["field"].as_str()),
                (Some("invalid_field"), Some("surprise")),
                "{what}"
            );

            for (body, field) in [&r.wrong_type, &r.out_of_range] {
                let (status, err) = server
                    .send(r.method.clone(), r.path, Some(&admin), Some(body))
                    .await;
                assert_eq!(
                    status,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{what} {field}: {err}"
                );
                assert_eq!(err["field"].as_str(), Some(*field), "{what}: {err}");
                assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
            }

            let (status, err) = server
                .raw(
                    r.method.clone(),
                    r.path,
                    &admin,
                    "application/json",
                    b"{,}".to_vec(),
                )
                .await;
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("malformed_json")),
                "{what}"
            );

            // A complete, well-typed body with junk after it: the junk must not be ignored.
            let mut trailing = serde_json::to_vec(&template).unwrap();
            trailing.extend(b" {\"surprise\": 1}");
            let (status, err) = server
                .raw(
                    r.method.clone(),
                    r.path,
                    &admin,
                    "application/json",
                    trailing,
                )
                .await;
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("malformed_json")),
                "{what} trailing junk: {err}"
            );

            let (status, err) = server
                .raw(
                    r.method.clone(),
                    r.path,
                    &admin,
                    "text/plain",
                    b"{}".to_vec(),
                )
                .await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{what}: {err}");

            let mut huge = b"{\"pad\": \"".to_vec();
            huge.extend(std::iter::repeat_n(b'x', 70_000));
            huge.extend(b"\"}");
            let (status, err) = server
                .raw(r.method.clone(), r.path, &admin, "application/json", huge)
                .await;
            assert_eq!(
                (status, err["code"].as_str()),
                (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
                "{what}"
            );

            if !valid.is_null() {
                // Trailing whitespace is still one JSON value.
                let mut body = serde_json::to_vec(&valid).unwrap();
                body.extend(b" \r\n\t\n");
                let (status, err) = server
                    .raw(r.method.clone(), r.path, &admin, "application/json", body)
                    .await;
                assert!(status.is_success(), "{what} valid body: {status} {err}");
            }
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_query_parameters_name_the_parameter() {
    let server = TestServer::start(&backends().await[0]).await;
    let viewer = token(Role::Viewer);
    for (path, field) in [
        ("/api/v1/decisions?limit=abc", "limit"),
        ("/api/v1/decisions?limit=0", "limit"),
        ("/api/v1/decisions?cursor=zzz", "cursor"),
        ("/api/v1/tasks?status=exploded", "status"),
        ("/api/v1/forecast?horizon=100000", "horizon"),
        ("/api/v1/forecast/models?limit=0", "limit"),
        ("/api/v1/decisions?bogus=1", "bogus"),
    ] {
        let (status, err) = server.send(Method::GET, path, Some(&viewer), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {err}");
        assert_eq!(err["field"].as_str(), Some(field), "{path}: {err}");
    }
    server.stop().await;
}
