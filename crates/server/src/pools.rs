//! The agent pools of one replica: one [`Engine`] per pool — its own decisions, rails,
//! forecaster and lease (a store handle scoped to the pool, an elector from the cluster's
//! coordinator) — and the process-wide things they share (emergency stop, pause, settings,
//! the scheduler's acting scope, the stream, the metrics endpoint).
//!
//! A pool exists once it is configured (`[pools.NAME]`) or an agent heartbeats into it: the
//! heartbeat records it in the store ([`hivesched_store::Store::ensure_pool`]) and every
//! replica starts its engine within [`DISCOVERY`] (the engine then ticks only where the pool's
//! lease is held).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hivesched_coord::Coordinator;
use hivesched_engine::actuator::{
    ActuationRequest, Actuator, ActuatorError, AgentStatus, DynActuator, Outcome,
};
use hivesched_engine::clock::Clock;
use hivesched_engine::{Engine, EngineConfig, TickHealth};
use hivesched_forecast::{EnsembleConfig, ForecasterChoice};
use hivesched_policy::ActingScope;
use hivesched_policy::AgentId;
use hivesched_store::{DEFAULT_POOL, Store};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use crate::config::{PoolSettings, RuntimeSettings};
use crate::error::ApiError;
use crate::shutdown::Shutdown;
use crate::stream::{StreamHub, forward};

/// How often the pools recorded in the store are read, so a pool an agent heartbeated into
/// through any replica gets its engine here too.
pub const DISCOVERY: Duration = Duration::from_secs(5);

/// Checks a pool name given in a request; the error names `field`.
pub fn check_pool(field: &str, name: &str) -> Result<(), ApiError> {
    hivesched_store::check_pool_name(name).map_err(|reason| ApiError::invalid_value(field, reason))
}

/// The rule of [`check_pool`] as a JSON Schema `pattern`.
pub fn pool_pattern() -> String {
    format!(
        "^[a-z0-9][a-z0-9_-]{{0,{}}}$",
        hivesched_store::MAX_POOL_NAME - 1
    )
}

/// Declares a pool name's rule on a string schema.
pub fn declare_pool(schema: &mut utoipa::openapi::schema::Object) {
    schema.pattern = Some(pool_pattern());
    schema.min_length = Some(1);
    schema.max_length = Some(hivesched_store::MAX_POOL_NAME);
}

/// A pool named in a request, checked; `default` when none is.
pub fn pool_or_default(field: &str, pool: Option<&str>) -> Result<String, ApiError> {
    match pool {
        Some(p) => check_pool(field, p).map(|()| p.to_owned()),
        None => Ok(DEFAULT_POOL.to_owned()),
    }
}

/// The fleet as every pool's engine on this replica sees it: sleeps and wakes go straight
/// through; the listing is shared between pools whose ticks ask for it at once. A caller gets
/// a listing whose request started after it asked — never an older one than it would have got
/// alone — so callers queued behind one request share the next (with one pool nobody queues
/// and nothing is kept). Every pool's tick reads the whole listing (the fleet's API has no
/// listing per pool); sharing makes that one request per burst of ticks instead of one per pool.
pub struct SharedListing {
    fleet: Arc<dyn DynActuator>,
    last: tokio::sync::Mutex<Option<(tokio::time::Instant, Arc<Vec<AgentStatus>>)>>,
    waiting: std::sync::atomic::AtomicUsize,
}

