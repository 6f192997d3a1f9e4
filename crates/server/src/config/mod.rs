//! The service's configuration: a TOML file overlaid by `HIVE_*` environment variables, checked
//! key by key so every error names the key it is about.
//!
//! Keys are flat where they concern the service (`listen`, `database_url`, `jwt_secret`,
//! `tick_interval`, …, the `[actuator]` and `[cluster]` tables); every other key is a key of
//! [`SchedulerConfig`] (`shadow`, `capacity`, `[rails]`, …). An environment variable names a
//! key by its dotted path in upper case with `__` for the dots: `HIVE_DATABASE_URL`,
//! `HIVE_RAILS__MIN_AWAKE`, `HIVE_ACTUATOR__BASE_URL`, `HIVE_CLUSTER__REDIS_URL`.

mod cluster;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hivesched_engine::actuators::ActuatorSettings;
use hivesched_engine::alert_delivery::DeliveryConfig;
use hivesched_forecast::ForecasterChoice;
use hivesched_policy::SchedulerConfig;
use hivesched_policy::alerts::AlertConfig;
use serde::{Deserialize, Serialize};
use toml::{Table, Value};
use utoipa::ToSchema;

use crate::error::ApiError;

pub use cluster::ClusterConfig;
use cluster::ClusterKeys;

/// Prefix of the environment variables that override keys.
pub const ENV_PREFIX: &str = "HIVE_";

/// Keys whose environment values are always taken as text (a secret of digits stays a string).
const TEXT_KEYS: [&str; 13] = [
    "listen",
    "forecaster",
    "database_url",
    "jwt_secret",
    "audit_key",
    "actuator.kind",
    "actuator.base_url",
    "alert_delivery.alertmanager_url",
    "alert_delivery.webhook_url",
    "alert_delivery.webhook_secret",
    "cluster.redis_url",
    "cluster.node_id",
    "cluster.key_prefix",
];

/// Environment variables with the prefix that are not configuration keys.
const NOT_KEYS: [&str; 1] = ["HIVE_LOG"];

/// Environment variables for the tests (`HIVE_TEST_POSTGRES_URL`, …), never keys: CI exports
/// them to every process it starts.
const TEST_VARS_PREFIX: &str = "HIVE_TEST_";

/// Top-level keys that belong to the service rather than to the scheduler.
const SERVICE_KEYS: [&str; 17] = [
    "pools",
    "flag_check_interval",
    "forecaster",
    "max_concurrent_tasks",
    "bulk_rail_wait",
    "listen",
    "database_url",
    "jwt_secret",
    "audit_key",
    "tick_interval",
    "demand_step",
    "max_body_bytes",
    "request_timeout",
    "actuator",
    "alerts",
    "alert_delivery",
    "cluster",
];

/// Keys that existed once, with what replaced them: a file that still sets one is refused
/// with this hint rather than a bare "unknown field".
const REMOVED_KEYS: [(&str, &str); 1] = [(
    "sleeps_per_minute",
    "removed: the rail rails.sleep_rate per rails.sleep_rate_window is the one sleep-rate \
     limit; it is counted from the task journal and paces bulk operations too",
)];

/// The ranges of the service's numeric keys (the scheduler's are in
/// [`hivesched_policy::config::ranges`]); each is written once, here.
pub mod ranges {
    use hivesched_policy::config::Range;

