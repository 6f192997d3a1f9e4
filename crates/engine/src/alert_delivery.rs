//! Sending alerts out: to an Alertmanager (its v2 API, as Prometheus does) and to a generic
//! webhook signed with an HMAC header. Sending never blocks a tick: alerts go into a bounded
//! queue that one background worker drains, retrying each receiver with backoff; a dead
//! receiver costs retries, not decisions, and an alert that cannot be queued is counted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use hivesched_policy::Time;
use hivesched_policy::alerts::Alert;
use tokio::sync::mpsc;

use crate::EngineError;

/// Alerts waiting to be sent; more than this and new ones are dropped (and counted).
const QUEUE: usize = 1000;
/// Attempts per alert and receiver; the waits between them double from one second.
const ATTEMPTS: u32 = 5;
/// Header of the webhook's signature: `sha256=<hex HMAC-SHA-256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-hivesched-signature";

/// Where alerts go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// Base URL of an Alertmanager (alerts are POSTed to `{url}/api/v2/alerts`).
    pub alertmanager_url: Option<String>,
    /// A URL that receives each alert as JSON.
    pub webhook_url: Option<String>,
    /// The secret the webhook's signature is keyed with.
    pub webhook_secret: Option<String>,
    /// Deadline of one request.
    pub timeout: Duration,
}

impl DeliveryConfig {
    /// Whether any receiver is configured.
    pub fn any(&self) -> bool {
        self.alertmanager_url.is_some() || self.webhook_url.is_some()
    }
}

/// The queues into the delivery workers, one per receiver so a dead one never delays the
/// other. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AlertDelivery {
    alertmanager: Option<mpsc::Sender<Alert>>,
    webhook: Option<mpsc::Sender<Alert>>,
}

/// How often the open alerts are sent to Alertmanager again. Alertmanager ends an alert nobody
/// repeats after its `resolve_timeout` (5 min by default), as Prometheus knows: it resends
/// every minute, and so do we.
pub const ALERTMANAGER_RESEND: Duration = Duration::from_secs(60);

impl AlertDelivery {
    /// Starts one worker per receiver in `cfg`; `failed` is called with the receiver's name for
    /// each alert it still refused after every attempt.
    pub fn spawn(
        cfg: DeliveryConfig,
        failed: impl Fn(&'static str) + Send + Sync + 'static,
    ) -> Result<AlertDelivery, EngineError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout.max(Duration::from_secs(1)))
            .build()
            .map_err(|e| EngineError::InvalidConfig {
                key: "alert_delivery",
                reason: e.to_string(),
            })?;
        let failed = std::sync::Arc::new(failed);
        let alertmanager = cfg.alertmanager_url.as_ref().map(|url| {
            let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            let (client, failed) = (client.clone(), failed.clone());
            worker(move |alert: Alert| {
                let (client, url, failed) = (client.clone(), url.clone(), failed.clone());
                async move {
                    if !send(&client, &url, &alertmanager_body(&alert), None).await {
                        failed("alertmanager");
                    }
                }
            })
        });
        let webhook = cfg.webhook_url.as_ref().map(|url| {
            let url = url.clone();
            let secret = cfg.webhook_secret.clone();
            worker(move |alert: Alert| {
                let (client, url, secret, failed) =
                    (client.clone(), url.clone(), secret.clone(), failed.clone());
                async move {
                    let body = webhook_body(&alert);
                    if !send(&client, &url, &body, secret.as_deref()).await {
                        failed("webhook");
                    }
                }
            })
        });
        Ok(AlertDelivery {
            alertmanager,
            webhook,
        })
    }

    /// Queues a change of `alert` for every receiver; `false` when a queue is full (the alert
    /// is dropped there).
    pub fn send(&self, alert: Alert) -> bool {
        let mut queued = true;
        if let Some(tx) = &self.webhook {
            queued &= tx.try_send(alert.clone()).is_ok();
        }
        if let Some(tx) = &self.alertmanager {
            queued &= tx.try_send(alert).is_ok();
        }
        queued
    }

    /// Repeats a still-open `alert` to Alertmanager (the webhook gets changes only); `false`
    /// when the queue is full.
    pub fn repeat(&self, alert: Alert) -> bool {
        self.alertmanager
            .as_ref()
            .is_none_or(|tx| tx.try_send(alert).is_ok())
    }
}

/// A bounded queue drained by one task that hands each alert to `deliver`.
fn worker<F, Fut>(deliver: F) -> mpsc::Sender<Alert>
where
    F: Fn(Alert) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::channel::<Alert>(QUEUE);
    tokio::spawn(async move {
        while let Some(alert) = rx.recv().await {
            deliver(alert).await;
        }
    });
    tx
}

