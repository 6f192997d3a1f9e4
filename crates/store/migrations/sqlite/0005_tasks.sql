-- The automation task journal (written before the actuator is called) and bulk operations.
CREATE TABLE bulk_operations (
    id         TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('sleep', 'wake')),
    strategy   TEXT   NOT NULL CHECK (strategy IN ('sequential', 'parallel', 'staged')),
    spec       TEXT   NOT NULL,
    status     TEXT   NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back', 'cancelled')),
    actor      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE tasks (
    id              TEXT   PRIMARY KEY,
    idempotency_key TEXT   NOT NULL UNIQUE,
    agent_id        TEXT   NOT NULL,
    kind            TEXT   NOT NULL CHECK (kind IN ('sleep', 'wake')),
    bulk_id         TEXT   REFERENCES bulk_operations (id),
    stage           BIGINT,
    status          TEXT   NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back', 'cancelled')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    fencing_token   BIGINT,
    reason          TEXT   NOT NULL,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX tasks_status ON tasks (status, created_at);
CREATE INDEX tasks_bulk ON tasks (bulk_id, stage);
