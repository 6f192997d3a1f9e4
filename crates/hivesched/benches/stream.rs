//! The live stream under load: the demo (45 fake agents, one tick every 2 s, the NYC-taxi
//! trace) with N WebSocket clients on loopback. Reports, for the messages published while the
//! clients were connected, the delivered-event latency (publish → received and parsed by the
//! client) p50/p99/max, events a client that kept up did not get, and the server's CPU as a
//! share of one core without and with the clients.
//!
//! Run with `cargo bench -p hivesched --bench stream -- [CLIENTS] [SECONDS]` (default 200
//! clients, 60 s per phase).
//!
//! The server runs on its own runtime and the clients on another whose threads are named
//! `bench-*`, so the server's CPU is the CPU of every other thread of this process
//! (`/proc/self/task/*/stat`), measured over a phase with no clients and a phase with them.

#![allow(missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hivesched::demo::{Demo, DemoOptions};
use hivesched_server::auth::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// CPU seconds used by this process's threads whose name does not start with `bench-`.
fn server_cpu_seconds() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if stat[open + 1..close].starts_with("bench-") {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After comm: state is field 3 of stat(5), utime 14 and stime 15.
        let utime: u64 = fields[11].parse().unwrap_or(0);
        let stime: u64 = fields[12].parse().unwrap_or(0);
        total += utime + stime;
    }
    total as f64 / tick
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// What one client received: `(seq, when)` for every message.
type Received = Vec<(u64, Instant)>;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let clients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(60);
    let phase = Duration::from_secs(seconds);

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("hs-server")
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();

    let data_dir =
        std::env::temp_dir().join(format!("hivesched-bench-stream-{}", std::process::id()));
    let trace = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/nyc_taxi.csv"
    ));
    let demo = server_rt
        .block_on(Demo::start(&DemoOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.clone(),
            trace,
        }))
        .unwrap();
    let hub = demo.server().stream().clone();
    let token = demo
        .server()
        .mint_token("bench", Role::Viewer, Duration::from_secs(3600))
        .unwrap();
    let ws = format!("{}/api/v1/stream", demo.url.replacen("http", "ws", 1));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = server_rt.spawn(demo.serve(async {
        let _ = stop_rx.await;
    }));

    // Every live message's publish instant, recorded from the hub itself.
    let published: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let recorder = client_rt.spawn({
        let published = published.clone();
        let mut rx = hub.subscribe();
        async move {
            while let Ok(frame) = rx.recv().await {
                if let Some(at) = frame.published {
                    published.lock().unwrap().insert(frame.seq, at);
                }
            }
        }
    });

    eprintln!("warming up 10 s, then {seconds} s without clients");
    std::thread::sleep(Duration::from_secs(10));
    let (cpu0, t0) = (server_cpu_seconds(), Instant::now());
    std::thread::sleep(phase);
    let idle_share = (server_cpu_seconds() - cpu0) / t0.elapsed().as_secs_f64();

    eprintln!("connecting {clients} clients, then {seconds} s with them");
    let stop_clients = Arc::new(tokio::sync::Notify::new());
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (ws, token, stop) = (ws.clone(), token.clone(), stop_clients.clone());
            client_rt.spawn(async move {
                let mut req = ws.into_client_request().unwrap();
                req.headers_mut()
                    .insert("authorization", format!("Bearer {token}").parse().unwrap());
                let (mut socket, _) = tokio_tungstenite::connect_async(req).await.unwrap();
                let mut got: Received = Vec::new();
                let mut closed = false;
                loop {
                    tokio::select! {
                        () = stop.notified() => break,
                        msg = socket.next() => match msg {
                            Some(Ok(Message::Text(t))) => {
                                let now = Instant::now();
                                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                                got.push((v["seq"].as_u64().unwrap(), now));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => { closed = true; break; }
                        }
                    }
                }
                (got, closed)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let first_seq = hub.last_seq() + 1;
    let (cpu1, t1) = (server_cpu_seconds(), Instant::now());
    std::thread::sleep(phase);
    let busy_share = (server_cpu_seconds() - cpu1) / t1.elapsed().as_secs_f64();
    let last_seq = hub.last_seq();
    // Let the last messages arrive before the clients stop reading.
    std::thread::sleep(Duration::from_secs(2));
    stop_clients.notify_waiters();
    let results: Vec<(Received, bool)> = client_rt.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });

    let published = published.lock().unwrap().clone();
    let mut latencies = Vec::new();
    let (mut lost, mut closed) = (0usize, 0usize);
    for (got, was_closed) in &results {
        closed += usize::from(*was_closed);
        let seen: std::collections::HashSet<u64> = got.iter().map(|(s, _)| *s).collect();
        lost += (first_seq..=last_seq).filter(|s| !seen.contains(s)).count();
        for (seq, at) in got {
            if (first_seq..=last_seq).contains(seq)
                && let Some(p) = published.get(seq)
            {
                latencies.push(at.duration_since(*p).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let events = last_seq + 1 - first_seq;
    let report = serde_json::json!({
        "clients": clients,
        "seconds": seconds,
        "events": events,
        "events_per_s": events as f64 / phase.as_secs_f64(),
        "deliveries": latencies.len(),
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p99": percentile(&latencies, 0.99),
            "max": latencies.last().copied().unwrap_or(f64::NAN),
        },
        "lost": lost,
        "clients_closed": closed,
        "server_cpu_share_of_one_core": {
            "without_clients": idle_share,
            "with_clients": busy_share,
            "added": busy_share - idle_share,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());

    let _ = stop_tx.send(());
    let _ = server_rt.block_on(served);
    recorder.abort();
    let _ = std::fs::remove_dir_all(data_dir);
}
