-- Versioned scheduler configuration: every saved version is kept (history); the current one is the highest.
CREATE TABLE config_versions (
    version    BIGINT PRIMARY KEY,
    config     TEXT   NOT NULL,
    author     TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
