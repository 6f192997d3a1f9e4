//! Every route × no token / expired / bad signature / revoked / each role → the expected status.
//! The routes and their minimum roles come from the OpenAPI document, so a route added without
//! a declared role, or whose extractor disagrees with its documentation, fails here.

mod common;

use common::{TestServer, backends, expired_token, forged_token, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Route {
    method: Method,
    path: String,
    min_role: Option<Role>,
}

fn routes() -> Vec<Route> {
    let doc: Value = serde_json::from_str(&hivesched_server::openapi_json()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let min_role = op["security"].as_array().map(|reqs| {
                let scopes = reqs[0]["bearer"].as_array().expect("bearer scheme");
                scopes[0].as_str().unwrap().parse::<Role>().unwrap()
            });
            out.push(Route {
                method: method.to_uppercase().parse().unwrap(),
                path: path.replace("{id}", "agent-0"),
                min_role,
            });
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_enforces_its_role() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let routes = routes();
        assert!(
            routes.len() >= 20,
            "only {} routes documented",
            routes.len()
        );
        let mut checked = 0;
        for r in &routes {
            let body = (r.method != Method::GET).then(|| json!({}));
            let Some(min) = r.min_role else {
                let (status, _) = server
                    .send(r.method.clone(), &r.path, None, body.as_ref())
                    .await;
                assert_eq!(status, StatusCode::OK, "{} {} is public", r.method, r.path);
                checked += 1;
                continue;
            };
            for (label, tok) in [
                ("no token", None),
                ("expired", Some(expired_token())),
                ("bad signature", Some(forged_token())),
                ("garbage", Some("not.a.jwt".to_owned())),
            ] {
                let (status, err) = server
                    .send(r.method.clone(), &r.path, tok.as_deref(), body.as_ref())
                    .await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {} {label}",
                    r.method,
                    r.path
                );
                assert_eq!(err["code"], "unauthorized");
                checked += 1;
            }
            for role in Role::ALL {
                let (status, err) = server
                    .send(r.method.clone(), &r.path, Some(&token(role)), body.as_ref())
                    .await;
                if role < min {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{} {} as {role}",
                        r.method,
                        r.path
                    );
                    assert_eq!(err["code"], "forbidden");
                } else {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{} {} as {role}: {status} {err}",
                        r.method,
                        r.path
                    );
                }
                checked += 1;
            }
        }
        eprintln!("{url}: {checked} route × credential combinations checked");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let t = token(Role::Admin);
        let (status, _) = server
            .send(Method::GET, "/api/v1/agents", Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let keys = hivesched_server::auth::TokenKeys::new(common::SECRET.as_bytes()).unwrap();
        let claims = keys.verify(&t).unwrap();
        let now = hivesched_server::clock::now();
        server
            .store
            .revoke_token(
                &claims.jti,
                now.plus(std::time::Duration::from_secs(3600)),
                "test",
                now,
            )
            .await
            .unwrap();
        let (status, err) = server
            .send(Method::GET, "/api/v1/agents", Some(&t), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(err["message"], "unauthorized: token revoked");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let url = &backends().await[0];
    let server = TestServer::start(url).await;
    let (status, err) = server.send(Method::GET, "/api/v1/nope", None, None).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );
    let (status, err) = server
        .send(Method::PATCH, "/api/v1/agents", None, None)
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    server.stop().await;
}

/// Tokens correctly signed with the service's secret but dated ahead (`iat`, `nbf`) or naming
/// nobody (`sub`) are refused like any other bad token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_dated_ahead_or_without_a_subject_are_refused() {
    let server = TestServer::start(&backends().await[0]).await;
    let now = jsonwebtoken::get_current_timestamp();
    // The claims `mint` writes, with one of them set to `value`.
    let sign = |claim: &str, value: Value| {
        let mut claims = json!({
            "sub": "carol", "role": "admin", "iat": now, "exp": now + 600, "jti": "forged-1"
        });
        claims[claim] = value;
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(common::SECRET.as_bytes()),
        )
        .unwrap()
    };
    for (what, claim, value, accepted) in [
        ("unedited", "sub", json!("carol"), true),
        ("nbf in the past", "nbf", json!(now - 60), true),
        ("iat an hour ahead", "iat", json!(now + 3600), false),
        ("nbf an hour ahead", "nbf", json!(now + 3600), false),
        ("empty sub", "sub", json!(""), false),
        ("blank sub", "sub", json!(" \t "), false),
    ] {
        let (status, err) = server
            .send(
                Method::GET,
                "/api/v1/agents",
                Some(&sign(claim, value)),
                None,
            )
            .await;
        if accepted {
            assert_eq!(status, StatusCode::OK, "{what}: {err}");
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {err}");
        assert_eq!(err["code"], "unauthorized", "{what}: {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| m.contains(claim)),
            "{what}: the message names {claim}: {err}"
        );
    }
    server.stop().await;
}
