//! The demo: the whole service on a fresh machine with nothing installed — embedded SQLite, the
//! in-process fake fleet, and a demand trace (the repository's NYC-taxi trace by default)
//! replayed on a clock that runs one trace step per tick, so something happens every tick.
//!
//! The scheduler's own acting is rolled out behind `scheduler.acting` from the start, and the
//! fake agents report their work in heartbeats (the demand routed to the awake ones), so the
//! rollout's guardrails have something to judge and the rollout climbs while the scheduler
//! puts treatment agents to sleep (docs/rollout.md, "Guardrails for an arm that sleeps").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hivesched_engine::actuators::ActuatorSettings;
use hivesched_engine::clock::{Clock, ScaledClock};
use hivesched_fakefleet::WorkReport;
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig};
use hivesched_forecast::ForecasterChoice;
use hivesched_policy::{AgentState, SchedulerConfig, Time};
use hivesched_server::auth::Role;
use hivesched_server::{RuntimeSettings, Server, ServiceConfig, StartMode};
use hivesched_sim::{TraceOptions, load_trace};
use hivesched_store::{DemandSample, Store};

/// Real seconds per tick; one trace step passes per tick.
const TICK_SECS: u64 = 2;
/// Trace history loaded before the replay starts, so forecasts have a week to work with.
const WARM_UP_DAYS: i64 = 7;
/// Fleet size and per-agent capacity used by the README's simulation of the same trace.
const AGENTS: u32 = 45;
const CAPACITY: f64 = 1000.0;
/// Tasks an awake agent runs per report at full capacity ([`CAPACITY`] of demand): enough that
/// a control arm of four agents reports the 100 tasks a guardrail window needs within one
/// 10 s check at the trace's mean demand.
const TASKS_PER_REPORT: u64 = 20;
/// The demo's rollout: 45 agents and 2 units per arm keep the stages each arm can fill
/// (`fleet_ladder(45, 2)`: 10, 25, 50, 100 %); 4 trace hours of bake (16 s of the demo), so the
/// rollout visibly climbs a stage every 20 s or so; 100 % waits for an admin, as always.
const ROLLOUT_LADDER: [f64; 4] = [10.0, 25.0, 50.0, 100.0];
const ROLLOUT_MIN_UNITS: u64 = 2;
const ROLLOUT_BAKE_SECS: u64 = 4 * 3600;

/// Where and how the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory of the SQLite database (created if needed; a previous demo database is
    /// replaced so every run starts at the beginning of the trace).
    pub data_dir: PathBuf,
    /// The demand trace to replay (a regular `timestamp,value` series).
    pub trace: PathBuf,
}

/// A demo ready to serve: its URL, an admin token and the database it writes.
pub struct Demo {
    server: Server,
    samples: Vec<DemandSample>,
    clock: Arc<dyn Clock>,
    fleet: FakeFleet,
    /// `http://ADDR`.
    pub url: String,
    /// A 24-hour admin token for this run (the signing secret is random per run).
    pub admin_token: String,
    /// A 24-hour operator token (the dashboard's and the browser test's middle role).
    pub operator_token: String,
    /// A 24-hour viewer token (read-only: the dashboard shows it no controls).
    pub viewer_token: String,
    /// The database URL, for `hivesched auth issue-code --database` and `audit verify`.
    pub database_url: String,
}

/// The trace as demand samples, read with the simulator's loader (so both accept the same
/// files and report the same errors), and its step.
fn load_samples(path: &Path) -> anyhow::Result<(Vec<DemandSample>, u64)> {
    let trace = load_trace(path, &TraceOptions::default())
        .with_context(|| format!("loading the demo trace {}", path.display()))?;
    let step = trace.interval_s.round();
    anyhow::ensure!(
        (1.0..=86_400.0).contains(&step),
        "{}: the demo needs a step between 1 s and a day, the trace has {step} s",
        path.display()
    );
    let samples = trace
        .timestamps
        .iter()
        .zip(&trace.values)
        .map(|(&ms, &value)| DemandSample {
            at: Time::from_millis(ms),
            value,
        })
        .collect();
    Ok((samples, step as u64))
}

