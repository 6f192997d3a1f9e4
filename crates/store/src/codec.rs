//! Conversions between Rust values and the `Any`-portable column types (TEXT, BIGINT, DOUBLE),
//! and the multi-row `VALUES` builder used by batch writes.

use hivesched_policy::Time;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, Result, StoreError};

/// Bind parameters per statement in batch writes: under PostgreSQL's 65 535 and SQLite's limit,
/// large enough that a 10 000-agent heartbeat batch takes a handful of statements.
pub(crate) const MAX_BIND_PARAMS: usize = 30_000;

/// A serde enum's wire name (`"preparing_sleep"`), the form enums take in TEXT columns.
pub(crate) fn enum_text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => unreachable!("enum stored as text must serialize to a string, got {other:?}"),
    }
}

/// Parses a serde enum back from its wire name.
pub(crate) fn parse_enum<T: DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| {
        StoreError::Corrupt {
            column,
            detail: format!("{text:?}: {e}"),
        }
    })
}

/// Serializes a value for a JSON TEXT column.
pub(crate) fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("store values serialize to JSON")
}

/// Parses a JSON TEXT column.
pub(crate) fn parse_json<T: DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        column,
        detail: e.to_string(),
    })
}

/// Reads a column, naming it in the error.
pub(crate) fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    Ok(row.try_get(column)?)
}

/// Reads a BIGINT-milliseconds column as a [`Time`].
pub(crate) fn get_time(row: &AnyRow, column: &'static str) -> Result<Time> {
    Ok(Time::from_millis(get::<i64>(row, column)?))
}

/// Reads a nullable BIGINT-milliseconds column.
pub(crate) fn get_opt_time(row: &AnyRow, column: &'static str) -> Result<Option<Time>> {
    Ok(get::<Option<i64>>(row, column)?.map(Time::from_millis))
}

/// Reads a BIGINT 0/1 column as a boolean (booleans are not portable through `Any`).
pub(crate) fn get_bool(row: &AnyRow, column: &'static str) -> Result<bool> {
    Ok(get::<i64>(row, column)? != 0)
}

/// Reads a non-negative BIGINT column into an unsigned type.
pub(crate) fn get_unsigned<T: TryFrom<i64>>(row: &AnyRow, column: &'static str) -> Result<T> {
    unsigned(column, get::<i64>(row, column)?)
}

/// Converts a BIGINT read from `column` into an unsigned type, naming the column if negative.
pub(crate) fn unsigned<T: TryFrom<i64>>(column: &'static str, v: i64) -> Result<T> {
    T::try_from(v).map_err(|_| StoreError::Corrupt {
        column,
        detail: format!("{v} out of range"),
    })
}

/// A BIGINT from an unsigned count, saturating (counts beyond `i64::MAX` do not occur).
pub(crate) fn int<T: TryInto<i64>>(v: T) -> i64 {
    v.try_into().unwrap_or(i64::MAX)
}

/// `($1, $2), ($3, $4), …` for `rows` rows of `cols` placeholders each; on SQLite anonymous
/// `(?, ?), (?, ?), …` instead, because SQLite looks numbered parameters up by name in a list,
/// which makes binding tens of thousands of `$n` quadratic (seconds for one 10 000-row batch).
pub(crate) fn values_placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hivesched_policy::AgentState;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(
            values_placeholders(Backend::Postgres, 2, 2),
            "($1, $2), ($3, $4)"
        );
        assert_eq!(values_placeholders(Backend::Sqlite, 1, 3), "(?, ?, ?)");
    }

    #[test]
    fn enums_round_trip_through_their_wire_names() {
        let text = enum_text(&AgentState::PreparingSleep);
        assert_eq!(text, "preparing_sleep");
        let back: AgentState = parse_enum("state", &text).unwrap();
        assert_eq!(back, AgentState::PreparingSleep);
        assert!(parse_enum::<AgentState>("state", "sideways").is_err());
    }
}
