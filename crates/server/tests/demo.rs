//! `hivesched demo` end to end: the fake fleet, the replayed trace and the fast clock produce
//! decisions that act on the fleet within a few ticks, record the fitted forecast model, and the
//! printed admin token works.

use std::time::Duration;

use hivesched_server::demo::{Demo, DemoOptions};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_decides_and_acts_every_tick() {
    let dir = std::env::temp_dir().join(format!("hivesched-demo-test-{}", std::process::id()));
    let demo = Demo::start(&DemoOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.clone(),
    })
    .await
    .unwrap();
    let (url, token) = (demo.url.clone(), demo.admin_token.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let serving = tokio::spawn(demo.serve(async {
        let _ = rx.await;
    }));
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
    let _ = tx.send(());
    serving.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
