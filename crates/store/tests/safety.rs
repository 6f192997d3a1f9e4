//! What the admission gate stores, on every backend: durable controls written with their audit
//! record, bulk operations accepted only with every task stored, refusals and sleep starts in
//! the journal, and the keyed audit chain.

mod common;

on_every_backend!(
    controls_survive_a_reconnect_and_corrupt_rows_read_safe,
    a_bulk_and_its_tasks_and_audit_are_stored_together_or_not_at_all,
    refusals_and_sleep_starts_are_journaled,
    the_keyed_audit_chain_needs_the_key_and_refuses_downgrades,
);

mod cases {
    use hivesched_policy::{
        ActionKind, AgentId, Controls, EmergencyMode, EmergencyStop, Pause, PauseDirection, Reason,
        Time,
    };
    use hivesched_store::{
        AuditKey, BulkStrategy, ControlName, NewAuditRecord, NewBulkOperation, NewTask, Store,
        StoreError, TaskStatus,
    };
    use serde_json::json;

    use crate::common::{Ctx, Target};

    fn t(ms: i64) -> Time {
        Time::from_millis(ms)
    }

    fn audit(action: &str) -> NewAuditRecord {
        NewAuditRecord {
            at: t(1),
            actor: "alice".into(),
            action: action.into(),
            target: "fleet".into(),
            before: serde_json::Value::Null,
            after: json!({"x": 1}),
            reason: "test".into(),
        }
    }

    async fn reopen(ctx: &Ctx) -> Option<Store> {
        match &ctx.url {
            Some(url) => Some(Store::connect(url).await.unwrap()),
            None => None,
        }
    }

    pub async fn controls_survive_a_reconnect_and_corrupt_rows_read_safe(ctx: Ctx) {
        let s = &ctx.store;
        assert_eq!(
            s.load_controls().await.unwrap().controls,
            Controls::default()
        );
        let stop = EmergencyStop {
            mode: EmergencyMode::FreezeAll,
            until: Some(t(5_000)),
        };
        let pause = Pause {
            direction: PauseDirection::Wakes,
            until: None,
        };
        s.set_control(
            ControlName::Emergency,
            Some(&serde_json::to_value(&stop).unwrap()),
            t(1),
            &audit("emergency.stop"),
        )
        .await
        .unwrap();
        s.set_control(
            ControlName::Pause,
            Some(&serde_json::to_value(&pause).unwrap()),
            t(2),
            &audit("pause.set"),
        )
        .await
        .unwrap();
        let want = Controls {
            emergency: Some(stop),
            pause: Some(pause),
        };
        assert_eq!(s.load_controls().await.unwrap().controls, want);
        if let Some(again) = reopen(&ctx).await {
            assert_eq!(again.load_controls().await.unwrap().controls, want);
            again.close().await;
        }
        // Each change wrote its audit record with it.
        let trail = s.list_audit(None, 10).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|r| r.record.action.as_str()).collect();
        assert_eq!(actions, ["pause.set", "emergency.stop"]);

        s.set_control(ControlName::Pause, None, t(3), &audit("pause.clear"))
            .await
            .unwrap();
        assert_eq!(s.load_controls().await.unwrap().controls.pause, None);

