//! Flags and progressive rollouts through the real server: CRUD with roles and audit, the
//! operator commands, OFREP single and bulk evaluation with the protocol's error shapes, and
//! the periodic check rolling a rollout back when treatment agents report failures.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, backends, config, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A boolean flag at 50 % then 100 %: both arms fill quickly in a small fleet.
fn flag(key: &str) -> Value {
    json!({
        "key": key,
        "description": "test flag",
        "kind": "boolean",
        "salt": key,
        "unit": "agent_id",
        "ladder": [50.0, 100.0],
        "min_bake": 0,
        "min_units_per_arm": 1,
        "min_full_rollout": 0,
        "rollback": "kill",
    })
}

async fn create(s: &TestServer, body: Value) -> (StatusCode, Value) {
    s.send(
        Method::POST,
        "/api/v1/flags",
        Some(&token(Role::Operator)),
        Some(&json!({ "flag": body, "reason": "test" })),
    )
    .await
}

async fn cmd(s: &TestServer, key: &str, command: &str, role: Role) -> (StatusCode, Value) {
    s.send(
        Method::POST,
        &format!("/api/v1/flags/{key}/{command}"),
        Some(&token(role)),
        Some(&json!({ "reason": format!("test {command}") })),
    )
    .await
}

async fn audit_actions(s: &TestServer) -> Vec<(String, String, String)> {
    let (status, page) = s
        .send(
            Method::GET,
            "/api/v1/audit?limit=200",
            Some(&token(Role::Operator)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn ofrep(s: &TestServer, path: &str, body: &Value) -> (StatusCode, Value) {
    s.send(Method::POST, path, Some(&token(Role::Viewer)), Some(body))
        .await
}

/// The arm of each agent, as the server's OFREP endpoint reports it.
async fn arms(s: &TestServer, key: &str, agents: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for a in agents {
        let (status, body) = ofrep(
            s,
            &format!("/ofrep/v1/evaluate/flags/{key}"),
            &json!({ "context": { "targetingKey": a } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        out.push(body["metadata"]["arm"].as_str().unwrap().to_owned());
    }
    out
}

/// One batch of heartbeats: `per_agent(arm)` gives each agent's (completed, failed).
async fn report(
    s: &TestServer,
    agents: &[String],
    arms: &[String],
    per_agent: impl Fn(&str) -> (u64, u64),
) {
    let beats: Vec<Value> = agents
        .iter()
        .zip(arms)
        .map(|(a, arm)| {
            let (completed, failed) = per_agent(arm);
            json!({
                "agent": a, "state": "awake", "busy": true,
                "tasks_completed": completed, "tasks_failed": failed,
                "task_latency_ms_p99": 120.0,
            })
        })
        .collect();
    let (status, body) = s
        .send(
            Method::POST,
            "/api/v1/heartbeats",
            Some(&token(Role::Operator)),
            Some(&json!({ "heartbeats": beats })),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

fn agents(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("agent-{i:02}")).collect()
}

#[tokio::test]
async fn flags_are_created_read_and_edited_by_role_and_audited() {
    for url in backends().await {
        let s = TestServer::start(&url).await;
        let (status, body) = s
            .send(
                Method::POST,
                "/api/v1/flags",
                Some(&token(Role::Viewer)),
                Some(&json!({ "flag": flag("crud"), "reason": "x" })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

        let (status, body) = create(&s, flag("crud")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["version"], 1);
        assert_eq!(body["rollout"]["phase"], "ramping");
        assert_eq!(body["rollout"]["percentage"], 50.0);
        assert_eq!(body["breaker_open"], false);
        let (status, body) = create(&s, flag("crud")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict"))
        );

        let mut bad = flag("bad");
        bad["ladder"] = json!([50.0, 25.0, 100.0]);
        let (status, body) = create(&s, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "flag.ladder");
        let (status, body) = create(&s, flag("bad key")).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("flag.key"))
        );

        let (status, list) = s
            .send(
                Method::GET,
                "/api/v1/flags",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["flags"].as_array().unwrap().len(), 1);
        let (status, body) = s
            .send(
                Method::GET,
                "/api/v1/flags/nope",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );

        let patch = |body: Value| {
            let s = &s;
            async move {
                s.send(
                    Method::PATCH,
                    "/api/v1/flags/crud",
                    Some(&token(Role::Operator)),
                    Some(&body),
                )
                .await
            }
        };
        let (status, body) =
            patch(json!({ "description": "edited", "version": 1, "reason": "r" })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (
                body["version"].as_i64(),
                body["flag"]["description"].as_str()
            ),
            (Some(2), Some("edited"))
        );
        let (status, _) =
            patch(json!({ "description": "stale", "version": 1, "reason": "r" })).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, body) = patch(json!({ "salt": "other", "reason": "r" })).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"))
        );
        let (status, body) = patch(json!({ "ladder": [10.0], "reason": "r" })).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("ladder"))
        );
        let (status, _) = s
            .send(
                Method::PATCH,
                "/api/v1/flags/crud",
                Some(&token(Role::Viewer)),
                Some(&json!({ "description": "x", "reason": "r" })),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        let trail = audit_actions(&s).await;
        for action in ["flag.create", "flag.update"] {
            assert!(
                trail.iter().any(|(actor, a, target)| a == action
                    && target == "crud"
                    && actor == "test-operator"),
                "{action}: {trail:?}"
            );
        }
        assert_eq!(trail.iter().filter(|t| t.1.starts_with("flag.")).count(), 2);
        s.stop().await;
    }
}

#[tokio::test]
async fn a_rollout_advances_waits_for_approval_rolls_back_and_is_rearmed() {
    for url in backends().await {
        let s = TestServer::start(&url).await;
        assert_eq!(create(&s, flag("flow")).await.0, StatusCode::CREATED);
        let fleet = agents(20);
        let arm = arms(&s, "flow", &fleet).await;
        assert!(arm.iter().any(|a| a == "treatment") && arm.iter().any(|a| a == "control"));
        // Healthy and equal arms, enough tasks for every guardrail.
        report(&s, &fleet, &arm, |_| (50, 0)).await;
        let (status, body) = cmd(&s, "flow", "advance", Role::Operator).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["decision"]["action"], "await_approval", "{body}");
        assert_eq!(body["decision"]["waiting"], json!(["approval"]));
        assert_eq!(body["flag"]["rollout"]["phase"], "awaiting_approval");
        assert!(!body["decision"]["checks"].as_array().unwrap().is_empty());

        assert_eq!(
            cmd(&s, "flow", "approve", Role::Operator).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, body) = cmd(&s, "flow", "approve", Role::Admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["flag"]["rollout"]["approved"], true);

        tokio::time::sleep(Duration::from_millis(20)).await;
        report(&s, &fleet, &arm, |_| (50, 0)).await;
        let (status, body) = cmd(&s, "flow", "advance", Role::Operator).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["decision"]["action"], "advance", "{body}");
        assert_eq!(body["flag"]["rollout"]["percentage"], 100.0);
        assert_eq!(body["flag"]["rollout"]["phase"], "full");

        assert_eq!(
            cmd(&s, "flow", "rollback", Role::Viewer).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, body) = cmd(&s, "flow", "rollback", Role::Operator).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["decision"]["cause"], "manual");
        assert_eq!(body["flag"]["rollout"]["percentage"], 0.0);
        assert_eq!(body["flag"]["breaker_open"], true);
        let (status, body) = cmd(&s, "flow", "advance", Role::Operator).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict"))
        );
        assert_eq!(
            cmd(&s, "flow", "resume", Role::Operator).await.0,
            StatusCode::CONFLICT
        );

        assert_eq!(
            cmd(&s, "flow", "rearm", Role::Operator).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, body) = cmd(&s, "flow", "rearm", Role::Admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["flag"]["rollout"]["revision"], 2);
        assert_eq!(body["flag"]["rollout"]["percentage"], 50.0);
        assert_eq!(body["flag"]["breaker_open"], false);
        assert_eq!(
            cmd(&s, "flow", "rearm", Role::Admin).await.0,
            StatusCode::CONFLICT
        );

        let (status, ev) = s
            .send(
                Method::GET,
                "/api/v1/flags/flow/evidence",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ev}");
        let actions: Vec<&str> = ev["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["decision"]["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["rearm", "rollback", "advance", "approve", "await_approval"]
        );
        assert_eq!(
            ev["arms"]["treatment"]["completed"].as_u64().unwrap() % 50,
            0
        );
        let trail = audit_actions(&s).await;
        for action in [
            "flag.advance",
            "flag.approve",
            "flag.rollback",
            "flag.rearm",
        ] {
            assert!(
                trail.iter().any(|t| t.1 == action && t.2 == "flow"),
                "{action}: {trail:?}"
            );
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn ofrep_evaluates_one_or_every_flag_with_the_protocol_shapes() {
    for url in backends().await {
        let s = TestServer::start(&url).await;
        assert_eq!(create(&s, flag("of.bool")).await.0, StatusCode::CREATED);
        let mut variants = flag("of.model");
        variants["kind"] = json!("variants");
        variants["variants"] = json!([{ "name": "new", "weight": 1 }]);
        variants["off_variant"] = json!("old");
        assert_eq!(create(&s, variants).await.0, StatusCode::CREATED);

        let mut seen = std::collections::BTreeSet::new();
        for a in agents(30) {
            let (status, body) = ofrep(
                &s,
                "/ofrep/v1/evaluate/flags/of.bool",
                &json!({ "context": { "targetingKey": a } }),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let treatment = body["metadata"]["arm"] == "treatment";
            assert_eq!(body["key"], "of.bool");
            assert_eq!(body["value"], json!(treatment));
            assert_eq!(body["variant"], if treatment { "on" } else { "off" });
            let reason = body["reason"].as_str().unwrap().to_owned();
            assert_eq!(
                reason == "DEFAULT",
                body["metadata"]["arm"] == "out",
                "{body}"
            );
            assert_eq!(body["metadata"]["percentage"], 50.0);
            seen.insert(reason);
        }
        assert!(seen.contains("SPLIT"), "{seen:?}");

        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags/of.model",
            &json!({ "context": { "targetingKey": "x", "agent_id": "agent-01" } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["value"] == "new" || body["value"] == "old", "{body}");
        assert_eq!(body["variant"], body["value"]);

        let error = |status: StatusCode, body: &Value, code: &str| {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["errorCode"], code, "{body}");
            assert!(body["errorDetails"].is_string(), "{body}");
        };
        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags/of.bool",
            &json!({ "context": {} }),
        )
        .await;
        error(status, &body, "TARGETING_KEY_MISSING");
        assert_eq!(body["key"], "of.bool");
        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags/of.bool",
            &json!({ "context": 5 }),
        )
        .await;
        error(status, &body, "INVALID_CONTEXT");
        let (status, body) = s
            .raw(
                Method::POST,
                "/ofrep/v1/evaluate/flags/of.bool",
                &token(Role::Viewer),
                "application/json",
                b"{nope".to_vec(),
            )
            .await;
        error(status, &body, "PARSE_ERROR");
        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags/missing",
            &json!({ "context": { "targetingKey": "a" } }),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(
            (body["errorCode"].as_str(), body["key"].as_str()),
            (Some("FLAG_NOT_FOUND"), Some("missing"))
        );
        let (status, _) = s
            .send(
                Method::POST,
                "/ofrep/v1/evaluate/flags/of.bool",
                None,
                Some(&json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags",
            &json!({ "context": { "targetingKey": "agent-03" } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let keys: Vec<&str> = body["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["of.bool", "of.model"]);
        assert!(
            body["flags"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["reason"].is_string()),
            "{body}"
        );
        let (status, body) = ofrep(&s, "/ofrep/v1/evaluate/flags", &json!({ "context": {} })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            body["flags"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["errorCode"] == "TARGETING_KEY_MISSING"),
            "{body}"
        );
        let (status, body) = ofrep(&s, "/ofrep/v1/evaluate/flags", &json!({ "context": [] })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["errorCode"], "INVALID_CONTEXT");
        assert!(body.get("key").is_none());

        let (status, _) = s
            .send(
                Method::PATCH,
                "/api/v1/flags/of.bool",
                Some(&token(Role::Operator)),
                Some(&json!({ "kill_switch": true, "reason": "stop" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = ofrep(
            &s,
            "/ofrep/v1/evaluate/flags/of.bool",
            &json!({ "context": { "targetingKey": "agent-01" } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["reason"].as_str(), &body["value"]),
            (Some("DISABLED"), &json!(false))
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn failing_treatment_agents_roll_the_rollout_back_with_evidence() {
    for url in backends().await {
        let s = TestServer::start_with(config(&url, "flag_check_interval = 1")).await;
        let mut f = flag("guarded");
        // Never advances on its own here: only the guardrails act.
        f["min_bake"] = json!(3600);
        assert_eq!(create(&s, f).await.0, StatusCode::CREATED);
        let fleet = agents(30);
        let arm = arms(&s, "guarded", &fleet).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        let rollout = loop {
            // Treatment fails half its tasks, control none.
            report(&s, &fleet, &arm, |a| {
                if a == "treatment" { (20, 20) } else { (40, 0) }
            })
            .await;
            let (_, body) = s
                .send(
                    Method::GET,
                    "/api/v1/flags/guarded",
                    Some(&token(Role::Viewer)),
                    None,
                )
                .await;
            if body["rollout"]["phase"] == "rolled_back" {
                break body;
            }
            assert!(Instant::now() < deadline, "no rollback: {body}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        assert_eq!(rollout["rollout"]["percentage"], 0.0);
        assert_eq!(rollout["breaker_open"], true);

        let (status, ev) = s
            .send(
                Method::GET,
                "/api/v1/flags/guarded/evidence",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{ev}");
        let rollback = ev["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["decision"]["action"] == "rollback")
            .unwrap_or_else(|| panic!("no rollback decision: {ev}"));
        assert_eq!(rollback["actor"], "hivesched");
        let cause = rollback["decision"]["cause"].as_str().unwrap();
        assert!(
            matches!(cause, "statistical_harm" | "sustained_failures"),
            "{cause}"
        );
        let failed = rollback["decision"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["outcome"] == "fail")
            .count();
        assert!(failed > 0, "{rollback}");
        assert!(
            rollback["observations"]["treatment"]["failed"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert_eq!(rollback["observations"]["control"]["failed"], 0);
        assert!(!rollback["explanation"].as_array().unwrap().is_empty());

        let trail = audit_actions(&s).await;
        assert!(
            trail
                .iter()
                .any(|t| t == &("hivesched".into(), "flag.rollback".into(), "guarded".into())),
            "{trail:?}"
        );
        let metrics = common::metrics_text(&s).await;
        assert!(
            metrics.contains("hivesched_flag_rollbacks_total{flag=\"guarded\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("hivesched_flag_percent{flag=\"guarded\"} 0"),
            "{metrics}"
        );
        s.stop().await;
    }
}

/// The official OpenFeature SDK with its OFREP provider reads our flags: the value for each
/// agent is what our own endpoint says, a variants flag is a string, an unknown flag is
/// `FLAG_NOT_FOUND` and a context without a unit is an error (so the caller's default holds).
#[tokio::test]
async fn the_openfeature_sdk_reads_flags_through_its_ofrep_provider() {
    use open_feature::{EvaluationContext, EvaluationErrorCode, OpenFeature};
    use open_feature_ofrep::{OfrepOptions, OfrepProvider};

    for (n, url) in backends().await.into_iter().enumerate() {
        let s = TestServer::start(&url).await;
        assert_eq!(create(&s, flag("sdk.bool")).await.0, StatusCode::CREATED);
        let mut variants = flag("sdk.model");
        variants["kind"] = json!("variants");
        variants["variants"] = json!([{ "name": "new", "weight": 1 }]);
        variants["off_variant"] = json!("old");
        assert_eq!(create(&s, variants).await.0, StatusCode::CREATED);

        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token(Role::Viewer)).parse().unwrap(),
        );
        let provider = OfrepProvider::new(OfrepOptions {
            base_url: s.base.clone(),
            headers,
            ..Default::default()
        })
        .await
        .unwrap();
        // A named provider per backend: the SDK's registry is process-wide.
        let name = format!("hivesched-{n}");
        let client = {
            let mut api = OpenFeature::singleton_mut().await;
            api.set_named_provider(&name, provider).await;
            api.create_named_client(&name)
        };

        let fleet = agents(12);
        let arm = arms(&s, "sdk.bool", &fleet).await;
        for (agent, arm) in fleet.iter().zip(&arm) {
            let ctx = EvaluationContext::default().with_targeting_key(agent.as_str());
            let details = client
                .get_bool_details("sdk.bool", Some(&ctx), None)
                .await
                .unwrap();
            assert_eq!(details.value, arm == "treatment", "{agent}");
            assert_eq!(
                details.variant.as_deref(),
                Some(if arm == "treatment" { "on" } else { "off" })
            );
            let model = client
                .get_string_value("sdk.model", Some(&ctx), None)
                .await
                .unwrap();
            assert!(model == "new" || model == "old", "{model}");
        }
        let ctx = EvaluationContext::default().with_targeting_key("agent-01");
        let missing = client
            .get_bool_value("no.such.flag", Some(&ctx), None)
            .await
            .unwrap_err();
        assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
        let no_unit = client
            .get_bool_value("sdk.bool", Some(&EvaluationContext::default()), None)
            .await
            .unwrap_err();
        assert_eq!(no_unit.code, EvaluationErrorCode::InvalidContext);
        s.stop().await;
    }
}
