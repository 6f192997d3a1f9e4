-- The admission gate's records: tasks the gate refused (status `refused`, the reason in
-- `refusal`), when a task first called the fleet (`started_at`: the sleep-rate and scale-down
-- rails count sleeps from it, so a restart cannot reset them), the fleet-wide controls as their
-- own durable state, and which MAC protects each audit record.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'rolled_back', 'cancelled', 'refused'));
ALTER TABLE tasks ADD COLUMN refusal TEXT;
ALTER TABLE tasks ADD COLUMN started_at BIGINT;
UPDATE tasks SET started_at = updated_at WHERE attempts > 0;
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
