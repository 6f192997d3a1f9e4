//! Observed demand, the forecasts made from it, and the fitted models with their measured accuracy.

use std::collections::BTreeMap;

use hivesched_policy::Time;
use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use crate::codec::{MAX_BIND_PARAMS, get, get_time, json_text, parse_json, values_placeholders};
use crate::{Result, Store};

/// One demand observation (one series per pool: the pool's incoming work per interval; the
/// pool is the store handle's, see [`Store::in_pool`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemandSample {
    /// Start of the interval observed.
    pub at: Time,
    /// Demand in that interval.
    pub value: f64,
}

/// A forecast to store: which model, the grid it covers, and its body (mean, intervals, …).
#[derive(Debug, Clone, PartialEq)]
pub struct NewForecast {
    /// When it was made.
    pub created_at: Time,
    /// Model name, as the forecast crate reports it.
    pub model: String,
    /// Time of the first forecast step.
    pub start: Time,
    /// Step length in milliseconds.
    pub step_ms: i64,
    /// The forecast output (stored as JSON), e.g. `{"mean": [..], "intervals": {..}}`.
    pub forecast: serde_json::Value,
}

/// A stored forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRecord {
    /// Database id.
    pub id: i64,
    /// The forecast.
    pub forecast: NewForecast,
}

/// A fitted model to store with the accuracy measured for it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewModelRecord {
    /// When it was fitted: the time of the newest sample it saw.
    pub created_at: Time,
    /// Model name.
    pub model: String,
    /// Fitted parameters (stored as JSON).
    pub parameters: serde_json::Value,
    /// Measured accuracy, e.g. `{"mase": 0.8, "coverage_80": 0.79}` (stored as JSON).
    pub accuracy: serde_json::Value,
}

/// A stored model record.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    /// Database id.
    pub id: i64,
    /// The record.
    pub model: NewModelRecord,
}

fn sample_from_row(row: &AnyRow) -> Result<DemandSample> {
    Ok(DemandSample {
        at: get_time(row, "ts")?,
        value: get(row, "value")?,
    })
}

fn forecast_from_row(row: &AnyRow) -> Result<ForecastRecord> {
    Ok(ForecastRecord {
        id: get(row, "id")?,
        forecast: NewForecast {
            created_at: get_time(row, "created_at")?,
            model: get(row, "model")?,
            start: get_time(row, "start_ts")?,
            step_ms: get(row, "step_ms")?,
            forecast: parse_json("forecast", &get::<String>(row, "forecast")?)?,
        },
    })
}

fn model_from_row(row: &AnyRow) -> Result<ModelRecord> {
    Ok(ModelRecord {
        id: get(row, "id")?,
        model: NewModelRecord {
            created_at: get_time(row, "created_at")?,
            model: get(row, "model")?,
            parameters: parse_json("parameters", &get::<String>(row, "parameters")?)?,
            accuracy: parse_json("accuracy", &get::<String>(row, "accuracy")?)?,
        },
    })
}

impl Store {
    /// Writes demand samples of this handle's pool in one transaction with multi-row upserts.
    /// A sample for a time already stored replaces it, so re-sending a batch is harmless.
    pub async fn insert_demand(&self, samples: &[DemandSample]) -> Result<()> {
        // One row per time (the last given wins), as a statement may not upsert a row twice.
        let unique: BTreeMap<i64, f64> = samples
            .iter()
            .map(|s| (s.at.as_millis(), s.value))
            .collect();
        let rows: Vec<(i64, f64)> = unique.into_iter().collect();
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(MAX_BIND_PARAMS / 3) {
            let sql = format!(
                "INSERT INTO demand_samples (pool, ts, value) VALUES {} \
                 ON CONFLICT (pool, ts) DO UPDATE SET value = excluded.value",
                values_placeholders(self.backend, chunk.len(), 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for &(ts, value) in chunk {
                q = q.bind(self.scope.to_string()).bind(ts).bind(value);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// This pool's samples with `from <= at < to`, oldest first.
    pub async fn demand_range(&self, from: Time, to: Time) -> Result<Vec<DemandSample>> {
        sqlx::query(
            "SELECT ts, value FROM demand_samples WHERE pool = $3 AND ts >= $1 AND ts < $2 \
             ORDER BY ts",
        )
        .bind(from.as_millis())
        .bind(to.as_millis())
        .bind(self.scope.to_string())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sample_from_row)
        .collect()
    }

    /// This pool's newest sample, to tell whether demand data went stale.
    pub async fn latest_demand(&self) -> Result<Option<DemandSample>> {
        sqlx::query("SELECT ts, value FROM demand_samples WHERE pool = $1 ORDER BY ts DESC LIMIT 1")
            .bind(self.scope.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|row| sample_from_row(&row))
            .transpose()
    }

    /// Stores a forecast of this pool and returns its id.
    pub async fn insert_forecast(&self, f: &NewForecast) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO forecasts (created_at, model, start_ts, step_ms, forecast, pool) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(f.created_at.as_millis())
        .bind(f.model.clone())
        .bind(f.start.as_millis())
        .bind(f.step_ms)
        .bind(json_text(&f.forecast))
        .bind(self.scope.to_string())
        .fetch_one(&self.pool)
        .await?;
        get(&row, "id")
    }

    /// This pool's most recently made forecast, the one the engine plans with.
    pub async fn latest_forecast(&self) -> Result<Option<ForecastRecord>> {
        sqlx::query(
            "SELECT * FROM forecasts WHERE pool = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(self.scope.to_string())
        .fetch_optional(&self.pool)
        .await?
        .map(|row| forecast_from_row(&row))
        .transpose()
    }

    /// Removes forecasts made before `cutoff` (they are superseded each tick); returns how many.
    pub async fn purge_forecasts_before(&self, cutoff: Time) -> Result<u64> {
        let done = sqlx::query("DELETE FROM forecasts WHERE created_at < $1")
            .bind(cutoff.as_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Stores a fitted model record of this pool and returns its id.
    pub async fn insert_model_record(&self, m: &NewModelRecord) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO model_records (created_at, model, parameters, accuracy, pool) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(m.created_at.as_millis())
        .bind(m.model.clone())
        .bind(json_text(&m.parameters))
        .bind(json_text(&m.accuracy))
        .bind(self.scope.to_string())
        .fetch_one(&self.pool)
        .await?;
        get(&row, "id")
    }

    /// This pool's newest `limit` model records, of one model or all, newest first.
    pub async fn list_model_records(
        &self,
        model: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ModelRecord>> {
        let rows = match model {
            Some(name) => {
                sqlx::query(
                    "SELECT * FROM model_records WHERE model = $1 AND pool = $3 \
                     ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(name.to_owned())
                .bind(i64::from(limit))
                .bind(self.scope.to_string())
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT * FROM model_records WHERE pool = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .bind(self.scope.to_string())
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(model_from_row).collect()
    }
}
