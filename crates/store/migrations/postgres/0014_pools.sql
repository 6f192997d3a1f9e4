-- Pools: every agent belongs to one (`default` unless its heartbeat names another), and each
-- pool has its own demand series, forecasts, model records, decisions, task journal and bulk
-- operations. Rows written before pools existed are the default pool's. A pool is recorded by
-- its row in `fencing` (created with 0012 for `default`).
ALTER TABLE agents ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX agents_pool ON agents (pool, id);

-- One demand series per pool: the key becomes (pool, ts). The partitions (by ts) keep their
-- ranges; the new key includes the partition column, as PostgreSQL requires.
ALTER TABLE demand_samples ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE demand_samples DROP CONSTRAINT demand_samples_pkey;
ALTER TABLE demand_samples ADD PRIMARY KEY (pool, ts);

ALTER TABLE forecasts ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
ALTER TABLE model_records ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX model_records_pool ON model_records (pool, created_at);

ALTER TABLE decisions ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX decisions_pool_ts ON decisions (pool, ts, id);

ALTER TABLE tasks ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
CREATE INDEX tasks_pool_status ON tasks (pool, status, created_at);
ALTER TABLE bulk_operations ADD COLUMN pool TEXT NOT NULL DEFAULT 'default';
