//! The fleet as the scheduler sees it at a tick: the agents the service knows (pins,
//! do-not-disrupt, idle times, last moves) with their states refreshed from the fleet's own API.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use hivesched_policy::{Agent, AgentId, Fleet, Time};

use crate::events::AgentChange;
use hivesched_store::{AgentRecord, DEFAULT_POOL, NewAgentEvent, Store};

use crate::EngineError;
use crate::actuator::{AgentStatus, DynActuator};

/// Longest a tick waits for the fleet's listing: a tick never waits on a dead fleet longer
/// than this (the HTTP actuator alone would retry for up to ~16 s).
pub const FLEET_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads the fleet of the store handle's pool ([`Store::in_pool`]). Lapsed time-limited
/// overrides are cleared first; agents the fleet reports but the store does not know at all are
/// registered in the default pool (by the default pool's engine only; the fleet's listing
/// spans every pool, and agents of other pools are left to theirs); state changes are written
/// back with an event. When the fleet's API can't
/// be listed, the last known states are used (the scheduler fails safe on stale demand, and the
/// caller decides whether to act).
///
/// The plan uses the listing's busy flag and context size, but they are written back only for
/// agents without a heartbeat in the last `heartbeat_fresh`: while an agent reports itself, its
/// heartbeats own those fields, and rewriting thousands of rows every tick only to disagree
/// with the next heartbeat held the database's writer long enough to stall heartbeats.
///
/// `elsewhere` remembers the agents found in other pools between reads, so the default pool's
/// engine asks the store for them only when the listing names an agent it has not placed yet.
pub async fn read_fleet(
    store: &Store,
    actuator: &dyn DynActuator,
    now: Time,
    heartbeat_fresh: Duration,
    elsewhere: &std::sync::Mutex<HashSet<AgentId>>,
) -> Result<FleetRead, EngineError> {
    let lapsed = store.clear_lapsed_overrides(now).await?;
    let mut records: HashMap<AgentId, AgentRecord> = store
        .list_pool_agents()
        .await?
        .into_iter()
        .map(|r| (r.agent.id.clone(), r))
        .collect();
    // Bounded, so a fleet that hangs cannot hold the tick: it reads as unreachable instead.
    let live = match tokio::time::timeout(FLEET_READ_TIMEOUT, actuator.boxed_list_agents()).await {
        Ok(Ok(agents)) => Some(agents),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the fleet's state could not be read");
            None
        }
        Err(_) => {
            tracing::warn!(timeout = ?FLEET_READ_TIMEOUT, "the fleet's state did not arrive in time");
            None
        }
    };
    let fleet_reachable = live.is_some();
    let mut live = live.unwrap_or_default();
    // Agents of other pools are theirs; an agent nobody knows yet is the default pool's.
    if store.pool_name() != DEFAULT_POOL {
        live.retain(|s| records.contains_key(&s.id));
    } else {
        let unplaced = |known: &HashSet<AgentId>| {
            live.iter()
                .any(|s| !records.contains_key(&s.id) && !known.contains(&s.id))
        };
        let stale = unplaced(&crate::lock::lock(elsewhere));
        if stale {
            let fresh = store.agent_ids_outside_pool().await?;
            *crate::lock::lock(elsewhere) = fresh;
        }
        let known = crate::lock::lock(elsewhere);
        live.retain(|s| records.contains_key(&s.id) || !known.contains(&s.id));
        drop(known);
    }
    let mut events: Vec<NewAgentEvent> = lapsed
        .into_iter()
        .map(|agent| NewAgentEvent {
            at: now,
            agent,
            kind: "pin_expired".into(),
            detail: serde_json::json!({}),
        })
        .collect();
    // Sorted, so concurrent writers lock rows in one order.
    let mut changed_ids = BTreeSet::new();
    let mut changes = Vec::new();
    for status in live {
        let AgentStatus {
            id,
            state,
            busy,
            context_tokens,
        } = status;
        let mut discovered = false;
        let record = records.entry(id.clone()).or_insert_with(|| {
            discovered = true;
            events.push(NewAgentEvent {
                at: now,
                agent: id.clone(),
                kind: "discovered".into(),
                detail: serde_json::json!({}),
            });
            let mut agent = Agent::awake(id.0.clone(), now);
            agent.state = state;
            AgentRecord {
                agent,
                pin_until: None,
                queue_depth: 0,
                last_heartbeat: None,
                pool: store.pool_name().to_owned(),
            }
        });
        let reports_itself = record
            .last_heartbeat
            .is_some_and(|at| at > now.minus(heartbeat_fresh));
        let changed = discovered
            || record.agent.state != state
            || (!reports_itself
                && (record.agent.busy != busy || record.agent.context_tokens != context_tokens));
        if record.agent.state != state {
            events.push(NewAgentEvent {
                at: now,
                agent: id.clone(),
                kind: "state_changed".into(),
                detail: serde_json::json!({"from": record.agent.state, "to": state}),
            });
            changes.push(AgentChange {
                agent: id.clone(),
                from: record.agent.state,
                to: state,
            });
            record.agent.state = state;
            record.agent.last_transition = now;
        }
        if busy {
            record.agent.idle_since = None;
        } else if record.agent.idle_since.is_none() {
            record.agent.idle_since = Some(now);
        }
        record.agent.busy = busy;
        record.agent.context_tokens = context_tokens;
        if changed {
            changed_ids.insert(id.clone());
        }
    }
    let changed: Vec<AgentRecord> = changed_ids
        .iter()
        .filter_map(|id| records.get(id).cloned())
        .collect();
    store.observe_agents(&changed).await?;
    if !events.is_empty() {
        store.record_agent_events(&events).await?;
    }
    let mut agents: Vec<Agent> = records.into_values().map(|r| r.agent).collect();
    agents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(FleetRead {
        fleet: Fleet::new(agents),
        readable: fleet_reachable,
        changes,
    })
}

/// What one read of the fleet found.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRead {
    /// Every agent, sorted by id.
    pub fleet: Fleet,
    /// Whether the fleet's own API answered (else the states are the last known ones).
    pub readable: bool,
    /// Agents whose state the fleet reports changed since the last read.
    pub changes: Vec<AgentChange>,
}
