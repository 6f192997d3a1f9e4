//! `hivesched chaos`: a fault campaign against local services (see [`hivesched::chaos`]).

use anyhow::{Context, bail};
use hivesched::chaos::{ChaosConfig, ChaosReport, Strike};

/// Arguments of `hivesched chaos`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Replicas running at any time (at least 2).
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Failovers to force.
    #[arg(long, default_value_t = 10)]
    failovers: usize,
    /// How the leader is struck: `kill` (-9), `stop` (SIGSTOP past its lease, then SIGCONT),
    /// `mixed` (alternating), `bulk-kill` (-9 in the middle of a bulk operation), `redis-cut`,
    /// `redis-outage`, `pg-cut` or `fleet-errors`.
    #[arg(long, value_enum, default_value_t = Strike::Mixed)]
    strike: Strike,
    /// The replicas' lease, whole seconds (`cluster.lease_ttl`).
    #[arg(long, default_value_t = 1)]
    lease_ttl: u64,
    /// Agents put to sleep before each strike, for the leader to wake.
    #[arg(long, default_value_t = 5)]
    batch: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs the campaign on PostgreSQL from `HIVE_DATABASE_URL` and Redis from
/// `HIVE_CLUSTER__REDIS_URL`; fails (exit 1) when an invariant is broken.
pub fn run(args: Args) -> anyhow::Result<()> {
    let database_url = std::env::var("HIVE_DATABASE_URL").unwrap_or_default();
    let redis_url = std::env::var("HIVE_CLUSTER__REDIS_URL").unwrap_or_default();
    let mut missing = Vec::new();
    if !database_url.starts_with("postgres") {
        missing.push("HIVE_DATABASE_URL (a postgres:// URL; the campaign makes its own schema)");
    }
    if redis_url.is_empty() {
        missing.push(
            "HIVE_CLUSTER__REDIS_URL (redis://host:port; the campaign uses its own key prefix)",
        );
    }
    if !missing.is_empty() {
        bail!("hivesched chaos needs {}", missing.join(" and "));
    }
    if !(1..=300).contains(&args.lease_ttl) {
        bail!("--lease-ttl must be between 1 and 300 s (cluster.lease_ttl)");
    }
    let cfg = ChaosConfig {
        binary: std::env::current_exe().context("finding the hivesched binary")?,
        database_url,
        redis_url,
        replicas: args.replicas,
        failovers: args.failovers,
        lease_ttl_s: args.lease_ttl,
        strike: args.strike,
        batch: args.batch,
        verbose: !args.json,
    };
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(hivesched::chaos::run(cfg))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&args, &report);
    }
    if report.doubled_actions > 0 || report.lost_tasks > 0 {
        bail!(
            "invariant broken: {} doubled actions, {} lost tasks",
            report.doubled_actions,
            report.lost_tasks
        );
    }
    Ok(())
}

fn print_table(args: &Args, r: &ChaosReport) {
    let rows = [
        ("replicas", args.replicas.to_string()),
        ("lease_ttl", format!("{} s", args.lease_ttl)),
        (
            "strike",
            clap::ValueEnum::to_possible_value(&args.strike)
                .map_or_else(String::new, |v| v.get_name().to_owned()),
        ),
        ("failovers", r.failovers.to_string()),
        ("failover p50", format!("{:.0} ms", r.failover_ms_p50)),
        ("failover p99", format!("{:.0} ms", r.failover_ms_p99)),
        ("failover max", format!("{:.0} ms", r.failover_ms_max)),
        ("doubled actions", r.doubled_actions.to_string()),
        ("lost tasks", r.lost_tasks.to_string()),
        ("stale token refusals", r.stale_token_refusals.to_string()),
        ("fenced writes", r.fenced_writes.to_string()),
    ];
    for (k, v) in rows {
        println!("{k:<22} {v:>10}");
    }
}
