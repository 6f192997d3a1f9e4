-- Clearing lapsed time-limited overrides runs every tick (`clear_lapsed_overrides`); without an
-- index on `pin_until` it scanned the whole agents table: 100 000 rows a tick at 100 000 agents,
-- half the rows a tick read (scale benchmark, docs/cluster.md). Few agents ever have a
-- time limit, so a partial index holds only those.
CREATE INDEX agents_pin_until ON agents (pin_until) WHERE pin_until IS NOT NULL;
