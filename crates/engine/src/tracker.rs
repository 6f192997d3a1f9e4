//! Background work the engine must be able to wait for: tasks a tick handed to the executor
//! (ticks never wait on the fleet) and bulk operations. Shutdown and tests wait for it to drain.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Counts spawned work and wakes waiters when the count reaches zero.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    running: AtomicUsize,
    idle: Notify,
}

/// Decrements the count when the tracked future ends, however it ends.
struct Done(Arc<Inner>);

impl Drop for Done {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Tracker {
    /// Spawns `work` on the runtime and counts it until it ends.
    pub fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        let done = Done(Arc::clone(&self.inner));
        tokio::spawn(async move {
            let _done = done;
            work.await;
        });
    }

    /// Work still running.
    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// Waits until nothing tracked is running.
    pub async fn idle(&self) {
        loop {
            let notified = self.inner.idle.notified();
            if self.running() == 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_every_spawned_future() {
        let t = Tracker::default();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        t.spawn(async move {
            let _ = rx.await;
        });
        assert_eq!(t.running(), 1);
        let waiter = tokio::spawn({
            let t = t.clone();
            async move { t.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        tx.send(()).unwrap();
        waiter.await.unwrap();
        assert_eq!(t.running(), 0);
    }
}
