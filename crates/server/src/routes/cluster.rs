//! The replicas: this one's name, the live members and who leads each pool.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, Viewer};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The cluster routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_cluster))
}

/// One pool and its leader.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PoolLeader {
    /// The pool's name (`default`: the agents that name none).
    pub pool: String,
    /// The node holding the pool's lease; `null` while nobody does (no one acts then).
    pub leader: Option<String>,
    /// The leader's fencing token (its epoch): greater for every new lease; `null` with no
    /// leader.
    #[schema(minimum = 1)]
    pub epoch: Option<u64>,
}

/// The replicas as this one sees them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClusterView {
    /// This replica's name (`cluster.node_id`).
    pub node_id: String,
    /// `true` when this replica runs alone (no `cluster.redis_url`): it leads every pool.
    pub alone: bool,
    /// The replicas registered as alive, sorted (each refreshes its registration every third
    /// of the lease TTL; a dead one drops out within one TTL).
    pub members: Vec<String>,
    /// Every pool this replica knows (configured, or heartbeated into), sorted by name, with
    /// its leader. With several pools their leases are spread over the live members by
    /// rendezvous hashing (`docs/cluster.md`).
    pub pools: Vec<PoolLeader>,
}

/// The replicas and who leads.
#[utoipa::path(get, path = "/cluster", tag = "cluster",
    security(("bearer" = ["viewer"])),
    responses((status = 200, description = "This replica, the live members and each pool's \
            leader.", body = ClusterView),
        (status = 503, description = "`unavailable`: the coordinating Redis does not answer \
            (the leader stops acting while it cannot renew its lease).", body = ErrorBody)))]
async fn get_cluster(
    _auth: Auth<Viewer>,
    State(state): State<AppState>,
) -> Result<Json<ClusterView>, ApiError> {
    let cluster = &state.cluster;
    let unavailable = |e: hivesched_coord::CoordError| ApiError::Unavailable(format!("redis: {e}"));
    let members = cluster.members().await.map_err(unavailable)?;
    let mut pools = Vec::new();
    for pool in state.pools.names() {
        let holder = cluster.holder(&pool).await.map_err(unavailable)?;
        pools.push(PoolLeader {
            pool,
            leader: holder.as_ref().map(|h| h.node.clone()),
            epoch: holder.map(|h| h.token),
        });
    }
    Ok(Json(ClusterView {
        node_id: cluster.node_id().to_owned(),
        alone: cluster.alone(),
        members,
        pools,
    }))
}
