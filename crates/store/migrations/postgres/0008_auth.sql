-- Revoked API tokens (by JWT id, kept until the token would have expired anyway) and one-time
-- authorization codes, stored as SHA-256 hashes, never in clear.
CREATE TABLE revoked_tokens (
    jti        TEXT   PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reason     TEXT   NOT NULL
);

CREATE TABLE auth_codes (
    code_hash  TEXT   PRIMARY KEY,
    purpose    TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    used_by    TEXT
);
