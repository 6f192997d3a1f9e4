-- Fleet state as last reported (heartbeats) or changed (engine, overrides), and the agents' history.
CREATE TABLE agents (
    id              TEXT   PRIMARY KEY,
    state           TEXT   NOT NULL,
    busy            BIGINT NOT NULL DEFAULT 0,
    do_not_disrupt  BIGINT NOT NULL DEFAULT 0,
    pin             TEXT,
    pin_until       BIGINT,
    idle_since      BIGINT,
    last_transition BIGINT NOT NULL,
    last_wake       BIGINT,
    last_sleep      BIGINT,
    context_tokens  BIGINT NOT NULL DEFAULT 0,
    queue_depth     BIGINT NOT NULL DEFAULT 0,
    last_heartbeat  BIGINT
);

CREATE TABLE agent_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    ts       BIGINT NOT NULL,
    agent_id TEXT   NOT NULL,
    kind     TEXT   NOT NULL,
    detail   TEXT   NOT NULL
);
CREATE INDEX agent_events_ts ON agent_events (ts);
CREATE INDEX agent_events_agent_ts ON agent_events (agent_id, ts);
