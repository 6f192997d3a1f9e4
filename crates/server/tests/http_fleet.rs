//! The real server against the reference fake fleet over real HTTP (the actuator contract), as a
//! team would run it: shadow mode never calls the fleet; acting mode puts idle agents to sleep.

mod common;

use std::time::Duration;

use common::{SECRET, TestServer, post_flat_demand, token};
use hivesched_fakefleet::{FakeFleet, FakeFleetConfig, serve};
use hivesched_server::ServiceConfig;
use hivesched_server::auth::Role;
use reqwest::Method;

/// Starts the fake fleet on 127.0.0.1:0; returns its base URL and a handle to read its counters.
async fn fleet() -> (String, FakeFleet) {
    let fleet = FakeFleet::new(FakeFleetConfig {
        agents: 10,
        ..FakeFleetConfig::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, fleet.clone(), std::future::pending()));
    (base, fleet)
}

fn config(base_url: &str, shadow: bool) -> ServiceConfig {
    let dir = std::env::temp_dir().join(format!(
        "hivesched-http-fleet-{}-{shadow}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"sqlite://{}/db.sqlite?mode=rwc\"\njwt_secret = \"{SECRET}\"\n\
         tick_interval = 1\nshadow = {shadow}\ncapacity = 1.0\nrestart_hold = 0\nsleep_stabilization = 0\n\
         [actuator]\nkind = \"http\"\nbase_url = \"{base_url}\"\n",
        dir.display()
    );
    ServiceConfig::from_toml(&text, Vec::new()).unwrap()
}

async fn run(shadow: bool) -> (FakeFleet, serde_json::Value) {
    let (base, fleet) = fleet().await;
    let server = TestServer::start_with(config(&base, shadow)).await;
    post_flat_demand(&server, 1.0).await;
    let mut decisions = serde_json::Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, body) = server
            .send(
                Method::GET,
                "/api/v1/decisions?limit=50",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        let acted = body["decisions"].as_array().is_some_and(|d| {
            d.iter().any(|d| {
                d["mode"] == "normal" && d["actions"].as_array().is_some_and(|a| !a.is_empty())
            })
        });
        decisions = body;
        if acted {
            break;
        }
    }
    server.stop().await;
    (fleet, decisions)
}

#[tokio::test]
async fn shadow_mode_decides_but_never_calls_the_fleet() {
    let (fleet, decisions) = run(true).await;
    let sleeps: usize = decisions["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["actions"].as_array().map_or(0, |a| a.len()))
        .sum();
    assert!(
        sleeps > 0,
        "shadow decisions still name the sleeps: {decisions}"
    );
    let c = fleet.counters();
    assert_eq!((c.sleeps_started, c.wakes_started), (0, 0), "{c:?}");
}

#[tokio::test]
async fn acting_mode_puts_idle_agents_to_sleep_over_http() {
    let (fleet, decisions) = run(false).await;
    let c = fleet.counters();
    assert!(c.sleeps_started >= 3, "{c:?}; decisions: {decisions}");
    assert_eq!(c.replays, 0, "no request was repeated");
    let asleep_or_going = fleet
        .agents()
        .iter()
        .filter(|a| a.state != hivesched_policy::AgentState::Awake)
        .count();
    assert_eq!(asleep_or_going as u64, c.sleeps_started);
}