/// POSTs `body`, retrying with backoff on anything but a 2xx; signs it when `secret` is given.
async fn send(client: &reqwest::Client, url: &str, body: &[u8], secret: Option<&str>) -> bool {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1))).await;
        }
        let mut req = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(secret) = secret {
            req = req.header(SIGNATURE_HEADER, signature(secret, body));
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return true,
            Ok(resp) => {
                tracing::warn!(url, status = %resp.status(), attempt, "alert receiver refused")
            }
            Err(e) => tracing::warn!(url, error = %e, attempt, "alert receiver unreachable"),
        }
    }
    false
}

/// `sha256=<hex>` of HMAC-SHA-256 over `body` with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn rfc3339(t: Time) -> String {
    let ms = u64::try_from(t.as_millis()).unwrap_or(0);
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Alertmanager's v2 `postableAlerts`: one alert, labels (`alertname`, `severity`, the rule's
/// labels), annotations, `startsAt`, and `endsAt` once resolved (an open alert gets none, so
/// Alertmanager keeps it firing until its resolve timeout).
pub fn alertmanager_body(a: &Alert) -> Vec<u8> {
    let mut labels = serde_json::Map::new();
    labels.insert("alertname".into(), a.rule.as_str().into());
    labels.insert("severity".into(), a.severity.as_str().into());
    labels.insert("service".into(), "hivesched".into());
    for (k, v) in &a.labels {
        labels.insert(k.clone(), v.clone().into());
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert("summary".into(), a.summary.clone().into());
    if let Some(v) = a.value {
        annotations.insert("value".into(), v.to_string().into());
    }
    let mut alert = serde_json::Map::new();
    alert.insert("labels".into(), labels.into());
    alert.insert("annotations".into(), annotations.into());
    alert.insert("startsAt".into(), rfc3339(a.fired_at).into());
    if let Some(end) = a.resolved_at {
        alert.insert("endsAt".into(), rfc3339(end).into());
    }
    serde_json::to_vec(&serde_json::Value::Array(vec![alert.into()])).unwrap_or_default()
}

/// The webhook's body: the alert in the shape `GET /api/v1/alerts` lists it (RFC 3339 times,
/// `acknowledged_at`/`acknowledged_by` split), plus when it was sent. Documented in
/// docs/alerts.md; receivers verify `x-hivesched-signature` over these exact bytes.
pub fn webhook_body(a: &Alert) -> Vec<u8> {
    let sent = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    serde_json::to_vec(&serde_json::json!({
        "id": a.id,
        "rule": a.rule.as_str(),
        "severity": a.severity.as_str(),
        "state": a.state.as_str(),
        "labels": a.labels,
        "summary": a.summary,
        "value": a.value,
        "fired_at": rfc3339(a.fired_at),
        "acknowledged_at": a.acknowledged.as_ref().map(|(t, _)| rfc3339(*t)),
        "acknowledged_by": a.acknowledged.as_ref().map(|(_, by)| by),
        "resolved_at": a.resolved_at.map(rfc3339),
        "sent_at": rfc3339(Time::from_millis(sent)),
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use hivesched_policy::alerts::{AlertState, Rule, Severity};

    fn alert(resolved: bool) -> Alert {
        Alert {
            id: "breaker_open-1".into(),
            rule: Rule::BreakerOpen,
            labels: BTreeMap::from([("pool".to_owned(), "default".to_owned())]),
            severity: Severity::Critical,
            summary: "breaker open".into(),
            value: None,
            state: if resolved {
                AlertState::Resolved
            } else {
                AlertState::Firing
            },
            fired_at: Time::from_secs(1_700_000_000),
            acknowledged: None,
            resolved_at: resolved.then(|| Time::from_secs(1_700_000_600)),
        }
    }

    #[test]
    fn alertmanager_gets_its_v2_shape() {
        let body: serde_json::Value =
            serde_json::from_slice(&alertmanager_body(&alert(false))).unwrap();
        let a = &body[0];
        assert_eq!(a["labels"]["alertname"], "breaker_open");
        assert_eq!(a["labels"]["severity"], "critical");
        assert_eq!(a["labels"]["pool"], "default");
        assert_eq!(a["startsAt"], "2023-11-14T22:13:20.000Z");
        assert!(a.get("endsAt").is_none());
        let body: serde_json::Value =
            serde_json::from_slice(&alertmanager_body(&alert(true))).unwrap();
        assert_eq!(body[0]["endsAt"], "2023-11-14T22:23:20.000Z");
    }

    #[test]
    fn the_webhook_gets_the_api_shape() {
        let body: serde_json::Value = serde_json::from_slice(&webhook_body(&alert(true))).unwrap();
        assert_eq!(body["rule"], "breaker_open");
        assert_eq!(body["state"], "resolved");
        assert_eq!(body["fired_at"], "2023-11-14T22:13:20.000Z");
        assert_eq!(body["resolved_at"], "2023-11-14T22:23:20.000Z");
        assert!(body["acknowledged_at"].is_null());
        assert!(body["sent_at"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn the_signature_is_an_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
