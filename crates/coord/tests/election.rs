//! Leader election against a real Redis (`HIVE_TEST_REDIS_URL`, e.g. `redis://127.0.0.1:6379`).
//! Without it the tests skip with a message, unless `HIVE_TEST_REQUIRE_SERVICES=1` makes the
//! missing service a failure. Each test uses its own key prefix and short leases.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::redis_url;
use hivesched_coord::{
    DEFAULT_POOL, LeaderElector, Leadership, RedisElector, RedisElectorConfig, RedisLease,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};
use tokio::time::{Instant, sleep, timeout};

fn prefix() -> String {
    common::prefix("hs-test")
}

fn config(url: &str, prefix: &str, node: &str, ttl: Duration) -> RedisElectorConfig {
    RedisElectorConfig {
        redis_url: url.to_owned(),
        node_id: node.to_owned(),
        key_prefix: prefix.to_owned(),
        lease_ttl: ttl,
        pool: DEFAULT_POOL.to_owned(),
    }
}

async fn elector(url: &str, prefix: &str, node: &str, ttl: Duration) -> RedisElector {
    RedisElector::start(config(url, prefix, node, ttl))
        .await
        .unwrap()
}

/// Waits until `rx` satisfies `want`; the time it took. Panics after `limit`.
async fn until(
    rx: &mut watch::Receiver<Leadership>,
    limit: Duration,
    want: impl Fn(Leadership) -> bool,
) -> Duration {
    let start = Instant::now();
    let reached = timeout(limit, async { rx.wait_for(|l| want(*l)).await.is_ok() }).await;
    assert!(
        reached == Ok(true),
        "not reached within {limit:?}; now {:?}",
        *rx.borrow()
    );
    start.elapsed()
}

#[tokio::test]
async fn one_leader_at_a_time_and_tokens_grow_across_takeovers() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let ttl = Duration::from_secs(2);
    let mut a = elector(&url, &p, "a", ttl).await;
    let mut b = elector(&url, &p, "b", ttl).await;
    let mut tokens = Vec::new();
    let mut takeovers = Vec::new();
    for round in 0..4 {
        let (mut ra, mut rb) = (a.watch(), b.watch());
        // Both have answered: one leads, the other follows.
        timeout(Duration::from_secs(3), async {
            loop {
                if ra.borrow().is_leader() != rb.borrow().is_leader() {
                    break;
                }
                tokio::select! { _ = ra.changed() => {}, _ = rb.changed() => {} }
            }
        })
        .await
        .expect("a leader within 3 s");
        assert!(
            !(ra.borrow().is_leader() && rb.borrow().is_leader()),
            "two leaders"
        );
        let (leader, follower) = if ra.borrow().is_leader() {
            (a, b)
        } else {
            (b, a)
        };
        let token = leader.watch().borrow().token().unwrap();
        tokens.push(token);
        let holder = leader.holder().await.unwrap().unwrap();
        assert_eq!(
            (holder.node.as_str(), holder.token),
            (leader.node_id(), token)
        );
        if round == 3 {
            leader.release().await.unwrap();
            follower.release().await.unwrap();
            break;
        }
        // Release: the follower takes over at once (release notice), not after the TTL.
        let mut rf = follower.watch();
        let released = Instant::now();
        leader.release().await.unwrap();
        assert_eq!(*leader.watch().borrow(), Leadership::Follower);
        until(&mut rf, Duration::from_secs(1), Leadership::is_leader).await;
        takeovers.push(released.elapsed());
        // The released replica comes back as a follower under the same name.
        let node = leader.node_id().to_owned();
        drop(leader);
        let back = elector(&url, &p, &node, ttl).await;
        (a, b) = (follower, back);
    }
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "tokens must strictly increase: {tokens:?}"
    );
    let worst = takeovers.iter().max().unwrap();
    eprintln!("takeover after release: {takeovers:?} (worst {worst:?}, TTL {ttl:?})");
    // Release notices make this a round trip, not a poll (a third of the TTL).
    assert!(
        *worst < Duration::from_millis(250),
        "takeover took {worst:?}"
    );
}

#[tokio::test]
async fn a_stale_lease_can_neither_be_renewed_nor_released() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let ttl = Duration::from_millis(200);
    let a = RedisLease::new(conn.clone(), &p, DEFAULT_POOL, "a", ttl);
    let b = RedisLease::new(conn, &p, DEFAULT_POOL, "b", ttl);
    let ta = a.acquire().await.unwrap().expect("free lease");
    assert_eq!(b.acquire().await.unwrap(), None, "held by a");
    assert!(a.renew(ta).await.unwrap());
    sleep(ttl + Duration::from_millis(100)).await;
    let tb = b.acquire().await.unwrap().expect("expired lease");
    assert!(tb > ta);
    assert!(!a.renew(ta).await.unwrap(), "a's lease is gone");
    assert!(!a.release(ta).await.unwrap(), "a must not delete b's lease");
    assert_eq!(a.holder().await.unwrap().unwrap().token, tb);
    // Same node, old token: still refused (the value carries the token).
    let b_again = a.clone();
    assert!(!b_again.renew(tb).await.unwrap());
    assert!(b.release(tb).await.unwrap());
    assert_eq!(a.holder().await.unwrap(), None);
}

