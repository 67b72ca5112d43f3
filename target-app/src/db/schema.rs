//! Idempotent schema creation, and the reconciliation that keeps ids from ever being reused:
//! at every start both the sequence row and the auto-increment counter are raised above every
//! id either of them (or any row) has handed out, whichever strategy ran before.

use sqlx::{AnyConnection, AssertSqlSafe, Connection as _};

use super::dialect::{MAX_MESSAGE_ID, READ_SEQUENCE, SEQUENCE_NAME};
use url::Url;

use super::dialect::Dialect as _;
use super::statement;
use crate::config::{DatabaseUrl, Engine};

/// Raises the sequence row to a floor (never lowers it).
const RAISE_SEQUENCE: &str = "UPDATE id_sequence SET next_val = ? WHERE name = ? AND next_val < ?";

/// Creates the tables and the sequence row when missing, then reconciles the id counters.
/// Returns the lowest id any strategy may hand out next.
pub(super) async fn prepare(conn: &mut AnyConnection, engine: Engine) -> Result<i64, sqlx::Error> {
    for statement in engine.schema() {
        statement::query(*statement).execute(&mut *conn).await?;
    }
    let next_val: i64 = statement::scalar(engine.sql(READ_SEQUENCE))
        .bind(SEQUENCE_NAME)
        .fetch_one(&mut *conn)
        .await?;
    let max_id: i64 = statement::scalar(MAX_MESSAGE_ID)
        .fetch_one(&mut *conn)
        .await?;
    let auto_increment: i64 = statement::scalar(engine.select_auto_increment())
        .fetch_one(&mut *conn)
        .await?;
    let floor = next_val.max(max_id + 1).max(auto_increment + 1);

    statement::query(engine.sql(RAISE_SEQUENCE))
        .bind(floor)
        .bind(SEQUENCE_NAME)
        .bind(floor)
        .execute(&mut *conn)
        .await?;
    if auto_increment + 1 < floor {
        raise_auto_increment(conn, engine, floor - 1).await?;
    }
    Ok(floor)
}

/// Makes the next auto-increment id at least `last + 1`.
async fn raise_auto_increment(
    conn: &mut AnyConnection,
    engine: Engine,
    last: i64,
) -> Result<(), sqlx::Error> {
    match engine {
        Engine::Sqlite => {
            statement::query(
                "INSERT OR IGNORE INTO sqlite_sequence (name, seq) VALUES ('messages', 0)",
            )
            .execute(&mut *conn)
            .await?;
            statement::query(
                "UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages' AND seq < ?",
            )
            .bind(last)
            .bind(last)
            .execute(&mut *conn)
            .await?;
        }
        Engine::Mysql => {
            // DDL takes no parameters; `last` is an integer we computed, never input.
            let ddl = format!("ALTER TABLE messages AUTO_INCREMENT = {}", last + 1);
            statement::query(AssertSqlSafe(ddl))
                .execute(&mut *conn)
                .await?;
        }
        Engine::Postgres => {
            // The next identity value is `last + 1`; a row, not `void`, for the Any driver.
            statement::query("SELECT setval(pg_get_serial_sequence('messages', 'id'), $1)")
                .bind(last)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// MySQL's "Unknown database" error number.
const ER_BAD_DB_ERROR: u16 = 1049;
/// PostgreSQL's SQLSTATEs for "database does not exist" and "already exists".
const PG_INVALID_CATALOG_NAME: &str = "3D000";
const PG_DUPLICATE_DATABASE: &str = "42P04";

/// Whether connecting failed only because the MySQL or PostgreSQL database does not exist yet.
pub(super) fn is_unknown_database(err: &sqlx::Error) -> bool {
    let Some(db) = err.as_database_error() else {
        return false;
    };
    if let Some(mysql) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql.number() == ER_BAD_DB_ERROR;
    }
    // By SQLSTATE (the `postgres` feature may be off); MySQL's unknown database is 42000.
    db.code()
        .is_some_and(|code| code == PG_INVALID_CATALOG_NAME)
}

/// Creates the database a URL names (`mysql://HOST/NAME`, `postgres://HOST/NAME`), connecting
/// without it (PostgreSQL: to its `postgres` database). One created meanwhile by another
/// process is fine.
pub(super) async fn create_database(url: &DatabaseUrl) -> Result<(), sqlx::Error> {
    let (server, name) = split_database_name(url.url(), url.engine)
        .ok_or_else(|| sqlx::Error::Configuration("the database URL names no database".into()))?;
    let mut conn = AnyConnection::connect(server.as_str()).await?;
    // Identifiers cannot be bound; `name` is checked to be [A-Za-z0-9_] only.
    let create = match url.engine {
        Engine::Postgres => format!("CREATE DATABASE \"{name}\""),
        Engine::Sqlite | Engine::Mysql => format!("CREATE DATABASE IF NOT EXISTS `{name}`"),
    };
    match statement::query(AssertSqlSafe(create))
        .execute(&mut conn)
        .await
    {
        Err(err)
            if err
                .as_database_error()
                .and_then(|db| db.code())
                .is_some_and(|code| code == PG_DUPLICATE_DATABASE) => {}
        other => {
            other?;
        }
    }
    conn.close().await
}

/// Splits `mysql://host/name?opts` into (`mysql://host/?opts`, `name`) for a plain name; a
/// PostgreSQL URL's server part names the `postgres` database, as its tools connect.
fn split_database_name(url: &Url, engine: Engine) -> Option<(Url, String)> {
    let name = url.path().trim_start_matches('/');
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !plain {
        return None;
    }
    let mut server = url.clone();
    server.set_path(match engine {
        Engine::Postgres => "/postgres",
        Engine::Sqlite | Engine::Mysql => "/",
    });
    Some((server, name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Option<(String, String)> {
        let url = Url::parse(text).unwrap();
        let engine = if text.starts_with("postgres") {
            Engine::Postgres
        } else {
            Engine::Mysql
        };
        split_database_name(&url, engine).map(|(u, n)| (u.to_string(), n))
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
        assert_eq!(
            split("postgres://app@127.0.0.1:5432/poolstorm"),
            Some((
                "postgres://app@127.0.0.1:5432/postgres".to_owned(),
                "poolstorm".to_owned()
            ))
        );
        assert_eq!(split("mysql://127.0.0.1/bad%60name"), None);
    }
}
