//! The alert rules' state in the running engine: the [`AlertBook`] of `policy::alerts`, the
//! thresholds, and where changes are sent. The engine gathers the facts and calls
//! [`Alerting::evaluate`] after every tick attempt and from a watchdog while ticks stall.

use std::sync::{Mutex, RwLock};

use hivesched_policy::Time;
use hivesched_policy::alerts::{Alert, AlertBook, AlertChange, AlertConfig, AlertFacts};

use crate::alert_delivery::AlertDelivery;
use crate::lock::lock;

/// The engine's alerting state.
#[derive(Debug)]
pub struct Alerting {
    book: Mutex<AlertBook>,
    cfg: RwLock<AlertConfig>,
    delivery: Option<AlertDelivery>,
}

impl Alerting {
    /// Alerting under `cfg`, resuming the alerts still `open` in the store, sending to
    /// `delivery` when configured.
    pub fn new(cfg: AlertConfig, open: Vec<Alert>, delivery: Option<AlertDelivery>) -> Self {
        Alerting {
            book: Mutex::new(AlertBook::with_open(open)),
            cfg: RwLock::new(cfg),
            delivery,
        }
    }

    /// The thresholds in force.
    pub fn config(&self) -> AlertConfig {
        self.cfg
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs every rule on `facts`; the changes, already applied to the book.
    pub fn evaluate(&self, facts: &AlertFacts, now: Time) -> Vec<AlertChange> {
        let cfg = self.config();
        lock(&self.book).evaluate(facts, &cfg, now)
    }

    /// Marks the open alert `id` acknowledged in the book.
    pub fn acknowledge(&self, id: &str, by: &str, now: Time) -> Option<Alert> {
        lock(&self.book).acknowledge(id, by, now)
    }

    /// The open alerts.
    pub fn open(&self) -> Vec<Alert> {
        lock(&self.book).open().cloned().collect()
    }

    /// Queues an alert for the receivers; `false` when none is configured or the queue is full.
    pub fn deliver(&self, alert: Alert) -> bool {
        self.delivery.as_ref().is_some_and(|d| d.send(alert))
    }

    /// Whether receivers are configured.
    pub fn delivers(&self) -> bool {
        self.delivery.is_some()
    }
}
