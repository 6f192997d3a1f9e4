//! Following the pool's leadership: claiming the lease in the store's fencing mark, recovering
//! and resuming on taking over, stopping at once on losing it.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use hivesched_coord::Leadership;
use tokio::sync::watch;

use super::{CLAIM_RETRY, Engine};
use crate::leadership::{Grant, store_token};

impl Engine {
    /// Applies every change of `rx` in the background for as long as the engine exists; a
    /// claim the store could not record (the database is down) is retried every second.
    pub(super) fn follow(&self, mut rx: watch::Receiver<Leadership>) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let now = *rx.borrow_and_update();
                let Some(inner) = weak.upgrade() else { return };
                let settled = Engine { inner }.apply_leadership(now, &rx).await;
                let next = if settled {
                    rx.changed().await
                } else {
                    tokio::select! {
                        changed = rx.changed() => changed,
                        () = tokio::time::sleep(CLAIM_RETRY) => Ok(()),
                    }
                };
                if next.is_err() {
                    return;
                }
            }
        });
    }

    /// Turns a leadership value into the engine's grant; `false` when a claim must be retried.
    pub(super) async fn apply_leadership(
        &self,
        now: Leadership,
        rx: &watch::Receiver<Leadership>,
    ) -> bool {
        let inner = &self.inner;
        let before = *inner.grant.borrow();
        let next = match now {
            Leadership::Leader { token } => {
                let token = store_token(token);
                if before == (Grant::Acting { token: Some(token) }) {
                    return true;
                }
                match inner.store.claim_fencing(token).await {
                    Ok(()) => Grant::Acting { token: Some(token) },
                    Err(e @ hivesched_store::StoreError::Fenced { .. }) => {
                        // A higher token has written: either a newer leader exists (the
                        // elector will say so) or the elector's counter is behind the store
                        // (Redis lost its data): hand the lease back above the mark.
                        inner.metrics.fenced_writes.inc();
                        tracing::warn!(error = %e, "lease refused by the fencing mark; not acting");
                        self.hand_back_below_mark().await;
                        Grant::Standing
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot record the new lease; not acting yet");
                        return false;
                    }
                }
            }
            Leadership::Follower | Leadership::Unknown => Grant::Standing,
        };
        if next != Grant::Standing && *rx.borrow() != now {
            // Leadership changed while claiming: the follow loop applies the newer value.
            return true;
        }
        if next == before {
            return true;
        }
        inner.grant.send_replace(next);
        let leading = next != Grant::Standing;
        inner.metrics.leader.set(i64::from(leading));
        inner.metrics.leader_changes.inc();
        if leading {
            // A takeover: the previous leader's unfinished tasks and bulks are ours now.
            inner.recovery_pending.store(true, Ordering::Release);
            tracing::info!(?now, "leading: acting from the next tick");
        } else {
            tracing::warn!(?now, "not leading: not acting");
        }
        true
    }

    /// Tells the elector the store's mark, so its next lease gets a token above it.
    async fn hand_back_below_mark(&self) {
        let Some(elector) = &self.inner.elector else {
            return;
        };
        match self.inner.store.fencing_mark().await {
            Ok(mark) => {
                let floor = u64::try_from(mark).unwrap_or(0);
                if let Err(e) = elector.fenced_below(floor).await {
                    tracing::warn!(error = %e, "could not hand the refused lease back");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the fencing mark"),
        }
    }
}
