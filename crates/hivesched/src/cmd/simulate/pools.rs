//! The `--pools` file: `[pools.<name>]` sections, each a pool with its own trace and any of the
//! flags' settings overridden, the rest inherited from the flags. The keys mirror the service's
//! configuration: durations in seconds (or with a unit, as the flags take them: `"10m"`), rails
//! in a `rails` table with the service's keys. Every error names the key, e.g.
//! `pools.gpu.agents`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hivesched_forecast::ForecasterChoice;
use hivesched_policy::{PolicyError, RailConfig};
use toml::{Table, Value};

use super::Settings;

/// The keys a pool may set.
const KEYS: [&str; 12] = [
    "trace",
    "interval",
    "agents",
    "capacity",
    "wake_latency",
    "consolidation",
    "train_fraction",
    "faults",
    "forecaster",
    "forecast_level",
    "refit_every",
    "rails",
];

/// One pool as the file describes it, its settings resolved against the flags.
#[derive(Debug, Clone)]
pub(super) struct PoolSpec {
    pub(super) name: String,
    pub(super) trace: PathBuf,
    pub(super) settings: Settings,
}

impl PoolSpec {
    /// A setting's key in the file: `pools.<name>.<field>`.
    pub(super) fn key(&self, field: &str) -> String {
        format!("pools.{}.{field}:", self.name)
    }
}

/// Reads the pools of `text`, in name order; relative trace paths are taken from `base` (the
/// file's directory), and what a pool leaves out comes from `defaults`.
pub(super) fn parse(text: &str, base: &Path, defaults: &Settings) -> anyhow::Result<Vec<PoolSpec>> {
    let doc: Table = text
        .parse()
        .map_err(|e: toml::de::Error| anyhow::anyhow!("{e}"))?;
    if let Some(key) = doc.keys().find(|k| *k != "pools") {
        anyhow::bail!("{key}: unknown key; a pools file has only [pools.<name>] sections");
    }
    let Some(pools) = doc.get("pools") else {
        anyhow::bail!("pools: missing; define at least one [pools.<name>] section");
    };
    let Some(pools) = pools.as_table().filter(|t| !t.is_empty()) else {
        anyhow::bail!("pools: expected [pools.<name>] sections, one per pool");
    };
    pools
        .iter()
        .map(|(name, value)| pool(name, value, base, defaults))
        .collect()
}

fn pool(name: &str, value: &Value, base: &Path, defaults: &Settings) -> anyhow::Result<PoolSpec> {
    let prefix = format!("pools.{name}");
    // The service's rule, so a pools file names the pools a deployment can run (it also keeps
    // names safe in output files such as `plot.<pool>.svg`).
    if let Err(why) = hivesched_store::check_pool_name(name) {
        anyhow::bail!("{prefix}: {why}");
    }
    let Some(table) = value.as_table() else {
        anyhow::bail!("{prefix}: expected a table of the pool's settings");
    };
    let mut s = defaults.clone();
    let mut trace = None;
    for (key, v) in table {
        let at = format!("{prefix}.{key}");
        match key.as_str() {
            "trace" => trace = Some(base.join(text(&at, v)?)),
            "interval" => s.interval = Some(duration(&at, v)?),
            "agents" => {
                s.agents = v
                    .as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| expected(&at, "a whole number of agents", v))?;
            }
            "capacity" => s.capacity = number(&at, v)?,
            "wake_latency" => s.wake_latency = duration(&at, v)?,
            "consolidation" => s.consolidation = duration(&at, v)?,
            "train_fraction" => s.train_fraction = number(&at, v)?,
            "faults" => s.faults = text(&at, v)?.to_string(),
            "forecaster" => {
                s.forecaster = text(&at, v)?
                    .parse::<ForecasterChoice>()
                    .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            }
            "forecast_level" => s.forecast_level = number(&at, v)?,
            "refit_every" => s.refit_every = duration(&at, v)?,
            "rails" => s.rails = rails(&at, v, &s.rails)?,
            _ => anyhow::bail!("{at}: unknown key; a pool has {}", KEYS.join(", ")),
        }
    }
    let Some(trace) = trace else {
        anyhow::bail!("{prefix}.trace: missing; every pool replays its own demand trace");
    };
    s.rails.validate().map_err(|e| match e {
        PolicyError::InvalidConfig { key, reason } => anyhow::anyhow!("{prefix}.{key}: {reason}"),
        other => anyhow::anyhow!("{prefix}.rails: {other}"),
    })?;
    Ok(PoolSpec {
        name: name.to_string(),
        trace,
        settings: s,
    })
}

