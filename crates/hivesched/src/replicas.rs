//! Child replicas of `hivesched serve` on local services, shared by the fault campaigns
//! ([`crate::chaos`]) and the scale benchmark (`benches/scale.rs`): how one is started, and how
//! its `/metrics` and `/proc` entries are read.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// How one replica is started.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// The `hivesched` binary.
    pub binary: PathBuf,
    /// `HIVE_DATABASE_URL`.
    pub database_url: String,
    /// `HIVE_CLUSTER__REDIS_URL`.
    pub redis_url: String,
    /// The fleet's API (`HIVE_ACTUATOR__BASE_URL`, HTTP actuator).
    pub fleet_url: String,
    /// `HIVE_JWT_SECRET`.
    pub secret: String,
    /// `HIVE_CLUSTER__NODE_ID`.
    pub node_id: String,
    /// `HIVE_CLUSTER__KEY_PREFIX`.
    pub key_prefix: String,
    /// `HIVE_CLUSTER__LEASE_TTL`, whole seconds.
    pub lease_ttl_s: u64,
    /// `HIVE_TICK_INTERVAL`, whole seconds.
    pub tick_interval_s: u64,
    /// `HIVE_SHADOW`.
    pub shadow: bool,
}

/// Starts `hivesched serve` as `spec` says on a free loopback port, its log (stderr) in `log`;
/// returns the child and its base URL. The `HIVE_*` variables of this process are not passed
/// on: the replica gets exactly these settings.
pub fn spawn_replica(spec: &ReplicaSpec, log: File) -> anyhow::Result<(Child, String)> {
    let mut cmd = Command::new(&spec.binary);
    for (k, _) in std::env::vars() {
        if k.starts_with("HIVE_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .env("HIVE_DATABASE_URL", &spec.database_url)
        .env("HIVE_JWT_SECRET", &spec.secret)
        .env("HIVE_TICK_INTERVAL", spec.tick_interval_s.to_string())
        .env("HIVE_RESTART_HOLD", "0")
        .env("HIVE_SHADOW", spec.shadow.to_string())
        .env("HIVE_ACTUATOR__KIND", "http")
        .env("HIVE_ACTUATOR__BASE_URL", &spec.fleet_url)
        .env("HIVE_CLUSTER__REDIS_URL", &spec.redis_url)
        .env("HIVE_CLUSTER__LEASE_TTL", spec.lease_ttl_s.to_string())
        .env("HIVE_CLUSTER__NODE_ID", &spec.node_id)
        .env("HIVE_CLUSTER__KEY_PREFIX", &spec.key_prefix)
        .env("HIVE_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", spec.binary.display()))?;
    let stdout = child.stdout.take().context("a replica's stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .context("reading a replica's address")?;
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("replica {} did not start; see its log", spec.node_id);
    };
    Ok((child, addr.to_owned()))
}

/// A replica's `/metrics` text (`base` is its URL), or `None` when it does not answer within
/// `timeout`.
pub async fn scrape(
    http: &reqwest::Client,
    base: &str,
    timeout: std::time::Duration,
) -> Option<String> {
    http.get(format!("{base}/metrics"))
        .timeout(timeout)
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()
}

/// The value of an unlabelled metric in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The value of a metric for an agent pool in Prometheus text: the unlabelled series for
/// `default` (as one-pool versions exported it), `name{pool="…"}` for any other.
pub fn pool_metric(text: &str, name: &str, pool: &str) -> Option<f64> {
    if pool == "default" {
        return metric(text, name);
    }
    let series = format!("{name}{{pool=\"{pool}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse().ok())
}

/// Nearest-rank percentile (`p` in 0–100) of sorted values; 0 when there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU seconds (user and system) process `pid` has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces, so split at the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // After comm, state is field 3 of proc(5); utime is 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / tick)
}

/// Resident memory of process `pid` in bytes: now (`VmRSS`) and its peak (`VmHWM`).
pub fn resident_bytes(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((kib("VmRSS:")? * 1024, kib("VmHWM:")? * 1024))
}

#[cfg(test)]
mod tests {
    #[test]
    fn metrics_percentiles_and_proc_entries_are_read() {
        let text =
            "# TYPE hivesched_leader gauge\nhivesched_leader 1\nhivesched_leader_changes_total 3\n";
        assert_eq!(super::metric(text, "hivesched_leader"), Some(1.0));
        assert_eq!(
            super::metric(text, "hivesched_leader_changes_total"),
            Some(3.0)
        );
        assert_eq!(super::metric(text, "hivesched_ticks_total"), None);
        let pools = "hivesched_leader 0\nhivesched_leader{pool=\"gpu\"} 1\n";
        assert_eq!(
            super::pool_metric(pools, "hivesched_leader", "default"),
            Some(0.0)
        );
        assert_eq!(
            super::pool_metric(pools, "hivesched_leader", "gpu"),
            Some(1.0)
        );
        assert_eq!(super::pool_metric(pools, "hivesched_leader", "cpu"), None);
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(super::percentile(&sorted, 50.0), 2.0);
        assert_eq!(super::percentile(&sorted, 99.0), 4.0);
        let me = std::process::id();
        assert!(super::cpu_seconds(me).is_some());
        let (rss, peak) = super::resident_bytes(me).unwrap();
        assert!(rss > 0 && peak >= rss);
    }
}
