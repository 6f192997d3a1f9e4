//! The store suite, run on SQLite in memory, SQLite in a file, and PostgreSQL, plus the
//! PostgreSQL-only partition and schema-parity checks.

mod common;
mod postgres_only;

on_every_backend!(
    migrations_are_idempotent,
    config_versions_are_compare_and_set,
    agents_upsert_get_list_delete,
    agents_upsert_in_batches_and_list_back_exactly,
    targeted_agent_writes_leave_other_fields_alone,
    heartbeats_follow_agent_semantics,
    heartbeats_take_ten_thousand_agents_in_one_batch,
    agent_events_round_trip,
    demand_batches_and_ranges,
    forecasts_and_model_records_round_trip,
    decisions_round_trip_and_page_newest_first,
    task_idempotency_keys_are_unique,
    finished_wakes_are_listed_by_when_they_finished,
    task_lifecycle_is_compare_and_set_with_fencing,
    a_deposed_leaders_writes_are_fenced_and_do_not_land,
    pools_keep_their_own_agents_demand_decisions_tasks_and_marks,
    unfinished_tasks_are_listed_for_recovery,
    bulk_operations_track_their_tasks,
    alerts_fire_resolve_and_list,
    audit_chain_survives_concurrent_appends,
    audit_verify_finds_tampered_and_deleted_rows,
    codes_are_single_use_under_concurrent_consumers,
    codes_expire_and_keep_to_their_purpose,
    tokens_can_be_revoked,
    flags_are_versioned_with_history,
    retention_removes_only_old_rows,
    retention_purges_task_reports_and_flag_decisions,
);

mod cases {
    use hivesched_policy::{
        Action, ActionKind, Agent, AgentId, AgentState, Blocked, Decision, Mode, Pin, Reason, Tier,
        Time,
    };
    use hivesched_store::{
        AuditVerification, BulkStrategy, DemandSample, Heartbeat, NewAgentEvent, NewAuditRecord,
        NewBulkOperation, NewCode, NewForecast, NewModelRecord, NewTask, RetainedTable, Store,
        StoreError, TaskFilter, TaskStatus,
    };
    use serde_json::json;

    use crate::common::{Ctx, Target};

    fn t(ms: i64) -> Time {
        Time::from_millis(ms)
    }

    fn beat(id: &str, at: i64, state: AgentState, busy: bool) -> Heartbeat {
        Heartbeat {
            agent: AgentId::from(id),
            at: t(at),
            state,
            busy,
            queue_depth: 3,
            context_tokens: 1200,
            tasks: None,
        }
    }

    pub async fn migrations_are_idempotent(ctx: Ctx) {
        ctx.store.migrate().await.unwrap();
        ctx.store.migrate().await.unwrap();
        let row = sqlx::query("SELECT COUNT(*) AS n, MAX(version) AS v FROM _sqlx_migrations")
            .fetch_one(ctx.store.pool())
            .await
            .unwrap();
        use sqlx::Row;
        assert_eq!(row.get::<i64, _>("n"), hivesched_store::latest_version());
        assert_eq!(row.get::<i64, _>("v"), hivesched_store::latest_version());
        if let Some(url) = &ctx.url {
            // A second process connecting to a migrated database applies nothing and keeps data.
            ctx.store
                .save_config(0, &json!({"a": 1}), "ops", "first", t(1))
                .await
                .unwrap();
            let again = Store::connect(url).await.unwrap();
            assert_eq!(again.current_config_version().await.unwrap(), 1);
            again.close().await;
        }
        ctx.store.ping().await.unwrap();
    }

    pub async fn config_versions_are_compare_and_set(ctx: Ctx) {
        let s = &ctx.store;
        assert!(
            s.current_config::<serde_json::Value>()
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            s.save_config(0, &json!({"shadow": true}), "alice", "initial", t(10))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.save_config(1, &json!({"shadow": false}), "bob", "go live", t(20))
                .await
                .unwrap(),
            2
        );
        // Saving from a stale base, or from a version that never existed, loses.
        for base in [1, 0, 7] {
            let err = s
                .save_config(base, &json!({}), "carol", "stale", t(30))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        }
        let cur = s
            .current_config::<serde_json::Value>()
            .await
            .unwrap()
            .unwrap();
        assert_eq!((cur.version, cur.author.as_str()), (2, "bob"));
        assert_eq!(cur.config, json!({"shadow": false}));
        assert_eq!(cur.created_at, t(20));
        let first = s.config_version::<serde_json::Value>(1).await.unwrap();
        assert_eq!(first.reason, "initial");
        assert!(matches!(
            s.config_version::<serde_json::Value>(9).await,
            Err(StoreError::NotFound { .. })
        ));
        let hist = s.config_history::<serde_json::Value>(10).await.unwrap();
        assert_eq!(
            hist.iter().map(|h| h.version).collect::<Vec<_>>(),
            vec![2, 1]
        );
    }