fn expected(at: &str, what: &str, v: &Value) -> anyhow::Error {
    anyhow::anyhow!("{at}: expected {what}, got {v}")
}

fn text<'a>(at: &str, v: &'a Value) -> anyhow::Result<&'a str> {
    v.as_str().ok_or_else(|| expected(at, "a string", v))
}

fn number(at: &str, v: &Value) -> anyhow::Result<f64> {
    match v {
        Value::Float(x) => Ok(*x),
        Value::Integer(n) => Ok(*n as f64),
        _ => Err(expected(at, "a number", v)),
    }
}

/// Whole seconds, as the service's configuration writes durations, or a duration with its unit
/// as the flags take it (`"10m"`).
fn duration(at: &str, v: &Value) -> anyhow::Result<Duration> {
    match v {
        Value::Integer(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| expected(at, "seconds (not negative)", v)),
        Value::String(s) => {
            humantime::parse_duration(s).map_err(|e| anyhow::anyhow!("{at}: {s:?}: {e}"))
        }
        _ => Err(expected(at, "seconds or a duration such as \"10m\"", v)),
    }
}

/// The pool's rails: `inherited` with each key of the `rails` table laid over it, one key at a
/// time so that an error names the key it is about.
fn rails(at: &str, v: &Value, inherited: &RailConfig) -> anyhow::Result<RailConfig> {
    let Some(table) = v.as_table() else {
        anyhow::bail!("{at}: expected a table of rails, as the service's [rails]");
    };
    let mut current = inherited.clone();
    for (key, value) in table {
        let Value::Table(mut merged) = Value::try_from(&current)? else {
            anyhow::bail!("{at}: the rails do not form a table");
        };
        if !merged.contains_key(key) {
            let known: Vec<&str> = merged.keys().map(String::as_str).collect();
            anyhow::bail!("{at}.{key}: unknown rail; rails are {}", known.join(", "));
        }
        merged.insert(key.clone(), value.clone());
        current = Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{at}.{key}: {}", e.message()))?;
    }
    Ok(current)
}

