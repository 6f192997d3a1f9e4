//! Engine test harness: a store on SQLite (a temp file) or PostgreSQL (a fresh schema), the
//! in-process fake fleet behind a recorder that logs every call the fleet receives (with the
//! engine's time) and can play dead, and an engine on a manual clock.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hivesched_engine::actuator::{ActuationRequest, Actuator, ActuatorError, AgentStatus, Outcome};
use hivesched_engine::clock::{Clock, ManualClock};
use hivesched_engine::executor::ExecutorLimits;
use hivesched_engine::{Engine, EngineConfig, ForecasterFactory};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};
use hivesched_policy::{
    ActionKind, AgentId, AgentState, RailConfig, SchedulerConfig, SeasonalNaive, Time,
};
use hivesched_store::{DemandSample, NewAuditRecord, Store};
use sqlx::{Connection, Executor as _, PgConnection};

/// The engine tests' epoch (2023-11-14).
pub const T0: i64 = 1_700_000_000;

/// Which database a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(name: &str) -> String {
    format!(
        "{name}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A database for one case, and the URL to reconnect to it after a "crash".
pub struct Db {
    pub url: String,
    cleanup: Option<(String, String)>,
}

impl Db {
    /// A fresh database on `backend`; `None` (after saying so) when PostgreSQL is not
    /// configured, a failure when `HIVE_TEST_REQUIRE_SERVICES=1` demands it.
    pub async fn new(backend: Backend, name: &str) -> Option<Db> {
        match backend {
            Backend::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("hivesched-engine-{}.db", unique(name)));
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
                }
                Some(Db {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: None,
                })
            }
            Backend::Postgres => {
                let base = match std::env::var("HIVE_TEST_POSTGRES_URL") {
                    Ok(url) if !url.is_empty() => url,
                    _ => {
                        if std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                            panic!(
                                "HIVE_TEST_POSTGRES_URL is not set but HIVE_TEST_REQUIRE_SERVICES=1"
                            );
                        }
                        use std::io::Write;
                        let _ = writeln!(
                            std::io::stderr(),
                            "skipped: HIVE_TEST_POSTGRES_URL is not set, PostgreSQL case not run"
                        );
                        return None;
                    }
                };
                let schema = format!("hs_engine_{}", unique(name));
                let mut admin = PgConnection::connect(&base).await.unwrap();
                admin
                    .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .await
                    .unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                Some(Db {
                    url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                    cleanup: Some((base, schema)),
                })
            }
        }
    }

    /// A new connection pool on the database (a restarted process opens its own).
    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Drops the PostgreSQL schema.
    pub async fn drop(self) {
        if let Some((base, schema)) = self.cleanup {
            let mut admin = PgConnection::connect(&base).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
        }
    }
}

/// Generates `sqlite::case` and `postgres::case` for each `case(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// One call the fleet received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// On the engine's clock.
    pub at: Time,
    pub agent: AgentId,
    pub kind: ActionKind,
    pub key: String,
    /// Whether the fleet took it (202).
    pub accepted: bool,
    /// Agents awake right after the fleet answered.
    pub awake_after: usize,
    /// Agents preparing to sleep or consolidating right after the fleet answered.
    pub in_transition_after: usize,
}

/// The fake fleet behind a recorder: every sleep and wake it receives is logged, and its
/// listing can be made to fail (a dead fleet API).
#[derive(Clone)]
pub struct Recorder {
    pub fleet: FakeFleet,
    clock: Arc<ManualClock>,
    calls: Arc<Mutex<Vec<Call>>>,
    listing_fails: Arc<AtomicBool>,
}

impl Recorder {
    pub fn new(fleet: FakeFleet, clock: Arc<ManualClock>) -> Recorder {
        Recorder {
            fleet,
            clock,
            calls: Arc::default(),
            listing_fails: Arc::default(),
        }
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Calls of one direction.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.calls().iter().filter(|c| c.kind == kind).count()
    }

    /// Makes `GET /agents` fail (or work again).
    pub fn set_listing_fails(&self, fails: bool) {
        self.listing_fails.store(fails, Ordering::SeqCst);
    }