    /// `tick_interval`.
    pub const TICK_INTERVAL: Range = Range::new("tick_interval", 1.0, 3600.0, "s");
    /// `demand_step`.
    pub const DEMAND_STEP: Range = Range::new("demand_step", 1.0, 86_400.0, "s");
    /// `max_concurrent_tasks`.
    pub const MAX_CONCURRENT_TASKS: Range = Range::new("max_concurrent_tasks", 1.0, 1000.0, "");
    /// `bulk_rail_wait`.
    pub const BULK_RAIL_WAIT: Range = Range::new("bulk_rail_wait", 0.0, 86_400.0, "s");
    /// `request_timeout`.
    pub const REQUEST_TIMEOUT: Range = Range::new("request_timeout", 1.0, 3600.0, "s");
    /// `flag_check_interval`: how often every active rollout is checked.
    pub const FLAG_CHECK_INTERVAL: Range = Range::new("flag_check_interval", 1.0, 86_400.0, "s");
    /// `max_body_bytes`: at least a small request, at most 64 MiB.
    pub const MAX_BODY_BYTES: Range = Range::new("max_body_bytes", 1024.0, 67_108_864.0, "bytes");
    /// `alert_delivery.timeout`: one request to an alert receiver.
    pub const ALERT_TIMEOUT: Range = Range::new("alert_delivery.timeout", 1.0, 300.0, "s");
    /// `cluster.lease_ttl`: how long a leader's lease lives without renewal. At least 1 s: the
    /// leader renews every third of it and steps down after two thirds without success, so
    /// below a second a Redis round trip plus a scheduling pause on a busy host would make it
    /// step down for nothing. At most 300 s: a dead leader is replaced only when its lease
    /// runs out, and five minutes without anyone acting is already long for a fleet.
    pub const LEASE_TTL: Range = Range::new("cluster.lease_ttl", 1.0, 300.0, "s");
}

/// Settings that may change while the service runs (through `PUT /api/v1/config`); each change
/// is stored as a new configuration version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Seconds between two ticks of the engine (`ranges::TICK_INTERVAL`).
    pub tick_interval: u64,
    /// The scheduler's rails and safety settings (see `policy::SchedulerConfig`).
    #[schema(value_type = Object)]
    pub scheduler: SchedulerConfig,
}

impl RuntimeSettings {
    /// Checks every value; the error names the key as the API body spells it.
    pub fn validate(&self) -> Result<(), ApiError> {
        ranges::TICK_INTERVAL
            .check(self.tick_interval as f64)
            .map_err(ApiError::from)?;
        self.scheduler.validate().map_err(|e| match e {
            hivesched_policy::PolicyError::InvalidConfig { key, reason } => {
                ApiError::invalid_value(format!("scheduler.{key}"), reason)
            }
            other => ApiError::Internal(other.to_string()),
        })
    }

    /// The tick interval as a duration.
    pub fn tick(&self) -> Duration {
        Duration::from_secs(self.tick_interval)
    }
}

/// The whole configuration of `hivesched serve`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// HS256 signing secret; `None` is only allowed in demo mode.
    pub jwt_secret: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Requests running longer are answered 503 `timeout`.
    pub request_timeout: Duration,
    /// Interval of the demand series the forecaster works on (one sample per step).
    pub demand_step: Duration,
    /// Time between two checks of every active rollout (see docs/rollout.md).
    pub flag_check_interval: Duration,
    /// Automation tasks calling the fleet at once.
    pub max_concurrent_tasks: usize,
    /// How long a bulk operation's task waits out a rail or hold before it is refused.
    pub bulk_rail_wait: Duration,
    /// Secret keying the audit chain; `None` derives it from `jwt_secret`.
    pub audit_key: Option<String>,
    /// Where actions go.
    pub actuator: ActuatorSettings,
    /// The forecaster behind the `predictive` plan.
    pub forecaster: ForecasterChoice,
    /// The alert rules' thresholds (`[alerts]`).
    pub alerts: AlertConfig,
    /// Where alerts are sent (`[alert_delivery]`; nowhere by default).
    pub alert_delivery: DeliveryConfig,
    /// Several replicas (`[cluster]`; alone by default).
    pub cluster: ClusterConfig,
    /// Settings also changeable at run time.
    pub settings: RuntimeSettings,
}

/// One `[pools.NAME]` table: the scheduler keys (rails, latencies, `schedules`, …) and the
/// `forecaster` a pool plans with instead of the top-level ones. Anything unset is inherited
/// from the top level — from the settings in force, so a `PUT /api/v1/config` reaches every
/// pool but for the keys a pool sets itself. Tables merge key by key (`[pools.gpu.rails]
/// min_awake = 1` keeps the other rails); arrays (`schedules`) are replaced whole.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// The pool's name.
    pub name: String,
    /// The scheduler keys the pool sets, as written.
    pub scheduler: Table,
    /// The pool's forecaster, if it sets one.
    pub forecaster: Option<ForecasterChoice>,
}

