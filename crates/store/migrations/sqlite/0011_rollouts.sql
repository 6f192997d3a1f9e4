-- Progressive rollouts (issue 12). A flag's definition stays in feature_flags.state (versioned,
-- with its history); its rollout state gets its own row and version, so the evaluator's steps
-- and the operators' commands do not race edits of the definition. Every decision is kept with
-- the evidence behind it, and the task counters agents report are kept per heartbeat: they are
-- deltas, and the guardrails judge the window since the previous check.
CREATE TABLE flag_rollouts (
    flag_key   TEXT   PRIMARY KEY,
    state      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    checked_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE flag_decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_key     TEXT   NOT NULL,
    revision     BIGINT NOT NULL,
    ts           BIGINT NOT NULL,
    action       TEXT   NOT NULL,
    actor        TEXT   NOT NULL,
    decision     TEXT   NOT NULL,
    observations TEXT   NOT NULL
);
CREATE INDEX flag_decisions_key ON flag_decisions (flag_key, id);

CREATE TABLE agent_task_reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id       TEXT   NOT NULL,
    ts             BIGINT NOT NULL,
    completed      BIGINT NOT NULL,
    failed         BIGINT NOT NULL,
    latency_p99_ms DOUBLE PRECISION
);
CREATE INDEX agent_task_reports_ts ON agent_task_reports (ts);
