//! Bulk operations: stored with their tasks in one transaction, then run in the background by
//! the pool's leader.

use hivesched_store::NewAuditRecord;

use super::{BulkStatus, Engine};
use crate::EngineError;
use crate::bulk::{BulkReport, BulkRequest, prepare, run_bulk};
use crate::events::EngineEvent;
use crate::lock::lock;

impl Engine {
    /// Validates `req`, then stores the operation, every one of its tasks and `audit` in one
    /// transaction, and only then starts it in the background: the id it returns names an
    /// operation that survives a crash.
    pub async fn submit_bulk(
        &self,
        actor: &str,
        req: BulkRequest,
        audit: &NewAuditRecord,
    ) -> Result<String, EngineError> {
        let now = self.inner.clock.now();
        let id = format!("{}-{:08x}", now.as_millis(), fastrand::u32(..));
        let (op, tasks) = prepare(&id, actor, &req, now)?;
        let mut audit = audit.clone();
        audit.target = id.clone();
        self.inner
            .store
            .insert_bulk_with_tasks(&op, &tasks, &audit)
            .await?;
        self.spawn_bulk(id.clone(), req);
        Ok(id)
    }

    pub(super) fn spawn_bulk(&self, id: String, req: BulkRequest) {
        if self.acting().is_none() {
            tracing::info!(bulk = %id, "stored; the leader runs it from its next tick");
            return;
        }
        if !lock(&self.inner.running_bulks).insert(id.clone()) {
            return;
        }
        let engine = self.clone();
        self.inner.work.spawn(async move {
            let result = engine.run_bulk(&id, &req).await;
            lock(&engine.inner.running_bulks).remove(&id);
            match result {
                Ok(report) => {
                    let _ = engine.inner.events.send(EngineEvent::Bulk {
                        id,
                        report,
                        finished: true,
                    });
                }
                Err(e) => tracing::warn!(bulk = %id, error = %e, "bulk operation stopped"),
            }
        });
    }

    /// Runs a stored bulk operation to the end in the caller's task (tests, CLI), publishing
    /// its progress after each stage.
    pub async fn run_bulk(&self, id: &str, req: &BulkRequest) -> Result<BulkReport, EngineError> {
        let inner = &self.inner;
        let events = inner.events.clone();
        let bulk_id = id.to_owned();
        let progress = move |report: &BulkReport| {
            let _ = events.send(EngineEvent::Bulk {
                id: bulk_id.clone(),
                report: report.clone(),
                finished: false,
            });
        };
        run_bulk(
            &inner.store,
            &inner.executor,
            inner.clock.as_ref(),
            id,
            req,
            &progress,
        )
        .await
    }

    /// A bulk operation's record, its tasks' progress and its refusals by reason.
    pub async fn bulk_status(&self, id: &str) -> Result<BulkStatus, EngineError> {
        let operation = self.inner.store.bulk(id).await?;
        let tasks = self.inner.store.bulk_status_counts(id, None).await?;
        let refusals = self.inner.store.bulk_refusals(id).await?;
        Ok(BulkStatus {
            operation,
            tasks,
            refusals,
        })
    }
}
