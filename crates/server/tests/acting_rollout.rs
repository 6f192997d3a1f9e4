//! The scheduler's own acting rolled out behind `scheduler.acting`, end to end: the real server
//! on 127.0.0.1:0 acting on the reference fake fleet over HTTP, one tick a second, heartbeats
//! with task counters every 200 ms. The rollout starts at 1 % and advances while the arms are
//! equal; the scheduler then puts treatment agents — and only them — to sleep; the fake fleet's
//! fault switch makes the treatment arm fail half its tasks; the rollout rolls back, every
//! treatment agent the scheduler had put to sleep is woken through the gate, the breaker is
//! open and the evidence says why and how long the wakes took.
//!
//! The second test is the case the `service` guardrails exist for: idle agents from the
//! start, so the scheduler puts the treatment arm to sleep at every stage, and the rollout
//! still climbs (units by assignment, an asleep arm idle rather than missing); then the
//! treatment agents that do work fail half of it and the unserved-demand guardrails roll it
//! back.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{SECRET, TestServer, backends, metrics_text, post_flat_demand, token};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, serve};
use hivesched_flags::{Arm, Flag, Percent, evaluate};
use hivesched_policy::{AgentId, AgentState};
use hivesched_server::ServiceConfig;
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const AGENTS: u32 = 40;
const KEY: &str = "scheduler.acting";

async fn fleet() -> (String, FakeFleet) {
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents: AGENTS,
        checkpoint: Duration::from_millis(300),
        consolidation: Duration::from_millis(300),
        wake_latency: Duration::from_millis(300),
        ..FakeFleetConfig::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, fleet.clone(), std::future::pending()));
    (base, fleet)
}

fn config(database_url: &str, fleet_url: &str) -> ServiceConfig {
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"{database_url}\"\njwt_secret = \"{SECRET}\"\n\
         shadow = false\ntick_interval = 1\nflag_check_interval = 1\ncapacity = 1.0\nrestart_hold = 0\n\
         sleep_stabilization = 0\n\
         [actuator]\nkind = \"http\"\nbase_url = \"{fleet_url}\"\n"
    );
    ServiceConfig::from_toml(&text, Vec::new()).unwrap()
}

/// A salt that puts at least one of the fleet's agents in each arm at 1 %, so the first stage
/// has units to compare (1 % of 40 agents is 0.4 per arm on average).
fn salt_with_both_arms_at_one_percent(ids: &[String]) -> String {
    (0..10_000)
        .map(|i| format!("acting-{i}"))
        .find(|salt| {
            let arms = arms_at(salt, 1, ids);
            arms.contains(&Arm::Treatment) && arms.contains(&Arm::Control)
        })
        .expect("a salt with both arms at 1 %")
}