/// The demo's configuration: acting (not shadow) against the fake fleet, the README's fleet
/// size and capacity, and limits scaled to the fast clock.
fn demo_config(options: &DemoOptions, database_url: String, step_secs: u64) -> ServiceConfig {
    let mut scheduler = SchedulerConfig {
        shadow: false,
        capacity: CAPACITY,
        // A sample arrives every step; allow two before demand counts as stale.
        demand_staleness: Duration::from_secs(2 * step_secs),
        ..SchedulerConfig::default()
    };
    scheduler.rails.min_awake = 2;
    // Jitter delays are waited in real time; at 900x a few trace seconds are nothing.
    scheduler.rails.jitter = Duration::ZERO;
    ServiceConfig {
        listen: options.listen,
        database_url,
        jwt_secret: None,
        max_body_bytes: 1024 * 1024,
        request_timeout: Duration::from_secs(30),
        demand_step: Duration::from_secs(step_secs),
        // Wall-clock seconds: the demo's rollouts are judged every few trace minutes.
        flag_check_interval: Duration::from_secs(10),
        max_concurrent_tasks: 5,
        // Waits are on the trace clock: a trace day is 96 s of the demo.
        bulk_rail_wait: Duration::from_secs(86_400),
        audit_key: None,
        actuator: ActuatorSettings::Fake { agents: AGENTS },
        forecaster: ForecasterChoice::Ensemble,
        alerts: Default::default(),
        alert_delivery: Default::default(),
        // The demo is one process: alone, no Redis.
        cluster: Default::default(),
        settings: RuntimeSettings {
            tick_interval: TICK_SECS,
            scheduler,
        },
    }
}

/// Removes a previous demo database (the file and its WAL companions) so the replay restarts.
fn remove_old_database(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}

impl Demo {
    /// Prepares the data directory, starts the service on the fast clock with the fake fleet,
    /// and loads a week of trace history.
    pub async fn start(options: &DemoOptions) -> anyhow::Result<Demo> {
        let (samples, step_secs) = load_samples(&options.trace)?;
        let first = samples
            .first()
            .with_context(|| format!("{} has no samples", options.trace.display()))?
            .at;
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let db = options.data_dir.join("hivesched.db");
        remove_old_database(&db)?;
        let database_url = format!("sqlite://{}?mode=rwc", db.display());
        let config = demo_config(options, database_url.clone(), step_secs);
        let origin = Time::from_millis(first.as_millis() + WARM_UP_DAYS * 86_400_000);
        let factor = step_secs as f64 / TICK_SECS as f64;
        let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(origin, factor));
        let scaled = |secs: f64| Duration::from_secs_f64(secs / factor);
        let fleet = FakeFleet::new(FakeFleetConfig {
            agents: AGENTS,
            checkpoint: scaled(60.0),
            consolidation: scaled(540.0),
            wake_latency: scaled(600.0),
            failure_rate: 0.0,
            seed: 7,
        })?;
        let store = Store::connect(&database_url).await?;
        let history: Vec<DemandSample> =
            samples.iter().filter(|s| s.at < origin).cloned().collect();
        store.insert_demand(&history).await?;
        store.close().await;
        let server = Server::start_with(
            &config,
            StartMode::Demo,
            Arc::clone(&clock),
            Arc::new(fleet.clone()),
        )
        .await?;
        let url = format!("http://{}", server.local_addr());
        let day = Duration::from_secs(86_400);
        let admin_token = server.mint_token("demo-admin", Role::Admin, day)?;
        let operator_token = server.mint_token("demo-operator", Role::Operator, day)?;
        let viewer_token = server.mint_token("demo-viewer", Role::Viewer, day)?;
        Ok(Demo {
            server,
            samples,
            clock,
            fleet,
            url,
            admin_token,
            operator_token,
            viewer_token,
            database_url,
        })
    }

    /// The running service (its stream hub, tokens, address).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Replays the trace as demand (each sample once the fast clock reaches it) and serves
    /// until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.server.store().clone();
        let clock = self.clock;
        let samples = self.samples;
        let agents = tokio::spawn(report_work(
            self.url.clone(),
            self.operator_token.clone(),
            self.fleet,
            Arc::clone(&clock),
            samples.clone(),
        ));
        let replay = tokio::spawn(async move {
            let mut next = samples.partition_point(|s| s.at < clock.now());
            let mut ticker = tokio::time::interval(Duration::from_millis(250));
            while next < samples.len() {
                ticker.tick().await;
                let due = samples[next..].partition_point(|s| s.at <= clock.now());
                if due == 0 {
                    continue;
                }
                if let Err(e) = store.insert_demand(&samples[next..next + due]).await {
                    tracing::warn!(error = %e, "demo demand replay failed; retrying");
                    continue;
                }
                next += due;
            }
            tracing::info!("the demo trace is fully replayed");
        });
        let result = self.server.serve(shutdown).await;
        replay.abort();
        agents.abort();
        Ok(result?)
    }
}

