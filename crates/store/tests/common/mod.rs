//! Test harness: one store per test on SQLite in memory, SQLite in a temp file, or PostgreSQL in
//! a fresh schema (so tests run in parallel and repeatedly against one database).

use std::future::Future;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use hivesched_store::Store;
use sqlx::{Connection, Executor, PgConnection};

/// Where a test's store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    SqliteMemory,
    SqliteFile,
    Postgres,
}

/// What a test case gets: the store, and the URL to reconnect with (`None` for in-memory SQLite,
/// which cannot be reopened).
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub url: Option<String>,
    pub target: Target,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// The PostgreSQL URL for tests, `None` (after saying so) when not configured; a failure when
/// `HIVE_TEST_REQUIRE_SERVICES=1` demands it.
pub fn postgres_url() -> Option<String> {
    match std::env::var("HIVE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("HIVE_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("HIVE_TEST_POSTGRES_URL is not set but HIVE_TEST_REQUIRE_SERVICES=1");
            }
            // Written to the raw stream: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: HIVE_TEST_POSTGRES_URL is not set, PostgreSQL test not run"
            );
            None
        }
    }
}

/// `url` with `search_path` set to `schema` through the connection's startup options.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Runs `case` against a fresh store on `target`, then removes what the test created.
pub async fn run<F, Fut>(target: Target, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()>,
{
    match target {
        Target::SqliteMemory => {
            let store = Store::connect("sqlite::memory:").await.unwrap();
            case(Ctx {
                store: store.clone(),
                url: None,
                target,
            })
            .await;
            store.close().await;
        }
        Target::SqliteFile => {
            let path = std::env::temp_dir().join(format!("hivesched-store-{}.db", unique_suffix()));
            let url = format!("sqlite://{}?mode=rwc", path.display());
            let store = Store::connect(&url).await.unwrap();
            case(Ctx {
                store: store.clone(),
                url: Some(url),
                target,
            })
            .await;
            store.close().await;
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
        }
        Target::Postgres => {
            let Some(base) = postgres_url() else { return };
            let schema = format!("hs_test_{}", unique_suffix());
            let mut admin = PgConnection::connect(&base).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .await
                .unwrap();
            let url = with_search_path(&base, &schema);
            let store = Store::connect(&url).await.unwrap();
            case(Ctx {
                store: store.clone(),
                url: Some(url),
                target,
            })
            .await;
            store.close().await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
        }
    }
}

/// Generates one test per case per backend: `sqlite_memory::case`, `sqlite_file::case`,
/// `postgres::case`.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::common::run($crate::common::Target::SqliteMemory, super::cases::$case).await;
                }
            )*
        }
        mod sqlite_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::common::run($crate::common::Target::SqliteFile, super::cases::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::common::run($crate::common::Target::Postgres, super::cases::$case).await;
                }
            )*
        }
    };
}
