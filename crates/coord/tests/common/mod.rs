//! What the Redis tests share: the service's URL and a key prefix per test.

use std::sync::atomic::{AtomicU32, Ordering};

/// `HIVE_TEST_REDIS_URL`; `None` (the test skips, with a message) when it is not set, unless
/// `HIVE_TEST_REQUIRE_SERVICES=1` makes the missing service a failure.
pub fn redis_url() -> Option<String> {
    match std::env::var("HIVE_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("HIVE_TEST_REQUIRE_SERVICES=1 but HIVE_TEST_REDIS_URL is not set")
        }
        _ => {
            eprintln!("skipping: HIVE_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// A key prefix no other test (or run) uses: `{what}-{pid}-{n}`.
pub fn prefix(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
