//! Alerts end to end: an emergency stop fires `emergency_stop` at once; it is listed, pushed
//! on the stream, acknowledged once (audited) and resolved by the resume. The senders deliver
//! to an Alertmanager v2 endpoint and an HMAC-signed webhook on 127.0.0.1, and a receiver that
//! never answers does not hold back the ticks.

mod common;

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::ws::{connect, next};
use common::{SECRET, TestServer, backends, emergency_resume, emergency_stop, token};
use hivesched_server::ServiceConfig;
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

async fn alerts(server: &TestServer, query: &str) -> Vec<Value> {
    let (s, body) = server
        .send(
            Method::GET,
            &format!("/api/v1/alerts{query}"),
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["alerts"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_fires_is_acknowledged_once_and_resolves() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let mut socket = connect(&server, "").await;
        assert!(
            alerts(&server, "").await.is_empty(),
            "nothing fires on a quiet fleet"
        );

        emergency_stop(&server, "freeze_sleeps").await;
        let firing = alerts(&server, "?state=firing").await;
        assert_eq!(firing.len(), 1, "{firing:?}");
        let alert = &firing[0];
        assert_eq!(alert["rule"], "emergency_stop");
        assert_eq!(alert["severity"], "critical");
        assert_eq!(alert["labels"]["mode"], "freeze_sleeps");
        let id = alert["id"].as_str().unwrap().to_owned();
        let ack = format!("/api/v1/alerts/{id}/ack");

        let (s, body) = server
            .send(Method::POST, &ack, Some(&token(Role::Viewer)), None)
            .await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "a viewer cannot acknowledge: {body}"
        );
        let (s, body) = server
            .send(Method::POST, &ack, Some(&token(Role::Operator)), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "acknowledged");
        assert!(body["acknowledged_at"].is_string(), "{body}");
        let by = body["acknowledged_by"].as_str().unwrap().to_owned();
        let (s, body) = server
            .send(Method::POST, &ack, Some(&token(Role::Operator)), None)
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "conflict", "{body}");
        let (s, body) = server
            .send(
                Method::POST,
                "/api/v1/alerts/no-such-alert/ack",
                Some(&token(Role::Operator)),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{body}");

        let (s, body) = server
            .send(
                Method::GET,
                "/api/v1/audit?limit=20",
                Some(&token(Role::Operator)),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let record = body["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["action"] == "alert.acknowledge")
            .expect("the acknowledgement is audited");
        assert_eq!(record["target"], id.as_str());
        assert_eq!(record["actor"], by.as_str());

        emergency_resume(&server).await;
        let resolved = alerts(&server, "?state=resolved").await;
        assert_eq!(resolved.len(), 1, "{resolved:?}");
        assert_eq!(resolved[0]["id"], id.as_str());
        assert!(resolved[0]["resolved_at"].is_string());
        assert!(alerts(&server, "?state=firing").await.is_empty());

        // The stream saw the whole lifecycle, in order.
        let mut states = Vec::new();
        while states.last().map(String::as_str) != Some("resolved") {
            let m = next(&mut socket).await.unwrap();
            if m["type"] == "alert" && m["data"]["id"] == id.as_str() {
                states.push(m["data"]["state"].as_str().unwrap().to_owned());
            }
        }
        assert_eq!(states, ["firing", "acknowledged", "resolved"]);
        server.stop().await;
    }
}

/// What a receiver got: path, headers, body.
type Received = (String, HeaderMap, Bytes);

/// An HTTP receiver on 127.0.0.1 that records every POST and answers 200.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((uri.path().to_owned(), headers, body));
                StatusCode::OK
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, rx)
}

/// HMAC-SHA256 (RFC 2104) written out here so the check does not share code with the sender.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> String {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

async fn received(rx: &mut mpsc::UnboundedReceiver<Received>, path: &str) -> (HeaderMap, Value) {
    loop {
        let (p, headers, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a delivery within 30 s")
            .unwrap();
        if p == path {
            return (headers, serde_json::from_slice(&body).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_alertmanager_and_a_signed_webhook() {
    let url = backends().await.remove(0);
    let (am_base, mut am) = receiver().await;
    let (hook_base, mut hook) = receiver().await;
    let secret = "webhook-secret-0123456789abcdef-xyz";
    let cfg = common::config(
        &url,
        &format!(
            "[alert_delivery]\nalertmanager_url = \"{am_base}\"\n\
             webhook_url = \"{hook_base}/hook\"\nwebhook_secret = \"{secret}\"\n"
        ),
    );
    let server = TestServer::start_with(cfg).await;
    emergency_stop(&server, "freeze_sleeps").await;

    let (_, body) = received(&mut am, "/api/v2/alerts").await;
    let a = &body[0];
    assert_eq!(a["labels"]["alertname"], "emergency_stop");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["mode"], "freeze_sleeps");
    assert!(a["annotations"]["summary"].is_string(), "{a}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(a["startsAt"].as_str().unwrap()).is_ok(),
        "{a}"
    );
    assert!(a.get("endsAt").is_none(), "a firing alert has no end: {a}");

    // The webhook: verify the signature over the exact bytes with an independent HMAC.
    let (p, headers, raw) = tokio::time::timeout(Duration::from_secs(30), hook.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p, "/hook");
    let sig = headers["x-hivesched-signature"].to_str().unwrap();
    assert_eq!(
        sig,
        format!("sha256={}", hmac_sha256(secret.as_bytes(), &raw))
    );
    assert_ne!(
        sig,
        format!("sha256={}", hmac_sha256(SECRET.as_bytes(), &raw)),
        "signed with the webhook secret, not another"
    );
    let body: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["rule"], "emergency_stop");
    assert_eq!(body["state"], "firing");

    emergency_resume(&server).await;
    let (_, body) = received(&mut am, "/api/v2/alerts").await;
    assert!(
        body[0]["endsAt"].is_string(),
        "the resolution ends it: {body}"
    );
    let (_, body) = received(&mut hook, "/hook").await;
    assert_eq!(body["state"], "resolved");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_does_not_hold_back_ticks() {
    let url = backends().await.remove(0);
    // Accepts connections and never answers: every delivery waits for its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{url}\"\njwt_secret = \"{SECRET}\"\n\
         tick_interval = 1\n\
         [alert_delivery]\nalertmanager_url = \"{dead}\"\nwebhook_url = \"{dead}/hook\"\n\
         timeout = 300\n\
         [actuator]\nkind = \"fake\"\nagents = 4\n"
    );
    let server = TestServer::start_with(ServiceConfig::from_toml(&text, Vec::new()).unwrap()).await;
    emergency_stop(&server, "freeze_sleeps").await;
    let ticks = || async {
        let (_, text) = server.send(Method::GET, "/metrics", None, None).await;
        let text = text.as_str().unwrap_or_default().to_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("hivesched_ticks_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = ticks().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = ticks().await;
    assert!(
        after - before >= 2.0,
        "ticks went on while the receiver hung: {before} → {after}"
    );
    server.stop().await;
}
