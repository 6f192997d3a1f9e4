-- Pools: every agent belongs to one (`default` unless its heartbeat names another), and each
-- pool has its own demand series, forecasts, model records, decisions, task journal and bulk
-- operations. Rows written before pools existed are the default pool's. A pool is recorded by
-- its row in `fencing` (created with 0012 for `default`).
ALTER TABLE agents ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX agents_pool ON agents (pool, id);

-- One demand series per pool: the key becomes (pool, ts). SQLite cannot change a primary key
-- in place, so the table is rebuilt with its rows.
CREATE TABLE demand_samples_pooled (
    pool  TEXT   NOT NULL DEFAULT 'default',
    ts    BIGINT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (pool, ts)
);
INSERT INTO demand_samples_pooled (pool, ts, value) SELECT 'default', ts, value FROM demand_samples;
DROP TABLE demand_samples;
ALTER TABLE demand_samples_pooled RENAME TO demand_samples;

ALTER TABLE forecasts ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE model_records ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX model_records_pool ON model_records (pool, created_at);

ALTER TABLE decisions ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX decisions_pool_ts ON decisions (pool, ts, id);

ALTER TABLE tasks ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX tasks_pool_status ON tasks (pool, status, created_at);
ALTER TABLE bulk_operations ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