/// Every 200 ms, each awake agent reports its busy flag and its work (20 tasks, failed as the
/// fleet's fault switch says). An agent asleep or on its way does not run and reports nothing.
fn report_heartbeats(base: String, fleet: FakeFleet, stop: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let operator = token(Role::Operator);
        while !stop.load(Ordering::Relaxed) {
            let beats: Vec<Value> = fleet
                .agents()
                .into_iter()
                .filter_map(|a| {
                    let w = fleet.work(&a.id, 20)?;
                    Some(json!({
                        "agent": a.id.0, "state": "awake", "busy": a.busy,
                        "tasks_completed": w.completed, "tasks_failed": w.failed,
                        "task_latency_ms_p99": w.latency_p99_ms,
                    }))
                })
                .collect();
            if !beats.is_empty() {
                let _ = client
                    .post(format!("{base}/api/v1/heartbeats"))
                    .bearer_auth(&operator)
                    .json(&json!({ "heartbeats": beats }))
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}

async fn rollout(s: &TestServer) -> Value {
    let (status, body) = s
        .send(
            Method::GET,
            &format!("/api/v1/flags/{KEY}"),
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn evidence(s: &TestServer) -> Value {
    let (status, body) = s
        .send(
            Method::GET,
            &format!("/api/v1/flags/{KEY}/evidence"),
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Each agent's arm as the server's OFREP endpoint serves it now.
async fn arms(s: &TestServer, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let (status, body) = s
            .send(
                Method::POST,
                &format!("/ofrep/v1/evaluate/flags/{KEY}"),
                Some(&token(Role::Viewer)),
                Some(&json!({ "context": { "targetingKey": id } })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        out.push(body["metadata"]["arm"].as_str().unwrap().to_owned());
    }
    out
}

async fn wait_for<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_scheduler_acts_on_treatment_only_and_a_rollback_wakes_it() {
    for url in backends().await {
        let (fleet_url, fleet) = fleet().await;
        let ids: Vec<String> = fleet.agents().into_iter().map(|a| a.id.0).collect();
        // Busy agents are never put to sleep: the arms stay equal while the rollout advances.
        for id in &ids {
            fleet.set_busy(&AgentId::from(id.as_str()), true);
        }
        let s = TestServer::start_with(config(&url, &fleet_url)).await;
        post_flat_demand(&s, 1.0).await;
        let stop = Arc::new(AtomicBool::new(false));
        report_heartbeats(s.base.clone(), fleet.clone(), Arc::clone(&stop));

        let salt = salt_with_both_arms_at_one_percent(&ids);
        let (status, body) = s
            .send(
                Method::POST,
                "/api/v1/flags",
                Some(&token(Role::Operator)),
                Some(&json!({
                    "flag": {
                        "key": KEY, "description": "the scheduler's own acting",
                        "kind": "boolean", "salt": salt, "unit": "agent_id",
                        "ladder": [1.0, 10.0, 50.0, 100.0], "min_bake": 0, "min_units_per_arm": 1,
                        "min_full_rollout": 0, "rollback": "kill",
                        "guardrails": { "kind": "service" },
                    },
                    "reason": "roll the scheduler out",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["rollout"]["percentage"], 1.0);

        // 1 % → 10 % → 50 %, where the ladder waits for an admin's 100 %.
        wait_for("the rollout at 50 %", Duration::from_secs(60), async || {
            let r = rollout(&s).await;
            (r["rollout"]["percentage"] == 50.0).then_some(())
        })
        .await;
        let ev = evidence(&s).await;
        let advanced: Vec<(f64, f64)> = ev["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["decision"]["action"] == "advance")
            .map(|d| {
                (
                    d["decision"]["from"].as_f64().unwrap(),
                    d["decision"]["to"].as_f64().unwrap(),
                )
            })
            .collect();
        assert!(advanced.contains(&(1.0, 10.0)), "{advanced:?}");
        assert!(advanced.contains(&(10.0, 50.0)), "{advanced:?}");
        assert_eq!(fleet.counters().sleeps_started, 0, "busy agents slept");

        // At 50 % there is no observed agent: half the fleet is treatment, half control.
        let arm = arms(&s, &ids).await;
        let treatment: HashSet<AgentId> = ids
            .iter()
            .zip(&arm)
            .filter(|(_, a)| *a == "treatment")
            .map(|(id, _)| AgentId::from(id.as_str()))
            .collect();
        assert!(treatment.len() >= 5, "{arm:?}");
        for id in &ids {
            fleet.set_busy(&AgentId::from(id.as_str()), false);
        }
        // The scheduler wants one agent awake: it puts treatment agents to sleep and holds
        // the control arm awake.
        wait_for(
            "treatment agents asleep",
            Duration::from_secs(60),
            async || {
                let asleep = fleet
                    .agents()
                    .iter()
                    .filter(|a| a.state == AgentState::Asleep && treatment.contains(&a.id))
                    .count();
                (asleep >= 3).then_some(())
            },
        )
        .await;
        let slept: Vec<AgentId> = fleet
            .actions()
            .into_iter()
            .filter(|a| a.kind == "sleep")
            .map(|a| a.agent)
            .collect();
        assert!(
            slept.iter().all(|a| treatment.contains(a)),
            "a control agent was put to sleep: {slept:?}"
        );

        // The fault: treatment agents fail half their tasks.
        fleet.fail_tasks(treatment.iter().cloned(), 0.5);
        let rolled_back = wait_for("the rollback", Duration::from_secs(60), async || {
            let r = rollout(&s).await;
            (r["rollout"]["phase"] == "rolled_back").then_some(r)
        })
        .await;
        assert_eq!(rolled_back["rollout"]["percentage"], 0.0);
        assert_eq!(rolled_back["breaker_open"], true);

        // Every agent the scheduler had put to sleep is woken, through the gate.
        let release = wait_for(
            "every treatment agent awake",
            Duration::from_secs(60),
            async || {
                let awake = fleet.agents().iter().all(|a| a.state == AgentState::Awake);
                let ev = evidence(&s).await;
                (awake && ev["release"]["done"] == true).then_some(ev)
            },
        )
        .await;
        let r = &release["release"];
        assert!(r["to_wake"].as_u64().unwrap() >= 3, "{r}");
        assert_eq!(r["woken"], r["to_wake"], "{r}");
        let seconds = r["seconds"].as_f64().unwrap();
        assert!(seconds < 30.0, "release took {seconds} s");
        eprintln!(
            "rollback to last accepted wake: {seconds:.3} s ({} wakes)",
            r["woken"]
        );
        let (status, tasks) = s
            .send(
                Method::GET,
                "/api/v1/tasks?limit=500",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tasks}");
        let rollout_wakes = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["reason"] == "RolloutReleased" && t["status"] == "succeeded")
            .count();
        assert_eq!(
            rollout_wakes as u64,
            r["woken"].as_u64().unwrap(),
            "{tasks}"
        );

        // The evidence says why.
        let rollback = release["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["decision"]["action"] == "rollback")
            .unwrap_or_else(|| panic!("no rollback decision: {release}"))
            .clone();
        assert_eq!(rollback["actor"], "hivesched");
        let cause = rollback["decision"]["cause"].as_str().unwrap();
        assert!(
            matches!(cause, "statistical_harm" | "sustained_failures"),
            "{cause}"
        );
        let failing = failing_guardrails(&rollback);
        assert!(
            failing
                .iter()
                .any(|g| matches!(*g, "error_rate_slo" | "error_rate_sequential")),
            "{failing:?}"
        );
        assert!(
            rollback["observations"]["treatment"]["failed"]
                .as_u64()
                .unwrap()
                > 0
        );
        assert_eq!(rollback["observations"]["control"]["failed"], 0);

        // Rolled back, the scheduler acts on nobody: no agent is put to sleep again.
        let sleeps = fleet.counters().sleeps_started;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(fleet.counters().sleeps_started, sleeps);
        let metrics = metrics_text(&s).await;
        assert!(
            metrics.contains("hivesched_rollout_release_seconds "),
            "{metrics}"
        );
        stop.store(true, Ordering::Relaxed);
        s.stop().await;
    }
}

/// Each agent's arm at `percent` under `salt`, computed like the server does.
/// The guardrails whose checks failed in an evidence decision.
fn failing_guardrails(decision: &Value) -> Vec<&str> {
    decision["decision"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "fail")
        .map(|c| c["guardrail"].as_str().unwrap())
        .collect()
}

fn arms_at(salt: &str, percent: u16, ids: &[String]) -> Vec<Arm> {
    let mut flag = Flag::boolean(KEY);
    flag.salt = salt.to_owned();
    let share = Percent::from_percent(percent).unwrap();
    ids.iter()
        .map(|id| {
            evaluate(
                &flag,
                share,
                &BTreeMap::from([("agent_id".into(), id.clone())]),
            )
            .arm
        })
        .collect()
}

#[tokio::test]
async fn the_arms_advance_while_treatment_sleeps_and_unserved_demand_rolls_back() {
    for url in backends().await {
        let (fleet_url, fleet) = fleet().await;
        let ids: Vec<String> = fleet.agents().into_iter().map(|a| a.id.0).collect();
        let salt = salt_with_both_arms_at_one_percent(&ids);
        let at = |p| arms_at(&salt, p, &ids);
        let (at10, at50) = (at(10), at(50));
        // Three agents that join treatment at 50 % are kept busy (never put to sleep): they
        // are the treatment arm's work at the last stage. Every other agent is idle from the
        // start, so the scheduler sleeps the whole treatment arm at 1 % and 10 %.
        let workers: Vec<AgentId> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| at50[*i] == Arm::Treatment && at10[*i] != Arm::Treatment)
            .take(3)
            .map(|(_, id)| AgentId::from(id.as_str()))
            .collect();
        assert_eq!(workers.len(), 3);
        for w in &workers {
            fleet.set_busy(w, true);
        }
        let s = TestServer::start_with(config(&url, &fleet_url)).await;
        post_flat_demand(&s, 1.0).await;
        let stop = Arc::new(AtomicBool::new(false));
        report_heartbeats(s.base.clone(), fleet.clone(), Arc::clone(&stop));

        // The default kind is refused for the scheduler's own rollout, naming the field.
        let mut body = json!({
            "flag": {
                "key": KEY, "kind": "boolean", "salt": salt, "unit": "agent_id",
                "ladder": [1.0, 10.0, 50.0, 100.0], "min_bake": 5, "min_units_per_arm": 1,
                "min_full_rollout": 0, "rollback": "kill",
            },
            "reason": "roll the scheduler out",
        });
        let (status, refused) = s
            .send(
                Method::POST,
                "/api/v1/flags",
                Some(&token(Role::Operator)),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["field"], "flag.guardrails.kind", "{refused}");
        body["flag"]["guardrails"] = json!({ "kind": "service" });
        let (status, created) = s
            .send(
                Method::POST,
                "/api/v1/flags",
                Some(&token(Role::Operator)),
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");

        wait_for("the rollout at 50 %", Duration::from_secs(90), async || {
            let r = rollout(&s).await;
            (r["rollout"]["percentage"] == 50.0).then_some(())
        })
        .await;
        let ev = evidence(&s).await;
        let decisions = ev["decisions"].as_array().unwrap();
        for d in decisions {
            let waiting = d["decision"]["waiting"].as_array().unwrap();
            assert!(
                !waiting.iter().any(|w| w == "no_data" || w == "min_units"),
                "held for data: {d}"
            );
        }
        // At least one advance judged a treatment arm with assigned agents that did not
        // report — asleep — and its unserved-demand check idle.
        let asleep_advance = decisions.iter().find(|d| {
            let t = &d["observations"]["treatment"];
            d["decision"]["action"] == "advance" && t["units"].as_u64() < t["assigned"].as_u64()
        });
        let asleep_advance = asleep_advance.unwrap_or_else(|| panic!("{ev}"));
        let idle = asleep_advance["decision"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["guardrail"] == "unserved_rate")
            .unwrap();
        assert!(
            matches!(idle["outcome"].as_str(), Some("idle" | "pass")),
            "{idle}"
        );
        for d in decisions.iter().rev() {
            if d["decision"]["action"] == "advance" {
                let t = &d["observations"]["treatment"];
                eprintln!(
                    "advance {} -> {} %: treatment {} assigned, {} reporting, {} tasks",
                    d["decision"]["from"],
                    d["decision"]["to"],
                    t["assigned"],
                    t["units"],
                    t["completed"].as_u64().unwrap_or(0) + t["failed"].as_u64().unwrap_or(0)
                );
            }
        }
        // The scheduler did put agents to sleep meanwhile, and only treatment agents.
        let slept: Vec<AgentId> = fleet
            .actions()
            .into_iter()
            .filter(|a| a.kind == "sleep")
            .map(|a| a.agent)
            .collect();
        assert!(!slept.is_empty(), "nothing was put to sleep");
        let treatment: HashSet<AgentId> = ids
            .iter()
            .zip(&at50)
            .filter(|(_, a)| **a == Arm::Treatment)
            .map(|(id, _)| AgentId::from(id.as_str()))
            .collect();
        assert!(slept.iter().all(|a| treatment.contains(a)), "{slept:?}");

        // The treatment agents at work fail half their tasks: unserved demand in treatment.
        fleet.fail_tasks(treatment.iter().cloned(), 0.5);
        let fault = Instant::now();
        wait_for("the rollback", Duration::from_secs(60), async || {
            let r = rollout(&s).await;
            (r["rollout"]["phase"] == "rolled_back").then_some(())
        })
        .await;
        let ev = evidence(&s).await;
        let rollback = ev["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["decision"]["action"] == "rollback")
            .unwrap_or_else(|| panic!("no rollback decision: {ev}"))
            .clone();
        let failing = failing_guardrails(&rollback);
        assert!(
            failing
                .iter()
                .any(|g| matches!(*g, "unserved_rate" | "unserved_sequential")),
            "{failing:?}"
        );
        assert!(!failing.contains(&"throughput"), "{failing:?}");
        eprintln!(
            "rollback {:.1} s after the fault: cause {}, failing {failing:?}",
            fault.elapsed().as_secs_f64(),
            rollback["decision"]["cause"]
        );
        wait_for("every agent awake", Duration::from_secs(60), async || {
            let awake = fleet.agents().iter().all(|a| a.state == AgentState::Awake);
            awake.then_some(())
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        s.stop().await;
    }
}