impl SharedListing {
    /// Shares `fleet`'s listing.
    pub fn new(fleet: Arc<dyn DynActuator>) -> Self {
        SharedListing {
            fleet,
            last: tokio::sync::Mutex::new(None),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl Actuator for SharedListing {
    fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send {
        let (fleet, agent, request) = (Arc::clone(&self.fleet), agent.clone(), request.clone());
        async move { fleet.boxed_sleep(&agent, &request).await }
    }

    fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send {
        let (fleet, agent, request) = (Arc::clone(&self.fleet), agent.clone(), request.clone());
        async move { fleet.boxed_wake(&agent, &request).await }
    }

    async fn list_agents(&self) -> Result<Vec<AgentStatus>, ActuatorError> {
        use std::sync::atomic::Ordering::SeqCst;
        let asked = tokio::time::Instant::now();
        self.waiting.fetch_add(1, SeqCst);
        let mut last = self.last.lock().await;
        self.waiting.fetch_sub(1, SeqCst);
        if let Some((at, listing)) = last.as_ref()
            && *at >= asked
        {
            return Ok(listing.as_ref().clone());
        }
        let started = tokio::time::Instant::now();
        let listing = self.fleet.boxed_list_agents().await;
        // Kept only for the callers that queued meanwhile.
        *last = match &listing {
            Ok(l) if self.waiting.load(SeqCst) > 0 => Some((started, Arc::new(l.clone()))),
            _ => None,
        };
        listing
    }
}

/// What every pool's engine is started with.
pub struct PoolsConfig {
    /// The database (any handle: each engine gets one scoped to its pool).
    pub store: Store,
    /// Where actions go (one fleet for every pool).
    pub actuator: Arc<dyn DynActuator>,
    /// The engines' clock.
    pub clock: Arc<dyn Clock>,
    /// The engine settings every pool shares (limits, demand step, alerts); the scheduler
    /// settings and tick interval are the pool's.
    pub engine: EngineConfig,
    /// The top-level forecaster.
    pub forecaster: ForecasterChoice,
    /// `[pools.NAME]` overrides.
    pub overrides: BTreeMap<String, PoolSettings>,
    /// Who leads which pool.
    pub cluster: Arc<dyn Coordinator>,
    /// Where every engine's events are published (non-default pools' tagged with `pool`).
    pub hub: StreamHub,
    /// The server's shutdown: the event forwarders and tick loops end on it.
    pub shutdown: Shutdown,
}

/// The tick loops once the server runs.
struct Running {
    loops: Vec<JoinHandle<()>>,
}

struct Inner {
    cfg: PoolsConfig,
    settings: RwLock<RuntimeSettings>,
    engines: RwLock<BTreeMap<String, Engine>>,
    /// Every pool's engine metrics but the default pool's (which sit in the main registry
    /// unlabeled, as in one-pool versions), each under `pool=NAME`.
    registries: RwLock<BTreeMap<String, Arc<Registry>>>,
    adding: tokio::sync::Mutex<()>,
    running: Mutex<Option<Running>>,
}

/// The pools' engines; cheap to clone.
#[derive(Clone)]
pub struct Pools {
    inner: Arc<Inner>,
}

impl Pools {
    /// Starts the engines of the default pool, the configured pools and the pools the store
    /// has recorded, each following its pool's elector; the settings in force are `settings`.
    pub async fn start(cfg: PoolsConfig, settings: RuntimeSettings) -> Result<Pools, ApiError> {
        let mut names: Vec<String> = vec![DEFAULT_POOL.to_owned()];
        names.extend(cfg.overrides.keys().cloned());
        names.extend(cfg.store.pools().await?);
        names.sort();
        names.dedup();
        let cfg = PoolsConfig {
            actuator: Arc::new(SharedListing::new(cfg.actuator)),
            ..cfg
        };
        let pools = Pools {
            inner: Arc::new(Inner {
                cfg,
                settings: RwLock::new(settings),
                engines: RwLock::default(),
                registries: RwLock::default(),
                adding: tokio::sync::Mutex::new(()),
                running: Mutex::new(None),
            }),
        };
        // Every lease loop starts knowing of every pool (the placement needs the count).
        let electors = pools.inner.cfg.cluster.electors(&names);
        for (name, elector) in names.iter().zip(electors) {
            pools.add(name, Some(elector)).await?;
        }
        Ok(pools)
    }

    /// The engine of `pool`, if this replica runs one.
    pub fn get(&self, pool: &str) -> Option<Engine> {
        read(&self.inner.engines).get(pool).cloned()
    }

    /// The engine of `pool`, or 404 `not_found` naming the pool.
    pub fn engine(&self, pool: &str) -> Result<Engine, ApiError> {
        self.get(pool).ok_or_else(|| ApiError::NotFound {
            what: "pool",
            key: pool.to_owned(),
        })
    }

    /// The default pool's engine.
    pub fn default_engine(&self) -> Engine {
        self.get(DEFAULT_POOL)
            .expect("the default pool's engine is started first and never removed")
    }

    /// Every engine, by pool name.
    pub fn all(&self) -> Vec<Engine> {
        read(&self.inner.engines).values().cloned().collect()
    }

    /// The pools this replica runs an engine for, sorted.
    pub fn names(&self) -> Vec<String> {
        read(&self.inner.engines).keys().cloned().collect()
    }

    /// The effective settings of `pool` over the settings in force.
    fn settings_of(&self, pool: &str) -> Result<RuntimeSettings, ApiError> {
        let base = read(&self.inner.settings).clone();
        match self.inner.cfg.overrides.get(pool) {
            Some(o) => Ok(RuntimeSettings {
                tick_interval: base.tick_interval,
                scheduler: o.effective(&base.scheduler)?,
            }),
            None => Ok(base),
        }
    }

    /// Starts `pool`'s engine if this replica has none yet (a pool heartbeated into); the
    /// engine of a pool already running is returned as it is.
    pub async fn ensure(&self, pool: &str) -> Result<Engine, ApiError> {
        if let Some(e) = self.get(pool) {
            return Ok(e);
        }
        self.add(pool, None).await
    }

    async fn add(
        &self,
        pool: &str,
        elector: Option<Arc<dyn hivesched_coord::LeaderElector>>,
    ) -> Result<Engine, ApiError> {
        let _one_at_a_time = self.inner.adding.lock().await;
        if let Some(e) = self.get(pool) {
            return Ok(e);
        }
        let cfg = &self.inner.cfg;
        let settings = self.settings_of(pool)?;
        let engine_config = EngineConfig {
            scheduler: settings.scheduler.clone(),
            tick_interval: settings.tick(),
            ..cfg.engine.clone()
        };
        let forecaster = cfg
            .overrides
            .get(pool)
            .and_then(|o| o.forecaster)
            .unwrap_or(cfg.forecaster);
        let elector = elector.unwrap_or_else(|| cfg.cluster.elector(pool));
        let (engine, recovery) = Engine::start_following(
            cfg.store.in_pool(pool),
            Arc::clone(&cfg.actuator),
            engine_config,
            Arc::clone(&cfg.clock),
            forecaster.factory(EnsembleConfig::default()),
            Some(elector),
        )
        .await?;
        tracing::info!(pool, ?recovery, "engine started");
        if pool != DEFAULT_POOL {
            // The acting scope is process-wide: a new pool's engine starts under the one in
            // force.
            if let Some(default) = self.get(DEFAULT_POOL) {
                engine.set_acting_scope(default.acting_scope(), Instant::now());
            }
            let mut registry = Registry::default();
            engine.metrics().register(
                registry.sub_registry_with_label(("pool".into(), pool.to_owned().into())),
            );
            write(&self.inner.registries).insert(pool.to_owned(), Arc::new(registry));
        }
        write(&self.inner.engines).insert(pool.to_owned(), engine.clone());
        forward::spawn(&engine, cfg.hub.clone(), cfg.shutdown.clone());
        if let Some(running) = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            spawn_loop(&engine, &cfg.shutdown, running);
        }
        Ok(engine)
    }

    /// Runs every engine's tick loop (and those of pools found later) until the server's
    /// shutdown fires; returns when every loop has drained.
    pub async fn run(&self) {
        let shutdown = &self.inner.cfg.shutdown;
        let mut stopped = shutdown.subscribe();
        {
            let mut running = Running { loops: Vec::new() };
            for engine in self.all() {
                spawn_loop(&engine, shutdown, &mut running);
            }
            *self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(running);
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(DISCOVERY) => self.discover().await,
                _ = stopped.changed() => {}
            }
            if *stopped.borrow() {
                break;
            }
        }
        let loops = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|r| r.loops)
            .unwrap_or_default();
        for handle in loops {
            if let Err(e) = handle.await {
                tracing::error!(error = %e, "an engine loop ended abnormally");
            }
        }
    }

