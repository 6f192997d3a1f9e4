//! One replica alone: always the leader, of every pool.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::{BoxFuture, CoordError, Coordinator, LeaderElector, Leadership, LeaseHolder};

/// The coordinator of a replica that runs alone: every pool's elector is an
/// [`InProcessElector`] leading at once (each pool has its own fencing mark, so each starts at
/// token 1).
#[derive(Debug)]
pub struct InProcessCoordinator {
    node_id: String,
    electors: Mutex<BTreeMap<String, Arc<InProcessElector>>>,
}

impl InProcessCoordinator {
    /// A lone replica named `node_id`.
    pub fn new(node_id: impl Into<String>) -> Self {
        InProcessCoordinator {
            node_id: node_id.into(),
            electors: Mutex::default(),
        }
    }
}

impl Coordinator for InProcessCoordinator {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn alone(&self) -> bool {
        true
    }

    fn elector(&self, pool: &str) -> Arc<dyn LeaderElector> {
        let mut electors = self.electors.lock().unwrap_or_else(PoisonError::into_inner);
        let e = electors
            .entry(pool.to_owned())
            .or_insert_with(|| Arc::new(InProcessElector::new(self.node_id.clone())));
        Arc::clone(e) as Arc<dyn LeaderElector>
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(async move { Ok(vec![self.node_id.clone()]) })
    }

    fn holder<'a>(
        &'a self,
        pool: &'a str,
    ) -> BoxFuture<'a, Result<Option<LeaseHolder>, CoordError>> {
        Box::pin(async move {
            let e = self
                .electors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(pool)
                .cloned();
            match e {
                Some(e) => e.holder().await,
                None => Ok(None),
            }
        })
    }

    fn set_eligible(&self, _eligible: bool) {
        // Alone: there is nobody to hand a pool to; the engine's ticks fail and retry until
        // the database is back.
    }

    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async move {
            let all: Vec<Arc<InProcessElector>> = self
                .electors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .values()
                .cloned()
                .collect();
            for e in all {
                e.release().await?;
            }
            Ok(())
        })
    }
}

/// The elector of a replica that runs alone (no `cluster.redis_url`): it leads from the start
/// with token 1 and never changes its mind. Nothing else can act for its pool, so nothing needs
/// fencing; the token is still sent, because the fleet contract requires one.
#[derive(Debug)]
pub struct InProcessElector {
    node_id: String,
    tx: watch::Sender<Leadership>,
}

/// The token of the only leader a lone replica has.
const ALONE_TOKEN: u64 = 1;

impl InProcessElector {
    /// A lone replica named `node_id`, leading at once.
    pub fn new(node_id: impl Into<String>) -> Self {
        let (tx, _) = watch::channel(Leadership::Leader { token: ALONE_TOKEN });
        InProcessElector {
            node_id: node_id.into(),
            tx,
        }
    }
}

impl LeaderElector for InProcessElector {
    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn alone(&self) -> bool {
        true
    }

    fn watch(&self) -> watch::Receiver<Leadership> {
        self.tx.subscribe()
    }

    fn members(&self) -> BoxFuture<'_, Result<Vec<String>, CoordError>> {
        Box::pin(async move { Ok(vec![self.node_id.clone()]) })
    }

    fn holder(&self) -> BoxFuture<'_, Result<Option<LeaseHolder>, CoordError>> {
        Box::pin(async move {
            Ok(self.tx.borrow().token().map(|token| LeaseHolder {
                node: self.node_id.clone(),
                token,
            }))
        })
    }

    fn fenced_below(&self, floor: u64) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async move {
            // Alone, the next lease is simply the next token: nobody else can hold one.
            self.tx.send_modify(|l| {
                if let Leadership::Leader { token } = l {
                    *token = (*token).max(floor.saturating_add(1));
                }
            });
            Ok(())
        })
    }

    fn release(&self) -> BoxFuture<'_, Result<(), CoordError>> {
        Box::pin(async move {
            self.tx.send_replace(Leadership::Follower);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn alone_leads_with_token_one_until_released() {
        let e = InProcessElector::new("solo");
        let rx = e.watch();
        assert_eq!(*rx.borrow(), Leadership::Leader { token: 1 });
        assert_eq!(e.members().await.unwrap(), vec!["solo".to_string()]);
        assert_eq!(e.holder().await.unwrap().unwrap().token, 1);
        // A database whose mark is 41 (used by a cluster before): the next token is 42.
        e.fenced_below(41).await.unwrap();
        assert_eq!(*rx.borrow(), Leadership::Leader { token: 42 });
        e.release().await.unwrap();
        assert_eq!(*rx.borrow(), Leadership::Follower);
        assert!(e.holder().await.unwrap().is_none());
    }
}
