-- Several replicas: the highest fencing token that has written for each pool. A leader's write
-- raises it (never lowers it) in the same transaction as the write; a write carrying a lower
-- token (a deposed leader's) finds no row to update and is refused, so it never lands.
CREATE TABLE fencing (
    pool  TEXT   PRIMARY KEY,
    token BIGINT NOT NULL
);
INSERT INTO fencing (pool, token) VALUES ('default', 0);
