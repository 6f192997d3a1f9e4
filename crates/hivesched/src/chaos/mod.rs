//! Fault campaigns against real replicas: `hivesched chaos` and the fault tests.
//!
//! A campaign starts a reference fake fleet (in this process, over HTTP) and `replicas` child
//! processes of `hivesched serve` on one PostgreSQL (a fresh schema of its own) and one Redis
//! (a key prefix of its own), then forces `failovers` failovers. Each round:
//!
//! 1. waits for exactly one replica to lead and act (`hivesched_leader 1` on `/metrics`);
//! 2. gives it work: a few awake agents fall asleep at the fleet (outside the contract), and the
//!    leader's next tick — in fail-safe, with no demand, every agent must be awake — journals
//!    and sends one wake per agent;
//!    (with `bulk-kill`, a sequential bulk wake of those agents, submitted through a follower,
//!    gives it the same work);
//! 3. strikes the leader a random moment into that wave (so calls and journal writes are in
//!    flight), as [`Strike`] says: `kill -9`; `SIGSTOP` held past its lease and then
//!    `SIGCONT`; its Redis or PostgreSQL connections cut (each replica reaches both through a
//!    TCP proxy of this module); Redis cut for everyone; or fleet errors on 30 % of calls;
//! 4. measures the failover: from the strike until a surviving replica leads and acts (for the
//!    outages that do not move leadership: until the work is done after the service is back);
//! 5. a killed replica is replaced by a fresh process; a frozen one must step down on its own
//!    once resumed (its late calls and writes are refused by the fencing token).
//!
//! At the end the fleet's journal of state changes is checked against what fell asleep: each
//! time an agent was put to sleep it must have started waking exactly once — one more is a
//! doubled action, one fewer a lost task. (Accepted requests alone would overcount: the
//! contract accepts a wake of an agent already awake as a no-op.) The fleet's refusals of
//! stale tokens and the replicas' `hivesched_fenced_writes_total` are summed; polls that found
//! two replicas leading and wakes while nobody could act are counted too. A bulk operation
//! must end `succeeded` with every task succeeded: each task it did not finish is a lost task.

mod proxy;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, Fault, FaultKind};
use hivesched_policy::AgentState;
use hivesched_server::auth::{Role, TokenKeys};
use serde::Serialize;

use crate::replicas::{ReplicaSpec, metric, percentile, scrape, spawn_replica};

/// How a round strikes the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strike {
    /// `kill -9`: the process is gone; its lease runs out.
    Kill,
    /// `SIGSTOP` past the lease, then `SIGCONT`: a paused process that wakes up believing it
    /// leads.
    Stop,
    /// Alternate kill and stop.
    Mixed,
    /// Cut the leader off from Redis (its own TCP proxy drops every connection) until another
    /// replica leads, then reconnect it: it must stay a follower.
    RedisCut,
    /// Cut every replica off from Redis for two leases: nobody may lead or act meanwhile, then
    /// leadership must return.
    RedisOutage,
    /// Cut the leader off from PostgreSQL: after a lease without its database it hands its
    /// lease over; another replica must lead and do the work while the cut lasts, and the old
    /// leader, reconnected, must stay a follower.
    PgCut,
    /// The fleet fails 30 % of sleeps and wakes with 503 for two leases: retries with the same
    /// idempotency keys get the work done, once, and nothing is stuck afterwards.
    FleetErrors,
    /// `kill -9` of the leader in the middle of a bulk operation: the agents that fell asleep
    /// are woken by a sequential bulk wake submitted through a follower, each call held 400 ms
    /// at the fleet, and the leader is killed once it has finished the first task and not the
    /// last; the next leader must resume the bulk and finish it, every task once.
    BulkKill,
}

/// What a campaign needs.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    /// The `hivesched` binary the replicas run (`serve`).
    pub binary: PathBuf,
    /// PostgreSQL server URL; the campaign creates (and drops) a schema of its own on it.
    pub database_url: String,
    /// Redis URL; the campaign uses a key prefix of its own.
    pub redis_url: String,
    /// Replicas running at any time (at least 2).
    pub replicas: usize,
    /// Failovers to force.
    pub failovers: usize,
    /// The replicas' `cluster.lease_ttl`, whole seconds (1–300).
    pub lease_ttl_s: u64,
    /// How the leader is struck.
    pub strike: Strike,
    /// Agents that fall asleep before each strike.
    pub batch: usize,
    /// Progress lines on stderr.
    pub verbose: bool,
}

