-- One row per scheduling tick: what was decided, what the rails held back, and why.
-- High volume: range-partitioned by day on ts.
CREATE TABLE decisions (
    id           BIGSERIAL,
    ts           BIGINT NOT NULL,
    mode         TEXT   NOT NULL,
    shadow       BIGINT NOT NULL,
    tier         TEXT   NOT NULL,
    target_awake BIGINT NOT NULL,
    sleep_floor  BIGINT NOT NULL,
    actions      TEXT   NOT NULL,
    blocked      TEXT   NOT NULL,
    explanation  TEXT   NOT NULL,
    PRIMARY KEY (ts, id)
) PARTITION BY RANGE (ts);
CREATE TABLE decisions_default PARTITION OF decisions DEFAULT;