/// Where a pool's own copy of a per-run file goes: `out/plot.svg` → `out/plot.<pool>.svg`.
pub(super) fn per_pool_path(path: &Path, pool: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{pool}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{pool}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings {
            interval: None,
            agents: 45,
            capacity: 1000.0,
            wake_latency: Duration::from_secs(600),
            consolidation: Duration::from_secs(600),
            rails: RailConfig {
                min_awake: 2,
                ..RailConfig::default()
            },
            train_fraction: 0.0,
            faults: String::new(),
            forecaster: ForecasterChoice::Ensemble,
            refit_every: Duration::from_secs(6 * 3600),
            forecast_level: 90.0,
        }
    }

    fn error(text: &str) -> String {
        parse(text, Path::new("/d"), &defaults())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn pools_inherit_what_they_leave_out() {
        let specs = parse(
            "[pools.web]\ntrace = \"web.csv\"\n\
             [pools.gpu]\ntrace = \"/t/gpu.csv\"\nagents = 12\ncapacity = 40\n\
             wake_latency = \"5m\"\nconsolidation = 120\nforecaster = \"seasonal-naive\"\n\
             [pools.gpu.rails]\nmin_awake = 1\nagent_cooldown = 300\n",
            Path::new("/d"),
            &defaults(),
        )
        .unwrap();
        // Name order, whatever the file's order.
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["gpu", "web"]);
        let (gpu, web) = (&specs[0], &specs[1]);
        assert_eq!(web.trace, Path::new("/d/web.csv"));
        assert_eq!(gpu.trace, Path::new("/t/gpu.csv"));
        let d = defaults();
        assert_eq!(
            (
                web.settings.agents,
                web.settings.capacity,
                web.settings.rails.clone()
            ),
            (d.agents, d.capacity, d.rails.clone())
        );
        assert_eq!(web.settings.forecaster, ForecasterChoice::Ensemble);
        assert_eq!((gpu.settings.agents, gpu.settings.capacity), (12, 40.0));
        assert_eq!(gpu.settings.wake_latency, Duration::from_secs(300));
        assert_eq!(gpu.settings.consolidation, Duration::from_secs(120));
        assert_eq!(gpu.settings.forecaster, ForecasterChoice::SeasonalNaive);
        // The rails it sets are its own; the others are inherited.
        assert_eq!(gpu.settings.rails.min_awake, 1);
        assert_eq!(gpu.settings.rails.agent_cooldown, Duration::from_secs(300));
        assert_eq!(gpu.settings.rails.sleep_rate, d.rails.sleep_rate);
        assert_eq!(gpu.settings.forecast_level, d.forecast_level);
    }

    #[test]
    fn errors_name_the_key() {
        for (text, key) in [
            (
                "[pools.gpu]\ntrace = \"a\"\nagents = -3\n",
                "pools.gpu.agents:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\nagents = \"x\"\n",
                "pools.gpu.agents:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\ncapacity = true\n",
                "pools.gpu.capacity:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\nbogus = 1\n",
                "pools.gpu.bogus:",
            ),
            ("[pools.gpu]\nagents = 3\n", "pools.gpu.trace:"),
            ("[pools.gpu]\ntrace = 7\n", "pools.gpu.trace:"),
            (
                "[pools.gpu]\ntrace = \"a\"\nwake_latency = \"soon\"\n",
                "pools.gpu.wake_latency:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\nforecaster = \"arima\"\n",
                "pools.gpu.forecaster:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\n[pools.gpu.rails]\nmin_awake = \"x\"\n",
                "pools.gpu.rails.min_awake:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\n[pools.gpu.rails]\nwhatever = 1\n",
                "pools.gpu.rails.whatever:",
            ),
            (
                "[pools.gpu]\ntrace = \"a\"\n[pools.gpu.rails]\nmax_in_transition = 2.0\n",
                "pools.gpu.rails.max_in_transition:",
            ),
            ("[pools.\"a b\"]\ntrace = \"a\"\n", "pools.a b:"),
            // The service's rule: lower case, as a heartbeat's pool would be.
            ("[pools.GPU]\ntrace = \"a\"\n", "pools.GPU:"),
            ("[pools._gpu]\ntrace = \"a\"\n", "pools._gpu:"),
            ("pools = 3\n", "pools:"),
            ("agents = 3\n", "agents:"),
            ("", "pools:"),
        ] {
            let e = error(text);
            assert!(e.starts_with(key), "{text:?}: {e}");
        }
    }

    /// The error of the first pool's settings once inherited and checked.
    fn checked_error(text: &str) -> String {
        let specs = parse(text, Path::new("/d"), &defaults()).unwrap();
        specs[0]
            .settings
            .sim_config(&|f| specs[0].key(f))
            .err()
            .unwrap()
            .to_string()
    }

    #[test]
    fn checks_after_inheritance_name_the_pool_key() {
        let e = checked_error("[pools.gpu]\ntrace = \"a\"\nagents = 0\nforecast_level = 120\n");
        assert!(e.starts_with("pools.gpu.forecast_level:"), "{e}");
        let e = checked_error("[pools.gpu]\ntrace = \"a\"\nagents = 0\n");
        assert_eq!(e, "pools.gpu.agents: must be at least 1");
    }

    #[test]
    fn per_pool_files_keep_the_extension() {
        assert_eq!(
            per_pool_path(Path::new("out/plot.svg"), "gpu"),
            Path::new("out/plot.gpu.svg")
        );
        assert_eq!(
            per_pool_path(Path::new("plot"), "gpu"),
            Path::new("plot.gpu")
        );
    }
}