    fn record(
        &self,
        agent: &AgentId,
        kind: ActionKind,
        request: &ActuationRequest,
        answer: &Result<Outcome, ActuatorError>,
    ) {
        let agents = self.fleet.agents();
        let count = |f: fn(AgentState) -> bool| agents.iter().filter(|a| f(a.state)).count();
        self.calls.lock().unwrap().push(Call {
            at: self.clock.now(),
            agent: agent.clone(),
            kind,
            key: request.idempotency_key.clone(),
            accepted: matches!(answer, Ok(Outcome::Accepted)),
            awake_after: count(|s| s == AgentState::Awake),
            in_transition_after: count(AgentState::is_sleep_transition),
        });
    }
}

impl Actuator for Recorder {
    async fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        let answer = self.fleet.sleep(agent, request).await;
        self.record(agent, ActionKind::Sleep, request, &answer);
        answer
    }

    async fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        let answer = self.fleet.wake(agent, request).await;
        self.record(agent, ActionKind::Wake, request, &answer);
        answer
    }

    async fn list_agents(&self) -> Result<Vec<AgentStatus>, ActuatorError> {
        if self.listing_fails.load(Ordering::SeqCst) {
            return Err(ActuatorError::Unavailable {
                status: 503,
                message: "the fleet API is down (test)".into(),
            });
        }
        self.fleet.list_agents().await
    }
}

/// A fast fake fleet of `agents` (`agent-0` …).
pub fn fleet(agents: u32) -> FakeFleet {
    FakeFleet::new(FakeFleetConfig {
        agents,
        checkpoint: Duration::from_millis(5),
        consolidation: Duration::from_millis(10),
        wake_latency: Duration::from_millis(10),
        failure_rate: 0.0,
        seed: 1,
    })
    .unwrap()
}

/// Two days of per-minute demand at `level`, ending just before `T0`.
pub async fn demand(store: &Store, level: f64) {
    let samples: Vec<DemandSample> = (1..=2 * 1440)
        .map(|i| DemandSample {
            at: Time::from_secs(T0 - 60 * i),
            value: level,
        })
        .collect();
    store.insert_demand(&samples).await.unwrap();
}

/// Per-minute demand at `level` from just after `T0` up to `until_s`.
pub async fn demand_until(store: &Store, level: f64, until_s: i64) {
    let samples: Vec<DemandSample> = (T0..=until_s)
        .step_by(60)
        .map(|s| DemandSample {
            at: Time::from_secs(s),
            value: level,
        })
        .collect();
    store.insert_demand(&samples).await.unwrap();
}

/// Capacity 1 per agent, one-minute wakes and consolidations, no restart hold, no jitter.
pub fn config(shadow: bool) -> EngineConfig {
    EngineConfig {
        scheduler: SchedulerConfig {
            shadow,
            capacity: 1.0,
            wake_latency: Duration::from_secs(60),
            consolidation: Duration::from_secs(60),
            restart_hold: Duration::ZERO,
            rails: RailConfig {
                jitter: Duration::ZERO,
                ..RailConfig::default()
            },
            ..SchedulerConfig::default()
        },
        demand_step: Duration::from_secs(60),
        history_window: Duration::from_secs(3 * 86_400),
        limits: ExecutorLimits {
            max_concurrent: 5,
            bulk_rail_wait: Duration::ZERO,
        },
        ..EngineConfig::default()
    }
}

pub fn forecasters() -> ForecasterFactory {
    Arc::new(|| Box::new(SeasonalNaive::default()))
}

/// Starts an engine on `store` acting through `actuator`.
pub async fn start(
    store: &Store,
    actuator: Arc<dyn hivesched_engine::actuator::DynActuator>,
    clock: &Arc<ManualClock>,
    cfg: EngineConfig,
) -> Engine {
    Engine::start(store.clone(), actuator, cfg, clock.clone(), forecasters())
        .await
        .unwrap()
        .0
}

/// An audit record for a change made by a test operator.
pub fn audit(action: &str) -> NewAuditRecord {
    NewAuditRecord {
        at: Time::from_secs(T0),
        actor: "test-operator".into(),
        action: action.into(),
        target: "fleet".into(),
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        reason: "test".into(),
    }
}

/// Polls `check` every 10 ms of real time for up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
