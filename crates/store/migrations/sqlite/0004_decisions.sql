-- One row per scheduling tick: what was decided, what the rails held back, and why.
CREATE TABLE decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    ts           BIGINT NOT NULL,
    mode         TEXT   NOT NULL,
    shadow       BIGINT NOT NULL,
    tier         TEXT   NOT NULL,
    target_awake BIGINT NOT NULL,
    sleep_floor  BIGINT NOT NULL,
    actions      TEXT   NOT NULL,
    blocked      TEXT   NOT NULL,
    explanation  TEXT   NOT NULL
);
CREATE INDEX decisions_ts ON decisions (ts, id);
