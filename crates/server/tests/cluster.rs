//! `GET /api/v1/cluster` and the leader metrics: a replica alone, and two replicas on one
//! Redis (`HIVE_TEST_REDIS_URL`; skipped without it unless `HIVE_TEST_REQUIRE_SERVICES=1`)
//! sharing one database, where stopping the leader hands the lease to the other at once.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, backends, config, postgres_backend, redis_url, token};
use hivesched_server::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::Value;

async fn cluster(s: &TestServer) -> Value {
    let (status, body) = s
        .send(
            Method::GET,
            "/api/v1/cluster",
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The value of an unlabelled metric on `/metrics`.
async fn metric(s: &TestServer, name: &str) -> f64 {
    let text = common::metrics_text(s).await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_replica_alone_says_so_and_leads_with_token_one() {
    let url = backends().await.remove(0);
    let s = TestServer::start_with(config(&url, "[cluster]\nnode_id = \"solo-1\"\n")).await;
    let (status, _) = s.send(Method::GET, "/api/v1/cluster", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let view = cluster(&s).await;
    assert_eq!(
        view,
        serde_json::json!({
            "node_id": "solo-1",
            "alone": true,
            "members": ["solo-1"],
            "pools": [{"pool": "default", "leader": "solo-1", "epoch": 1}],
        })
    );
    assert_eq!(metric(&s, "hivesched_leader").await, 1.0);
    assert_eq!(s.store.fencing_mark().await.unwrap(), 1);
    s.stop().await;
}

/// Two replicas on `db` sharing a fresh Redis key prefix (lease 2 s), started in order.
async fn two_replicas(redis: &str, db: &str) -> (TestServer, TestServer) {
    static N: AtomicU32 = AtomicU32::new(0);
    let prefix = format!(
        "hs-server-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let replica = |node: &str| {
        config(
            db,
            &format!(
                "[cluster]\nredis_url = \"{redis}\"\nlease_ttl = 2\nnode_id = \"{node}\"\n\
                 key_prefix = \"{prefix}\"\n"
            ),
        )
    };
    let a = TestServer::start_with(replica("node-a")).await;
    let b = TestServer::start_with(replica("node-b")).await;
    (a, b)
}

#[tokio::test]
async fn two_replicas_agree_on_one_leader_and_a_stopped_leader_hands_over_at_once() {
    let Some(redis) = redis_url() else { return };
    let db = backends().await.remove(0);
    let (a, b) = two_replicas(&redis, &db).await;

    // Within a lease: both see both members and the same leader.
    let deadline = Instant::now() + Duration::from_secs(4);
    let (va, vb) = loop {
        let (va, vb) = (cluster(&a).await, cluster(&b).await);
        let agreed = va["pools"][0]["leader"].is_string()
            && va["pools"] == vb["pools"]
            && va["members"] == serde_json::json!(["node-a", "node-b"]);
        if agreed {
            break (va, vb);
        }
        assert!(Instant::now() < deadline, "no agreement: {va} / {vb}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        (va["alone"].as_bool(), vb["node_id"].as_str()),
        (Some(false), Some("node-b"))
    );
    let leader = va["pools"][0]["leader"].as_str().unwrap().to_owned();
    let epoch = va["pools"][0]["epoch"].as_u64().unwrap();
    let (first, second) = if leader == "node-a" { (a, b) } else { (b, a) };
    // The engine claims the lease in the store shortly after it is granted.
    let deadline = Instant::now() + Duration::from_secs(2);
    while metric(&first, "hivesched_leader").await != 1.0 {
        assert!(Instant::now() < deadline, "the leader never started acting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(metric(&second, "hivesched_leader").await, 0.0);
    assert_eq!(first.store.fencing_mark().await.unwrap(), epoch as i64);

    // A graceful stop releases the lease: the other takes over well before the TTL.
    let stopped = Instant::now();
    first.stop().await;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let v = cluster(&second).await;
        let p = &v["pools"][0];
        if p["leader"].as_str() == Some(second_name(&leader))
            && metric(&second, "hivesched_leader").await == 1.0
        {
            assert!(p["epoch"].as_u64().unwrap() > epoch, "{v}");
            break;
        }
        assert!(Instant::now() < deadline, "no takeover: {v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let takeover = stopped.elapsed();
    eprintln!("takeover after a graceful stop: {takeover:?} (lease 2 s)");
    assert!(takeover < Duration::from_secs(1), "{takeover:?}");
    assert_eq!(metric(&second, "hivesched_leader_changes_total").await, 1.0);
    second.stop().await;
}

fn second_name(leader: &str) -> &'static str {
    if leader == "node-a" {
        "node-b"
    } else {
        "node-a"
    }
}

/// Redis loses its data (a restart without persistence): the lease and the token counter are
/// gone, so the next lease would get token 1, which the database refuses (its mark is higher).
/// The replica hands that lease back above the mark and leads again with a token the database
/// accepts, within a few lease renewals.
#[tokio::test]
async fn a_redis_that_lost_its_data_is_recovered_past_the_stores_mark() {
    let Some(redis_url) = redis_url() else { return };
    static N: AtomicU32 = AtomicU32::new(100);
    let prefix = format!(
        "hs-server-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let db = backends().await.remove(0);
    // As if there had been nine leases before: the store's mark will be well above 1.
    let mut conn = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:token:default"))
        .arg(9)
        .query_async(&mut conn)
        .await
        .unwrap();
    let s = TestServer::start_with(config(
        &db,
        &format!(
            "[cluster]\nredis_url = \"{redis_url}\"\nlease_ttl = 1\nnode_id = \"only\"\n\
             key_prefix = \"{prefix}\"\n"
        ),
    ))
    .await;
    let leading_above = |floor: i64| {
        let s = &s;
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let mark = s.store.fencing_mark().await.unwrap();
                let epoch = cluster(s).await["pools"][0]["epoch"].as_i64();
                if mark > floor && epoch == Some(mark) && metric(s, "hivesched_leader").await == 1.0
                {
                    return mark;
                }
                assert!(
                    Instant::now() < deadline,
                    "not leading above {floor}: mark {mark}, epoch {epoch:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let before = leading_above(0).await;
    assert!(before >= 10, "{before}");
    let lost = Instant::now();
    let _: () = redis::cmd("DEL")
        .arg(format!("{prefix}:lease:default"))
        .arg(format!("{prefix}:token:default"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let after = leading_above(before).await;
    eprintln!(
        "leading again after the data loss in {:?}: token {before} -> {after}",
        lost.elapsed()
    );
    assert!(metric(&s, "hivesched_fenced_writes_total").await >= 1.0);
    s.stop().await;
}

/// The current controls as a replica's engine has them in force.
async fn controls(s: &TestServer) -> Value {
    let (status, body) = s
        .send(
            Method::GET,
            "/api/v1/controls",
            Some(&token(Role::Viewer)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Two replicas on PostgreSQL: an emergency stop (and its resume) set through the follower is
/// in force on the leader well within a second — a change notice at the commit, not the next
/// tick (an hour away in this test). A settings change through the follower reaches the
/// leader's engine the same way.
#[tokio::test]
async fn an_emergency_stop_set_through_a_follower_is_in_force_on_the_leader_within_a_second() {
    let Some(redis) = redis_url() else { return };
    let Some(db) = postgres_backend().await else {
        return;
    };
    let (a, b) = two_replicas(&redis, &db).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let (leader, follower) = loop {
        if metric(&a, "hivesched_leader").await == 1.0 {
            break (a, b);
        }
        if metric(&b, "hivesched_leader").await == 1.0 {
            break (b, a);
        }
        assert!(Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The listeners connect in the background when serving starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut took = Vec::new();
    for round in 0..3 {
        common::emergency_stop(&follower, "freeze_all").await;
        let set = Instant::now();
        while controls(&leader).await["emergency"].is_null() {
            assert!(
                set.elapsed() < Duration::from_secs(1),
                "round {round}: the leader has no stop after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(set.elapsed());
        common::emergency_resume(&follower).await;
        let lifted = Instant::now();
        while !controls(&leader).await["emergency"].is_null() {
            assert!(
                lifted.elapsed() < Duration::from_secs(1),
                "round {round}: the leader still stops after 1 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(lifted.elapsed());
    }
    eprintln!("stop/resume through the follower in force on the leader after {took:?}");

    // Settings: the leader's engine runs the version stored through the follower.
    let (status, current) = follower
        .send(
            Method::GET,
            "/api/v1/config",
            Some(&token(Role::Admin)),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let mut settings = current["settings"].clone();
    settings["tick_interval"] = serde_json::json!(1800);
    let (status, body) = follower
        .send(
            Method::PUT,
            "/api/v1/config",
            Some(&token(Role::Admin)),
            Some(&serde_json::json!({
                "base_version": current["version"],
                "settings": settings,
                "reason": "slower ticks",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set = Instant::now();
    while leader.engine_tick_interval() != Duration::from_secs(1800) {
        assert!(
            set.elapsed() < Duration::from_secs(1),
            "settings not applied on the leader"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eprintln!(
        "settings through the follower applied on the leader after {:?}",
        set.elapsed()
    );
    follower.stop().await;
    leader.stop().await;
}
