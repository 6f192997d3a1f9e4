//! The engine following a leader elector's watch (driven by hand here; the Redis elector has
//! its own tests in `hivesched-coord`): a follower does not act, a new leader records its
//! token before acting, and a deposed leader that still believes it leads (a paused process)
//! has its writes refused by the store and its fleet calls refused by the fleet.

use std::sync::Arc;
use std::time::Duration;

use hivesched_coord::{
    BoxFuture, CoordError, InProcessElector, LeaderElector, Leadership, LeaseHolder,
};
use hivesched_engine::actuator::{ActuationRequest, Actuator, Outcome, Refusal};
use hivesched_engine::clock::ManualClock;
use hivesched_engine::{Engine, EngineError};
use hivesched_fakefleet::FakeFleet;
use hivesched_policy::{AgentId, Time};
use hivesched_store::Store;
use tokio::sync::watch;

mod common;

use common::{Backend, Db, T0, config, demand, fleet, forecasters};

/// An elector the test steers by hand.
struct Manual(watch::Sender<Leadership>);

impl LeaderElector for Manual {
    fn node_id(&self) -> &str {
        "manual"
    }
    fn alone(&self) -> bool {
        false
    }
    fn watch(&self) -> watch::Receiver<Leadership> {
        self.0.subscribe()
    }
    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(async { Ok(vec!["manual".to_owned()]) })
    }
    fn holder(&self) -> BoxFuture<'_, Result<Option<LeaseHolder>, CoordError>> {
        Box::pin(async { Ok(None) })
    }
    fn fenced_below(&self, _floor: u64) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async {
            self.0.send_replace(Leadership::Follower);
            Ok(())
        })
    }
    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async {
            self.0.send_replace(Leadership::Follower);
            Ok(())
        })
    }
}

fn manual(initial: Leadership) -> Arc<Manual> {
    Arc::new(Manual(watch::channel(initial).0))
}

async fn follower_engine(
    store: &Store,
    fleet: &FakeFleet,
    clock: &Arc<ManualClock>,
    elector: Arc<dyn LeaderElector>,
) -> Engine {
    Engine::start_following(
        store.clone(),
        Arc::new(fleet.clone()),
        config(false),
        clock.clone(),
        forecasters(),
        Some(elector),
    )
    .await
    .unwrap()
    .0
}

/// Waits (up to 2 s) until the engine acts with `token`.
async fn acting_with(engine: &Engine, token: i64) {
    tokio::time::timeout(Duration::from_secs(2), async {
        while engine.acting() != Some(Some(token)) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the new lease is claimed within 2 s");
}

async fn leadership_is_followed(backend: Backend) {
    let Some(db) = Db::new(backend, "follows").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let f = fleet(6);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let elector = manual(Leadership::Unknown);
    let e = follower_engine(&store, &f, &clock, elector.clone()).await;
    let tx = &elector.0;

    // Not leading: no tick, no decision, nothing claimed, nothing sent to the fleet.
    assert!(matches!(e.tick().await, Err(EngineError::NotLeader)));
    assert!(store.list_decisions(None, 10).await.unwrap().is_empty());
    assert_eq!(store.fencing_mark().await.unwrap(), 0);
    assert_eq!(e.metrics().leader.get(), 0);

    // Elected with token 7: claimed in the store first, then ticks act with it.
    tx.send_replace(Leadership::Leader { token: 7 });
    acting_with(&e, 7).await;
    assert_eq!(store.fencing_mark().await.unwrap(), 7);
    let decision = e.tick().await.unwrap();
    assert!(!decision.actions.is_empty(), "{decision:?}");
    e.drain().await;
    let actions = f.actions();
    assert!(!actions.is_empty());
    assert!(actions.iter().all(|a| a.fencing_token == 7), "{actions:?}");
    assert_eq!(e.metrics().leader.get(), 1);
    assert_eq!(e.metrics().leader_changes.get(), 1);

    // Lost: the engine stops at once (no await between the change and the check).
    tx.send_replace(Leadership::Follower);
    assert_eq!(e.acting(), None);
    assert!(matches!(e.tick().await, Err(EngineError::NotLeader)));
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_does_not_act_and_a_new_leader_claims_its_token_first_sqlite() {
    leadership_is_followed(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_does_not_act_and_a_new_leader_claims_its_token_first_postgres() {
    leadership_is_followed(Backend::Postgres).await;
}

async fn deposed_leader_is_fenced(backend: Backend) {
    let Some(db) = Db::new(backend, "deposed").await else {
        return;
    };
    let store = db.store().await;
    demand(&store, 1.0).await;
    let f = fleet(6);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let old = follower_engine(&store, &f, &clock, manual(Leadership::Leader { token: 1 })).await;
    acting_with(&old, 1).await;

    // A new leader takes over while the old one is "paused" and never heard of it.
    let new = follower_engine(&store, &f, &clock, manual(Leadership::Leader { token: 2 })).await;
    acting_with(&new, 2).await;
    let decisions_before = store.list_decisions(None, 100).await.unwrap().len();

    // The old leader resumes and ticks: its decision write is refused, nothing lands.
    let err = old.tick().await.unwrap_err();
    assert!(err.is_fenced(), "{err}");
    assert_eq!(
        store.list_decisions(None, 100).await.unwrap().len(),
        decisions_before
    );
    assert_eq!(old.metrics().fenced_writes.get(), 1);

    // The new leader acts with token 2; a late call carrying token 1 is refused by the fleet.
    new.tick().await.unwrap();
    new.drain().await;
    assert!(f.actions().iter().all(|a| a.fencing_token == 2));
    let late = ActuationRequest {
        idempotency_key: "late-from-the-old-leader".into(),
        reason: "test".into(),
        fencing_token: 1,
    };
    let answer = f.wake(&AgentId::from("agent-0"), &late).await.unwrap();
    assert_eq!(answer, Outcome::Busy(Refusal::StaleToken));
    assert!(
        !f.actions()
            .iter()
            .any(|a| a.idempotency_key == late.idempotency_key)
    );
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_is_refused_by_the_store_and_the_fleet_sqlite() {
    deposed_leader_is_fenced(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_is_refused_by_the_store_and_the_fleet_postgres() {
    deposed_leader_is_fenced(Backend::Postgres).await;
}

/// A replica started alone on a database a cluster used before (its mark is 41): the lone
/// elector's token 1 is refused, handed back, and the replica acts with 42.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_replica_on_a_database_with_a_higher_mark_acts_above_it() {
    let Some(db) = Db::new(Backend::Sqlite, "alone-after-cluster").await else {
        return;
    };
    let store = db.store().await;
    store.claim_fencing(41).await.unwrap();
    demand(&store, 1.0).await;
    let f = fleet(4);
    let clock = Arc::new(ManualClock::new(Time::from_secs(T0)));
    let e = follower_engine(&store, &f, &clock, Arc::new(InProcessElector::new("solo"))).await;
    acting_with(&e, 42).await;
    assert_eq!(store.fencing_mark().await.unwrap(), 42);
    e.tick().await.unwrap();
    db.drop().await;
}
