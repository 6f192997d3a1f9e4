-- The operator's live view: the event stream's durable tail (so a client can resume after a
-- reconnect), the alerts' lifecycle, and the fleet size each decision saw (savings over time).
CREATE TABLE stream_events (
    seq  BIGINT PRIMARY KEY,
    ts   BIGINT NOT NULL,
    kind TEXT   NOT NULL,
    data TEXT   NOT NULL
);
CREATE INDEX stream_events_ts ON stream_events (ts);

ALTER TABLE alerts ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE alerts ADD COLUMN state TEXT NOT NULL DEFAULT 'firing'
    CHECK (state IN ('firing', 'acknowledged', 'resolved'));
ALTER TABLE alerts ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT;
ALTER TABLE alerts ADD COLUMN value DOUBLE PRECISION;
UPDATE alerts SET state = 'resolved' WHERE resolved_at IS NOT NULL;
CREATE INDEX alerts_state ON alerts (state, fired_at);

ALTER TABLE decisions ADD COLUMN agents_total BIGINT;
ALTER TABLE decisions ADD COLUMN agents_billed BIGINT;
