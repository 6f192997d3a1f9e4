-- The admission gate's records: tasks the gate refused (status `refused`, the reason in
-- `refusal`), when a task first called the fleet (`started_at`: the sleep-rate and scale-down
-- rails count sleeps from it, so a restart cannot reset them), the fleet-wide controls as their
-- own durable state, and which MAC protects each audit record.
CREATE TABLE tasks_v9 (
    id              TEXT   PRIMARY KEY,
    idempotency_key TEXT   NOT NULL UNIQUE,
    agent_id        TEXT   NOT NULL,
    kind            TEXT   NOT NULL CHECK (kind IN ('sleep', 'wake')),
    bulk_id         TEXT   REFERENCES bulk_operations (id),
    stage           BIGINT,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back', 'cancelled', 'refused')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    fencing_token   BIGINT,
    reason          TEXT   NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    refusal         TEXT,
    started_at      BIGINT
);
INSERT INTO tasks_v9 (id, idempotency_key, agent_id, kind, bulk_id, stage, status, attempts,
                      fencing_token, reason, error, created_at, updated_at, refusal, started_at)
SELECT id, idempotency_key, agent_id, kind, bulk_id, stage, status, attempts, fencing_token,
       reason, error, created_at, updated_at, NULL,
       CASE WHEN attempts > 0 THEN updated_at ELSE NULL END
FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_v9 RENAME TO tasks;
CREATE INDEX tasks_status ON tasks (status, created_at);
CREATE INDEX tasks_bulk ON tasks (bulk_id, stage);
CREATE INDEX tasks_started ON tasks (kind, started_at);

CREATE TABLE controls (
    name       TEXT   PRIMARY KEY CHECK (name IN ('emergency', 'pause')),
    value      TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE audit_log ADD COLUMN mac TEXT NOT NULL DEFAULT 'sha256' CHECK (mac IN ('sha256', 'hmac-sha256'));

-- Why a decision held every sleep (restart hold, fail-safe), as the gate applies it.
ALTER TABLE decisions ADD COLUMN sleep_hold TEXT;
