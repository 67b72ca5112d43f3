//! Idempotent schema creation, and the reconciliation that keeps ids from ever being reused:
//! at every start both the sequence row and the auto-increment counter are raised above every
//! id either of them (or any row) has handed out, whichever strategy ran before.

use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection as _};

use super::dialect::{MAX_MESSAGE_ID, READ_SEQUENCE, SEQUENCE_NAME};
use url::Url;

use super::dialect::Dialect as _;
use crate::config::{DatabaseUrl, Engine};

/// Creates the tables and the sequence row when missing, then reconciles the id counters.
/// Returns the lowest id any strategy may hand out next.
pub(super) async fn prepare(pool: &AnyPool, engine: Engine) -> Result<i64, sqlx::Error> {
    for statement in engine.schema() {
        sqlx::query(*statement).execute(pool).await?;
    }
    let next_val: i64 = sqlx::query_scalar(READ_SEQUENCE)
        .bind(SEQUENCE_NAME)
        .fetch_one(pool)
        .await?;
    let max_id: i64 = sqlx::query_scalar(MAX_MESSAGE_ID).fetch_one(pool).await?;
    let auto_increment: i64 = sqlx::query_scalar(engine.select_auto_increment())
        .fetch_one(pool)
        .await?;
    let floor = next_val.max(max_id + 1).max(auto_increment + 1);

    sqlx::query("UPDATE id_sequence SET next_val = ? WHERE name = ? AND next_val < ?")
        .bind(floor)
        .bind(SEQUENCE_NAME)
        .bind(floor)
        .execute(pool)
        .await?;
    if auto_increment + 1 < floor {
        raise_auto_increment(pool, engine, floor - 1).await?;
    }
    Ok(floor)
}

/// Makes the next auto-increment id at least `last + 1`.
async fn raise_auto_increment(
    pool: &AnyPool,
    engine: Engine,
    last: i64,
) -> Result<(), sqlx::Error> {
    match engine {
        Engine::Sqlite => {
            sqlx::query("INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('messages', 0)")
                .execute(pool)
                .await?;
            sqlx::query("UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages' AND seq < ?")
                .bind(last)
                .bind(last)
                .execute(pool)
                .await?;
        }
        Engine::Mysql => {
            // DDL takes no parameters; `last` is an integer we computed, never input.
            let ddl = format!("ALTER TABLE messages AUTO_INCREMENT = {}", last + 1);
            sqlx::query(AssertSqlSafe(ddl)).execute(pool).await?;
        }
    }
    Ok(())
}

/// MySQL's "Unknown database" error number.
const ER_BAD_DB_ERROR: u16 = 1049;

/// Whether connecting failed only because the MySQL database does not exist yet.
pub(super) fn is_unknown_database(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|e| e.number() == ER_BAD_DB_ERROR)
}

/// Creates the database a MySQL URL names (`mysql://HOST/NAME`), connecting without it.
pub(super) async fn create_database(url: &DatabaseUrl) -> Result<(), sqlx::Error> {
    let (server, name) = split_database_name(url.url())
        .ok_or_else(|| sqlx::Error::Configuration("the database URL names no database".into()))?;
    let mut conn = AnyConnection::connect(server.as_str()).await?;
    // Identifiers cannot be bound; `name` is checked to be [A-Za-z0-9_] only.
    sqlx::query(AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS `{name}`"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await
}

/// Splits `mysql://host/name?opts` into (`mysql://host/?opts`, `name`) for a plain name.
fn split_database_name(url: &Url) -> Option<(Url, String)> {
    let name = url.path().trim_start_matches('/');
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return None;
    }
    let mut server = url.clone();
    server.set_path("/");
    Some((server, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<(String, String)> {
        split_database_name(&Url::parse(text).unwrap()).map(|(u, n)| (u.to_string(), n))
    }

    #[test]
    fn database_names_split_off_mysql_urls() {
        assert_eq!(
            split("mysql://root:pw@127.0.0.1:3306/poolstorm?ssl-mode=disabled"),
            Some((
                "mysql://root:pw@127.0.0.1:3306/?ssl-mode=disabled".to_owned(),
                "poolstorm".to_owned()
            ))
        );
        assert_eq!(split("mysql://127.0.0.1:3306/"), None);
        assert_eq!(split("mysql://127.0.0.1/bad%60name"), None);
    }
}
