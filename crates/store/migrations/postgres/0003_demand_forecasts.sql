-- Observed demand (one series), forecasts made from it, and fitted model records with their accuracy.
-- demand_samples is high volume: range-partitioned by day on ts, like agent_events.
CREATE TABLE demand_samples (
    ts    BIGINT PRIMARY KEY,
    value DOUBLE PRECISION NOT NULL
) PARTITION BY RANGE (ts);
CREATE TABLE demand_samples_default PARTITION OF demand_samples DEFAULT;

CREATE TABLE forecasts (
    id         BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    model      TEXT   NOT NULL,
    start_ts   BIGINT NOT NULL,
    step_ms    BIGINT NOT NULL,
    forecast   TEXT   NOT NULL
);
CREATE INDEX forecasts_created ON forecasts (created_at);

CREATE TABLE model_records (
    id         BIGSERIAL PRIMARY KEY,
    created_at BIGINT NOT NULL,
    model      TEXT   NOT NULL,
    parameters TEXT   NOT NULL,
    accuracy   TEXT   NOT NULL
);
CREATE INDEX model_records_model ON model_records (model, created_at);
