//! Emergency stop needs admin and a valid, unused one-time code; every change lands in the
//! hash-chained audit log, which verifies and detects tampering; the controls survive a restart.

mod common;

use common::{TestServer, backends, code, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_stop_needs_admin_and_a_single_use_code() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let admin = token(Role::Admin);
        let stop = |c: &str| json!({"code": c, "mode": "freeze_sleeps", "reason": "incident 42"});

        let c1 = code(&server.store).await;
        let (status, err) = server
            .send(
                Method::POST,
                "/api/v1/emergency/stop",
                Some(&token(Role::Operator)),
                Some(&stop(&c1)),
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );

        let (status, err) = server
            .send(
                Method::POST,
                "/api/v1/emergency/stop",
                Some(&admin),
                Some(&stop("0000-not-a-code")),
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("invalid_code"))
        );

        // The operator's attempt did not use the code up.
        let (status, body) = server
            .send(
                Method::POST,
                "/api/v1/emergency/stop",
                Some(&admin),
                Some(&stop(&c1)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["emergency"]["mode"], "freeze_sleeps");

        let (status, err) = server
            .send(
                Method::POST,
                "/api/v1/emergency/resume",
                Some(&admin),
                Some(&json!({"code": c1, "reason": "again"})),
            )
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("invalid_code")),
            "second use"
        );

        let (_, controls) = server
            .send(
                Method::GET,
                "/api/v1/controls",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(controls["emergency"]["mode"], "freeze_sleeps");

        let c2 = code(&server.store).await;
        let (status, body) = server
            .send(
                Method::POST,
                "/api/v1/emergency/resume",
                Some(&admin),
                Some(&json!({"code": c2, "reason": "fixed"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["emergency"].is_null());
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_audited_chained_and_tampering_shows() {
    // SQLite only: tampering on a shared PostgreSQL database would break the other tests' chain.
    let url = backends().await.remove(0);
    let server = TestServer::start(&url).await;
    let admin = token(Role::Admin);
    let operator = token(Role::Operator);
    let ok = |s: StatusCode| assert!(s.is_success(), "{s}");

    let (s, _) = server
        .send(
            Method::POST,
            "/api/v1/agents",
            Some(&operator),
            Some(&json!({"id": "audited-1"})),
        )
        .await;
    ok(s);
    let (s, _) = server
        .send(
            Method::PUT,
            "/api/v1/agents/audited-1/override",
            Some(&operator),
            Some(&json!({"pin": "awake", "do_not_disrupt": true, "reason": "demo day"})),
        )
        .await;
    ok(s);
    let (_, cfg) = server
        .send(Method::GET, "/api/v1/config", Some(&admin), None)
        .await;
    let mut settings = cfg["settings"].clone();
    settings["scheduler"]["rails"]["min_awake"] = json!(3);
    let (s, body) = server
        .send(Method::PUT, "/api/v1/config", Some(&admin),
              Some(&json!({"base_version": cfg["version"], "settings": settings, "reason": "more headroom"})))
        .await;
    ok(s);
    assert_eq!(body["settings"]["scheduler"]["rails"]["min_awake"], 3);
    // A stale base version loses.
    let (s, err) = server
        .send(
            Method::PUT,
            "/api/v1/config",
            Some(&admin),
            Some(&json!({"base_version": cfg["version"], "settings": settings, "reason": "stale"})),
        )
        .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let (s, _) = server
        .send(
            Method::PUT,
            "/api/v1/controls/pause",
            Some(&operator),
            Some(&json!({"direction": "wakes", "reason": "fleet maintenance"})),
        )
        .await;
    ok(s);

    let (s, page) = server
        .send(Method::GET, "/api/v1/audit?limit=10", Some(&operator), None)
        .await;
    ok(s);
    let actions: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "pause.set",
            "config.update",
            "agent.override",
            "agent.register",
            "config.init"
        ]
    );
    let update = &page["records"][1];
    assert_eq!(update["actor"], "test-admin");
    assert_eq!(update["before"]["scheduler"]["rails"]["min_awake"], 2);
    assert_eq!(update["after"]["scheduler"]["rails"]["min_awake"], 3);
    assert_eq!(update["reason"], "more headroom");

    let v = server.store.verify_audit_chain().await.unwrap();
    assert_eq!((v.checked, v.first_broken), (5, None));
    server.stop().await;

    // The pause survives a restart (it is stored as its own record, not rebuilt from the log).
    let server = TestServer::start_with(common::config(&url, "")).await;
    let (_, controls) = server
        .send(Method::GET, "/api/v1/controls", Some(&operator), None)
        .await;
    assert_eq!(controls["pause"]["direction"], "wakes", "{controls}");

    sqlx::query("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3")
        .execute(server.store.pool())
        .await
        .unwrap();
    let v = server.store.verify_audit_chain().await.unwrap();
    assert_eq!(v.first_broken, Some(3), "{v:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_to_start_without_a_secret() {
    let url = backends().await.remove(0);
    let cfg = hivesched_server::ServiceConfig::from_toml(
        &format!("listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\n"),
        Vec::new(),
    )
    .unwrap();
    let err = hivesched_server::Server::start(&cfg, hivesched_server::StartMode::Serve)
        .await
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("jwt_secret"), "{err}");
    let demo = hivesched_server::Server::start(&cfg, hivesched_server::StartMode::Demo).await;
    assert!(demo.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics_answer() {
    let server = TestServer::start(&backends().await[0]).await;
    let (s, body) = server.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, _) = server.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, _) = server
        .send(
            Method::GET,
            "/api/v1/agents",
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    let (s, text) = server.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap().to_owned();
    for family in [
        "hivesched_http_requests_total",
        "hivesched_http_request_duration_seconds_bucket",
        "hivesched_ticks_total",
        "route=\"/api/v1/agents\"",
    ] {
        assert!(
            text.contains(family),
            "{family} missing from /metrics:\n{text}"
        );
    }
    server.stop().await;
}