    pub async fn agents_upsert_get_list_delete(ctx: Ctx) {
        let s = &ctx.store;
        let mut a = hivesched_store::AgentRecord {
            agent: Agent {
                do_not_disrupt: true,
                pin: Some(Pin::Asleep),
                last_wake: Some(t(5)),
                context_tokens: u64::from(u32::MAX) + 7,
                ..Agent::awake("b-1", t(100))
            },
            pin_until: Some(t(9_000)),
            queue_depth: 4,
            last_heartbeat: None,
            pool: "default".into(),
        };
        s.upsert_agent(&a).await.unwrap();
        assert_eq!(s.get_agent(&AgentId::from("b-1")).await.unwrap(), a);
        a.agent.state = AgentState::Consolidating;
        a.agent.pin = None;
        a.pin_until = None;
        s.upsert_agent(&a).await.unwrap();
        let mut other = a.clone();
        other.agent.id = AgentId::from("a-0");
        s.upsert_agent(&other).await.unwrap();
        let all = s.list_agents().await.unwrap();
        assert_eq!(all, vec![other, a]);
        assert!(matches!(
            s.get_agent(&AgentId::from("nobody")).await,
            Err(StoreError::NotFound { .. })
        ));
        s.delete_agent(&AgentId::from("a-0")).await.unwrap();
        assert!(matches!(
            s.delete_agent(&AgentId::from("a-0")).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.list_agents().await.unwrap().len(), 1);
    }

    pub async fn agents_upsert_in_batches_and_list_back_exactly(ctx: Ctx) {
        let s = &ctx.store;
        // Ids that need escaping in the JSON the list is read through, and more agents than
        // one multi-row statement binds.
        let odd = ["quote\"d", "back\\slash", "ünïcødé-ü", "tab\there", "a'b"];
        let mut records: Vec<hivesched_store::AgentRecord> = (0..3_000)
            .map(|i| format!("agent-{i:05}"))
            .chain(odd.iter().map(|s| (*s).to_owned()))
            .enumerate()
            .map(|(i, id)| hivesched_store::AgentRecord {
                agent: Agent {
                    busy: i % 2 == 0,
                    idle_since: (i % 2 == 1).then(|| t(i as i64)),
                    context_tokens: i as u64 * 1_000,
                    pin: (i % 7 == 0).then_some(Pin::Awake),
                    ..Agent::awake(id.as_str(), t(10))
                },
                pin_until: (i % 7 == 0).then(|| t(50_000)),
                queue_depth: (i % 5) as u32,
                last_heartbeat: Some(t(20)),
                pool: "default".into(),
            })
            .collect();
        s.upsert_agents(&records).await.unwrap();
        records.sort_by(|a, b| a.agent.id.cmp(&b.agent.id));
        let listed = s.list_agents().await.unwrap();
        assert_eq!(listed.len(), records.len());
        let mut listed_sorted = listed.clone();
        listed_sorted.sort_by(|a, b| a.agent.id.cmp(&b.agent.id));
        assert_eq!(listed_sorted, records);
        for id in odd {
            let one = s.get_agent(&AgentId::from(id)).await.unwrap();
            assert_eq!(one.agent.id.0, id);
        }
        // A second batch replaces rows in place.
        for r in &mut records {
            r.agent.state = AgentState::Asleep;
        }
        s.upsert_agents(&records).await.unwrap();
        assert!(
            s.list_agents()
                .await
                .unwrap()
                .iter()
                .all(|r| r.agent.state == AgentState::Asleep)
        );
    }

    pub async fn targeted_agent_writes_leave_other_fields_alone(ctx: Ctx) {
        let s = &ctx.store;
        let base = hivesched_store::AgentRecord {
            agent: Agent::awake("x", t(10)),
            pin_until: None,
            queue_depth: 3,
            last_heartbeat: Some(t(20)),
            pool: "default".into(),
        };
        s.upsert_agent(&base).await.unwrap();
        // An operator pins the agent after a tick read it; the tick's write must not undo it.
        let pinned = s
            .set_agent_override(&AgentId::from("x"), Some(Pin::Awake), true, Some(t(1_000)))
            .await
            .unwrap();
        assert_eq!(pinned.agent.pin, Some(Pin::Awake));
        let mut observed = base.clone();
        observed.agent.state = AgentState::Asleep;
        observed.agent.busy = true;
        observed.queue_depth = 99;
        s.observe_agents(&[observed]).await.unwrap();
        let now = s.get_agent(&AgentId::from("x")).await.unwrap();
        assert_eq!(now.agent.state, AgentState::Asleep);
        assert!(now.agent.busy);
        assert_eq!(now.agent.pin, Some(Pin::Awake));
        assert!(now.agent.do_not_disrupt);
        assert_eq!((now.pin_until, now.queue_depth), (Some(t(1_000)), 3));
        // Not lapsed yet, then lapsed: pin and do-not-disrupt both end.
        assert!(s.clear_lapsed_overrides(t(999)).await.unwrap().is_empty());
        assert_eq!(
            s.clear_lapsed_overrides(t(1_000)).await.unwrap(),
            vec![AgentId::from("x")]
        );
        let cleared = s.get_agent(&AgentId::from("x")).await.unwrap();
        assert_eq!(
            (cleared.agent.pin, cleared.agent.do_not_disrupt),
            (None, false)
        );
        // A move touches only state and the movement times.
        s.note_agent_moved(&AgentId::from("x"), AgentState::Waking, t(2_000))
            .await
            .unwrap();
        let moved = s.get_agent(&AgentId::from("x")).await.unwrap();
        assert_eq!(moved.agent.state, AgentState::Waking);
        assert_eq!(moved.agent.last_wake, Some(t(2_000)));
        assert_eq!(moved.agent.last_transition, t(2_000));
        assert_eq!(moved.last_heartbeat, Some(t(20)));
        assert!(matches!(
            s.set_agent_override(&AgentId::from("nobody"), None, false, None)
                .await,
            Err(StoreError::NotFound { .. })
        ));
    }

    pub async fn heartbeats_follow_agent_semantics(ctx: Ctx) {
        let s = &ctx.store;
        let id = AgentId::from("x");
        // An operator flag set before the agent first reports must survive heartbeats.
        let mut rec = s
            .get_agent(&id)
            .await
            .err()
            .map(|_| hivesched_store::AgentRecord {
                agent: Agent::awake("x", t(0)),
                pin_until: None,
                queue_depth: 0,
                last_heartbeat: None,
                pool: "default".into(),
            });
        let pre = rec.as_mut().unwrap();
        pre.agent.do_not_disrupt = true;
        pre.agent.idle_since = None;
        s.upsert_agent(pre).await.unwrap();

        // Idle heartbeat: idle since then.
        s.record_heartbeats(&[beat("x", 1_000, AgentState::Awake, false)])
            .await
            .unwrap();
        let a = s.get_agent(&id).await.unwrap();
        assert_eq!(a.agent.idle_since, Some(t(1_000)));
        assert_eq!(
            a.agent.last_transition,
            t(0),
            "same state keeps transition time"
        );
        assert!(a.agent.do_not_disrupt);
        assert_eq!((a.queue_depth, a.agent.context_tokens), (3, 1200));
        assert_eq!(a.last_heartbeat, Some(t(1_000)));

        // Still idle later: idle_since is kept.
        s.record_heartbeats(&[beat("x", 2_000, AgentState::Awake, false)])
            .await
            .unwrap();
        assert_eq!(
            s.get_agent(&id).await.unwrap().agent.idle_since,
            Some(t(1_000))
        );

        // Busy clears idle_since; a state change moves last_transition.
        s.record_heartbeats(&[beat("x", 3_000, AgentState::PreparingSleep, true)])
            .await
            .unwrap();
        let a = s.get_agent(&id).await.unwrap();
        assert_eq!(a.agent.idle_since, None);
        assert!(a.agent.busy);
        assert_eq!(a.agent.state, AgentState::PreparingSleep);
        assert_eq!(a.agent.last_transition, t(3_000));

        // A late, older heartbeat is ignored.
        let changed = s
            .record_heartbeats(&[beat("x", 2_500, AgentState::Awake, false)])
            .await
            .unwrap();
        assert_eq!(changed, 0);
        assert_eq!(
            s.get_agent(&id).await.unwrap().agent.state,
            AgentState::PreparingSleep
        );

        // Unknown agents register; duplicates within a batch keep the newest.
        s.record_heartbeats(&[
            beat("new", 10, AgentState::Asleep, false),
            beat("new", 30, AgentState::Waking, false),
            beat("new", 20, AgentState::Awake, false),
        ])
        .await
        .unwrap();
        let n = s.get_agent(&AgentId::from("new")).await.unwrap();
        assert_eq!(n.agent.state, AgentState::Waking);
        assert_eq!(n.agent.last_transition, t(30));
        assert!(!n.agent.do_not_disrupt && n.agent.pin.is_none());
    }

    pub async fn heartbeats_take_ten_thousand_agents_in_one_batch(ctx: Ctx) {
        let s = &ctx.store;
        let beats: Vec<Heartbeat> = (0..10_000)
            .map(|i| {
                beat(
                    &format!("agent-{i:05}"),
                    1_000 + i,
                    AgentState::Awake,
                    i % 3 == 0,
                )
            })
            .collect();
        assert_eq!(s.record_heartbeats(&beats).await.unwrap(), 10_000);
        let later: Vec<Heartbeat> = beats
            .iter()
            .map(|b| Heartbeat {
                at: t(b.at.as_millis() + 10_000),
                state: AgentState::Asleep,
                ..b.clone()
            })
            .collect();
        assert_eq!(s.record_heartbeats(&later).await.unwrap(), 10_000);
        let all = s.list_agents().await.unwrap();
        assert_eq!(all.len(), 10_000);
        assert!(all.iter().all(|a| a.agent.state == AgentState::Asleep));
        assert_eq!(all[9_999].last_heartbeat, Some(t(1_000 + 9_999 + 10_000)));
    }

    pub async fn agent_events_round_trip(ctx: Ctx) {
        let s = &ctx.store;
        let events: Vec<NewAgentEvent> = (0..5)
            .map(|i| NewAgentEvent {
                at: t(100 * i),
                agent: AgentId::from(if i % 2 == 0 { "a" } else { "b" }),
                kind: "state_changed".into(),
                detail: json!({"i": i}),
            })
            .collect();
        s.record_agent_events(&events).await.unwrap();
        let a = s
            .list_agent_events(Some(&AgentId::from("a")), 10)
            .await
            .unwrap();
        assert_eq!(
            a.iter().map(|e| e.event.at).collect::<Vec<_>>(),
            vec![t(400), t(200), t(0)]
        );
        assert_eq!(a[0].event, events[4]);
        let all = s.list_agent_events(None, 2).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].event.at, t(400));
    }

    pub async fn demand_batches_and_ranges(ctx: Ctx) {
        let s = &ctx.store;
        assert_eq!(s.latest_demand().await.unwrap(), None);
        let samples: Vec<DemandSample> = (0..20_000)
            .map(|i| DemandSample {
                at: t(i * 60_000),
                value: i as f64 * 0.5,
            })
            .collect();
        s.insert_demand(&samples).await.unwrap();
        // Re-sending replaces; duplicates in one batch keep the last.
        s.insert_demand(&[
            DemandSample {
                at: t(60_000),
                value: 7.0,
            },
            DemandSample {
                at: t(60_000),
                value: 8.0,
            },
        ])
        .await
        .unwrap();
        let got = s.demand_range(t(0), t(3 * 60_000)).await.unwrap();
        assert_eq!(
            got.iter().map(|d| d.value).collect::<Vec<_>>(),
            vec![0.0, 8.0, 1.0]
        );
        assert_eq!(
            s.demand_range(t(0), t(i64::MAX)).await.unwrap().len(),
            20_000
        );
        assert_eq!(
            s.latest_demand().await.unwrap().unwrap().at,
            t(19_999 * 60_000)
        );
    }

    pub async fn forecasts_and_model_records_round_trip(ctx: Ctx) {
        let s = &ctx.store;
        assert!(s.latest_forecast().await.unwrap().is_none());
        for (i, model) in ["ets", "naive"].iter().enumerate() {
            let f = NewForecast {
                created_at: t(i as i64),
                model: (*model).into(),
                start: t(60_000),
                step_ms: 60_000,
                forecast: json!({"mean": [1.5, 2.5], "intervals": {"80": {"lo": [1.0], "hi": [2.0]}}}),
            };
            let id = s.insert_forecast(&f).await.unwrap();
            let latest = s.latest_forecast().await.unwrap().unwrap();
            assert_eq!((latest.id, &latest.forecast), (id, &f));
        }
        assert_eq!(s.purge_forecasts_before(t(1)).await.unwrap(), 1);
        for (i, model) in ["ets", "arima", "ets"].iter().enumerate() {
            s.insert_model_record(&NewModelRecord {
                created_at: t(i as i64),
                model: (*model).into(),
                parameters: json!({"alpha": 0.3}),
                accuracy: json!({"mase": 0.8 + i as f64}),
            })
            .await
            .unwrap();
        }
        let ets = s.list_model_records(Some("ets"), 10).await.unwrap();
        assert_eq!(ets.len(), 2);
        assert_eq!(ets[0].model.accuracy, json!({"mase": 2.8}));
        assert_eq!(s.list_model_records(None, 10).await.unwrap().len(), 3);
    }

    fn fleet_counts() -> hivesched_policy::FleetCounts {
        hivesched_policy::FleetCounts {
            total: 10,
            awake: 6,
            asleep: 4,
            ..Default::default()
        }
    }

    fn decision(at: i64, shadow: bool) -> Decision {
        Decision {
            at: t(at),
            mode: Mode::Normal,
            shadow,
            target_awake: 7,
            sleep_floor: 3,
            tier: Tier::Predictive,
            actions: vec![Action {
                agent: AgentId::from("a1"),
                kind: ActionKind::Sleep,
                tier: Tier::Predictive,
                reason: Reason::IdleBeyondBreakEven,
                delay_ms: 250,
                observed: false,
            }],
            blocked: vec![Blocked {
                agent: None,
                kind: ActionKind::Sleep,
                count: 2,
                reason: Reason::SleepRateLimited,
            }],
            explanation: "forecast falls; sleeping 1 of 3 idle agents".into(),
            sleep_hold: shadow.then_some(Reason::RestartHold),
        }
    }

    pub async fn decisions_round_trip_and_page_newest_first(ctx: Ctx) {
        let s = &ctx.store;
        // Two decisions share a timestamp: the id breaks the tie.
        for (i, at) in [100, 200, 200, 300, 400].iter().enumerate() {
            s.insert_decision(&decision(*at, i % 2 == 0), fleet_counts())
                .await
                .unwrap();
        }
        let page1 = s.list_decisions(None, 2).await.unwrap();
        assert_eq!(page1[0].decision, decision(400, true));
        let page2 = s.list_decisions(Some(page1[1].cursor()), 2).await.unwrap();
        let page3 = s.list_decisions(Some(page2[1].cursor()), 2).await.unwrap();
        let seen: Vec<i64> = page1
            .iter()
            .chain(&page2)
            .chain(&page3)
            .map(|r| r.decision.at.as_millis())
            .collect();
        assert_eq!(seen, vec![400, 300, 200, 200, 100]);
        assert!(page2[0].id > page2[1].id);
        // The fleet each decision saw, for savings: the one before the window covers its start.
        let usage = s.usage(t(150), t(500)).await.unwrap();
        assert_eq!(
            usage.iter().map(|u| u.at).collect::<Vec<_>>(),
            vec![t(100), t(200), t(200), t(300), t(400)]
        );
        assert!(
            usage
                .iter()
                .all(|u| (u.total, u.billed, u.planned) == (10, 6, 3))
        );
    }

    fn task(id: &str, key: &str, agent: &str, created: i64) -> NewTask {
        NewTask {
            id: id.into(),
            idempotency_key: key.into(),
            agent: AgentId::from(agent),
            kind: ActionKind::Sleep,
            bulk_id: None,
            stage: None,
            reason: "IdleBeyondBreakEven".into(),
            created_at: t(created),
        }
    }

    pub async fn task_idempotency_keys_are_unique(ctx: Ctx) {
        let s = &ctx.store;
        let first = s.insert_task(&task("t1", "k1", "a", 1)).await.unwrap();
        assert_eq!((first.status, first.attempts), (TaskStatus::Pending, 0));
        let err = s.insert_task(&task("t2", "k1", "b", 2)).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        let found = s.task_by_key("k1").await.unwrap().unwrap();
        assert_eq!(found.task.id, "t1");
        assert!(s.task_by_key("nope").await.unwrap().is_none());

        // Concurrent inserts of one key: exactly one wins.
        let mut handles = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                s.insert_task(&task(&format!("race{i}"), "shared", "a", 3))
                    .await
            }));
        }
        let mut wins = 0;
        for h in handles {
            match h.await.unwrap() {
                Ok(_) => wins += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(wins, 1);
    }

    pub async fn finished_wakes_are_listed_by_when_they_finished(ctx: Ctx) {
        let s = &ctx.store;
        let wake = |id: &str, agent: &str| NewTask {
            kind: ActionKind::Wake,
            ..task(id, id, agent, 1)
        };
        for (id, agent) in [("w1", "a"), ("w2", "b"), ("w3", "c"), ("w4", "d")] {
            s.insert_task(&wake(id, agent)).await.unwrap();
            s.transition_task(id, TaskStatus::Running, None, None, t(2))
                .await
                .unwrap();
        }
        s.insert_task(&task("s1", "s1", "e", 1)).await.unwrap();
        s.transition_task("s1", TaskStatus::Running, None, None, t(2))
            .await
            .unwrap();
        s.transition_task("w1", TaskStatus::Succeeded, None, None, t(10))
            .await
            .unwrap();
        s.transition_task("w2", TaskStatus::Failed, Some("503"), None, t(20))
            .await
            .unwrap();
        s.transition_task("w3", TaskStatus::Failed, Some("503"), None, t(40))
            .await
            .unwrap();
        s.transition_task("s1", TaskStatus::Failed, Some("503"), None, t(20))
            .await
            .unwrap();
        // w4 is still running; s1 is a sleep; w3 finished after the window.
        let got = s.finished_wakes(t(5), t(30)).await.unwrap();
        assert_eq!(
            got,
            vec![(AgentId::from("a"), false), (AgentId::from("b"), true)]
        );
        assert!(s.finished_wakes(t(40), t(50)).await.unwrap().is_empty());
    }

    pub async fn pools_keep_their_own_agents_demand_decisions_tasks_and_marks(ctx: Ctx) {
        let default = &ctx.store;
        let gpu = default.in_pool("gpu");
        assert_eq!((default.pool_name(), gpu.pool_name()), ("default", "gpu"));
        assert_eq!(default.pools().await.unwrap(), vec!["default".to_string()]);
        gpu.ensure_pool().await.unwrap();
        gpu.ensure_pool().await.unwrap();
        assert_eq!(default.pools().await.unwrap(), ["default", "gpu"]);
        // Heartbeats put agents in the handle's pool; a later one in another pool moves it.
        let beat = |id: &str, at: i64| Heartbeat {
            agent: AgentId::from(id),
            at: t(at),
            state: AgentState::Awake,
            busy: false,
            queue_depth: 0,
            context_tokens: 0,
            tasks: None,
        };
        default
            .record_heartbeats(&[beat("a", 1), beat("b", 1)])
            .await
            .unwrap();
        gpu.record_heartbeats(&[beat("g1", 1), beat("b", 2)])
            .await
            .unwrap();
        let ids = |v: Vec<hivesched_store::AgentRecord>| {
            v.into_iter()
                .map(|r| (r.agent.id.0, r.pool))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(default.list_pool_agents().await.unwrap()),
            [("a".to_string(), "default".to_string())]
        );
        assert_eq!(
            ids(gpu.list_pool_agents().await.unwrap()),
            [("b".into(), "gpu".into()), ("g1".into(), "gpu".into())]
        );
        assert_eq!(default.list_agents().await.unwrap().len(), 3);
        assert_eq!(
            default.get_agent(&AgentId::from("g1")).await.unwrap().pool,
            "gpu"
        );
        let outside = default.agent_ids_outside_pool().await.unwrap();
        assert!(outside.contains(&AgentId::from("g1")) && !outside.contains(&AgentId::from("a")));
        // One demand series per pool, with the same times in both.
        let d = |at: i64, value: f64| DemandSample { at: t(at), value };
        default
            .insert_demand(&[d(0, 1.0), d(60_000, 2.0)])
            .await
            .unwrap();
        gpu.insert_demand(&[d(0, 10.0), d(60_000, 20.0)])
            .await
            .unwrap();
        gpu.insert_demand(&[d(60_000, 30.0)]).await.unwrap();
        let values = |v: Vec<DemandSample>| v.into_iter().map(|s| s.value).collect::<Vec<_>>();
        assert_eq!(
            values(default.demand_range(t(0), t(120_000)).await.unwrap()),
            [1.0, 2.0]
        );
        assert_eq!(
            values(gpu.demand_range(t(0), t(120_000)).await.unwrap()),
            [10.0, 30.0]
        );
        assert_eq!(gpu.latest_demand().await.unwrap().unwrap().value, 30.0);
        // Decisions and the usage they imply are the pool's own.
        default
            .insert_decision(&decision(1_000, false), fleet_counts())
            .await
            .unwrap();
        gpu.insert_decision_fenced(&decision(2_000, false), fleet_counts(), Some(5))
            .await
            .unwrap();
        assert_eq!(default.list_decisions(None, 10).await.unwrap().len(), 1);
        let g = gpu.list_decisions(None, 10).await.unwrap();
        assert_eq!((g.len(), g[0].decision.at), (1, t(2_000)));
        assert_eq!(gpu.usage(t(0), t(10_000)).await.unwrap().len(), 1);
        // Each pool's fencing mark is its own: a gpu leader at 5 leaves default at 0, and a
        // default leader's token 1 is not refused for it.
        assert_eq!(
            (
                default.fencing_mark().await.unwrap(),
                gpu.fencing_mark().await.unwrap()
            ),
            (0, 5)
        );
        default
            .insert_task_fenced(&task("t1", "k1", "a", 1), Some(1))
            .await
            .unwrap();
        assert!(matches!(
            gpu.insert_task_fenced(&task("t2", "k2", "g1", 1), Some(4))
                .await,
            Err(StoreError::Fenced { token: 4, .. })
        ));
        gpu.insert_task_fenced(&task("t3", "k3", "g1", 2), Some(5))
            .await
            .unwrap();
        let open = |v: Vec<hivesched_store::TaskRecord>| {
            v.into_iter().map(|r| r.task.id).collect::<Vec<_>>()
        };
        assert_eq!(open(default.unfinished_tasks().await.unwrap()), ["t1"]);
        assert_eq!(open(gpu.unfinished_tasks().await.unwrap()), ["t3"]);
        // A pool nobody recorded has mark 0 and refuses guarded writes until recorded.
        let fresh = default.in_pool("fresh");
        assert_eq!(fresh.fencing_mark().await.unwrap(), 0);
        assert!(fresh.claim_fencing(1).await.is_err());
        fresh.ensure_pool().await.unwrap();
        fresh.claim_fencing(1).await.unwrap();
        // Agents may create pools up to a limit; known pools are always fine.
        assert!(matches!(
            default.in_pool("one-too-many").ensure_pool_within(3).await,
            Err(StoreError::Conflict { .. })
        ));
        gpu.ensure_pool_within(1).await.unwrap();
        assert_eq!(default.pools().await.unwrap().len(), 3);
    }

    pub async fn a_deposed_leaders_writes_are_fenced_and_do_not_land(ctx: Ctx) {
        let s = &ctx.store;
        assert_eq!(s.fencing_mark().await.unwrap(), 0);
        // Leader 1 writes; leader 2 takes over and claims the mark before writing anything.
        s.insert_decision_fenced(&decision(1_000, false), fleet_counts(), Some(1))
            .await
            .unwrap();
        let old = s
            .insert_task_fenced(&task("t1", "k1", "a", 1), Some(1))
            .await
            .unwrap();
        assert_eq!(old.fencing_token, Some(1));
        s.claim_fencing(2).await.unwrap();
        assert_eq!(s.fencing_mark().await.unwrap(), 2);
        // Every guarded write of leader 1 now fails, and nothing of it is stored.
        let fenced =
            |r: Result<_, StoreError>| matches!(r, Err(StoreError::Fenced { token: 1, .. }));
        assert!(fenced(
            s.insert_decision_fenced(&decision(2_000, false), fleet_counts(), Some(1))
                .await
                .map(|_| ())
        ));
        assert_eq!(s.list_decisions(None, 10).await.unwrap().len(), 1);
        assert!(fenced(
            s.insert_task_fenced(&task("t2", "k2", "b", 2), Some(1))
                .await
                .map(|_| ())
        ));
        assert!(s.task_by_key("k2").await.unwrap().is_none());
        assert!(fenced(
            s.transition_task("t1", TaskStatus::Running, None, Some(1), t(3))
                .await
                .map(|_| ())
        ));
        assert!(fenced(
            s.refuse_task("t1", Reason::MinAwake, Some(1), t(3))
                .await
                .map(|_| ())
        ));
        assert_eq!(s.task("t1").await.unwrap().status, TaskStatus::Pending);
        assert!(fenced(s.claim_fencing(1).await));
        // The new leader takes the task over; the mark never goes down.
        let r = s
            .transition_task("t1", TaskStatus::Running, None, Some(2), t(4))
            .await
            .unwrap();
        assert_eq!((r.status, r.fencing_token), (TaskStatus::Running, Some(2)));
        s.claim_fencing(2).await.unwrap();
        assert_eq!(s.fencing_mark().await.unwrap(), 2);
    }

    pub async fn task_lifecycle_is_compare_and_set_with_fencing(ctx: Ctx) {
        let s = &ctx.store;
        s.insert_task(&task("t", "k", "a", 1)).await.unwrap();
        let r = s
            .transition_task("t", TaskStatus::Running, None, Some(5), t(2))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.attempts, r.fencing_token),
            (TaskStatus::Running, 1, Some(5))
        );
        // A retry is another attempt.
        let r = s
            .transition_task("t", TaskStatus::Running, Some("timeout"), Some(5), t(3))
            .await
            .unwrap();
        assert_eq!(r.attempts, 2);
        // A deposed leader (older token) cannot finish it: the pool's fencing mark refuses it
        // before the task's own token is looked at.
        let err = s
            .transition_task("t", TaskStatus::Succeeded, None, Some(4), t(4))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Fenced { token: 4, .. }), "{err}");
        let r = s
            .transition_task("t", TaskStatus::Failed, Some("503"), Some(6), t(5))
            .await
            .unwrap();
        assert_eq!(
            (r.status, r.error.as_deref(), r.fencing_token, r.updated_at),
            (TaskStatus::Failed, Some("503"), Some(6), t(5))
        );
        // Finished is final: no second outcome, no restart.
        for to in [
            TaskStatus::Succeeded,
            TaskStatus::Running,
            TaskStatus::Pending,
        ] {
            assert!(matches!(
                s.transition_task("t", to, None, Some(7), t(6)).await,
                Err(StoreError::Conflict { .. })
            ));
        }
        assert!(matches!(
            s.transition_task("ghost", TaskStatus::Running, None, None, t(6))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        // Succeeded can be rolled back, once.
        s.insert_task(&task("u", "ku", "b", 1)).await.unwrap();
        s.transition_task("u", TaskStatus::Running, None, None, t(2))
            .await
            .unwrap();
        s.transition_task("u", TaskStatus::Succeeded, None, None, t(3))
            .await
            .unwrap();
        s.transition_task("u", TaskStatus::RolledBack, None, None, t(4))
            .await
            .unwrap();
        assert!(
            s.transition_task("u", TaskStatus::RolledBack, None, None, t(5))
                .await
                .is_err()
        );
    }

    pub async fn unfinished_tasks_are_listed_for_recovery(ctx: Ctx) {
        let s = &ctx.store;
        for (i, end) in [
            None,
            Some(TaskStatus::Running),
            Some(TaskStatus::Succeeded),
            Some(TaskStatus::Failed),
            Some(TaskStatus::Cancelled),
        ]
        .iter()
        .enumerate()
        {
            let id = format!("t{i}");
            s.insert_task(&task(&id, &format!("k{i}"), "a", i as i64))
                .await
                .unwrap();
            if let Some(end) = end {
                s.transition_task(&id, TaskStatus::Running, None, None, t(10))
                    .await
                    .unwrap();
                if *end != TaskStatus::Running {
                    s.transition_task(&id, *end, None, None, t(11))
                        .await
                        .unwrap();
                }
            }
        }
        let open = s.unfinished_tasks().await.unwrap();
        assert_eq!(
            open.iter()
                .map(|r| (r.task.id.as_str(), r.status))
                .collect::<Vec<_>>(),
            vec![("t0", TaskStatus::Pending), ("t1", TaskStatus::Running)]
        );
        let failed = s
            .list_tasks(&TaskFilter {
                status: Some(TaskStatus::Failed),
                ..TaskFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(failed.len(), 1);
        let by_agent = s
            .list_tasks(&TaskFilter {
                agent: Some(AgentId::from("a")),
                limit: 2,
                ..TaskFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(
            by_agent
                .iter()
                .map(|r| r.task.id.as_str())
                .collect::<Vec<_>>(),
            vec!["t4", "t3"]
        );
    }

    pub async fn bulk_operations_track_their_tasks(ctx: Ctx) {
        let s = &ctx.store;
        let op = NewBulkOperation {
            id: "bulk-1".into(),
            kind: ActionKind::Sleep,
            strategy: BulkStrategy::Staged,
            spec: json!({"agents": ["a", "b", "c", "d"], "stages": [2, 2]}),
            actor: "alice".into(),
            created_at: t(1),
        };
        let rec = s.insert_bulk(&op).await.unwrap();
        assert_eq!((rec.status, &rec.operation), (TaskStatus::Pending, &op));
        assert!(matches!(
            s.insert_bulk(&op).await,
            Err(StoreError::Conflict { .. })
        ));
        // A task must name an existing bulk operation.
        let mut orphan = task("o", "ko", "a", 1);
        orphan.bulk_id = Some("missing".into());
        assert!(s.insert_task(&orphan).await.is_err());
        for (i, agent) in ["a", "b", "c", "d"].iter().enumerate() {
            let mut tk = task(&format!("b{i}"), &format!("bulk-1/{agent}"), agent, 2);
            tk.bulk_id = Some("bulk-1".into());
            tk.stage = Some(i as u32 / 2);
            s.insert_task(&tk).await.unwrap();
        }
        s.transition_bulk("bulk-1", TaskStatus::Running, t(3))
            .await
            .unwrap();
        for (id, end) in [("b0", TaskStatus::Failed), ("b1", TaskStatus::Succeeded)] {
            s.transition_task(id, TaskStatus::Running, None, None, t(4))
                .await
                .unwrap();
            s.transition_task(id, end, None, None, t(5)).await.unwrap();
        }
        let stage0 = s.bulk_status_counts("bulk-1", Some(0)).await.unwrap();
        assert_eq!(
            stage0,
            vec![(TaskStatus::Failed, 1), (TaskStatus::Succeeded, 1)]
        );
        let all = s.bulk_status_counts("bulk-1", None).await.unwrap();
        assert_eq!(all.iter().map(|(_, n)| n).sum::<u64>(), 4);
        let tasks = s
            .list_tasks(&TaskFilter {
                bulk_id: Some("bulk-1".into()),
                ..TaskFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(tasks.len(), 4);
        assert_eq!(s.list_bulks(true, 10).await.unwrap().len(), 1);
        s.transition_bulk("bulk-1", TaskStatus::Failed, t(6))
            .await
            .unwrap();
        assert!(s.list_bulks(true, 10).await.unwrap().is_empty());
        assert_eq!(s.bulk("bulk-1").await.unwrap().updated_at, t(6));
        assert!(matches!(
            s.transition_bulk("bulk-1", TaskStatus::Succeeded, t(7))
                .await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            s.bulk("nope").await,
            Err(StoreError::NotFound { .. })
        ));
    }

    pub async fn alerts_fire_resolve_and_list(ctx: Ctx) {
        use hivesched_policy::alerts::{Alert, AlertState, Rule, Severity};
        let s = &ctx.store;
        let alert = |i: usize, sev| Alert {
            id: format!("al{i}"),
            rule: Rule::RailBlocking,
            labels: [("reason".to_owned(), format!("r{i}"))].into(),
            severity: sev,
            summary: "the rail keeps holding actions back".into(),
            value: Some(i as f64),
            state: AlertState::Firing,
            fired_at: t(i as i64 * 10),
            acknowledged: None,
            resolved_at: None,
        };
        for (i, sev) in [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .enumerate()
        {
            s.fire_alert(&alert(i, sev)).await.unwrap();
        }
        let newest = s.list_alerts(None, 1).await.unwrap().remove(0);
        assert_eq!(newest, alert(2, Severity::Critical));
        assert!(matches!(
            s.fire_alert(&newest).await,
            Err(StoreError::Conflict { .. })
        ));
        let acked = s.acknowledge_alert("al0", "alice", t(40)).await.unwrap();
        assert_eq!(acked.acknowledged, Some((t(40), "alice".to_owned())));
        assert_eq!(acked.state, AlertState::Acknowledged);
        assert!(matches!(
            s.acknowledge_alert("al0", "bob", t(41)).await,
            Err(StoreError::Conflict { .. })
        ));
        s.resolve_alert(&alert(1, Severity::Warning), t(50))
            .await
            .unwrap();
        assert!(matches!(
            s.resolve_alert(&alert(1, Severity::Warning), t(60)).await,
            Err(StoreError::NotFound { .. })
        ));
        let open = s.open_alerts().await.unwrap();
        assert_eq!(
            open.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
            vec!["al0", "al2"]
        );
        let resolved = s.list_alerts(Some(AlertState::Resolved), 10).await.unwrap();
        assert_eq!(resolved[0].resolved_at, Some(t(50)));
    }

    fn audit(i: i64) -> NewAuditRecord {
        NewAuditRecord {
            at: t(i),
            actor: format!("user{}", i % 3),
            action: "config.update".into(),
            target: "config".into(),
            before: json!({"shadow": true, "n": i}),
            after: json!({"shadow": false, "n": i, "note": "ünïcödé"}),
            reason: "go live".into(),
        }
    }

    pub async fn audit_chain_survives_concurrent_appends(ctx: Ctx) {
        let s = &ctx.store;
        let mut handles = Vec::new();
        for w in 0..4 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..10 {
                    s.append_audit(&audit(w * 100 + i)).await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(
            v,
            AuditVerification {
                checked: 40,
                unverified: 0,
                first_broken: None,
                problem: None
            }
        );
        let newest = s.list_audit(None, 5).await.unwrap();
        assert_eq!(newest[0].seq, 40);
        assert_eq!(s.audit_head().await.unwrap().unwrap().1, newest[0].hash);
        let older = s.list_audit(Some(newest[4].seq), 100).await.unwrap();
        assert_eq!(older.len(), 35);
        assert_eq!(
            older.last().unwrap().prev_hash,
            hivesched_store::audit::GENESIS_HASH
        );
    }

    pub async fn audit_verify_finds_tampered_and_deleted_rows(ctx: Ctx) {
        let s = &ctx.store;
        for i in 1..=6 {
            let r = s.append_audit(&audit(i)).await.unwrap();
            assert_eq!(r.record, audit(i));
        }
        assert_eq!(s.verify_audit_chain().await.unwrap().first_broken, None);
        sqlx::query("UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 4")
            .execute(s.pool())
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!((v.checked, v.first_broken), (3, Some(4)));
        assert!(v.problem.unwrap().contains("content"));
        // Changing the JSON text, even to an equivalent document, is tampering too.
        sqlx::query("UPDATE audit_log SET reason = 'go live' WHERE seq = 4")
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(s.verify_audit_chain().await.unwrap().first_broken, None);
        sqlx::query("UPDATE audit_log SET after_json = ' ' || after_json WHERE seq = 5")
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(s.verify_audit_chain().await.unwrap().first_broken, Some(5));
        sqlx::query("DELETE FROM audit_log WHERE seq = 2")
            .execute(s.pool())
            .await
            .unwrap();
        let v = s.verify_audit_chain().await.unwrap();
        assert_eq!(v.first_broken, Some(3));
        assert!(v.problem.unwrap().contains("expected seq 2"));
    }

    pub async fn codes_are_single_use_under_concurrent_consumers(ctx: Ctx) {
        let s = &ctx.store;
        for round in 0..5 {
            let code = format!("code-{round}-Zx81");
            s.store_code(&NewCode {
                code: &code,
                purpose: "emergency",
                created_by: "admin",
                created_at: t(0),
                expires_at: t(60_000),
            })
            .await
            .unwrap();
            let mut handles = Vec::new();
            for c in 0..16 {
                let s = s.clone();
                let code = code.clone();
                handles.push(tokio::spawn(async move {
                    s.consume_code(&code, "emergency", &format!("op{c}"), t(1_000))
                        .await
                        .unwrap()
                }));
            }
            let mut wins = 0;
            for h in handles {
                wins += usize::from(h.await.unwrap());
            }
            assert_eq!(wins, 1, "round {round} ({:?})", ctx.target);
        }
        let stored: i64 = {
            use sqlx::Row;
            sqlx::query("SELECT COUNT(*) AS n FROM auth_codes WHERE code_hash LIKE '%code%'")
                .fetch_one(s.pool())
                .await
                .unwrap()
                .get("n")
        };
        assert_eq!(stored, 0, "codes are stored hashed, never in clear");
    }

    pub async fn codes_expire_and_keep_to_their_purpose(ctx: Ctx) {
        let s = &ctx.store;
        let new = |code: &'static str, expires| NewCode {
            code,
            purpose: "emergency",
            created_by: "admin",
            created_at: t(0),
            expires_at: t(expires),
        };
        s.store_code(&new("old", 100)).await.unwrap();
        s.store_code(&new("fresh", 10_000)).await.unwrap();
        assert!(matches!(
            s.store_code(&new("fresh", 10_000)).await,
            Err(StoreError::Conflict { .. })
        ));
        assert!(
            !s.consume_code("old", "emergency", "op", t(100))
                .await
                .unwrap()
        );
        assert!(
            !s.consume_code("fresh", "resume", "op", t(50))
                .await
                .unwrap()
        );
        assert!(
            !s.consume_code("unknown", "emergency", "op", t(50))
                .await
                .unwrap()
        );
        assert!(
            s.consume_code("fresh", "emergency", "op", t(50))
                .await
                .unwrap()
        );
        assert!(
            !s.consume_code("fresh", "emergency", "op", t(51))
                .await
                .unwrap()
        );
        assert_eq!(s.purge_expired_codes(t(5_000)).await.unwrap(), 1);
    }

    pub async fn tokens_can_be_revoked(ctx: Ctx) {
        let s = &ctx.store;
        assert!(!s.is_token_revoked("jti-1").await.unwrap());
        s.revoke_token("jti-1", t(1_000), "leaked", t(10))
            .await
            .unwrap();
        s.revoke_token("jti-1", t(1_000), "again", t(20))
            .await
            .unwrap();
        s.revoke_token("jti-2", t(5_000), "rotated", t(10))
            .await
            .unwrap();
        assert!(s.is_token_revoked("jti-1").await.unwrap());
        assert_eq!(s.revoked_token_ids().await.unwrap(), vec!["jti-1", "jti-2"]);
        assert_eq!(s.purge_expired_revocations(t(1_000)).await.unwrap(), 1);
        assert!(!s.is_token_revoked("jti-1").await.unwrap());
    }

    pub async fn flags_are_versioned_with_history(ctx: Ctx) {
        let s = &ctx.store;
        assert!(s.get_flag("predictive").await.unwrap().is_none());
        let v1 = s
            .put_flag(
                "predictive",
                &json!({"percent": 1}),
                0,
                "alice",
                "start",
                t(1),
            )
            .await
            .unwrap();
        let v2 = s
            .put_flag(
                "predictive",
                &json!({"percent": 5}),
                v1,
                "ladder",
                "step",
                t(2),
            )
            .await
            .unwrap();
        assert_eq!((v1, v2), (1, 2));
        for stale in [0, 1, 5] {
            assert!(matches!(
                s.put_flag("predictive", &json!({}), stale, "bob", "stale", t(3))
                    .await,
                Err(StoreError::Conflict { .. })
            ));
        }
        let f = s.get_flag("predictive").await.unwrap().unwrap();
        assert_eq!(
            (f.version, f.state, f.updated_by.as_str()),
            (2, json!({"percent": 5}), "ladder")
        );
        let hist = s.flag_history("predictive", 10).await.unwrap();
        assert_eq!(
            hist.iter()
                .map(|h| (h.version, h.reason.as_str()))
                .collect::<Vec<_>>(),
            vec![(2, "step"), (1, "start")]
        );
        assert_eq!(s.list_flags().await.unwrap().len(), 1);
    }

    pub async fn retention_removes_only_old_rows(ctx: Ctx) {
        let s = &ctx.store;
        const DAY: i64 = 86_400_000;
        // Three days of data at 2026-11-01 .. 03, every 10 minutes, plus a row far in the past.
        let base = 20_758 * DAY;
        let times: Vec<i64> = std::iter::once(1_000)
            .chain((0..3 * 144).map(|i| base + i * 600_000))
            .collect();
        s.ensure_partitions(t(base), t(base + 2 * DAY))
            .await
            .unwrap();
        s.insert_demand(
            &times
                .iter()
                .map(|&ts| DemandSample {
                    at: t(ts),
                    value: 1.0,
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        for &ts in &times {
            s.insert_decision(&decision(ts, true), fleet_counts())
                .await
                .unwrap();
        }
        s.record_agent_events(
            &times
                .iter()
                .map(|&ts| NewAgentEvent {
                    at: t(ts),
                    agent: AgentId::from("a"),
                    kind: "heartbeat".into(),
                    detail: json!(null),
                })
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
        // Keep from the middle of day two on.
        let cutoff = base + DAY + DAY / 2;
        let expected_left = times.iter().filter(|&&ts| ts >= cutoff).count();
        for table in RetainedTable::PARTITIONED {
            let report = s.purge_older_than(table, t(cutoff)).await.unwrap();
            if ctx.target == Target::Postgres {
                // Day one went as a whole partition; the rest of the old rows by delete.
                // (Partitions made on connect for days before the cutoff go too.)
                let day_one = format!("{}_p20261101", table.table_name());
                assert!(report.partitions_dropped.contains(&day_one), "{report:?}");
                assert!(
                    s.partitions(table)
                        .await
                        .unwrap()
                        .iter()
                        .all(|p| *p > day_one)
                );
                assert_eq!(report.rows_deleted, 1 + 72);
            } else {
                assert!(report.partitions_dropped.is_empty());
                assert_eq!(report.rows_deleted as usize, times.len() - expected_left);
            }
        }
        let left = s.demand_range(t(0), t(i64::MAX)).await.unwrap();
        assert_eq!(left.len(), expected_left);
        assert!(left.iter().all(|d| d.at.as_millis() >= cutoff));
        assert_eq!(
            s.list_decisions(None, 10_000).await.unwrap().len(),
            expected_left
        );
        assert_eq!(
            s.list_agent_events(None, 10_000).await.unwrap().len(),
            expected_left
        );
        // Nothing old is left to purge.
        let again = s
            .purge_older_than(RetainedTable::Decisions, t(cutoff))
            .await
            .unwrap();
        assert_eq!(again.rows_deleted, 0);
    }

    pub async fn retention_purges_task_reports_and_flag_decisions(ctx: Ctx) {
        let s = &ctx.store;
        let times = [1_000i64, 2_000, 3_000, 4_000];
        for &at in &times {
            let mut b = beat("a", at, AgentState::Awake, true);
            b.tasks = Some(hivesched_store::TaskCounters {
                completed: 5,
                failed: 1,
                latency_p99_ms: Some(100.0),
            });
            s.record_heartbeats(&[b]).await.unwrap();
        }
        s.create_flag("f", &json!({}), &json!({}), "ops", "start", t(0))
            .await
            .unwrap();
        let mut version = s.get_rollout("f").await.unwrap().unwrap().version;
        for &at in &times {
            version = s
                .save_rollout(
                    "f",
                    &json!({}),
                    version,
                    t(at),
                    &hivesched_store::NewFlagDecision {
                        key: "f".into(),
                        revision: 1,
                        at: t(at),
                        action: "hold".into(),
                        actor: "hivesched".into(),
                        decision: json!({}),
                        observations: json!(null),
                    },
                )
                .await
                .unwrap();
        }
        for table in [RetainedTable::TaskReports, RetainedTable::FlagDecisions] {
            assert!(!table.partitioned());
            let report = s.purge_older_than(table, t(3_000)).await.unwrap();
            assert_eq!(report.rows_deleted, 2, "{table:?}");
            assert!(report.partitions_dropped.is_empty());
        }
        let left = s.task_reports(t(0), t(10_000)).await.unwrap();
        assert_eq!(
            left.iter().map(|r| r.at.as_millis()).collect::<Vec<_>>(),
            [3_000, 4_000]
        );
        let decisions = s.flag_decisions("f", 10).await.unwrap();
        assert_eq!(decisions.len(), 2);
        assert!(decisions.iter().all(|d| d.decision.at.as_millis() >= 3_000));
    }
}
