//! Opening the store when the database cannot be reached: the real cause, quickly.

use std::time::{Duration, Instant};

use hivesched_store::Store;

#[tokio::test]
async fn an_unreachable_postgres_fails_fast_with_the_cause_and_the_redacted_url() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let started = Instant::now();
    let err = Store::connect("postgres://postgres:hunter2@127.0.0.1:1/test")
        .await
        .expect_err("nothing listens on port 1");
    let elapsed = started.elapsed();
    let message = err.to_string();
    assert!(
        message.to_lowercase().contains("connection refused"),
        "the cause is named: {message}"
    );
    assert!(!message.contains("pool timed out"), "{message}");
    assert!(
        message.contains("postgres://postgres@127.0.0.1:1/test"),
        "the URL is named: {message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password is not: {message}"
    );
    // Generous: the point is seconds, not the pool's 30 s acquire timeout.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}
