//! The server: build the state, merge the resource routers, apply the layers, serve until the
//! caller's shutdown future resolves.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hivesched_coord::{Coordinator, InProcessCoordinator, RedisClusterConfig, RedisCoordinator};
use hivesched_engine::actuator::DynActuator;
use hivesched_engine::clock::{Clock, SystemClock};
use hivesched_engine::executor::ExecutorLimits;
use hivesched_engine::{Engine, EngineConfig};
use hivesched_store::{AuditKey, Store};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::auth::{Role, TokenKeys};
use crate::config::{RuntimeSettings, ServiceConfig};
use crate::db_health::{self, DatabaseMetrics};
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::heartbeats::HeartbeatWriter;
use crate::metrics::{self, HttpMetrics};
use crate::pools::{Pools, PoolsConfig};
use crate::rollouts::{self, FlagMetrics};
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::stream::{StreamHub, StreamMetrics, Tickets};
use crate::{audit, changes, clock, routes};

/// How the server is started: `serve` insists on a configured signing secret, `demo` makes one
/// up for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// Production: refuse to start without `jwt_secret`.
    Serve,
    /// Demo: a random secret when none is configured (tokens die with the process).
    Demo,
}

/// A bound, ready server: its address is known before it serves, so callers (the demo, tests)
/// can print it or connect to it.
pub struct Server {
    listener: TcpListener,
    router: Router,
    state: AppState,
    addr: SocketAddr,
    flag_check_interval: Duration,
    lease_ttl: Duration,
    database_metrics: DatabaseMetrics,
}

impl Server {
    /// Starts on the wall clock with the actuator the configuration names.
    pub async fn start(config: &ServiceConfig, mode: StartMode) -> Result<Server, ApiError> {
        let actuator = config.actuator.build()?;
        Server::start_with(config, mode, Arc::new(SystemClock), actuator).await
    }

