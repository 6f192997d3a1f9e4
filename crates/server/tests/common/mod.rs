//! Boots the real server on 127.0.0.1:0 against SQLite (and PostgreSQL when
//! `HIVE_TEST_POSTGRES_URL` is set) and talks to it over HTTP.

#![allow(dead_code)] // each test binary uses a different part of this helper

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hivesched_engine::clock::{Clock, SystemClock};
use hivesched_server::auth::{Role, TokenKeys};
use hivesched_server::{Server, ServiceConfig, StartMode};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::oneshot;

pub mod ws;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

/// Database URLs to run a test against: a fresh SQLite file, plus a fresh schema on
/// PostgreSQL when configured (durable state such as the emergency stop must not leak from one
/// test into another running beside it).
pub async fn backends() -> Vec<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hivesched-server-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut urls = vec![format!("sqlite://{}/db.sqlite?mode=rwc", dir.display())];
    match std::env::var("HIVE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!(
                "hs_server_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            let mut admin = PgConnection::connect(&url).await.unwrap();
            drop_schemas_of_dead_runs(&mut admin).await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .unwrap();
            let sep = if url.contains('?') { '&' } else { '?' };
            urls.push(format!("{url}{sep}options=-c%20search_path%3D{schema}"));
        }
        _ if std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_POSTGRES_URL is not set")
        }
        _ => eprintln!("skipping PostgreSQL: HIVE_TEST_POSTGRES_URL is not set"),
    }
    urls
}

/// Schemas are named after the test process; those of processes that are gone are dropped.
async fn drop_schemas_of_dead_runs(admin: &mut PgConnection) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'hs_server_%'")
            .fetch_all(&mut *admin)
            .await
            .unwrap();
    for (name,) in names {
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = admin
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .await;
        }
    }
}

/// A running server and a client for it.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub store: hivesched_store::Store,
    pub database_url: String,
    pub stream: hivesched_server::stream::StreamHub,
    /// Every pool's engine (tests tick them by hand).
    pub pools: hivesched_server::pools::Pools,
    /// The tick interval the engine runs with now (the settings in force, not the stored ones).
    tick_interval: Box<dyn Fn() -> Duration + Send + Sync>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A fresh PostgreSQL schema from [`backends`], or `None` (skip) when PostgreSQL is not
/// configured.
pub async fn postgres_backend() -> Option<String> {
    backends()
        .await
        .into_iter()
        .find(|u| u.starts_with("postgres"))
}

/// `HIVE_TEST_REDIS_URL`, or `None` (skip) when it is not set — a panic instead under
/// `HIVE_TEST_REQUIRE_SERVICES=1`.
pub fn redis_url() -> Option<String> {
    match std::env::var("HIVE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_REDIS_URL is not set")
        }
        _ => {
            eprintln!("skipping: HIVE_TEST_REDIS_URL is not set");
            None
        }
    }
}

pub fn config(database_url: &str, extra_toml: &str) -> ServiceConfig {
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\njwt_secret = \"{SECRET}\"\n\
         tick_interval = 3600\nmax_body_bytes = 65536\n{extra_toml}\n\
         [actuator]\nkind = \"fake\"\nagents = 4\n"
    );
    ServiceConfig::from_toml(&text, Vec::new()).unwrap()
}

impl TestServer {
    pub async fn start(database_url: &str) -> TestServer {
        Self::start_with(config(database_url, "")).await
    }

    pub async fn start_with(cfg: ServiceConfig) -> TestServer {
        Self::start_on_clock(cfg, Arc::new(SystemClock)).await
    }

    /// Like [`TestServer::start_with`], with the engine on `clock`.
    pub async fn start_on_clock(cfg: ServiceConfig, clock: Arc<dyn Clock>) -> TestServer {
        let actuator = cfg.actuator.build().unwrap();
        let server = Server::start_with(&cfg, StartMode::Serve, clock, actuator)
            .await
            .unwrap();
        let base = format!("http://{}", server.local_addr());
        let store = server.store().clone();
        let stream = server.stream().clone();
        let engine = server.engine().clone();
        let pools = server.pools().clone();
        let tick_interval = Box::new(move || engine.config().tick_interval);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestServer {
            base,
            client: reqwest::Client::new(),
            store,
            database_url: cfg.database_url.clone(),
            stream,
            pools,
            tick_interval,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// The tick interval the engine runs with now.
    pub fn engine_tick_interval(&self) -> Duration {
        (self.tick_interval)()
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn now_secs() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A valid token for `role`.
pub fn token(role: Role) -> String {
    TokenKeys::new(SECRET.as_bytes())
        .unwrap()
        .mint(
            &format!("test-{role}"),
            role,
            Duration::from_secs(600),
            now_secs(),
        )
        .unwrap()
}

/// A token that expired an hour ago.
pub fn expired_token() -> String {
    TokenKeys::new(SECRET.as_bytes())
        .unwrap()
        .mint(
            "late",
            Role::Admin,
            Duration::from_secs(60),
            now_secs() - 3600,
        )
        .unwrap()
}

/// An admin token signed with another secret.
pub fn forged_token() -> String {
    TokenKeys::new(b"some-other-secret-that-is-long-enough!!")
        .unwrap()
        .mint("mallory", Role::Admin, Duration::from_secs(600), now_secs())
        .unwrap()
}

/// A fresh emergency code stored in `store`.
pub async fn code(store: &hivesched_store::Store) -> String {
    hivesched_server::auth::issue_code(
        store,
        hivesched_server::auth::CODE_PURPOSE_EMERGENCY,
        "test",
        Duration::from_secs(600),
        hivesched_server::clock::now(),
    )
    .await
    .unwrap()
}

/// Sets an emergency stop in `mode` as an admin with a fresh one-time code; asserts 200.
pub async fn emergency_stop(server: &TestServer, mode: &str) {
    let c = code(&server.store).await;
    let (s, body) = server
        .send(
            Method::POST,
            "/api/v1/emergency/stop",
            Some(&token(Role::Admin)),
            Some(&serde_json::json!({"code": c, "mode": mode, "reason": "drill"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// Lifts the emergency stop as an admin with a fresh one-time code; asserts 200.
pub async fn emergency_resume(server: &TestServer) {
    let c = code(&server.store).await;
    let (s, body) = server
        .send(
            Method::POST,
            "/api/v1/emergency/resume",
            Some(&token(Role::Admin)),
            Some(&serde_json::json!({"code": c, "reason": "drill over"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// Posts two days of per-minute demand of `value`, ending at the current minute, as an
/// operator; asserts it was accepted. Enough history for the forecaster to fit, so the ticks do
/// their real work.
pub async fn post_flat_demand(server: &TestServer, value: f64) {
    let now = now_secs() as i64 / 60 * 60;
    let samples: Vec<_> = (1..=2 * 1440)
        .map(|i| {
            let at = chrono::DateTime::from_timestamp(now - 60 * i, 0).unwrap();
            serde_json::json!({"at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "value": value})
        })
        .collect();
    let (status, body) = server
        .send(
            Method::POST,
            "/api/v1/demand",
            Some(&token(Role::Operator)),
            Some(&serde_json::json!({ "samples": samples })),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
}

/// The text of `/metrics`.
pub async fn metrics_text(server: &TestServer) -> String {
    let (status, text) = server.send(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    match text {
        Value::String(t) => t,
        other => panic!("/metrics is not text: {other}"),
    }
}