    /// Starts the engines of pools recorded in the store since the last look.
    pub async fn discover(&self) {
        let names = match self.inner.cfg.store.pools().await {
            Ok(names) => names,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the pools");
                return;
            }
        };
        for name in names {
            if self.get(&name).is_none()
                && let Err(e) = self.ensure(&name).await
            {
                tracing::warn!(pool = %name, error = %e, "cannot start the pool's engine");
            }
        }
    }

    /// Checks that `settings` give every configured pool valid settings (an error names the
    /// pool's key).
    pub fn check(&self, settings: &RuntimeSettings) -> Result<(), ApiError> {
        for o in self.inner.cfg.overrides.values() {
            o.effective(&settings.scheduler)?;
        }
        Ok(())
    }

    /// Puts new settings in force in every pool (each over its own overrides).
    pub fn update_settings(&self, settings: &RuntimeSettings) -> Result<(), ApiError> {
        self.check(settings)?;
        *write(&self.inner.settings) = settings.clone();
        for engine in self.all() {
            let s = self.settings_of(engine.pool())?;
            let tick = s.tick();
            engine.update_config(s.scheduler, tick)?;
        }
        Ok(())
    }

    /// The stored controls changed (here or through another replica): every engine puts them
    /// in force; `except` (the engine that made the change) has already.
    pub async fn controls_changed(&self, except: Option<&str>) -> Result<(), ApiError> {
        for engine in self.all() {
            if Some(engine.pool()) != except {
                engine.controls_changed().await?;
            }
        }
        Ok(())
    }

    /// Bulk operations were stored: each pool's leader starts its own.
    pub async fn bulks_submitted(&self) -> Result<(), ApiError> {
        for engine in self.all() {
            engine.bulks_submitted().await?;
        }
        Ok(())
    }

    /// Puts the scheduler's acting scope in force in every pool.
    pub fn set_acting_scope(&self, scope: &ActingScope, decided: Instant) {
        for engine in self.all() {
            engine.set_acting_scope(scope.clone(), decided);
        }
    }

    /// Whether ticks are happening: stalled when any engine that acts here is.
    pub fn tick_health(&self) -> TickHealth {
        self.all()
            .iter()
            .map(Engine::tick_health)
            .find(|h| matches!(h, TickHealth::Stalled(_)))
            .unwrap_or(TickHealth::Ticking)
    }

    /// `/metrics`: `main` (the default pool's engine metrics among the server's, unlabeled)
    /// and every other pool's engine metrics labelled `pool="NAME"`, one family each.
    pub fn encode_metrics(&self, main: &Registry) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode_registry(&mut text, main)?;
        let registries: Vec<Arc<Registry>> =
            read(&self.inner.registries).values().cloned().collect();
        let mut extra = Vec::with_capacity(registries.len());
        for r in registries {
            let mut t = String::new();
            prometheus_client::encoding::text::encode_registry(&mut t, &r)?;
            extra.push(t);
        }
        let mut out = merge_families(&text, &extra);
        prometheus_client::encoding::text::encode_eof(&mut out)?;
        Ok(out)
    }
}

