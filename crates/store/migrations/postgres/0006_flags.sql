-- Feature flags and their rollout history (used by the flags issue).
CREATE TABLE feature_flags (
    flag_key   TEXT   PRIMARY KEY,
    state      TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    updated_by TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE flag_history (
    flag_key   TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    state      TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (flag_key, version)
);