        // A corrupt row neither stops the load nor lifts the stop: it reads as a sleep freeze.
        sqlx::query("UPDATE controls SET value = 'not json' WHERE name = 'emergency'")
            .execute(s.pool())
            .await
            .unwrap();
        let loaded = s.load_controls().await.unwrap();
        assert_eq!(
            loaded.controls.emergency.map(|e| e.mode),
            Some(EmergencyMode::FreezeSleeps)
        );
        assert_eq!(loaded.problems.len(), 1);
        assert!(
            loaded.problems[0].contains("emergency"),
            "{:?}",
            loaded.problems
        );
    }

    fn bulk(id: &str, n: usize) -> (NewBulkOperation, Vec<NewTask>) {
        let op = NewBulkOperation {
            id: id.into(),
            kind: ActionKind::Sleep,
            strategy: BulkStrategy::Staged,
            spec: json!({"agents": n}),
            actor: "alice".into(),
            created_at: t(10),
        };
        let tasks = (0..n)
            .map(|i| NewTask {
                id: format!("bulk-{id}-sleep-a{i}"),
                idempotency_key: format!("bulk-{id}-sleep-a{i}"),
                agent: AgentId(format!("a{i}")),
                kind: ActionKind::Sleep,
                bulk_id: Some(id.into()),
                stage: Some((i / 100) as u32),
                reason: "maintenance".into(),
                created_at: t(10),
            })
            .collect();
        (op, tasks)
    }

    pub async fn a_bulk_and_its_tasks_and_audit_are_stored_together_or_not_at_all(ctx: Ctx) {
        let s = &ctx.store;
        // More tasks than one multi-row insert takes.
        let (op, tasks) = bulk("b1", 1_234);
        s.insert_bulk_with_tasks(&op, &tasks, &audit("bulk.submit"))
            .await
            .unwrap();
        let counts = s.bulk_status_counts("b1", None).await.unwrap();
        assert_eq!(counts, vec![(TaskStatus::Pending, 1_234)]);
        assert_eq!(s.list_audit(None, 10).await.unwrap().len(), 1);
        // Pending bulk tasks are the bulk's to resume, not recovery's.
        assert!(s.unfinished_tasks().await.unwrap().is_empty());

        // A task key already taken makes the whole submission fail: no operation, no task, no
        // audit record is left behind.
        let (mut op2, mut tasks2) = bulk("b2", 3);
        tasks2[2].idempotency_key = tasks[0].idempotency_key.clone();
        op2.created_at = t(20);
        let err = s
            .insert_bulk_with_tasks(&op2, &tasks2, &audit("bulk.submit"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert!(matches!(
            s.bulk("b2").await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(s.bulk_status_counts("b2", None).await.unwrap().is_empty());
        assert_eq!(s.list_audit(None, 10).await.unwrap().len(), 1);

        if let Some(again) = reopen(&ctx).await {
            assert_eq!(again.bulk("b1").await.unwrap().status, TaskStatus::Pending);
            again.close().await;
        }
        assert_eq!(
            s.cancel_pending_bulk_tasks("b1", t(30)).await.unwrap(),
            1_234
        );
    }

    pub async fn refusals_and_sleep_starts_are_journaled(ctx: Ctx) {
        let s = &ctx.store;
        let (op, tasks) = bulk("b3", 4);
        s.insert_bulk_with_tasks(&op, &tasks, &audit("bulk.submit"))
            .await
            .unwrap();
        let refused = s
            .refuse_task(&tasks[0].id, Reason::EmergencyStop, None, t(40))
            .await
            .unwrap();
        assert_eq!(refused.status, TaskStatus::Refused);
        assert_eq!(refused.refusal, Some(Reason::EmergencyStop));
        assert_eq!(refused.started_at, None);
        s.refuse_task(&tasks[1].id, Reason::MinAwake, None, t(41))
            .await
            .unwrap();
        s.refuse_task(&tasks[2].id, Reason::MinAwake, None, t(42))
            .await
            .unwrap();
        // A refused task is finished: it cannot be refused or started again.
        assert!(
            s.refuse_task(&tasks[0].id, Reason::MinAwake, None, t(43))
                .await
                .is_err()
        );
        assert!(
            s.transition_task(&tasks[0].id, TaskStatus::Running, None, None, t(43))
                .await
                .is_err()
        );
        assert_eq!(
            s.bulk_refusals("b3").await.unwrap(),
            vec![(Reason::EmergencyStop, 1), (Reason::MinAwake, 2)]
        );

        // The first call to the fleet stamps `started_at`; a retry keeps the first stamp.
        let running = s
            .transition_task(&tasks[3].id, TaskStatus::Running, None, None, t(50))
            .await
            .unwrap();
        assert_eq!(running.started_at, Some(t(50)));
        let done = s
            .transition_task(&tasks[3].id, TaskStatus::Succeeded, None, None, t(60))
            .await
            .unwrap();
        assert_eq!(done.started_at, Some(t(50)));
        assert_eq!(s.sleep_starts_since(t(49)).await.unwrap(), vec![t(50)]);
        assert!(s.sleep_starts_since(t(50)).await.unwrap().is_empty());
    }

    pub async fn the_keyed_audit_chain_needs_the_key_and_refuses_downgrades(ctx: Ctx) {
        if ctx.target == Target::SqliteMemory {
            // The chain is read back through a second handle; in-memory SQLite has one.
            return;
        }
        let url = ctx.url.clone().unwrap();
        let key = || AuditKey::derived_from(b"a secret of at least thirty-two bytes!!");
        // Two records from before keys existed, then three keyed ones.
        for _ in 0..2 {
            ctx.store
                .append_audit(&audit("config.update"))
                .await
                .unwrap();
        }
        let keyed = Store::connect(&url).await.unwrap().with_audit_key(key());
        for _ in 0..3 {
            keyed.append_audit(&audit("config.update")).await.unwrap();
        }
        let v = keyed.verify_audit_chain().await.unwrap();
        assert_eq!((v.checked, v.unverified, v.first_broken), (5, 0, None));
        // Without the key the links still verify, the keyed contents cannot be.
        let v = ctx.store.verify_audit_chain().await.unwrap();
        assert_eq!((v.checked, v.unverified, v.first_broken), (5, 3, None));
        // With another key every keyed record fails, the first one is named.
        let wrong = Store::connect(&url)
            .await
            .unwrap()
            .with_audit_key(AuditKey::derived_from(
                b"some other secret of thirty-two bytes",
            ));
        let v = wrong.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken, Some(3));
        assert!(v.problem.unwrap().contains("MAC"));

        // Someone who can write the database but lacks the key edits a keyed record and
        // recomputes a plain hash for it: caught.
        sqlx::query("UPDATE audit_log SET reason = 'edited' WHERE seq = 4")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let v = keyed.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken, Some(4));
        // Appending an unkeyed record after keyed ones is a downgrade.
        sqlx::query("UPDATE audit_log SET reason = 'test' WHERE seq = 4")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        ctx.store
            .append_audit(&audit("config.update"))
            .await
            .unwrap();
        let v = keyed.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken, Some(6));
        assert!(v.problem.unwrap().contains("downgrade"));
        // A record whose JSON is no longer JSON is named by its number, not an error.
        sqlx::query("UPDATE audit_log SET after_json = 'not json' WHERE seq = 2")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let v = keyed.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken, Some(2));
        keyed.close().await;
        wrong.close().await;
    }
}
