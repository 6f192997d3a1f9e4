//! The one shutdown signal of a running server. The HTTP listener, the engine's tick loop and
//! every long-lived connection (a live stream, say) subscribe to it, so one signal closes them
//! all: in-flight requests finish, streams end cleanly, the engine leaves unfinished tasks
//! journaled.

use std::sync::Arc;

use tokio::sync::watch;

/// A shutdown signal that fires once; cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Fires the signal (again is a no-op).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the signal has fired.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// A receiver that turns `true` when the signal fires.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Resolves once the signal has fired.
    pub async fn signalled(&self) {
        let mut rx = self.subscribe();
        // An error means the sender is gone, which only happens once no one can fire it.
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_subscriber_sees_the_signal() {
        let s = Shutdown::new();
        let mut rx = s.subscribe();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.signalled().await }
        });
        assert!(!s.is_triggered());
        s.trigger();
        waiter.await.unwrap();
        rx.changed().await.unwrap();
        assert!(*rx.borrow());
        // Subscribing after the fact still sees it.
        s.signalled().await;
    }
}
