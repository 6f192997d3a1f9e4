//! Open-loop heartbeat load against a running server: `AGENTS` agents each POST one heartbeat
//! every `INTERVAL_S` seconds, spread evenly, for `DURATION_S` seconds; prints the achieved rate
//! and latency percentiles.
//!
//! Open loop means requests are sent on schedule whether or not earlier ones finished, and each
//! latency is measured from the moment the request was *due*, so a stalled server shows up in
//! the percentiles instead of silently slowing the generator (coordinated omission).
//!
//! ```text
//! TOKEN=<operator JWT> cargo run --release -p hivesched-server --example heartbeat_load -- \
//!     http://127.0.0.1:8080 10000 10 60
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let agents: u32 = arg(&args, 2, 10_000);
    let interval = Duration::from_secs_f64(arg(&args, 3, 10.0));
    let duration = Duration::from_secs_f64(arg(&args, 4, 60.0));
    let Ok(token) = std::env::var("TOKEN") else {
        eprintln!("heartbeat_load: set TOKEN to an operator (or admin) JWT");
        std::process::exit(2);
    };

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let gap = interval / agents.max(1);
    let total = (duration.as_secs_f64() / gap.as_secs_f64()) as u64;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let mut pending = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = start + gap * u32::try_from(n).expect("request count fits u32");
        tokio::time::sleep_until(due.into()).await;
        let agent = n % u64::from(agents);
        let body = format!(
            r#"{{"state":"awake","busy":{},"queue_depth":{},"context_tokens":{}}}"#,
            n % 3 == 0,
            n % 5,
            (n * 37) % 9000
        );
        let request = client
            .post(format!("{url}/api/v1/agents/agent-{agent}/heartbeat"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body);
        let latencies = Arc::clone(&latencies);
        let failures = Arc::clone(&failures);
        pending.push(tokio::spawn(async move {
            match request.send().await {
                Ok(r) if r.status().is_success() => {
                    let ms = due.elapsed().as_secs_f64() * 1e3;
                    latencies.lock().expect("latency log").push(ms);
                }
                Ok(r) => failures
                    .lock()
                    .expect("failure log")
                    .push(r.status().to_string()),
                Err(e) => failures.lock().expect("failure log").push(e.to_string()),
            }
        }));
    }
    for p in pending {
        let _ = p.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().expect("latency log").clone();
    l.sort_by(f64::total_cmp);
    let failures = failures.lock().expect("failure log");
    println!(
        "agents {agents}, every {:.1} s, {:.0} s: {} ok, {} failed, {:.0} req/s; \
         latency ms p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}",
        interval.as_secs_f64(),
        duration.as_secs_f64(),
        l.len(),
        failures.len(),
        l.len() as f64 / elapsed,
        percentile(&l, 50.0),
        percentile(&l, 90.0),
        percentile(&l, 99.0),
        percentile(&l, 99.9),
        l.last().copied().unwrap_or(f64::NAN),
    );
    if let Some(first) = failures.first() {
        println!("first failure: {first}");
    }
}