/// The flag the demo rolls the scheduler's own acting out behind, as an operator would post it.
fn acting_flag() -> serde_json::Value {
    serde_json::json!({
        "flag": {
            "key": "scheduler.acting",
            "description": "the scheduler's own acting (the demo's rollout)",
            "kind": "boolean", "salt": "scheduler.acting", "unit": "agent_id",
            "ladder": ROLLOUT_LADDER, "min_bake": ROLLOUT_BAKE_SECS,
            "min_units_per_arm": ROLLOUT_MIN_UNITS, "min_full_rollout": 7 * 86_400,
            "rollback": "kill", "guardrails": { "kind": "service" },
        },
        "reason": "the demo rolls the scheduler's own acting out",
    })
}

/// How the demand of one report's period reaches the awake agents: `tasks` tasks routed evenly
/// (as a load balancer would), each agent running at most [`TASKS_PER_REPORT`]; what exceeds
/// that times out in its queue. One `(run, timed_out)` per awake agent.
fn route_work(tasks: u64, awake: usize) -> Vec<(u64, u64)> {
    let Ok(n) = u64::try_from(awake) else {
        return Vec::new();
    };
    if n == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|i| {
            let share = tasks / n + u64::from(i < tasks % n);
            let run = share.min(TASKS_PER_REPORT);
            (run, share - run)
        })
        .collect()
}

/// The fake agents as a fleet would run them: creates `scheduler.acting` through the API, then
/// every tick routes the trace's current demand to the awake agents and posts their heartbeats
/// with task counters (an agent asleep or on its way reports nothing, as a real one would not).
async fn report_work(
    url: String,
    token: String,
    fleet: FakeFleet,
    clock: Arc<dyn Clock>,
    samples: Vec<DemandSample>,
) {
    let client = reqwest::Client::new();
    let mut created = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(TICK_SECS));
    loop {
        ticker.tick().await;
        if !created {
            let answer = client
                .post(format!("{url}/api/v1/flags"))
                .bearer_auth(&token)
                .json(&acting_flag())
                .send()
                .await;
            match answer.map(|r| r.status()) {
                Ok(s) if s.is_success() || s == reqwest::StatusCode::CONFLICT => created = true,
                Ok(s) => tracing::warn!(status = %s, "the demo could not create scheduler.acting"),
                Err(e) => tracing::debug!(error = %e, "the demo's API is not up yet"),
            }
        }
        let now = clock.now();
        let demand = samples
            .get(samples.partition_point(|s| s.at <= now).saturating_sub(1))
            .map_or(0.0, |s| s.value);
        let tasks = (demand.max(0.0) / CAPACITY * TASKS_PER_REPORT as f64).round() as u64;
        let awake: Vec<_> = fleet
            .agents()
            .into_iter()
            .filter(|a| a.state == AgentState::Awake)
            .collect();
        let beats: Vec<serde_json::Value> = awake
            .iter()
            .zip(route_work(tasks, awake.len()))
            .filter_map(|(a, (run, timed_out))| {
                let WorkReport {
                    completed,
                    failed,
                    latency_p99_ms,
                } = fleet.work(&a.id, run)?;
                Some(serde_json::json!({
                    "agent": a.id.0, "state": "awake", "busy": a.busy,
                    "tasks_completed": completed, "tasks_failed": failed + timed_out,
                    "task_latency_ms_p99": latency_p99_ms,
                }))
            })
            .collect();
        if beats.is_empty() {
            continue;
        }
        let sent = client
            .post(format!("{url}/api/v1/heartbeats"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "heartbeats": beats }))
            .send()
            .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "the demo's heartbeats were not taken");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_is_spread_over_the_awake_agents_and_the_excess_times_out() {
        assert_eq!(route_work(7, 3), [(3, 0), (2, 0), (2, 0)]);
        assert_eq!(route_work(50, 2), [(20, 5), (20, 5)]);
        assert!(route_work(10, 0).is_empty());
        let total: u64 = route_work(1234, 45).iter().map(|(r, t)| r + t).sum();
        assert_eq!(total, 1234);
    }
}