impl PoolSettings {
    /// Reads `[pools.NAME]`, checking the name, the keys and every value against `base`
    /// (errors name the key in full: `pools.gpu.rails.min_awake`).
    fn read(name: &str, value: Value, base: &SchedulerConfig) -> Result<Self, ApiError> {
        let key = format!("pools.{name}");
        hivesched_store::check_pool_name(name).map_err(|reason| ApiError::config(&key, reason))?;
        let Value::Table(mut table) = value else {
            return Err(ApiError::config(key, "expected a table of scheduler keys"));
        };
        let forecaster = match table.remove("forecaster") {
            Some(v) => {
                let mut t = Table::new();
                t.insert("forecaster".into(), v);
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Only {
                    forecaster: ForecasterChoice,
                }
                Some(typed::<Only>(t, &format!("{key}."))?.forecaster)
            }
            None => None,
        };
        if let Some(k) = table.keys().find(|k| SERVICE_KEYS.contains(&k.as_str())) {
            return Err(ApiError::config(
                format!("{key}.{k}"),
                "a service key: a pool sets scheduler keys and `forecaster` only",
            ));
        }
        let pool = PoolSettings {
            name: name.to_owned(),
            scheduler: table,
            forecaster,
        };
        pool.effective(base).map_err(|e| match e {
            ApiError::InvalidValue { field, message } => ApiError::config(field, message),
            other => other,
        })?;
        Ok(pool)
    }

    /// The pool's scheduler settings over `base`; an `invalid_value` error names the key in
    /// full (`pools.gpu.rails.min_awake`).
    pub fn effective(&self, base: &SchedulerConfig) -> Result<SchedulerConfig, ApiError> {
        let prefix = format!("pools.{}.", self.name);
        let Value::Table(mut merged) = to_value(base)? else {
            return Err(ApiError::Internal(
                "scheduler settings are not a table".into(),
            ));
        };
        merge(&mut merged, &self.scheduler);
        let config: SchedulerConfig = typed(merged, &prefix).map_err(|e| match e {
            ApiError::Config { key, reason } => ApiError::invalid_value(key, reason),
            other => other,
        })?;
        config.validate().map_err(|e| match e {
            hivesched_policy::PolicyError::InvalidConfig { key, reason } => {
                ApiError::invalid_value(format!("{prefix}{key}"), reason)
            }
            other => ApiError::Internal(other.to_string()),
        })?;
        Ok(config)
    }
}