#[tokio::test]
async fn members_are_the_live_replicas() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let ttl = Duration::from_secs(1);
    let a = elector(&url, &p, "node-a", ttl).await;
    let b = elector(&url, &p, "node-b", ttl).await;
    let both = timeout(Duration::from_secs(2), async {
        loop {
            let m = a.members().await.unwrap();
            if m.len() == 2 {
                break m;
            }
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(both, vec!["node-a".to_string(), "node-b".to_string()]);
    b.release().await.unwrap();
    assert_eq!(a.members().await.unwrap(), vec!["node-a".to_string()]);
    a.release().await.unwrap();
}

/// A TCP proxy to Redis that can be cut: after the cut it forwards nothing and answers nothing
/// (the connections stay open), like a network partition rather than a refused connection.
struct Proxy {
    addr: String,
    cut: watch::Sender<bool>,
}

async fn proxy(upstream: String) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (cut, cut_rx) = watch::channel(false);
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            if *cut_rx.borrow() {
                held.lock().await.push(client);
                continue;
            }
            let upstream = upstream.clone();
            let mut cut = cut_rx.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::select! {
                    _ = tokio::io::copy(&mut cr, &mut sw) => {}
                    _ = tokio::io::copy(&mut sr, &mut cw) => {}
                    () = async { let _ = cut.wait_for(|c| *c).await; } => {
                        // Hold both ends open, silent, until the test ends.
                        sleep(Duration::from_secs(60)).await;
                    }
                }
                let _ = cw.shutdown().await;
            });
        }
    });
    Proxy { addr, cut }
}

#[tokio::test]
async fn a_leader_cut_off_from_redis_steps_down_before_anyone_takes_over() {
    let Some(url) = redis_url() else { return };
    let upstream = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let proxy = proxy(upstream).await;
    let p = prefix();
    let ttl = Duration::from_millis(1500);
    let a = elector(&format!("redis://{}", proxy.addr), &p, "a", ttl).await;
    let mut ra = a.watch();
    until(&mut ra, Duration::from_secs(2), Leadership::is_leader).await;
    let ta = ra.borrow().token().unwrap();
    let b = elector(&url, &p, "b", ttl).await;
    let mut rb = b.watch();
    until(&mut rb, Duration::from_secs(2), |l| {
        l == Leadership::Follower
    })
    .await;

    let cut_at = Instant::now();
    proxy.cut.send_replace(true);
    // Watch both at once: the old leader must be gone before the new one appears.
    let (mut a_down, mut b_up) = (None, None);
    timeout(ttl * 3, async {
        while a_down.is_none() || b_up.is_none() {
            tokio::select! {
                _ = ra.changed(), if a_down.is_none() => {
                    if !ra.borrow().is_leader() { a_down = Some(cut_at.elapsed()); }
                }
                _ = rb.changed(), if b_up.is_none() => {
                    if rb.borrow().is_leader() { b_up = Some(cut_at.elapsed()); }
                }
            }
        }
    })
    .await
    .expect("step-down and takeover within 3 TTLs");
    let (a_down, b_up) = (a_down.unwrap(), b_up.unwrap());
    eprintln!("cut off: stepped down after {a_down:?}, taken over after {b_up:?} (TTL {ttl:?})");
    assert!(a_down < ttl, "stepped down only after {a_down:?}");
    assert!(a_down < b_up, "overlap: down {a_down:?}, up {b_up:?}");
    assert!(b_up < ttl * 2, "takeover took {b_up:?}");
    assert!(rb.borrow().token().unwrap() > ta);
    b.release().await.unwrap();
    drop(a);
}

#[tokio::test]
async fn a_counter_behind_the_store_is_raised_past_its_floor() {
    let Some(url) = redis_url() else { return };
    let p = prefix();
    let ttl = Duration::from_millis(600);
    let a = elector(&url, &p, "a", ttl).await;
    let mut ra = a.watch();
    until(&mut ra, Duration::from_secs(2), Leadership::is_leader).await;
    let first = ra.borrow().token().unwrap();
    // As if Redis had lost its data while the store saw token first + 40.
    let floor = first + 40;
    a.fenced_below(floor).await.unwrap();
    assert!(
        !ra.borrow().is_leader(),
        "stops acting on the refused lease at once"
    );
    until(&mut ra, Duration::from_secs(2), |l| {
        l.token().is_some_and(|t| t > floor)
    })
    .await;
    assert_eq!(ra.borrow().token(), Some(floor + 1));
    a.release().await.unwrap();
}
