//! Measures the high-volume path at millions of rows: appends agent events for two days in
//! batches, timing each million, then purges the first day.
//!
//! `cargo run --release -p hivesched-store --example retention_at_scale -- URL [ROWS]`
//! with URL `sqlite://…?mode=rwc` or `postgres://…` (use a scratch database or schema).

use std::time::Instant;

use hivesched_policy::{AgentId, Time};
use hivesched_store::{NewAgentEvent, RetainedTable, Store};

const DAY_MS: i64 = 86_400_000;
const BATCH: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: retention_at_scale URL [ROWS]")?;
    let rows: i64 = args.next().map_or(Ok(2_000_000), |s| s.parse())?;
    let store = Store::connect(&url).await?;
    let start = 20_758 * DAY_MS; // 2026-11-01
    store
        .ensure_partitions(Time::from_millis(start), Time::from_millis(start + DAY_MS))
        .await?;
    let step = 2 * DAY_MS / rows;
    let mut timer = Instant::now();
    let mut reported = 0;
    for first in (0..rows).step_by(BATCH) {
        let batch: Vec<NewAgentEvent> = (first..(first + BATCH as i64).min(rows))
            .map(|i| NewAgentEvent {
                at: Time::from_millis(start + i * step),
                agent: AgentId(format!("agent-{:05}", i % 10_000)),
                kind: "state_changed".into(),
                detail: serde_json::json!({"from": "awake", "to": "preparing_sleep"}),
            })
            .collect();
        store.record_agent_events(&batch).await?;
        let done = first + batch.len() as i64;
        if done % 1_000_000 == 0 || done == rows {
            let secs = timer.elapsed().as_secs_f64();
            println!(
                "{:?}: rows {reported}..{done}: {:.0} rows/s",
                store.backend(),
                (done - reported) as f64 / secs
            );
            reported = done;
            timer = Instant::now();
        }
    }
    let t = Instant::now();
    let report = store
        .purge_older_than(
            RetainedTable::AgentEvents,
            Time::from_millis(start + DAY_MS),
        )
        .await?;
    println!(
        "{:?}: purge of day one: {:.3} s, {} rows deleted, partitions dropped {:?}",
        store.backend(),
        t.elapsed().as_secs_f64(),
        report.rows_deleted,
        report.partitions_dropped
    );
    let t = Instant::now();
    let newest = store.list_agent_events(None, 100).await?;
    println!(
        "{:?}: newest 100 events read in {:.1} ms (newest at {})",
        store.backend(),
        t.elapsed().as_secs_f64() * 1e3,
        newest[0].event.at.as_millis()
    );
    store.close().await;
    Ok(())
}