/// What a campaign measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChaosReport {
    /// Failovers forced (and completed).
    pub failovers: usize,
    /// Median time from the strike until another replica leads and acts.
    pub failover_ms_p50: f64,
    /// 99th percentile of the same (nearest rank).
    pub failover_ms_p99: f64,
    /// Longest failover.
    pub failover_ms_max: f64,
    /// Accepted wakes beyond one per agent put to sleep.
    pub doubled_actions: u64,
    /// Agents put to sleep that were never woken.
    pub lost_tasks: u64,
    /// Fleet calls refused because their fencing token was stale.
    pub stale_token_refusals: u64,
    /// Writes the database refused for a stale token (every replica's counter).
    pub fenced_writes: u64,
    /// Polls that found two replicas leading at once (not in `--json`: the fixed object).
    #[serde(skip)]
    pub two_leaders_seen: u64,
    /// Agents that started waking while no replica could hold the lease (Redis outages).
    #[serde(skip)]
    pub acted_without_lease: u64,
    /// Wakes refused at once by an open per-agent breaker (`fleet-errors`: the broken agent's).
    #[serde(skip)]
    pub circuit_open_refusals: u64,
}

/// Work the leader must undo: up to `n` awake agents fall asleep at the fleet (outside the
/// contract), each counted in `slept` (agent id → times put to sleep). Returns their ids.
fn fall_asleep(
    fleet: &FakeFleet,
    n: usize,
    slept: &mut HashMap<String, u64>,
) -> Vec<hivesched_policy::AgentId> {
    let mut batch = Vec::new();
    for a in fleet.agents() {
        if batch.len() == n {
            break;
        }
        if a.state == AgentState::Awake && fleet.fall_asleep(&a.id).is_some() {
            *slept.entry(a.id.0.clone()).or_default() += 1;
            batch.push(a.id);
        }
    }
    batch
}

/// Besides the 30 % of 503s: every call for the first agent fails (503) until the faults are
/// cleared, so its breaker must open, and the second agent's next wake is acted on but its
/// answer held back 6 s, past the client's 5 s timeout (the retry must get the first outcome
/// by its key, not a second wake).
fn break_fleet_calls(fleet: &FakeFleet, agents: &[hivesched_policy::AgentId]) {
    if let Some(broken) = agents.first() {
        for _ in 0..20 {
            fleet.inject(Fault {
                kind: FaultKind::Fail,
                agent: Some(broken.clone()),
            });
        }
    }
    if let Some(slow) = agents.get(1) {
        fleet.inject(Fault {
            kind: FaultKind::Stall(Duration::from_secs(6)),
            agent: Some(slow.clone()),
        });
    }
}

/// A child replica.
struct Replica {
    name: String,
    child: Child,
    /// This replica's way to Redis, which a strike can cut.
    redis: proxy::Proxy,
    /// This replica's way to PostgreSQL, which a strike can cut.
    db: proxy::Proxy,
    base: String,
    stopped: bool,
    fenced_writes: u64,
}

impl Replica {
    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).unwrap_or(0)
    }
}

