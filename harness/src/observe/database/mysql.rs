//! The probe's view of MySQL/MariaDB: the app's sessions from
//! `information_schema.PROCESSLIST` joined with `INNODB_TRX`, and who waits on whose row lock
//! from MariaDB's `INNODB_LOCK_WAITS` or MySQL 8's `performance_schema.data_lock_waits`.

use sqlx::mysql::MySqlConnection;

use super::{Blocker, ProbeError, Sessions, timed};

/// One row of the app's sessions: id, command, ms in that state, in a transaction, waiting
/// on a lock.
type SessionRow = (u64, String, u64, i64, String);

/// MySQL/MariaDB: the app's sessions and who they wait for.
pub(super) async fn sessions(
    conn: &mut MySqlConnection,
    mariadb: bool,
    database: &str,
) -> Result<Sessions, ProbeError> {
    let time_ms = if mariadb {
        "CAST(p.TIME_MS AS UNSIGNED)"
    } else {
        "CAST(p.TIME AS UNSIGNED) * 1000"
    };
    let sql = format!(
        "SELECT CAST(p.ID AS UNSIGNED), p.COMMAND, {time_ms}, \
         CAST(t.trx_id IS NOT NULL AS SIGNED), COALESCE(t.trx_state, '') \
         FROM information_schema.PROCESSLIST p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
         WHERE p.DB = ? AND p.ID <> CONNECTION_ID()"
    );
    let rows: Vec<SessionRow> = timed(
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(database)
            .fetch_all(&mut *conn),
    )
    .await?;
    let mut s = Sessions {
        total: rows.len() as u64,
        ..Sessions::default()
    };
    for (_, command, ms, in_trx, state) in &rows {
        if command == "Sleep" {
            s.idle += 1;
            s.idle_in_transaction += u64::from(*in_trx != 0);
            s.idle_for_ms = Some(s.idle_for_ms.map_or(*ms, |m| m.min(*ms)));
        } else {
            s.running += 1;
            s.longest_running_ms = s.longest_running_ms.max(*ms);
        }
        s.lock_waits += u64::from(state == "LOCK WAIT");
    }
    if s.lock_waits > 0 {
        s.blocker = blocker(conn, mariadb, &rows).await?;
    }
    Ok(s)
}

/// The session the most lock waiters wait for.
async fn blocker(
    conn: &mut MySqlConnection,
    mariadb: bool,
    app: &[SessionRow],
) -> Result<Option<Blocker>, ProbeError> {
    let waits = if mariadb {
        "SELECT CAST(b.trx_mysql_thread_id AS UNSIGNED), CAST(COUNT(*) AS UNSIGNED) \
         FROM information_schema.INNODB_LOCK_WAITS w \
         JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id \
         GROUP BY b.trx_mysql_thread_id ORDER BY COUNT(*) DESC LIMIT 1"
    } else {
        "SELECT CAST(b.trx_mysql_thread_id AS UNSIGNED), CAST(COUNT(*) AS UNSIGNED) \
         FROM performance_schema.data_lock_waits w \
         JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID \
         GROUP BY b.trx_mysql_thread_id ORDER BY COUNT(*) DESC LIMIT 1"
    };
    let top: Option<(u64, u64)> = timed(sqlx::query_as(waits).fetch_optional(&mut *conn)).await?;
    let Some((thread, waiters)) = top else {
        return Ok(None);
    };
    let who: Option<(String, String, u64)> = timed(
        sqlx::query_as(
            "SELECT USER, COMMAND, CAST(TIME AS UNSIGNED) FROM information_schema.PROCESSLIST WHERE ID = ?",
        )
        .bind(thread)
        .fetch_optional(&mut *conn),
    )
    .await?;
    let (user, command, time_s) = who.unwrap_or_default();
    Ok(Some(Blocker {
        thread,
        user,
        command,
        time_s,
        in_app: app.iter().any(|r| r.0 == thread),
        waiters,
        application: None,
    }))
}
