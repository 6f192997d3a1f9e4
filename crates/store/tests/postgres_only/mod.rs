//! PostgreSQL-only checks: the two migration directories build the same schema, and day
//! partitions take rows over from the default partition and are dropped by retention.

use hivesched_policy::Time;
use hivesched_store::{DemandSample, RetainedTable, Store};
use sqlx::Row;

use crate::common::{Ctx, Target, run};

/// Table name -> sorted column names, as the database reports them.
async fn columns(store: &Store) -> Vec<(String, Vec<String>)> {
    let sql = match store.backend() {
        hivesched_store::Backend::Sqlite => {
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
        }
        hivesched_store::Backend::Postgres => {
            "SELECT c.table_name::text AS t, c.column_name::text AS c \
             FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name \
             JOIN pg_namespace n ON n.oid = k.relnamespace AND n.nspname = c.table_schema \
             WHERE c.table_schema = current_schema() AND NOT k.relispartition ORDER BY 1, 2"
        }
    };
    let rows = sqlx::query(sql).fetch_all(store.pool()).await.unwrap();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for row in rows {
        let (t, c): (String, String) = (row.get("t"), row.get("c"));
        match out.last_mut() {
            Some((last, cols)) if *last == t => cols.push(c),
            _ => out.push((t, vec![c])),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_sets_build_the_same_tables_and_columns() {
    run(Target::Postgres, |ctx: Ctx| async move {
        let sqlite = Store::connect("sqlite::memory:").await.unwrap();
        let lite = columns(&sqlite).await;
        let pg = columns(&ctx.store).await;
        assert_eq!(lite, pg);
        assert!(lite.len() >= 15, "{lite:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_partitions_take_over_rows_from_the_default_partition() {
    run(Target::Postgres, |ctx: Ctx| async move {
        let s = &ctx.store;
        const DAY: i64 = 86_400_000;
        let day = 20_000 * DAY; // 2024-10-04, long before any partition made on connect
        let samples: Vec<DemandSample> = (0..48)
            .map(|i| DemandSample {
                at: Time::from_millis(day + i * 3_600_000),
                value: i as f64,
            })
            .collect();
        s.insert_demand(&samples).await.unwrap();
        let in_default = |s: Store| async move {
            sqlx::query("SELECT COUNT(*) AS n FROM demand_samples_default")
                .fetch_one(s.pool())
                .await
                .unwrap()
                .get::<i64, _>("n")
        };
        assert_eq!(in_default(s.clone()).await, 48);
        let created = s
            .ensure_partitions(Time::from_millis(day), Time::from_millis(day + DAY))
            .await
            .unwrap();
        assert!(
            created.contains(&"demand_samples_p20241004".to_owned()),
            "{created:?}"
        );
        assert!(
            created.contains(&"decisions_p20241005".to_owned()),
            "{created:?}"
        );
        assert_eq!(in_default(s.clone()).await, 0);
        // Idempotent, and every row still reads back through the parent table.
        let again = s
            .ensure_partitions(Time::from_millis(day), Time::from_millis(day + DAY))
            .await
            .unwrap();
        assert!(again.is_empty());
        let back = s
            .demand_range(Time::from_millis(0), Time::from_millis(i64::MAX))
            .await
            .unwrap();
        assert_eq!(back, samples);
        // Upserts into a partition still hit the primary key.
        s.insert_demand(&[DemandSample {
            at: Time::from_millis(day),
            value: 99.0,
        }])
        .await
        .unwrap();
        let first = s
            .demand_range(Time::from_millis(day), Time::from_millis(day + 1))
            .await
            .unwrap();
        assert_eq!(first[0].value, 99.0);
        let report = s
            .purge_older_than(RetainedTable::DemandSamples, Time::from_millis(day + DAY))
            .await
            .unwrap();
        assert!(
            report
                .partitions_dropped
                .contains(&"demand_samples_p20241004".to_owned())
        );
        assert_eq!(report.rows_deleted, 0);
        assert!(
            !s.partitions(RetainedTable::DemandSamples)
                .await
                .unwrap()
                .contains(&"demand_samples_p20241004".to_owned())
        );
        assert_eq!(
            s.demand_range(Time::from_millis(0), Time::from_millis(i64::MAX))
                .await
                .unwrap()
                .len(),
            24
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_prepares_partitions_around_today() {
    run(Target::Postgres, |ctx: Ctx| async move {
        for table in RetainedTable::PARTITIONED {
            let parts = ctx.store.partitions(table).await.unwrap();
            assert!(parts.len() >= 9, "{table:?}: {parts:?}");
        }
    })
    .await;
}
