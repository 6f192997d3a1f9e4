//! The dashboard as the binary serves it: the page has every hook outside checks rely on, every
//! file it references is served from the binary with its type, nothing comes from elsewhere,
//! the Content-Security-Policy is strict and the whole stays under 300 KB. Also the one API
//! route added for it, `GET /api/v1/demand`.

mod common;

use std::collections::BTreeSet;

use common::{TestServer, backends, token};
use hivesched_server::auth::Role;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The hooks issue 15 names, plus the stop banner and the rollout panel the browser test
/// watches.
const TESTIDS: [&str; 11] = [
    "token-input",
    "sign-in",
    "fleet-total",
    "fleet-awake",
    "decision-row",
    "alert-row",
    "forecast-chart",
    "savings-24h",
    "emergency-banner",
    "rollout-panel",
    "rollout-status",
];

const PAGE_WEIGHT_LIMIT: usize = 300 * 1024;

/// Values of `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, m)| {
            let rest = &html[i + m.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

struct Fetched {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(server: &TestServer, path: &str) -> Fetched {
    let resp = server
        .client
        .get(format!("{}{path}", server.base))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    Fetched {
        status,
        headers,
        body,
    }
}

fn header(f: &Fetched, name: reqwest::header::HeaderName) -> &str {
    f.headers
        .get(&name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_its_assets_and_their_headers() {
    let server = TestServer::start(&backends().await[0]).await;
    let page = get(&server, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert!(page.body.starts_with("<!doctype html>"));

    // The CSP: this origin only, no inline or eval'd script, no framing.
    let csp = header(&page, CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe"),
        "CSP allows something unsafe: {csp}"
    );
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");

    // What the CSP would block must not be there: inline script, inline style.
    assert!(!page.body.contains("<script>") && !page.body.contains("<style"));
    assert!(attribute_values(&page.body, "style").is_empty());
    let handlers = regex::Regex::new(r#"\son[a-z]+\s*="#).unwrap();
    assert!(!handlers.is_match(&page.body), "an inline event handler");

    // Every file the page references is ours, served, typed, and under the CSP.
    let mut referenced: BTreeSet<&str> = BTreeSet::new();
    referenced.extend(attribute_values(&page.body, "src"));
    referenced.extend(attribute_values(&page.body, "href"));
    assert!(referenced.len() >= 3, "references: {referenced:?}");
    let mut weight = page.body.len();
    let mut script = String::new();
    for path in &referenced {
        assert!(
            path.starts_with('/') && !path.starts_with("//"),
            "{path} is not from this origin"
        );
        let asset = get(&server, path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        let expected = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("{path}: unexpected kind of asset {other:?}"),
        };
        assert_eq!(header(&asset, CONTENT_TYPE), expected, "{path}");
        assert_eq!(header(&asset, CONTENT_SECURITY_POLICY), csp, "{path}");
        assert_eq!(
            header(&asset, reqwest::header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        // Nothing is loaded from anywhere else: no absolute URL but the SVG namespace.
        let foreign: Vec<_> = asset
            .body
            .match_indices("://")
            .map(|(i, _)| &asset.body[i.saturating_sub(5)..(i + 35).min(asset.body.len())])
            .filter(|s| !s.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(foreign.is_empty(), "{path} refers elsewhere: {foreign:?}");
        if expected.starts_with("text/javascript") {
            script.push_str(&asset.body);
        }
        weight += asset.body.len();
    }
    assert!(
        weight < PAGE_WEIGHT_LIMIT,
        "the page and its assets weigh {weight} bytes"
    );

    // Every hook is in the page, or in the script that draws the rows.
    for id in TESTIDS {
        let in_page = page.body.contains(&format!("data-testid=\"{id}\""));
        let in_script = script.contains(&format!("'data-testid': '{id}'"));
        assert!(in_page || in_script, "data-testid {id} is missing");
    }

    // Revalidation answers 304 without a body; a changed file would have another ETag.
    let etag = header(&page, ETAG).to_owned();
    let again = server
        .client
        .get(format!("{}/", server.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.text().await.unwrap().is_empty());

    let missing = get(&server, "/ui/nothing.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let err: Value = serde_json::from_str(&missing.body).unwrap();
    assert_eq!(err["code"], "no_route");
    server.stop().await;
}

#[test]
fn the_dashboard_is_not_in_the_openapi_document() {
    let doc: Value = serde_json::from_str(&hivesched_server::openapi_json()).unwrap();
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            path != "/" && !path.starts_with("/ui"),
            "{path} is documented"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demand_history_is_the_window_before_the_newest_sample() {
    let server = TestServer::start(&backends().await[0]).await;
    let viewer = token(Role::Viewer);
    let (status, empty) = server
        .send(Method::GET, "/api/v1/demand", Some(&viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"step_s": 60, "samples": []}));

    // Ten samples one demand step (60 s) apart, the newest a minute ago, sent out of order.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let newest = chrono::DateTime::from_timestamp(now - 60, 0).unwrap();
    let samples: Vec<Value> = (0..10)
        .rev()
        .map(|k| {
            json!({
                "at": (newest - chrono::Duration::seconds(60 * k)).to_rfc3339(),
                "value": 100.0 + k as f64,
            })
        })
        .collect();
    let (status, _) = server
        .send(
            Method::POST,
            "/api/v1/demand",
            Some(&token(Role::Operator)),
            Some(&json!({ "samples": samples })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (status, history) = server
        .send(Method::GET, "/api/v1/demand?steps=3", Some(&viewer), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let values: Vec<f64> = history["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    // Three steps back from the newest, both ends included, oldest first.
    assert_eq!(values, [103.0, 102.0, 101.0, 100.0]);
    let (_, all) = server
        .send(Method::GET, "/api/v1/demand", Some(&viewer), None)
        .await;
    assert_eq!(all["samples"].as_array().unwrap().len(), 10);

    for bad in ["steps=0", "steps=2017", "steps=x"] {
        let (status, err) = server
            .send(
                Method::GET,
                &format!("/api/v1/demand?{bad}"),
                Some(&viewer),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(err["field"], "steps", "{bad}");
    }
    server.stop().await;
}
