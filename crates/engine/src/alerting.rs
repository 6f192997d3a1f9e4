//! The alert rules' state in the running engine: the [`AlertBook`] of `policy::alerts`, the
//! thresholds, and where changes are sent. The engine gathers the facts and calls
//! [`Alerting::evaluate`] after every tick attempt and from a watchdog while ticks stall.

use std::sync::{Mutex, RwLock};

use hivesched_policy::Time;
use hivesched_policy::alerts::{Alert, AlertBook, AlertChange, AlertConfig, AlertFacts};

use hivesched_store::DEFAULT_POOL;

use crate::alert_delivery::{ALERTMANAGER_RESEND, AlertDelivery};
use crate::lock::lock;

/// The engine's alerting state.
#[derive(Debug)]
pub struct Alerting {
    book: Mutex<AlertBook>,
    cfg: RwLock<AlertConfig>,
    delivery: Option<AlertDelivery>,
    last_repeat: Mutex<Option<Time>>,
}

impl Alerting {
    /// Alerting for the agent pool `pool` under `cfg`, resuming that pool's alerts still
    /// `open` in the store (the store holds every pool's), sending to `delivery` when
    /// configured. The default pool's alerts carry no pool label (as before pools); every
    /// other pool's carry `pool=NAME`.
    pub fn new(
        cfg: AlertConfig,
        open: Vec<Alert>,
        delivery: Option<AlertDelivery>,
        pool: &str,
    ) -> Self {
        let labels: std::collections::BTreeMap<String, String> = if pool == DEFAULT_POOL {
            Default::default()
        } else {
            [("pool".to_owned(), pool.to_owned())].into()
        };
        let own: Vec<Alert> = open
            .into_iter()
            .filter(|a| a.labels.get("pool") == labels.get("pool"))
            .collect();
        Alerting {
            book: Mutex::new(AlertBook::with_open(own).with_labels(labels)),
            cfg: RwLock::new(cfg),
            delivery,
            last_repeat: Mutex::new(None),
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

    /// Repeats the open alerts to Alertmanager once per [`ALERTMANAGER_RESEND`], so it keeps
    /// them firing; the number that did not fit the queue.
    pub fn repeat_open(&self, now: Time) -> usize {
        let Some(delivery) = &self.delivery else {
            return 0;
        };
        {
            let mut last = lock(&self.last_repeat);
            if last.is_some_and(|t| now.since(t) < ALERTMANAGER_RESEND) {
                return 0;
            }
            *last = Some(now);
        }
        self.open()
            .into_iter()
            .filter(|a| !delivery.repeat(a.clone()))
            .count()
    }

    /// Whether receivers are configured.
    pub fn delivers(&self) -> bool {
        self.delivery.is_some()
    }
}
