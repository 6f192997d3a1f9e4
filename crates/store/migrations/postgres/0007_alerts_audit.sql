-- Alerts, and the hash-chained audit log (seq is assigned by the writer: prev.seq + 1, so a
-- concurrent append loses on the primary key instead of forking the chain).
CREATE TABLE alerts (
    id          TEXT   PRIMARY KEY,
    severity    TEXT   NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    rule        TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    fired_at    BIGINT NOT NULL,
    resolved_at BIGINT
);
CREATE INDEX alerts_fired ON alerts (fired_at);

CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    ts          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    before_json TEXT   NOT NULL,
    after_json  TEXT   NOT NULL,
    reason      TEXT   NOT NULL,
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL
);
