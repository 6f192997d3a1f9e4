//! Issue 10 through the real server, on SQLite and PostgreSQL: a bulk operation is stored
//! before it is accepted and is refused by the emergency stop like any other action; settings
//! out of range are refused by `PUT /api/v1/config` and a stored one stops the start naming the
//! key; a corrupt audit record is no reason not to start, and `audit verify` names it.

mod common;

use common::{TestServer, backends, code, token};
use hivesched_server::auth::Role;
use hivesched_store::{Store, TaskStatus};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_is_stored_before_202_and_the_stop_refuses_it() {
    for url in backends().await {
        let server = TestServer::start_with(common::config(&url, "shadow = false")).await;
        let admin = token(Role::Admin);
        let operator = token(Role::Operator);
        let c = code(&server.store).await;
        let (s, body) = server
            .send(
                Method::POST,
                "/api/v1/emergency/stop",
                Some(&admin),
                Some(&json!({"code": c, "mode": "freeze_all", "reason": "incident"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, body) = server
            .send(
                Method::POST,
                "/api/v1/bulk",
                Some(&operator),
                Some(
                    &json!({"agents": ["agent-0", "agent-1", "agent-2"], "action": "sleep",
                             "strategy": "parallel", "reason": "maintenance"}),
                ),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        // Durable at the moment of the answer, as another connection sees it.
        let other = Store::connect(&url).await.unwrap();
        let counts: u64 = other
            .bulk_status_counts(&id, None)
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(counts, 3);
        other.close().await;
        // Every task is refused by the stop, and the operation says why.
        let mut view = json!(null);
        for _ in 0..500 {
            let (_, v) = server
                .send(
                    Method::GET,
                    &format!("/api/v1/bulk/{id}"),
                    Some(&operator),
                    None,
                )
                .await;
            view = v;
            if view["status"] != "pending" && view["status"] != "running" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(view["status"], "failed", "{view}");
        assert_eq!(view["tasks"]["refused"], 3, "{view}");
        assert_eq!(view["refused"]["EmergencyStop"], 3, "{view}");
        let (_, tasks) = server
            .send(
                Method::GET,
                &format!("/api/v1/tasks?bulk_id={id}"),
                Some(&operator),
                None,
            )
            .await;
        for t in tasks["tasks"].as_array().unwrap() {
            assert_eq!(t["status"], "refused");
            assert_eq!(t["refusal"], "EmergencyStop");
            assert!(t["started_at"].is_null(), "{t}");
        }
        let refused_sleeps = server
            .store
            .list_tasks(&hivesched_store::TaskFilter {
                status: Some(TaskStatus::Refused),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(refused_sleeps.len(), 3);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_out_of_range_are_refused_at_the_api_and_at_start() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let admin = token(Role::Admin);
        let (_, cfg) = server
            .send(Method::GET, "/api/v1/config", Some(&admin), None)
            .await;
        for (path, value) in [
            (("rails", "agent_cooldown"), json!(18446744073709551615u64)),
            (("rails", "jitter"), json!(86_400)),
        ] {
            let mut settings = cfg["settings"].clone();
            settings["scheduler"][path.0][path.1] = value;
            let (s, err) = server
                .send(
                    Method::PUT,
                    "/api/v1/config",
                    Some(&admin),
                    Some(
                        &json!({"base_version": cfg["version"], "settings": settings,
                                 "reason": "hostile"}),
                    ),
                )
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
            assert_eq!(
                err["field"],
                format!("settings.scheduler.{}.{}", path.0, path.1),
                "{err}"
            );
        }
        let mut settings = cfg["settings"].clone();
        settings["scheduler"]["wake_latency"] = json!(10_000_000);
        let (s, err) = server
            .send(
                Method::PUT,
                "/api/v1/config",
                Some(&admin),
                Some(
                    &json!({"base_version": cfg["version"], "settings": settings,
                             "reason": "hostile"}),
                ),
            )
            .await;
        assert_eq!(
            (s, err["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("settings.scheduler.wake_latency")
            )
        );
        // A version written before ranges were checked stops the next start, naming the key.
        let mut bad = cfg["settings"].clone();
        bad["scheduler"]["rails"]["agent_cooldown"] = json!(18446744073709551615u64);
        let bad: hivesched_server::RuntimeSettings = serde_json::from_value(bad).unwrap();
        server
            .store
            .save_config(
                1,
                &bad,
                "mallory",
                "by hand",
                hivesched_server::clock::now(),
            )
            .await
            .unwrap();
        server.stop().await;
        let err = hivesched_server::Server::start(
            &common::config(&url, ""),
            hivesched_server::StartMode::Serve,
        )
        .await
        .err()
        .expect("the start must be refused");
        let text = err.to_string();
        assert!(
            text.contains("version 2") && text.contains("rails.agent_cooldown"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_audit_record_does_not_stop_the_start_and_is_named() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let operator = token(Role::Operator);
        let (s, _) = server
            .send(
                Method::PUT,
                "/api/v1/controls/pause",
                Some(&operator),
                Some(&json!({"direction": "sleeps", "reason": "hold"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        sqlx::query("UPDATE audit_log SET after_json = 'not json' WHERE action = 'pause.set'")
            .execute(server.store.pool())
            .await
            .unwrap();
        server.stop().await;
        // It starts, with the pause in force from its own record.
        let server = TestServer::start(&url).await;
        let (_, controls) = server
            .send(Method::GET, "/api/v1/controls", Some(&operator), None)
            .await;
        assert_eq!(controls["pause"]["direction"], "sleeps", "{controls}");
        let key = common::config(&url, "").audit_key();
        let v = hivesched_server::ops::verify_audit(&url, key)
            .await
            .unwrap();
        assert_eq!(v.first_broken, Some(2), "{v:?}");
        // Without the key the links still verify; the edited content cannot be seen.
        let v = hivesched_server::ops::verify_audit(&url, None)
            .await
            .unwrap();
        assert_eq!((v.first_broken, v.unverified), (None, 2), "{v:?}");
        server.stop().await;
    }
}