fn spawn_loop(engine: &Engine, shutdown: &Shutdown, running: &mut Running) {
    let e = engine.clone();
    let stopped = shutdown.subscribe();
    running
        .loops
        .push(tokio::spawn(async move { e.run(stopped).await }));
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// One metric family of an OpenMetrics text: its `# HELP`/`# TYPE`/`# UNIT` lines and samples.
struct Family<'a> {
    name: &'a str,
    header: Vec<&'a str>,
    samples: Vec<&'a str>,
}

fn families(text: &str) -> Vec<Family<'_>> {
    let mut out: Vec<Family<'_>> = Vec::new();
    for line in text.lines() {
        if line == "# EOF" || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            out.push(Family {
                name,
                header: vec![line],
                samples: Vec::new(),
            });
        } else if line.starts_with("# ") {
            if let Some(f) = out.last_mut() {
                f.header.push(line);
            }
        } else if let Some(f) = out.last_mut() {
            f.samples.push(line);
        }
    }
    out
}

/// `main`'s families with the samples of `extra`'s families of the same name appended (and
/// `extra`'s other families after them): one `# HELP`/`# TYPE` per name, as the format asks.
fn merge_families(main: &str, extra: &[String]) -> String {
    let mut merged = families(main);
    for text in extra {
        for f in families(text) {
            match merged.iter_mut().find(|m| m.name == f.name) {
                Some(m) => m.samples.extend(f.samples),
                None => merged.push(f),
            }
        }
    }
    let mut out = String::with_capacity(main.len() * 2);
    for f in merged {
        for line in f.header.iter().chain(&f.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_pattern_is_the_check() {
        let pattern = regex::Regex::new(&pool_pattern()).unwrap();
        let long = "a".repeat(hivesched_store::MAX_POOL_NAME);
        let longer = "a".repeat(hivesched_store::MAX_POOL_NAME + 1);
        for name in [
            "default",
            "gpu",
            "a",
            "0",
            "gpu_a-1",
            "",
            "-a",
            "_a",
            "GPU",
            "a b",
            "a.b",
            "é",
            long.as_str(),
            longer.as_str(),
            "a\n",
        ] {
            assert_eq!(
                pattern.is_match(name),
                check_pool("pool", name).is_ok(),
                "{name:?}"
            );
        }
    }

    /// A fleet whose listing takes 50 ms and counts its requests.
    struct SlowFleet(std::sync::atomic::AtomicU32);

    impl Actuator for SlowFleet {
        async fn sleep(&self, _: &AgentId, _: &ActuationRequest) -> Result<Outcome, ActuatorError> {
            unreachable!()
        }
        async fn wake(&self, _: &AgentId, _: &ActuationRequest) -> Result<Outcome, ActuatorError> {
            unreachable!()
        }
        async fn list_agents(&self) -> Result<Vec<AgentStatus>, ActuatorError> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(vec![AgentStatus {
                id: AgentId::from(format!("listing-{n}").as_str()),
                state: hivesched_policy::AgentState::Awake,
                busy: false,
                context_tokens: 0,
            }])
        }
    }

    #[tokio::test]
    async fn pools_asking_at_once_share_a_listing_never_an_older_one() {
        let fleet = Arc::new(SlowFleet(Default::default()));
        let shared = Arc::new(SharedListing::new(fleet.clone()));
        // Eight ticks ask at once: the first request, and one more for those who asked while
        // it was under way (its answer may predate them).
        let asks: Vec<_> = (0..8)
            .map(|_| {
                let s = Arc::clone(&shared);
                tokio::spawn(async move { s.list_agents().await.unwrap() })
            })
            .collect();
        for a in asks {
            a.await.unwrap();
        }
        let requests = fleet.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(requests <= 2, "{requests} requests for 8 ticks");
        // Asked later, alone: a fresh request, not the kept answer.
        let later = shared.list_agents().await.unwrap();
        assert_eq!(later[0].id.0, format!("listing-{requests}"));
    }

    #[test]
    fn families_merge_under_one_header() {
        let main = "# HELP hivesched_leader 1 while leading.\n# TYPE hivesched_leader gauge\n\
                    hivesched_leader 1\n# HELP hivesched_ticks Ticks.\n# TYPE hivesched_ticks counter\n\
                    hivesched_ticks_total 5\n# EOF\n";
        let gpu = "# HELP hivesched_leader 1 while leading.\n# TYPE hivesched_leader gauge\n\
                   hivesched_leader{pool=\"gpu\"} 0\n# HELP hivesched_ticks Ticks.\n\
                   # TYPE hivesched_ticks counter\nhivesched_ticks_total{pool=\"gpu\"} 2\n";
        let out = merge_families(main, &[gpu.to_owned()]);
        assert_eq!(
            out,
            "# HELP hivesched_leader 1 while leading.\n# TYPE hivesched_leader gauge\n\
             hivesched_leader 1\nhivesched_leader{pool=\"gpu\"} 0\n\
             # HELP hivesched_ticks Ticks.\n# TYPE hivesched_ticks counter\n\
             hivesched_ticks_total 5\nhivesched_ticks_total{pool=\"gpu\"} 2\n"
        );
    }
}
