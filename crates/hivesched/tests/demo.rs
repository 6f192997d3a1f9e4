//! `hivesched demo` end to end, as the README runs it: the binary with the fake fleet, the
//! replayed trace and the fast clock produces decisions that act on the fleet within a few
//! ticks, records the fitted forecast model, prints an admin token that works, rolls the
//! scheduler's own acting out behind `scheduler.acting` past its first stage while the
//! scheduler keeps treatment agents asleep, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_decides_and_acts_every_tick() {
    let dir = std::env::temp_dir().join(format!("hivesched-demo-test-{}", std::process::id()));
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/nyc_taxi.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hivesched"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .arg("--trace")
        .arg(&trace)
        .env("HIVE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut url, mut token) = (String::new(), String::new());
    while url.is_empty() || token.is_empty() {
        let line = lines
            .next()
            .expect("the demo printed its url and token")
            .unwrap();
        if let Some(u) = line.strip_prefix("url: ") {
            url = u.to_owned();
        }
        if let Some(t) = line.strip_prefix("admin token: ") {
            token = t.to_owned();
        }
    }
    let client = reqwest::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{url}{path}"))
            .bearer_auth(&token)
            .send()
    };
    let mut decisions = 0;
    let mut acted = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let page: serde_json::Value = get("/api/v1/decisions?limit=100")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = page["decisions"].as_array().unwrap();
        decisions = list.len();
        acted = list
            .iter()
            .filter(|d| {
                !d["shadow"].as_bool().unwrap() && !d["actions"].as_array().unwrap().is_empty()
            })
            .count();
        if decisions >= 4 && acted >= 1 {
            break;
        }
    }
    assert!(decisions >= 4, "only {decisions} decisions");
    assert!(acted >= 1, "no decision acted");
    let agents: serde_json::Value = get("/api/v1/agents").await.unwrap().json().await.unwrap();
    assert_eq!(agents["total"], 45);
    let tasks: serde_json::Value = get("/api/v1/tasks").await.unwrap().json().await.unwrap();
    assert!(
        !tasks["tasks"].as_array().unwrap().is_empty(),
        "no task journaled"
    );
    // The ensemble the plans rest on is in the model registry, with its measured accuracy.
    let models: serde_json::Value = get("/api/v1/forecast/models?model=Ensemble")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &models["models"][0];
    assert_eq!(first["model"], "Ensemble", "{models}");
    assert!(
        first["accuracy"]["backtest_relative_mae"].is_array(),
        "{models}"
    );
    assert!(first["parameters"]["fitted"].is_string(), "{models}");

    // The rollout: created by the demo at 10 %, it climbs while treatment agents sleep.
    let mut evidence = serde_json::Value::Null;
    for _ in 0..180 {
        evidence = get("/api/v1/flags/scheduler.acting/evidence")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if evidence["flag"]["rollout"]["percentage"].as_f64() > Some(10.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let decisions = evidence["decisions"]
        .as_array()
        .expect("the demo's rollout exists");
    let advance = decisions
        .iter()
        .rfind(|d| d["decision"]["action"] == "advance")
        .unwrap_or_else(|| panic!("the demo's rollout never advanced: {evidence}"));
    assert_eq!(advance["decision"]["from"], 10.0, "{advance}");
    for d in decisions {
        let waiting = d["decision"]["waiting"].as_array().unwrap();
        assert!(
            !waiting.iter().any(|w| w == "no_data" || w == "min_units"),
            "held for data: {d}"
        );
    }
    // Treatment agents were asleep while it advanced: assigned, yet not reporting work.
    let t = &advance["observations"]["treatment"];
    eprintln!(
        "demo rollout: 10 -> {} % at {}; treatment {} assigned, {} at work",
        advance["decision"]["to"], advance["decision"]["at"], t["assigned"], t["units"]
    );
    assert!(
        t["units"].as_u64() < t["assigned"].as_u64(),
        "treatment was all at work when it advanced: {advance}"
    );

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "the demo exits cleanly on SIGTERM: {status}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
