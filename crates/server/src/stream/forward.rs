//! The engine's events as stream messages: one task subscribes to the engine and publishes
//! each event to the hub, until shutdown.

use hivesched_engine::Engine;
use hivesched_engine::events::EngineEvent;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::clock;
use crate::shutdown::Shutdown;
use crate::stream::{StreamHub, StreamKind};
use crate::views;

/// The type and `data` of the message for `event`.
pub fn message(event: &EngineEvent) -> (StreamKind, Value) {
    match event {
        EngineEvent::Decision { id, decision } => {
            (StreamKind::Decision, json!(views::decision(*id, decision)))
        }
        EngineEvent::Agents { at, changes } => (
            StreamKind::Agent,
            json!({
                "at": clock::to_api(*at),
                "changes": changes.iter().map(|c| json!({
                    "agent": c.agent.0,
                    "from": c.from.as_str(),
                    "to": c.to.as_str(),
                })).collect::<Vec<_>>(),
            }),
        ),
        EngineEvent::Forecast(f) => (
            StreamKind::Forecast,
            json!({
                "start": clock::to_api(f.start),
                "step_s": f.step_s,
                "horizon": f.mean.len(),
                "mean": f.mean,
                "upper": f.upper,
                "model": f.model,
            }),
        ),
        EngineEvent::Bulk {
            id,
            report,
            finished,
        } => (
            StreamKind::Task,
            json!({
                "bulk_id": id,
                "finished": finished,
                "succeeded": report.succeeded,
                "failed": report.failed,
                "refused": report.refused,
                "rolled_back": report.rolled_back,
                "stages_run": report.stages_run,
                "stopped": report.stopped,
            }),
        ),
        EngineEvent::Alert(a) => (StreamKind::Alert, json!(views::alert(a))),
        EngineEvent::Control(c) => (
            StreamKind::Control,
            json!({
                "at": clock::to_api(c.at),
                "action": c.action,
                "actor": c.actor,
                "reason": c.reason,
                "after": c.after,
            }),
        ),
        EngineEvent::TickFailed { at, error } => (
            StreamKind::TickFailed,
            json!({ "at": clock::to_api(*at), "error": error }),
        ),
    }
}

/// Publishes every engine event to `hub` until `shutdown` fires. The engine's channel holds
/// 4096 events and this loop only serializes, so it does not fall behind; if it ever did, the
/// lost events are published as a `gap` so clients know. The events of an engine planning
/// another pool than `default` carry `"pool": NAME` in their data (the default pool's are as
/// they were before pools).
pub fn spawn(engine: &Engine, hub: StreamHub, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    let mut rx = engine.subscribe();
    let pool = (engine.pool() != hivesched_store::DEFAULT_POOL).then(|| engine.pool().to_owned());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.signalled() => return,
                event = rx.recv() => match event {
                    Ok(event) => {
                        let (kind, mut data) = message(&event);
                        if let (Some(pool), Value::Object(fields)) = (&pool, &mut data) {
                            fields.insert("pool".into(), Value::String(pool.clone()));
                        }
                        hub.publish(kind, data);
                    }
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "the stream fell behind the engine");
                        hub.publish(StreamKind::Gap, json!({
                            "lost": n,
                            "reason": "the stream fell behind the engine's events",
                        }));
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    })
}
