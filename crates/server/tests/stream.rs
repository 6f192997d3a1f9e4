//! The live stream over a real socket: authentication (bearer header or one-use ticket), the
//! message contract, resume after a reconnect, the `gap` when the server no longer holds what
//! was missed, a slow client closed with 4008 without slowing anyone, and shutdown closing
//! every stream with 1001.

mod common;

use std::time::Duration;

use common::ws::{connect, next, ws_url};
use common::{TestServer, backends, emergency_stop, token};
use hivesched_server::auth::Role;
use hivesched_server::stream::StreamKind;
use hivesched_server::stream::hub::{CLIENT_QUEUE, RING};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn publish(server: &TestServer, n: usize, payload: &str) -> Vec<u64> {
    (0..n)
        .map(|i| {
            server
                .stream
                .publish(StreamKind::Task, json!({"i": i, "pad": payload}))
        })
        .collect()
}

/// Waits until the database holds every published message.
async fn persisted(server: &TestServer) {
    let want = i64::try_from(server.stream.last_seq()).unwrap();
    for _ in 0..600 {
        if server.store.last_stream_seq().await.unwrap() >= want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("stream messages not persisted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_needs_a_token_or_a_one_use_ticket_and_an_upgrade() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        // A plain GET is told to upgrade, with the stable code; no token is 401 first.
        let (s, body) = server
            .send(
                Method::GET,
                "/api/v1/stream",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UPGRADE_REQUIRED, "{body}");
        assert_eq!(body["code"], "upgrade_required");
        let (s, _) = server.send(Method::GET, "/api/v1/stream", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let unauthorized = tokio_tungstenite::connect_async(ws_url(&server, "")).await;
        match unauthorized {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }

        // A browser trades its token for a ticket, which opens one stream.
        let (s, body) = server
            .send(
                Method::POST,
                "/api/v1/stream/ticket",
                Some(&token(Role::Viewer)),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["expires_in_s"], 30);
        let ticket = body["ticket"].as_str().unwrap().to_owned();
        let query = format!("?ticket={ticket}");
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(&server, &query))
            .await
            .unwrap();
        let seq = server.stream.publish(StreamKind::Task, json!({"hello": 1}));
        // The engine's first tick may publish before ours: skip what came earlier.
        let m = loop {
            let m = next(&mut socket).await.unwrap();
            if m["seq"].as_u64().unwrap() >= seq {
                break m;
            }
        };
        assert_eq!(m["seq"], seq);
        assert_eq!(m["data"]["hello"], 1);
        match tokio_tungstenite::connect_async(ws_url(&server, &query)).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401, "reused"),
            other => panic!("a ticket opened a second stream: {other:?}"),
        }
        socket.close(None).await.unwrap();
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_numbered_and_a_reconnect_resumes_where_it_left() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let mut socket = connect(&server, "").await;
        // A real control change reaches the stream as a `control` message.
        emergency_stop(&server, "freeze_sleeps").await;
        let mut seen = Vec::new();
        let control = loop {
            let m = next(&mut socket).await.unwrap();
            seen.push(m["seq"].as_u64().unwrap());
            assert!(m["at"].as_str().unwrap().ends_with('Z'), "{m}");
            if m["type"] == "control" {
                break m;
            }
        };
        assert_eq!(control["data"]["action"], "emergency.stop");
        assert_eq!(control["data"]["actor"], "test-admin");
        assert_eq!(control["data"]["after"]["mode"], "freeze_sleeps");

        let first = publish(&server, 5, "");
        let mut last = 0;
        for want in &first[..3] {
            let m = next(&mut socket).await.unwrap();
            // Other messages (the stop's alert) may come between ours: seq only grows.
            assert!(m["seq"].as_u64().unwrap() > *seen.last().unwrap(), "{m}");
            seen.push(m["seq"].as_u64().unwrap());
            if m["type"] == "task" {
                assert!(m["seq"].as_u64().unwrap() <= *want);
            }
            last = m["seq"].as_u64().unwrap();
        }
        drop(socket);
        let missed = publish(&server, 4, "");
        let mut socket = connect(&server, &format!("?since={last}")).await;
        let mut replayed = Vec::new();
        while replayed.last() != missed.last() {
            let m = next(&mut socket).await.unwrap();
            replayed.push(m["seq"].as_u64().unwrap());
        }
        let expected: Vec<u64> = (last + 1..=*missed.last().unwrap()).collect();
        assert_eq!(
            replayed, expected,
            "every message after `since`, once, in order"
        );
        // And then live ones.
        // (the engine may publish in between, e.g. the stop's alert: seq still only grows).
        let live = publish(&server, 1, "")[0];
        let mut prev = *missed.last().unwrap();
        loop {
            let seq = next(&mut socket).await.unwrap()["seq"].as_u64().unwrap();
            assert!(seq > prev, "after {prev} came {seq}");
            prev = seq;
            if seq == live {
                break;
            }
        }
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_from_before_what_is_held_gets_a_gap_then_the_rest() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        // More than the ring holds, then the database forgets them all.
        publish(&server, RING + 50, "");
        persisted(&server).await;
        let last = server.stream.last_seq();
        // From the database (older than the ring): no gap.
        let mut socket = connect(&server, &format!("?since={}", last - RING as u64 - 10)).await;
        let m = next(&mut socket).await.unwrap();
        assert_eq!(m["seq"], last - RING as u64 - 9, "{m}");
        drop(socket);

        let far_future = hivesched_server::clock::now().plus(Duration::from_secs(86_400));
        server
            .store
            .purge_stream_events_before(far_future)
            .await
            .unwrap();
        let mut socket = connect(&server, "?since=0").await;
        let gap = next(&mut socket).await.unwrap();
        // The ring holds the newest RING messages; the engine may have published a few more
        // since `last`, which moves its start on by as many.
        let ring_first = gap["data"]["to"].as_u64().unwrap() + 1;
        assert!(
            (last - RING as u64 + 1..=server.stream.last_seq() - RING as u64 + 1)
                .contains(&ring_first),
            "{gap}"
        );
        assert_eq!(gap["type"], "gap", "{gap}");
        assert_eq!(gap["data"]["from"], 1);
        assert_eq!(gap["seq"], ring_first - 1);
        let m = next(&mut socket).await.unwrap();
        assert_eq!(m["seq"], ring_first);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_falls_behind_is_closed_with_4008_and_others_miss_nothing() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let mut slow = connect(&server, "").await;
        let mut keeping_up = connect(&server, "").await;
        // The reader reports how far it got, so the publisher can wait for it: "keeps up" means
        // it is never more than one burst behind.
        let (progress_tx, mut progress) = tokio::sync::watch::channel(0u64);
        let seqs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reader = tokio::spawn({
            let seqs = seqs.clone();
            async move {
                while let Ok(m) = next(&mut keeping_up).await {
                    let seq = m["seq"].as_u64().unwrap();
                    if m["type"] == "task" {
                        seqs.lock().unwrap().push(seq);
                    }
                    let _ = progress_tx.send(seq);
                }
            }
        });
        // 3000 messages of 8 KB: far more than the socket buffers hold while `slow` reads
        // nothing, and more than CLIENT_QUEUE ahead of it.
        let pad = "x".repeat(8192);
        let mut published = Vec::new();
        for _ in 0..30 {
            published.extend(publish(&server, 100, &pad));
            let last = *published.last().unwrap();
            tokio::time::timeout(
                Duration::from_secs(30),
                progress.wait_for(|seq| *seq >= last),
            )
            .await
            .expect("the reader keeps up within 30 s")
            .expect("the reader is still connected");
        }
        assert!(published.len() > CLIENT_QUEUE * 2);
        reader.abort();
        let got = seqs.lock().unwrap().clone();
        let missing: Vec<_> = published.iter().filter(|s| !got.contains(s)).collect();
        assert!(
            missing.is_empty() && got.len() == published.len(),
            "the client that keeps up gets every message: {} missing (first {:?}), {} got",
            missing.len(),
            missing.first(),
            got.len()
        );

        let mut received = 0;
        let closed = loop {
            match next(&mut slow).await {
                Ok(_) => received += 1,
                Err(frame) => break frame,
            }
        };
        let (code, reason) = closed.expect("a close frame");
        assert_eq!(code, 4008, "{reason}");
        assert!(reason.contains("since="), "{reason}");
        assert!(received < published.len(), "closed before the end");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_stream_with_going_away() {
    for url in backends().await {
        let server = TestServer::start(&url).await;
        let mut a = connect(&server, "").await;
        let mut b = connect(&server, "").await;
        server.stop().await;
        for s in [&mut a, &mut b] {
            let frame = loop {
                if let Err(frame) = next(s).await {
                    break frame;
                }
            };
            assert_eq!(frame.map(|f| f.0), Some(u16::from(CloseCode::Away)));
        }
    }
}
