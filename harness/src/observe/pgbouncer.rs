//! The pool of a pgbouncer, read from its admin console (the `pgbouncer` database, simple
//! query protocol only) without an exporter: `SHOW POOLS` for the cell's database (`cl_active`,
//! `cl_waiting`, `sv_active`, `sv_idle`, `sv_used`, `sv_tested`, `sv_login`, `maxwait`) and
//! `SHOW DATABASES` for its `pool_size`. Debian's pgbouncer_exporter 1.7 crashes on pgbouncer
//! 1.18, and the console is what the exporter reads anyway. Gauges carry pgbouncer's own names
//! into the evidence: "16 callers wait for a connection (cl_waiting); 16/16 connections in use
//! (sv_active of pool_size)".

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{Column as _, Connection as _, Row as _};

use super::metrics::{Gauge, Reading};

/// Why the console gave no sample.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("pgbouncer's admin console: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("pgbouncer's admin console did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    #[error("pgbouncer has no pool for database `{0}` yet (no client has connected to it)")]
    NoPool(String),
}

/// A console row, column by column, as text: pgbouncer sends every value as text in the
/// simple protocol, typed int4, int8 or text depending on the column and its version.
pub type Columns = BTreeMap<String, String>;

fn columns(row: &PgRow) -> Columns {
    row.columns()
        .iter()
        .map(|c| {
            let i = c.ordinal();
            let value = row
                .try_get::<String, _>(i)
                .ok()
                .or_else(|| row.try_get::<i64, _>(i).ok().map(|v| v.to_string()))
                .or_else(|| row.try_get::<i32, _>(i).ok().map(|v| v.to_string()))
                .unwrap_or_default();
            (c.name().to_owned(), value)
        })
        .collect()
}

fn number(row: &Columns, column: &str) -> Option<u64> {
    row.get(column)?.trim().parse().ok()
}

/// The gauges of one `SHOW POOLS` row and the database's `pool_size`, named as pgbouncer names
/// them.
pub fn reading(pool: &Columns, pool_size: Option<u64>) -> Reading {
    let mut values = BTreeMap::new();
    let mut names = BTreeMap::new();
    let mut set = |gauge: Gauge, value: Option<u64>, name: &str| {
        if let Some(v) = value {
            values.insert(gauge, v);
            names.insert(gauge, name.to_owned());
        }
    };
    set(Gauge::InUse, number(pool, "sv_active"), "sv_active");
    set(Gauge::Waiting, number(pool, "cl_waiting"), "cl_waiting");
    set(Gauge::Idle, number(pool, "sv_idle"), "sv_idle");
    let open = ["sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"]
        .iter()
        .map(|c| number(pool, c))
        .sum::<Option<u64>>();
    set(
        Gauge::Open,
        open,
        "sv_active + sv_idle + sv_used + sv_tested + sv_login",
    );
    set(Gauge::Max, pool_size, "pool_size");
    Reading {
        values,
        names,
        missing: Vec::new(),
    }
}

/// One reading of `database`'s pool from the console at `admin_url`, within `timeout`.
pub async fn read(
    admin_url: &str,
    database: &str,
    timeout: Duration,
) -> Result<Reading, ConsoleError> {
    let work = async {
        let mut conn = PgConnection::connect(admin_url).await?;
        let pools = sqlx::raw_sql("SHOW POOLS").fetch_all(&mut conn).await?;
        let databases = sqlx::raw_sql("SHOW DATABASES").fetch_all(&mut conn).await?;
        let _ = conn.close().await;
        Ok::<_, ConsoleError>((pools, databases))
    };
    let (pools, databases) = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| ConsoleError::Timeout(timeout))??;
    let row_of = |rows: &[PgRow], key: &str| {
        rows.iter()
            .map(columns)
            .find(|r| r.get(key).map(String::as_str) == Some(database))
    };
    let pool =
        row_of(&pools, "database").ok_or_else(|| ConsoleError::NoPool(database.to_owned()))?;
    let pool_size = row_of(&databases, "name").and_then(|r| number(&r, "pool_size"));
    Ok(reading(&pool, pool_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of a console table as `psql --csv` recorded them.
    fn recorded(name: &str) -> Vec<Columns> {
        let path = format!(
            "{}/tests/fixtures/pgbouncer/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        csv::Reader::from_path(&path)
            .unwrap()
            .deserialize()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_locked_pgbouncer_1_18_reads_as_every_server_connection_active_and_clients_waiting() {
        let pools = recorded("show-pools.1.18.csv");
        let databases = recorded("show-databases.1.18.csv");
        let pool = pools.iter().find(|r| r["database"] == "pgbtest").unwrap();
        let size = databases
            .iter()
            .find(|r| r["name"] == "pgbtest")
            .and_then(|r| number(r, "pool_size"));
        let r = reading(pool, size);
        let v = |g| r.values.get(&g).copied();
        assert_eq!(
            (
                v(Gauge::InUse),
                v(Gauge::Max),
                v(Gauge::Waiting),
                v(Gauge::Idle),
                v(Gauge::Open)
            ),
            (Some(8), Some(8), Some(16), Some(0), Some(8))
        );
        assert_eq!(r.names[&Gauge::Waiting], "cl_waiting");
        assert_eq!(r.names[&Gauge::Max], "pool_size");
        let sample = crate::observe::PoolSample::from_reading(0, &r, None);
        assert!(sample.pool_saturated(), "{sample:?}");
    }
}