    /// Connects the store, loads the runtime settings, starts one engine per agent pool (each
    /// loads the controls, then reconciles its pool's unfinished tasks through the gate),
    /// builds the routes and binds. The demo passes a faster clock and its own fake fleet.
    pub async fn start_with(
        config: &ServiceConfig,
        mode: StartMode,
        clock: Arc<dyn Clock>,
        actuator: Arc<dyn DynActuator>,
    ) -> Result<Server, ApiError> {
        let (keys, jwt_secret) = signing_keys(config, mode)?;
        let keys = Arc::new(keys);
        // The demo has no configured secret: its chain is keyed by the one made up for the run.
        let audit_key = config
            .audit_key()
            .unwrap_or_else(|| AuditKey::derived_from(&jwt_secret));
        let store = Store::connect(&config.database_url)
            .await?
            .with_audit_key(audit_key);
        let settings = load_settings(&store, &config.settings).await?;
        tracing::info!(
            tick_interval = settings.tick_interval,
            shadow = settings.scheduler.shadow,
            "runtime settings loaded"
        );
        let engine_config = EngineConfig {
            limits: ExecutorLimits {
                max_concurrent: config.max_concurrent_tasks,
                bulk_rail_wait: config.bulk_rail_wait,
            },
            scheduler: settings.scheduler.clone(),
            tick_interval: settings.tick(),
            demand_step: config.demand_step,
            alerts: config.alerts.clone(),
            alert_delivery: config.alert_delivery.clone(),
            ..EngineConfig::default()
        };
        let cluster = start_cluster(config).await?;
        let stream_metrics = StreamMetrics::default();
        let stream = StreamHub::start(store.clone(), stream_metrics.clone()).await?;
        let shutdown = Shutdown::new();
        let pools = Pools::start(
            PoolsConfig {
                store: store.clone(),
                actuator,
                clock,
                engine: engine_config,
                forecaster: config.forecaster,
                overrides: config.cluster.pools.clone(),
                cluster: Arc::clone(&cluster),
                hub: stream.clone(),
                shutdown: shutdown.clone(),
            },
            settings,
        )
        .await?;
        let engine = pools.default_engine();
        let mut registry = Registry::default();
        // The default pool's engine metrics unlabeled, as in one-pool versions; every other
        // pool's are merged in at each scrape under `pool="NAME"` (`Pools::encode_metrics`).
        engine.metrics().register(&mut registry);
        // The standard process_* families, read at every scrape: overhead is measured, not
        // claimed (`rate(process_cpu_seconds_total[5m])` is the share of one core).
        registry.register_collector(Box::new(hivesched_engine::process::ProcessCollector));
        let http_metrics = HttpMetrics::register(&mut registry);
        let flag_metrics = FlagMetrics::default();
        flag_metrics.register(&mut registry);
        stream_metrics.register(&mut registry);
        let database_metrics = DatabaseMetrics::default();
        database_metrics.register(&mut registry);
        let (api, doc) = routes::api().split_for_parts();
        let openapi = doc
            .to_pretty_json()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let state = AppState {
            shutdown,
            heartbeats: HeartbeatWriter::spawn(store.clone()),
            store,
            engine,
            keys,
            registry: Arc::new(registry),
            http_metrics,
            openapi: Arc::new(openapi + "\n"),
            stream,
            tickets: Arc::new(Tickets::default()),
            flag_metrics,
            cluster,
            pools,
        };
        // The scheduler's acting scope is in force before the first tick.
        rollouts::sync_acting(&state, std::time::Instant::now()).await;
        let router = layered(api, &state, config);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ApiError::Io {
                context: format!("binding {}", config.listen),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ApiError::Io {
            context: "reading the bound address".into(),
            source,
        })?;
        Ok(Server {
            listener,
            router,
            state,
            addr,
            flag_check_interval: config.flag_check_interval,
            lease_ttl: config.cluster.lease_ttl,
            database_metrics,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Mints a token signed with this server's key (the demo prints an admin token).
    pub fn mint_token(&self, subject: &str, role: Role, ttl: Duration) -> Result<String, ApiError> {
        let now = (clock::now().as_millis() / 1000).max(0) as u64;
        self.state.keys.mint(subject, role, ttl, now)
    }

    /// The store the server uses.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The live stream's hub (tests publish through it; the demo reports its counters).
    pub fn stream(&self) -> &StreamHub {
        &self.state.stream
    }

    /// The default pool's engine, for callers that drive ticks themselves (tests) or watch
    /// its events.
    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    /// Every pool's engine.
    pub fn pools(&self) -> &Pools {
        &self.state.pools
    }

    /// Runs every pool's tick loop and serves HTTP until `shutdown` resolves; then fires the
    /// server's [`Shutdown`] signal, which stops accepting, lets in-flight requests finish,
    /// closes every long-lived connection subscribed to it, and lets the engines finish (or
    /// leave journaled) the tasks in flight before the store is closed.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ApiError> {
        tracing::info!(addr = %self.addr, "listening");
        let signal = self.state.shutdown.clone();
        let fire = tokio::spawn({
            let signal = signal.clone();
            async move {
                shutdown.await;
                signal.trigger();
            }
        });
        let pools = self.state.pools.clone();
        let ticking = tokio::spawn(async move { pools.run().await });
        rollouts::spawn(self.state.clone(), self.flag_check_interval);
        changes::spawn(self.state.clone(), signal.clone());
        db_health::spawn(
            self.state.clone(),
            signal.clone(),
            self.lease_ttl,
            self.database_metrics,
        );
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown({
                let signal = signal.clone();
                async move { signal.signalled().await }
            })
            .await;
        // The listener may also end by itself (an I/O error): everything else stops with it.
        signal.trigger();
        fire.abort();
        if let Err(e) = ticking.await {
            tracing::error!(error = %e, "engine loop ended abnormally");
        }
        // Nothing is in flight any more: give the leases up so other replicas take over at
        // once rather than when the leases run out.
        if let Err(e) = self.state.cluster.release().await {
            tracing::warn!(error = %e, "could not release the leases; they will expire");
        }
        served.map_err(|source| ApiError::Io {
            context: "serving HTTP".into(),
            source,
        })?;
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The coordinator `[cluster]` asks for: alone (in process, leading every pool) without
/// `redis_url`, else Redis, which must answer at start like the database.
async fn start_cluster(config: &ServiceConfig) -> Result<Arc<dyn Coordinator>, ApiError> {
    let c = &config.cluster;
    let Some(url) = &c.redis_url else {
        tracing::info!(node = %c.node_id, "alone: no cluster.redis_url, this replica leads");
        return Ok(Arc::new(InProcessCoordinator::new(c.node_id.clone())));
    };
    let coordinator = RedisCoordinator::start(RedisClusterConfig {
        redis_url: url.clone(),
        node_id: c.node_id.clone(),
        key_prefix: c.key_prefix.clone(),
        lease_ttl: c.lease_ttl,
    })
    .await
    .map_err(|e| match e {
        hivesched_coord::CoordError::InvalidConfig { key, reason } => ApiError::config(key, reason),
        other => ApiError::config(
            "cluster.redis_url",
            format!(
                "{} does not answer: {other}",
                crate::config::redact_url(url)
            ),
        ),
    })?;
    tracing::info!(node = %c.node_id, redis = %crate::config::redact_url(url), "joined the cluster");
    Ok(Arc::new(coordinator))
}

/// The token keys and the secret they come from (the audit key derives from it unless
/// `audit_key` is set).
fn signing_keys(config: &ServiceConfig, mode: StartMode) -> Result<(TokenKeys, Vec<u8>), ApiError> {
    let secret = match (&config.jwt_secret, mode) {
        (Some(secret), _) => secret.as_bytes().to_vec(),
        (None, StartMode::Demo) => hex::encode(crate::random::bytes::<32>()?).into_bytes(),
        (None, StartMode::Serve) => {
            return Err(ApiError::config(
                "jwt_secret",
                "required: set jwt_secret in the config file or HIVE_JWT_SECRET \
             (at least 32 bytes; only `hivesched demo` runs without one)",
            ));
        }
    };
    Ok((TokenKeys::new(&secret)?, secret))
}

/// The stored runtime settings; on a fresh database, the file's settings become version 1. A
/// stored version outside the documented ranges (written before they were checked, or by
/// hand) stops the start naming the key and the version, rather than killing a tick later.
async fn load_settings(
    store: &Store,
    from_file: &RuntimeSettings,
) -> Result<RuntimeSettings, ApiError> {
    if let Some(current) = store.current_config::<RuntimeSettings>().await? {
        if let Err(e) = current.config.validate() {
            let (key, reason) = match e {
                ApiError::InvalidValue { field, message } => (field, message),
                other => ("settings".to_owned(), other.to_string()),
            };
            return Err(ApiError::config(
                format!("stored configuration version {}: {key}", current.version),
                format!("{reason}; fix it with PUT /api/v1/config, or a new database"),
            ));
        }
        if &current.config != from_file {
            tracing::warn!(
                version = current.version,
                "using the stored configuration; the file's scheduler settings differ \
                 (change them with PUT /api/v1/config)"
            );
        }
        return Ok(current.config);
    }
    let reason = "initial configuration from the config file";
    store
        .save_config(0, from_file, "system", reason, clock::now())
        .await?;
    audit::record(
        store,
        "system",
        audit::Change {
            action: "config.init",
            target: "config",
            before: serde_json::Value::Null,
            after: audit::json(from_file),
            reason,
        },
    )
    .await?;
    Ok(from_file.clone())
}

/// The routes (the API and the dashboard) with their state and every layer: trace → metrics →
/// timeout → body limit.
fn layered(api: Router<AppState>, state: &AppState, config: &ServiceConfig) -> Router {
    let timeout = config.request_timeout;
    api.merge(routes::ui::router())
        .fallback(|uri: Uri| async move { ApiError::NoRoute(uri.path().to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::Extension(BodyLimit(config.max_body_bytes)))
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(middleware::from_fn_with_state(
            state.http_metrics.clone(),
            metrics::track,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone())
}

/// Answers 503 `timeout` when a request runs past the configured deadline.
async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    }
}