/// The processes and services of one campaign, torn down on drop.
struct Cluster {
    cfg: ChaosConfig,
    db_url: String,
    prefix: String,
    fleet_url: String,
    secret: String,
    log_dir: PathBuf,
    replicas: Vec<Replica>,
    started: usize,
    /// Fenced writes counted by replicas that were killed since.
    dead_fenced: u64,
    two_leaders_seen: u64,
    acted_without_lease: u64,
    circuit_open_refusals: u64,
    http: reqwest::Client,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if r.stopped {
                // SAFETY: signalling our own child by its pid.
                unsafe { libc::kill(r.pid(), libc::SIGCONT) };
            }
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

impl Cluster {
    async fn spawn(&mut self) -> anyhow::Result<()> {
        let name = format!("r{}", self.started);
        self.started += 1;
        let log = std::fs::File::create(self.log_dir.join(format!("{name}.log")))
            .context("creating a replica's log file")?;
        let (upstream, redis_url) = proxy::split_redis_url(&self.cfg.redis_url)?;
        let redis = proxy::Proxy::start(upstream).await?;
        let redis_url = redis_url.replace("{addr}", &redis.addr().to_string());
        let (upstream, db_url) = proxy::split_postgres_url(&self.db_url)?;
        let db = proxy::Proxy::start(upstream).await?;
        let db_url = db_url.replace("{addr}", &db.addr().to_string());
        let (child, base) = spawn_replica(
            &ReplicaSpec {
                binary: self.cfg.binary.clone(),
                database_url: db_url,
                redis_url,
                fleet_url: self.fleet_url.clone(),
                secret: self.secret.clone(),
                node_id: name.clone(),
                key_prefix: self.prefix.clone(),
                lease_ttl_s: self.cfg.lease_ttl_s,
                tick_interval_s: 1,
                shadow: false,
            },
            log,
        )
        .with_context(|| format!("see {}", self.log_dir.join(format!("{name}.log")).display()))?;
        self.replicas.push(Replica {
            name,
            child,
            redis,
            db,
            base,
            stopped: false,
            fenced_writes: 0,
        });
        Ok(())
    }

    /// Whether replica `i` leads and acts now (`None`: no answer within 300 ms).
    async fn leads(&mut self, i: usize) -> Option<bool> {
        let r = &self.replicas[i];
        let text = scrape(&self.http, &r.base, Duration::from_millis(300)).await?;
        if let Some(f) = metric(&text, "hivesched_fenced_writes_total") {
            self.replicas[i].fenced_writes = f as u64;
        }
        metric(&text, "hivesched_leader").map(|v| v == 1.0)
    }