/// Writes `over` onto `base` key by key: tables merge, anything else replaces.
fn merge(base: &mut Table, over: &Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The `[alert_delivery]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertDeliveryKeys {
    alertmanager_url: Option<String>,
    webhook_url: Option<String>,
    webhook_secret: Option<String>,
    #[serde(default = "default_alert_timeout")]
    timeout: u64,
}

fn default_alert_timeout() -> u64 {
    10
}

impl Default for AlertDeliveryKeys {
    fn default() -> Self {
        AlertDeliveryKeys {
            alertmanager_url: None,
            webhook_url: None,
            webhook_secret: None,
            timeout: default_alert_timeout(),
        }
    }
}

impl AlertDeliveryKeys {
    fn checked(self) -> Result<DeliveryConfig, ApiError> {
        for (key, url) in [
            ("alert_delivery.alertmanager_url", &self.alertmanager_url),
            ("alert_delivery.webhook_url", &self.webhook_url),
        ] {
            if let Some(url) = url {
                let uri: axum::http::Uri = url
                    .parse()
                    .map_err(|e| ApiError::config(key, format!("{e} (expected an http(s) URL)")))?;
                if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                    return Err(ApiError::config(key, "expected an http:// or https:// URL"));
                }
            }
        }
        if self.webhook_secret.is_some() && self.webhook_url.is_none() {
            return Err(ApiError::config(
                "alert_delivery.webhook_secret",
                "set without alert_delivery.webhook_url",
            ));
        }
        if self
            .webhook_secret
            .as_ref()
            .is_some_and(|s| s.len() < crate::auth::MIN_SECRET_BYTES)
        {
            return Err(ApiError::config(
                "alert_delivery.webhook_secret",
                format!("must be at least {} bytes", crate::auth::MIN_SECRET_BYTES),
            ));
        }
        ranges::ALERT_TIMEOUT
            .check(self.timeout as f64)
            .map_err(|e| ApiError::config(ranges::ALERT_TIMEOUT.key, policy_reason(e)))?;
        Ok(DeliveryConfig {
            alertmanager_url: self.alertmanager_url,
            webhook_url: self.webhook_url,
            webhook_secret: self.webhook_secret,
            timeout: Duration::from_secs(self.timeout),
        })
    }
}

/// The service keys as they appear in the file (durations in seconds).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceKeys {
    #[serde(default = "default_listen")]
    listen: String,
    #[serde(default = "default_database_url")]
    database_url: String,
    #[serde(default)]
    jwt_secret: Option<String>,
    #[serde(default)]
    audit_key: Option<String>,
    #[serde(default = "default_tick_interval")]
    tick_interval: u64,
    #[serde(default = "default_demand_step")]
    demand_step: u64,
    #[serde(default = "default_max_concurrent_tasks")]
    max_concurrent_tasks: usize,
    #[serde(default = "default_bulk_rail_wait")]
    bulk_rail_wait: u64,
    #[serde(default = "default_max_body_bytes")]
    max_body_bytes: usize,
    #[serde(default = "default_request_timeout")]
    request_timeout: u64,
    #[serde(default = "default_flag_check_interval")]
    flag_check_interval: u64,
    #[serde(default)]
    actuator: ActuatorSettings,
    #[serde(default)]
    forecaster: ForecasterChoice,
    #[serde(default)]
    alerts: AlertConfig,
    #[serde(default)]
    alert_delivery: AlertDeliveryKeys,
    #[serde(default)]
    cluster: ClusterKeys,
    #[serde(default)]
    pools: Table,
}

fn default_listen() -> String {
    "127.0.0.1:8080".to_owned()
}
/// Default database: a SQLite file in the working directory, created on first start.
pub fn default_database_url() -> String {
    "sqlite://hivesched.db?mode=rwc".to_owned()
}
fn default_tick_interval() -> u64 {
    10
}
fn default_max_concurrent_tasks() -> usize {
    5
}
fn default_bulk_rail_wait() -> u64 {
    1800
}
fn default_demand_step() -> u64 {
    60
}
fn default_max_body_bytes() -> usize {
    1024 * 1024
}
fn default_request_timeout() -> u64 {
    30
}
/// One minute: a window long enough to hold a few heartbeats of every agent (they report every
/// 10 s by default), short enough that a sustained breach (3 checks) rolls back in minutes.
fn default_flag_check_interval() -> u64 {
    60
}

impl ServiceConfig {
    /// Reads `path` (if given), overlays `HIVE_*` variables from `env`, and checks everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ApiError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ApiError::Io {
                context: format!("reading {}", p.display()),
                source,
            })?,
            None => String::new(),
        };
        Self::from_toml(&text, env)
    }

    /// Parses TOML text, overlays `HIVE_*` variables from `env`, and checks everything.
    pub fn from_toml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ApiError> {
        let mut table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ApiError::config("(file)", e.message().to_owned()))?;
        overlay_env(&mut table, env)?;
        for (key, hint) in REMOVED_KEYS {
            if table.contains_key(key) {
                return Err(ApiError::config(key, hint));
            }
        }
        let (service, scheduler): (Table, Table) = table
            .into_iter()
            .partition(|(k, _)| SERVICE_KEYS.contains(&k.as_str()));
        let keys: ServiceKeys = typed(service, "")?;
        let scheduler: SchedulerConfig = typed(scheduler, "")?;
        let listen = keys
            .listen
            .parse()
            .map_err(|e| ApiError::config("listen", format!("{e} (expected HOST:PORT)")))?;
        hivesched_store::Backend::from_url(&keys.database_url)
            .map_err(|e| ApiError::config("database_url", e.to_string()))?;
        if let Some(secret) = &keys.jwt_secret {
            crate::auth::TokenKeys::new(secret.as_bytes())?;
        }
        if keys
            .audit_key
            .as_ref()
            .is_some_and(|k| k.len() < crate::auth::MIN_SECRET_BYTES)
        {
            return Err(ApiError::config(
                "audit_key",
                format!("must be at least {} bytes", crate::auth::MIN_SECRET_BYTES),
            ));
        }
        for (range, value) in [
            (ranges::MAX_BODY_BYTES, keys.max_body_bytes as f64),
            (ranges::REQUEST_TIMEOUT, keys.request_timeout as f64),
            (
                ranges::MAX_CONCURRENT_TASKS,
                keys.max_concurrent_tasks as f64,
            ),
            (ranges::BULK_RAIL_WAIT, keys.bulk_rail_wait as f64),
            (ranges::DEMAND_STEP, keys.demand_step as f64),
            (ranges::FLAG_CHECK_INTERVAL, keys.flag_check_interval as f64),
        ] {
            range
                .check(value)
                .map_err(|e| ApiError::config(range.key, policy_reason(e)))?;
        }
        keys.actuator.validate().map_err(|e| match e {
            hivesched_engine::EngineError::InvalidConfig { key, reason } => {
                ApiError::config(key, reason)
            }
            other => ApiError::config("actuator", other.to_string()),
        })?;
        keys.alerts.validate().map_err(|e| match e {
            hivesched_policy::PolicyError::InvalidConfig { key, reason } => {
                ApiError::config(key, reason)
            }
            other => ApiError::config("alerts", other.to_string()),
        })?;
        let alert_delivery = keys.alert_delivery.checked()?;
        let mut cluster = keys.cluster.checked()?;
        cluster.pools = keys
            .pools
            .into_iter()
            .map(|(name, value)| PoolSettings::read(&name, value, &scheduler).map(|p| (name, p)))
            .collect::<Result<std::collections::BTreeMap<_, _>, ApiError>>()?;
        let settings = RuntimeSettings {
            tick_interval: keys.tick_interval,
            scheduler,
        };
        settings.validate().map_err(|e| match e {
            ApiError::InvalidValue { field, message } => {
                ApiError::config(field.trim_start_matches("scheduler.").to_owned(), message)
            }
            other => other,
        })?;
        Ok(ServiceConfig {
            listen,
            database_url: keys.database_url,
            jwt_secret: keys.jwt_secret,
            max_body_bytes: keys.max_body_bytes,
            request_timeout: Duration::from_secs(keys.request_timeout),
            demand_step: Duration::from_secs(keys.demand_step),
            flag_check_interval: Duration::from_secs(keys.flag_check_interval),
            max_concurrent_tasks: keys.max_concurrent_tasks,
            bulk_rail_wait: Duration::from_secs(keys.bulk_rail_wait),
            audit_key: keys.audit_key,
            actuator: keys.actuator,
            forecaster: keys.forecaster,
            alerts: keys.alerts,
            alert_delivery,
            cluster,
            settings,
        })
    }

    /// The key of the audit chain: `audit_key`, else derived from `jwt_secret`; `None` when
    /// neither is set (a verifier without it checks the links only).
    pub fn audit_key(&self) -> Option<hivesched_store::AuditKey> {
        match (&self.audit_key, &self.jwt_secret) {
            (Some(key), _) => Some(hivesched_store::AuditKey::new(key.as_bytes())),
            (None, Some(secret)) => {
                Some(hivesched_store::AuditKey::derived_from(secret.as_bytes()))
            }
            (None, None) => None,
        }
    }

    /// The effective configuration as TOML, with the secret and database password redacted.
    pub fn to_redacted_toml(&self) -> Result<String, ApiError> {
        let mut table = Table::new();
        table.insert("listen".into(), Value::String(self.listen.to_string()));
        table.insert(
            "database_url".into(),
            Value::String(redact_url(&self.database_url)),
        );
        table.insert(
            "jwt_secret".into(),
            Value::String(match &self.jwt_secret {
                Some(_) => "(set, redacted)".into(),
                None => "(not set)".into(),
            }),
        );
        table.insert(
            "tick_interval".into(),
            Value::Integer(self.settings.tick_interval as i64),
        );
        table.insert(
            "max_body_bytes".into(),
            Value::Integer(self.max_body_bytes as i64),
        );
        table.insert(
            "request_timeout".into(),
            Value::Integer(self.request_timeout.as_secs() as i64),
        );
        table.insert(
            "demand_step".into(),
            Value::Integer(self.demand_step.as_secs() as i64),
        );
        table.insert(
            "flag_check_interval".into(),
            Value::Integer(self.flag_check_interval.as_secs() as i64),
        );
        table.insert(
            "max_concurrent_tasks".into(),
            Value::Integer(self.max_concurrent_tasks as i64),
        );
        table.insert(
            "bulk_rail_wait".into(),
            Value::Integer(self.bulk_rail_wait.as_secs() as i64),
        );
        table.insert(
            "audit_key".into(),
            Value::String(match &self.audit_key {
                Some(_) => "(set, redacted)".into(),
                None => "(derived from jwt_secret)".into(),
            }),
        );
        table.insert("actuator".into(), to_value(&self.actuator)?);
        table.insert("forecaster".into(), to_value(&self.forecaster)?);
        table.insert("alerts".into(), to_value(&self.alerts)?);
        let mut delivery = Table::new();
        let d = &self.alert_delivery;
        for (key, value) in [
            ("alertmanager_url", d.alertmanager_url.clone()),
            ("webhook_url", d.webhook_url.clone()),
            (
                "webhook_secret",
                d.webhook_secret
                    .as_ref()
                    .map(|_| "(set, redacted)".to_owned()),
            ),
        ] {
            if let Some(v) = value {
                delivery.insert(key.into(), Value::String(v));
            }
        }
        delivery.insert("timeout".into(), Value::Integer(d.timeout.as_secs() as i64));
        table.insert("alert_delivery".into(), Value::Table(delivery));
        let mut cluster = Table::new();
        let c = &self.cluster;
        if let Some(url) = &c.redis_url {
            cluster.insert("redis_url".into(), Value::String(redact_url(url)));
        }
        cluster.insert(
            "lease_ttl".into(),
            Value::Integer(c.lease_ttl.as_secs() as i64),
        );
        cluster.insert("node_id".into(), Value::String(c.node_id.clone()));
        cluster.insert("key_prefix".into(), Value::String(c.key_prefix.clone()));
        table.insert("cluster".into(), Value::Table(cluster));
        if let Value::Table(scheduler) = to_value(&self.settings.scheduler)? {
            table.extend(scheduler);
        }
        if !self.cluster.pools.is_empty() {
            let mut pools = Table::new();
            for (name, p) in &self.cluster.pools {
                let mut t = p.scheduler.clone();
                if let Some(f) = &p.forecaster {
                    t.insert("forecaster".into(), to_value(f)?);
                }
                pools.insert(name.clone(), Value::Table(t));
            }
            table.insert("pools".into(), Value::Table(pools));
        }
        toml::to_string_pretty(&table).map_err(|e| ApiError::Internal(e.to_string()))
    }
}

/// The reason text of a policy range error (the key is named by the caller).
fn policy_reason(e: hivesched_policy::PolicyError) -> String {
    match e {
        hivesched_policy::PolicyError::InvalidConfig { reason, .. } => reason,
        other => other.to_string(),
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    Value::try_from(v).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Deserializes a table into `T`, naming the offending key (prefixed by `prefix`) on error.
fn typed<T: serde::de::DeserializeOwned>(table: Table, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Value::Table(table)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // toml repeats the key on a second line ("in `rails.min_awake`"): the key is named below.
        let first_line = inner.lines().next().unwrap_or_default();
        let (field, message) = crate::extract::name_field(&path, first_line);
        let field = if field == "(body)" {
            "(file)".to_owned()
        } else {
            format!("{prefix}{field}")
        };
        ApiError::config(field, message)
    })
}

/// Applies `HIVE_A__B=value` as key `a.b`, creating tables on the way.
fn overlay_env(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ApiError> {
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with(ENV_PREFIX)
                && !k.starts_with(TEST_VARS_PREFIX)
                && !NOT_KEYS.contains(&k.as_str())
        })
        .collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = name[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        let dotted = path.join(".");
        if path.iter().any(String::is_empty) {
            return Err(ApiError::config(name, "empty key segment"));
        }
        let value = if TEXT_KEYS.contains(&dotted.as_str()) {
            Value::String(raw)
        } else {
            scalar(&raw)
        };
        let mut node = &mut *table;
        for segment in &path[..path.len() - 1] {
            let entry = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            node = match entry {
                Value::Table(t) => t,
                _ => return Err(ApiError::config(dotted, "is not a table in the file")),
            };
        }
        node.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

/// An environment value as TOML: `true`, `12`, `0.5`, `[1, 2]` keep their type; anything else
/// is text.
fn scalar(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

/// The URL with any password replaced, for printing.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_file() {
        let c = ServiceConfig::from_toml("", env(&[])).unwrap();
        assert_eq!(c.database_url, "sqlite://hivesched.db?mode=rwc");
        assert!(c.settings.scheduler.shadow);
        assert_eq!(c.settings.tick_interval, 10);
        assert_eq!(c.jwt_secret, None);
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = ServiceConfig::from_toml(
            "tick_interval = 5\n[rails]\nmin_awake = 3\n",
            env(&[
                ("HIVE_RAILS__MIN_AWAKE", "7"),
                ("HIVE_DATABASE_URL", "sqlite::memory:"),
                ("HIVE_JWT_SECRET", "12345678901234567890123456789012"),
                ("HIVE_SHADOW", "false"),
                ("HIVE_LOG", "debug"),
                ("HIVE_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
                ("HIVE_TEST_ANYTHING_ELSE", "x"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.settings.scheduler.rails.min_awake, 7);
        assert_eq!(c.settings.tick_interval, 5);
        assert_eq!(c.database_url, "sqlite::memory:");
        assert_eq!(
            c.jwt_secret.as_deref(),
            Some("12345678901234567890123456789012")
        );
        assert!(!c.settings.scheduler.shadow);
    }

    #[test]
    fn cluster_keys_default_to_alone_and_follow_the_environment() {
        let c = ServiceConfig::from_toml("", env(&[])).unwrap().cluster;
        assert!(c.alone());
        assert_eq!(c.lease_ttl, Duration::from_secs(10));
        assert_eq!(c.key_prefix, "hivesched");
        assert!(c.node_id.ends_with(&format!("-{}", std::process::id())));
        let c = ServiceConfig::from_toml(
            "[cluster]\nlease_ttl = 30\n",
            env(&[
                ("HIVE_CLUSTER__REDIS_URL", "redis://:pw@127.0.0.1:6379/0"),
                ("HIVE_CLUSTER__LEASE_TTL", "5"),
                ("HIVE_CLUSTER__NODE_ID", "replica-2"),
                ("HIVE_CLUSTER__KEY_PREFIX", "staging"),
            ]),
        )
        .unwrap();
        let printed = c.to_redacted_toml().unwrap();
        let c = c.cluster;
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@127.0.0.1:6379/0"));
        assert_eq!(c.lease_ttl, Duration::from_secs(5));
        assert_eq!(
            (c.node_id.as_str(), c.key_prefix.as_str()),
            ("replica-2", "staging")
        );
        assert!(!printed.contains("pw@"), "{printed}");
        assert!(
            printed.contains("redis://:***@127.0.0.1:6379/0"),
            "{printed}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[rails]\nmin_awake = \"x\"\n", "rails.min_awake"),
            (
                "[rails]\nmax_in_transition = 2.0\n",
                "rails.max_in_transition",
            ),
            ("bogus = 1\n", "bogus"),
            ("[rails]\nbogus = 1\n", "rails.bogus"),
            ("tick_interval = 0\n", "tick_interval"),
            ("sleeps_per_minute = 10\n", "sleeps_per_minute"),
            ("bulk_rail_wait = 100000\n", "bulk_rail_wait"),
            (
                "[rails]\nagent_cooldown = 9223372036854775807\n",
                "rails.agent_cooldown",
            ),
            ("wake_latency = 100000000\n", "wake_latency"),
            ("audit_key = \"short\"\n", "audit_key"),
            ("listen = \"nowhere\"\n", "listen"),
            ("database_url = \"mysql://x\"\n", "database_url"),
            ("jwt_secret = \"short\"\n", "jwt_secret"),
            (
                "[actuator]\nkind = \"http\"\nbase_url = \"ftp://x\"\n",
                "actuator.base_url",
            ),
            ("[cluster]\nlease_ttl = 0\n", "cluster.lease_ttl"),
            ("[cluster]\nlease_ttl = 301\n", "cluster.lease_ttl"),
            ("[cluster]\nredis_url = \"http://x\"\n", "cluster.redis_url"),
            ("[cluster]\nnode_id = \"a|b\"\n", "cluster.node_id"),
            ("[cluster]\nkey_prefix = \"\"\n", "cluster.key_prefix"),
            ("[cluster]\nbogus = 1\n", "cluster.bogus"),
        ];
        for (text, key) in cases {
            match ServiceConfig::from_toml(text, env(&[])) {
                Err(ApiError::Config { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn pools_inherit_what_they_do_not_set_and_errors_name_the_full_key() {
        let c = ServiceConfig::from_toml(
            "[rails]\nmin_awake = 4\nsleep_rate = 7\n\
             [pools.gpu]\nforecaster = \"seasonal-naive\"\ncapacity = 2.5\n\
             [pools.gpu.rails]\nmin_awake = 1\n\
             [pools.batch]\n",
            env(&[("HIVE_POOLS__BATCH__RAILS__SLEEP_RATE", "3")]),
        )
        .unwrap();
        assert_eq!(c.cluster.pools.keys().collect::<Vec<_>>(), ["batch", "gpu"]);
        let base = &c.settings.scheduler;
        let gpu = c.cluster.pools["gpu"].effective(base).unwrap();
        assert_eq!(
            (gpu.rails.min_awake, gpu.rails.sleep_rate, gpu.capacity),
            (1, 7, 2.5)
        );
        assert!(c.cluster.pools["gpu"].forecaster.is_some());
        let batch = c.cluster.pools["batch"].effective(base).unwrap();
        assert_eq!((batch.rails.min_awake, batch.rails.sleep_rate), (4, 3));
        assert!(c.cluster.pools["batch"].forecaster.is_none());
        // A base changed at run time reaches the keys a pool does not set.
        let mut later = base.clone();
        later.rails.sleep_rate = 9;
        later.rails.min_awake = 6;
        let gpu = c.cluster.pools["gpu"].effective(&later).unwrap();
        assert_eq!((gpu.rails.min_awake, gpu.rails.sleep_rate), (1, 9));
        let printed = c.to_redacted_toml().unwrap();
        assert!(printed.contains("[pools.gpu.rails]"), "{printed}");

        let cases = [
            (
                "[pools.gpu.rails]\nmin_awake = \"x\"\n",
                "pools.gpu.rails.min_awake",
            ),
            (
                "[pools.gpu.rails]\nmax_in_transition = 2.0\n",
                "pools.gpu.rails.max_in_transition",
            ),
            ("[pools.gpu.rails]\nbogus = 1\n", "pools.gpu.rails.bogus"),
            (
                "[pools.gpu]\nforecaster = \"crystal\"\n",
                "pools.gpu.forecaster",
            ),
            (
                "[pools.gpu]\ntick_interval = 5\n",
                "pools.gpu.tick_interval",
            ),
            ("[pools.GPU]\n", "pools.GPU"),
            ("[pools]\ngpu = 3\n", "pools.gpu"),
        ];
        for (text, key) in cases {
            match ServiceConfig::from_toml(text, env(&[])) {
                Err(ApiError::Config { key: k, .. }) => assert_eq!(k, key, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn printing_redacts_secrets() {
        let c = ServiceConfig::from_toml(
            "jwt_secret = \"super-secret-value-of-32-bytes-at-least\"\n\
             database_url = \"postgres://u:pw@db/x\"\n",
            env(&[]),
        )
        .unwrap();
        let out = c.to_redacted_toml().unwrap();
        assert!(
            !out.contains("super-secret") && !out.contains(":pw@"),
            "{out}"
        );
        assert!(out.contains("min_awake"), "{out}");
        // What is printed parses back to the same settings.
        let back: Table = out.parse().unwrap();
        assert_eq!(back["tick_interval"].as_integer(), Some(10));
    }
}
