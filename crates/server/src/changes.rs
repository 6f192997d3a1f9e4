//! Applies what other replicas write: the controls, the runtime settings and bulk submissions
//! are database state any replica may write, and the leader must act on them within a second,
//! not at its next tick (ten seconds by default). On PostgreSQL every such write sends a
//! notice at its commit (`hivesched_store::changes`); this task hears them and applies them to
//! the engine. Measured on loopback: an emergency stop set through a follower is in force on
//! the leader 0.6–11 ms after the follower answered (six stops and resumes,
//! `crates/server/tests/cluster.rs`).
//!
//! A lost listener connection may have missed notices: everything is reloaded when it comes
//! back. Without a listener (SQLite: one replica) nothing runs; a replica applies its own
//! writes directly, and the leader still re-reads the controls at every tick.

use std::time::Duration;

use hivesched_store::{Change, Heard};

use crate::config::RuntimeSettings;
use crate::shutdown::Shutdown;
use crate::state::AppState;

/// Pause before listening again after PostgreSQL could not be reached.
const RETRY: Duration = Duration::from_secs(1);

/// Follows other replicas' changes until the server shuts down (nothing on SQLite).
pub fn spawn(state: AppState, shutdown: Shutdown) {
    tokio::spawn(async move {
        let stopped = shutdown.signalled();
        tokio::pin!(stopped);
        tokio::select! {
            () = follow(&state) => {}
            () = &mut stopped => {}
        }
    });
}

async fn follow(state: &AppState) {
    let mut listener = loop {
        match state.store.listen_changes().await {
            Ok(Some(listener)) => break listener,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other replicas' changes; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    loop {
        match listener.recv().await {
            Ok(Heard::Changed(change)) => apply(state, change).await,
            Ok(Heard::MaybeMissed) => {
                tracing::info!("change notices reconnected: reloading everything");
                for change in [Change::Controls, Change::Config, Change::Bulks] {
                    apply(state, change).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "change notices interrupted; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

async fn apply(state: &AppState, change: Change) {
    let applied = match change {
        Change::Controls => state
            .pools
            .controls_changed(None)
            .await
            .map_err(|e| e.to_string()),
        Change::Bulks => state
            .pools
            .bulks_submitted()
            .await
            .map_err(|e| e.to_string()),
        Change::Config => reload_settings(state).await,
    };
    match applied {
        Ok(()) => tracing::debug!(change = change.as_str(), "applied another replica's change"),
        Err(e) => tracing::warn!(change = change.as_str(), error = %e,
            "could not apply another replica's change; the next tick reads the controls again"),
    }
}

/// Puts the newest stored settings in force (they were validated when they were stored).
async fn reload_settings(state: &AppState) -> Result<(), String> {
    let Some(current) = state
        .store
        .current_config::<RuntimeSettings>()
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    current.config.validate().map_err(|e| e.to_string())?;
    state
        .pools
        .update_settings(&current.config)
        .map_err(|e| e.to_string())
}