    /// Polls the replicas (those not frozen) until exactly one leads and it is not `not`;
    /// counts every poll that found two leading.
    async fn wait_for_one_leader(
        &mut self,
        limit: Duration,
        not: Option<usize>,
    ) -> anyhow::Result<usize> {
        let deadline = Instant::now() + limit;
        loop {
            let leaders = self.leaders().await;
            if let [one] = leaders[..]
                && Some(one) != not
            {
                return Ok(one);
            }
            if Instant::now() > deadline {
                bail!("no single new leader within {limit:?} (leading: {leaders:?})");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The replicas (not frozen) that lead now; counts a poll that found two.
    async fn leaders(&mut self) -> Vec<usize> {
        let mut leaders = Vec::new();
        for i in 0..self.replicas.len() {
            if !self.replicas[i].stopped && self.leads(i).await == Some(true) {
                leaders.push(i);
            }
        }
        if leaders.len() > 1 {
            self.two_leaders_seen += 1;
        }
        leaders
    }

    /// Replica `i`'s count of wakes refused at once by an open breaker (0 when unreadable).
    async fn circuit_open_refusals(&self, i: usize) -> u64 {
        scrape(
            &self.http,
            &self.replicas[i].base,
            Duration::from_millis(300),
        )
        .await
        .and_then(|t| metric(&t, "hivesched_actuator_circuit_open_total{kind=\"wake\"}"))
        .map_or(0, |v| v as u64)
    }

    /// Waits up to `limit` for replica `i` to refuse a wake at an open breaker beyond the
    /// `before` it had refused; returns how many more it refused (0 if none came).
    async fn circuit_opened(&self, i: usize, before: u64, limit: Duration) -> u64 {
        let deadline = Instant::now() + limit;
        loop {
            let refused = self.circuit_open_refusals(i).await.saturating_sub(before);
            if refused > 0 || Instant::now() > deadline {
                return refused;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An operator's bearer token for the replicas.
    fn operator_token(&self) -> anyhow::Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(TokenKeys::new(self.secret.as_bytes())?.mint(
            "chaos",
            Role::Operator,
            Duration::from_secs(3600),
            now,
        )?)
    }

    /// Gives the leader a bulk wake of `agents` to run, submitted through a follower (the
    /// leader learns of it by LISTEN/NOTIFY), with every wake held 400 ms at the fleet; returns
    /// once the leader has finished at least one task and not all (the moment to strike), with
    /// the operation's id.
    async fn bulk_in_flight(
        &mut self,
        fleet: &FakeFleet,
        leader: usize,
        agents: &[hivesched_policy::AgentId],
        round: usize,
    ) -> anyhow::Result<String> {
        for a in agents {
            fleet.inject(Fault {
                kind: FaultKind::Stall(Duration::from_millis(400)),
                agent: Some(a.clone()),
            });
        }
        let follower = (leader + 1) % self.replicas.len();
        let token = self.operator_token()?;
        let submitted: serde_json::Value = self
            .http
            .post(format!("{}/api/v1/bulk", self.replicas[follower].base))
            .bearer_auth(&token)
            .json(&serde_json::json!({
                "agents": agents,
                "action": "wake",
                "strategy": "sequential",
                "reason": format!("chaos round {round}"),
            }))
            .send()
            .await?
            .error_for_status()
            .context("submitting the bulk wake")?
            .json()
            .await?;
        let id = submitted["id"]
            .as_str()
            .context("the bulk submission has no id")?
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, tasks) = self.bulk_view(follower, &id).await?;
            let done = tasks.get("succeeded").and_then(serde_json::Value::as_u64);
            let done = done.unwrap_or(0);
            if done >= 1 || status != "running" && status != "pending" {
                self.say(format!(
                    "round {round}: bulk {id} {status}, {done} of {} tasks done",
                    agents.len()
                ));
                return Ok(id);
            }
            if Instant::now() > deadline {
                bail!("round {round}: the leader did not start bulk {id} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A bulk operation's status and its task counts by status, read through replica `i`.
    async fn bulk_view(
        &self,
        i: usize,
        id: &str,
    ) -> anyhow::Result<(String, serde_json::Map<String, serde_json::Value>)> {
        let view: serde_json::Value = self
            .http
            .get(format!("{}/api/v1/bulk/{id}", self.replicas[i].base))
            .bearer_auth(self.operator_token()?)
            .send()
            .await?
            .error_for_status()
            .context("reading a bulk operation")?
            .json()
            .await?;
        let status = view["status"].as_str().unwrap_or_default().to_owned();
        Ok((
            status,
            view["tasks"].as_object().cloned().unwrap_or_default(),
        ))
    }

    /// Waits up to `limit` for bulk `id` to end; returns how many of its tasks did not
    /// succeed (each a lost task).
    async fn unfinished_bulk_tasks(&self, id: &str, limit: Duration) -> anyhow::Result<u64> {
        let deadline = Instant::now() + limit;
        let i = self
            .replicas
            .iter()
            .position(|r| !r.stopped)
            .context("no replica left to read bulk operations from")?;
        loop {
            let (status, tasks) = self.bulk_view(i, id).await?;
            if status == "succeeded" || Instant::now() > deadline {
                let total: u64 = tasks.values().filter_map(serde_json::Value::as_u64).sum();
                let succeeded = tasks.get("succeeded").and_then(serde_json::Value::as_u64);
                if status != "succeeded" {
                    self.say(format!("bulk {id} ended {status}: {tasks:?}"));
                }
                return Ok(total - succeeded.unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn say(&self, line: impl AsRef<str>) {
        if self.cfg.verbose {
            eprintln!("chaos: {}", line.as_ref());
        }
    }
}

/// Creates the campaign's schema; returns the URL the replicas use.
async fn fresh_schema(base: &str, schema: &str) -> anyhow::Result<String> {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .context("connecting to PostgreSQL (HIVE_DATABASE_URL)")?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .context("creating the campaign's schema")?;
    let sep = if base.contains('?') { '&' } else { '?' };
    Ok(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}

async fn drop_schema(base: &str, schema: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut admin) = sqlx::PgConnection::connect(base).await {
        let _ = admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .await;
    }
}

/// How many times any agent has started waking so far (the fleet's journal).
fn waking(fleet: &FakeFleet) -> u64 {
    fleet
        .journal()
        .iter()
        .filter(|t| t.to == AgentState::Waking)
        .count() as u64
}

/// Runs a campaign; see the module documentation.
pub async fn run(cfg: ChaosConfig) -> anyhow::Result<ChaosReport> {
    if cfg.replicas < 2 {
        bail!("--replicas must be at least 2 (a failover needs somewhere to go)");
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let id = format!("{}_{stamp}_{:04x}", std::process::id(), fastrand::u16(..));
    let schema = format!("hs_chaos_{id}");
    let db_url = fresh_schema(&cfg.database_url, &schema).await?;
    let result = campaign(&cfg, &db_url, &id).await;
    drop_schema(&cfg.database_url, &schema).await;
    result
}

async fn campaign(cfg: &ChaosConfig, db_url: &str, id: &str) -> anyhow::Result<ChaosReport> {
    // Fast lifecycles: a woken agent is awake again well before the next round.
    let agents = (cfg.batch * 4).max(8) as u32;
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents,
        checkpoint: Duration::from_millis(50),
        consolidation: Duration::from_millis(50),
        wake_latency: Duration::from_millis(100),
        ..FakeFleetConfig::default()
    })?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let fleet_url = format!("http://{}", listener.local_addr()?);
    let serving = tokio::spawn(hivesched_fakefleet::serve(
        listener,
        fleet.clone(),
        std::future::pending(),
    ));
    let log_dir = std::env::temp_dir().join(format!("hivesched-chaos-{id}"));
    std::fs::create_dir_all(&log_dir).context("creating the log directory")?;
    let mut cluster = Cluster {
        cfg: cfg.clone(),
        db_url: db_url.to_owned(),
        prefix: format!("hs-chaos-{id}"),
        fleet_url,
        secret: format!("chaos-{id}-{:032x}", fastrand::u128(..)),
        log_dir,
        replicas: Vec::new(),
        started: 0,
        dead_fenced: 0,
        two_leaders_seen: 0,
        acted_without_lease: 0,
        circuit_open_refusals: 0,
        http: reqwest::Client::new(),
    };
    // The first replica migrates the fresh schema alone; the others start beside it.
    cluster.spawn().await?;
    for _ in 1..cfg.replicas {
        cluster.spawn().await?;
    }
    cluster.say(format!(
        "{} replicas, lease {} s, logs in {}",
        cfg.replicas,
        cfg.lease_ttl_s,
        cluster.log_dir.display()
    ));
    let ttl = Duration::from_secs(cfg.lease_ttl_s);
    let mut slept: HashMap<String, u64> = HashMap::new();
    let mut failover_ms = Vec::with_capacity(cfg.failovers);
    let mut bulks: Vec<String> = Vec::new();
    for round in 0..cfg.failovers {
        let leader = cluster
            .wait_for_one_leader(4 * ttl + Duration::from_secs(5), None)
            .await?;
        // Work in flight: agents that are awake fall asleep; the leader's next tick wakes them.
        let batch = fall_asleep(&fleet, cfg.batch, &mut slept);
        cluster.say(format!("round {round}: asleep at the fleet: {batch:?}"));
        if cfg.strike == Strike::BulkKill {
            let bulk = cluster
                .bulk_in_flight(&fleet, leader, &batch, round)
                .await?;
            bulks.push(bulk);
        } else {
            // Somewhere in the next tick (1 s): before, during or after the wave.
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..1200))).await;
        }
        let strike = match cfg.strike {
            Strike::Mixed if round % 2 == 0 => Strike::Kill,
            Strike::Mixed => Strike::Stop,
            s => s,
        };
        let struck = Instant::now();
        let name = cluster.replicas[leader].name.clone();
        let long = 4 * ttl + Duration::from_secs(5);
        match strike {
            Strike::Stop => {
                // SAFETY: signalling our own child by its pid.
                unsafe { libc::kill(cluster.replicas[leader].pid(), libc::SIGSTOP) };
                cluster.replicas[leader].stopped = true;
            }
            Strike::RedisCut => cluster.replicas[leader].redis.set_cut(true),
            Strike::PgCut => cluster.replicas[leader].db.set_cut(true),
            Strike::FleetErrors => fleet.set_failure_rate(0.3)?,
            Strike::RedisOutage => {
                for r in &cluster.replicas {
                    r.redis.set_cut(true);
                }
            }
            Strike::Kill | Strike::Mixed | Strike::BulkKill => {
                let _ = cluster.replicas[leader].child.kill();
                let _ = cluster.replicas[leader].child.wait();
            }
        }
        if strike == Strike::RedisOutage {
            // The leader steps down at two thirds of the lease; from then on nobody may act
            // until Redis is back, however long that is (two leases here).
            let deadline = struck + ttl + Duration::from_secs(1);
            while !cluster.leaders().await.is_empty() {
                if Instant::now() > deadline {
                    bail!("round {round}: a replica still leads without Redis");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let nobody = struck.elapsed();
            let before = waking(&fleet);
            // Work that must wait: agents fall asleep while nobody can lead.
            fall_asleep(&fleet, cfg.batch, &mut slept);
            while struck.elapsed() < 2 * ttl {
                if !cluster.leaders().await.is_empty() {
                    bail!("round {round}: a replica leads without Redis");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            cluster.acted_without_lease += waking(&fleet).saturating_sub(before);
            for r in &cluster.replicas {
                r.redis.set_cut(false);
            }
            let restored = Instant::now();
            let next = cluster.wait_for_one_leader(long, None).await?;
            let took = restored.elapsed();
            failover_ms.push(took.as_secs_f64() * 1000.0);
            cluster.say(format!(
                "round {round}: Redis cut off from everyone; nobody led after {:.0} ms; \
                 restored after {:.0} ms, {} leads {:.0} ms later",
                nobody.as_secs_f64() * 1000.0,
                restored.duration_since(struck).as_secs_f64() * 1000.0,
                cluster.replicas[next].name,
                took.as_secs_f64() * 1000.0
            ));
            continue;
        }
        if strike == Strike::FleetErrors {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let refused_before = cluster.circuit_open_refusals(leader).await;
            let stranded = fall_asleep(&fleet, cfg.batch, &mut slept);
            break_fleet_calls(&fleet, &stranded);
            tokio::time::sleep((struck + 2 * ttl).saturating_duration_since(Instant::now())).await;
            fleet.set_failure_rate(0.0)?;
            // The broken agent's faults stay queued until its breaker has opened.
            let limit = Duration::from_secs(15);
            let refused = cluster.circuit_opened(leader, refused_before, limit).await;
            cluster.circuit_open_refusals += refused;
            fleet.clear_faults();
            let restored = Instant::now();
            // An agent's breaker, once open, waits 30 s: the work is done within a few seconds,
            // or after one breaker cooldown.
            let deadline = restored + 4 * ttl + Duration::from_secs(40);
            while stranded.iter().any(|a| {
                fleet
                    .agent(a)
                    .is_some_and(|s| s.state == AgentState::Asleep)
            }) {
                if Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let took = restored.elapsed();
            failover_ms.push(took.as_secs_f64() * 1000.0);
            cluster.say(format!(
                "round {round}: fleet failing 30 % of calls ({} failures so far) for {:.0} ms; \
                 the agents that fell asleep meanwhile were woken {:.0} ms after it was back",
                fleet.counters().injected_failures,
                restored.duration_since(struck).as_secs_f64() * 1000.0,
                took.as_secs_f64() * 1000.0
            ));
            continue;
        }
        let next = cluster.wait_for_one_leader(long, Some(leader)).await?;
        let took = struck.elapsed();
        failover_ms.push(took.as_secs_f64() * 1000.0);
        cluster.say(format!(
            "round {round}: {strike:?} {name} -> {} leads after {:.0} ms",
            cluster.replicas[next].name,
            took.as_secs_f64() * 1000.0
        ));
        match strike {
            Strike::Stop => {
                // Frozen past its lease, then resumed: it must find its lease gone and step
                // down.
                let until = struck + ttl + ttl / 2;
                tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
                // SAFETY: signalling our own child by its pid.
                unsafe { libc::kill(cluster.replicas[leader].pid(), libc::SIGCONT) };
                cluster.replicas[leader].stopped = false;
                let deadline = Instant::now() + ttl + Duration::from_secs(2);
                loop {
                    match cluster.leads(leader).await {
                        Some(false) => break,
                        _ if Instant::now() > deadline => {
                            bail!("round {round}: {name} still leads after it was resumed")
                        }
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                cluster.wait_for_one_leader(long, None).await?;
            }
            Strike::RedisCut => {
                // Back on Redis, it finds the lease taken and stays a follower.
                cluster.replicas[leader].redis.set_cut(false);
                tokio::time::sleep(ttl / 2).await;
                if cluster.leads(leader).await == Some(true) {
                    bail!(
                        "round {round}: {name} leads again beside {}",
                        cluster.replicas[next].name
                    );
                }
                cluster.wait_for_one_leader(long, None).await?;
            }
            Strike::PgCut => {
                // The new leader acts while the old one is still cut off: agents that fall
                // asleep now are woken by it.
                let stranded = fall_asleep(&fleet, cfg.batch, &mut slept);
                let deadline = Instant::now() + 2 * ttl + Duration::from_secs(5);
                while stranded.iter().any(|a| {
                    fleet
                        .agent(a)
                        .is_some_and(|s| s.state == AgentState::Asleep)
                }) {
                    if Instant::now() > deadline {
                        bail!(
                            "round {round}: {} leads but did not wake {stranded:?}",
                            cluster.replicas[next].name
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                // Back on its database it is eligible again at its next probe, and finds the
                // lease taken.
                cluster.replicas[leader].db.set_cut(false);
                tokio::time::sleep(ttl).await;
                if cluster.leads(leader).await == Some(true) {
                    bail!(
                        "round {round}: {name} leads again beside {}",
                        cluster.replicas[next].name
                    );
                }
                cluster.wait_for_one_leader(long, None).await?;
            }
            Strike::Kill
            | Strike::Mixed
            | Strike::BulkKill
            | Strike::RedisOutage
            | Strike::FleetErrors => {
                let gone = cluster.replicas.remove(leader);
                // Its last scraped count stays in the total.
                cluster.dead_fenced += gone.fenced_writes;
                cluster.spawn().await?;
            }
        }
    }
    // Everything put to sleep must be awake again: wait for the last wave (and a breaker
    // cooldown after fleet errors).
    let extra = if cfg.strike == Strike::FleetErrors {
        35
    } else {
        5
    };
    let settle = Instant::now() + 4 * ttl + Duration::from_secs(extra);
    loop {
        let asleep = fleet
            .agents()
            .iter()
            .filter(|a| a.state == AgentState::Asleep)
            .count();
        if asleep == 0 || Instant::now() > settle {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..cluster.replicas.len() {
        cluster.leads(i).await;
    }
    let mut unfinished_bulk_tasks = 0;
    for id in &bulks {
        unfinished_bulk_tasks += cluster.unfinished_bulk_tasks(id, 4 * ttl).await?;
    }
    // Effects, not answers: a wake of an agent already awake is accepted as a no-op (the
    // contract's idempotence), so what counts is each time an agent started waking.
    let mut wakes: HashMap<String, u64> = HashMap::new();
    for t in fleet.journal() {
        if t.to == AgentState::Waking {
            *wakes.entry(t.agent.0.clone()).or_default() += 1;
        }
    }
    let mut doubled = 0;
    let mut lost = 0;
    for (agent, n) in &slept {
        let w = wakes.get(agent).copied().unwrap_or(0);
        if w != *n {
            cluster.say(format!("{agent}: put to sleep {n} times, woken {w} times:"));
            for t in fleet.journal().iter().filter(|t| t.agent.0 == *agent) {
                cluster.say(format!(
                    "  {:?} -> {:?} by {:?}",
                    t.from, t.to, t.idempotency_key
                ));
            }
        }
        doubled += w.saturating_sub(*n);
        lost += n.saturating_sub(w);
    }
    // A wake of an agent that was never put to sleep would be doubled too.
    doubled += wakes
        .iter()
        .filter(|(a, _)| !slept.contains_key(*a))
        .map(|(_, n)| *n)
        .sum::<u64>();
    serving.abort();
    failover_ms.sort_by(f64::total_cmp);
    Ok(ChaosReport {
        failovers: failover_ms.len(),
        failover_ms_p50: percentile(&failover_ms, 50.0),
        failover_ms_p99: percentile(&failover_ms, 99.0),
        failover_ms_max: failover_ms.last().copied().unwrap_or(0.0),
        doubled_actions: doubled,
        lost_tasks: lost + unfinished_bulk_tasks,
        stale_token_refusals: fleet.counters().refused_stale,
        fenced_writes: cluster
            .replicas
            .iter()
            .map(|r| r.fenced_writes)
            .sum::<u64>()
            + cluster.dead_fenced,
        two_leaders_seen: cluster.two_leaders_seen,
        acted_without_lease: cluster.acted_without_lease,
        circuit_open_refusals: cluster.circuit_open_refusals,
    })
}
