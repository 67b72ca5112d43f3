//! The probe's view of PostgreSQL: the app's backends from `pg_stat_activity` for the cell's
//! database (`state`, `wait_event_type`, `wait_event`, `xact_start`, `query_start`,
//! `application_name`; the probe's own pid left out), and, while the pool is saturated and
//! some backend waits on a lock, who holds it, from `pg_blocking_pids()` (not free: it takes
//! the lock manager's locks, so it is not asked four times a second for nothing).
//!
//! PostgreSQL cannot see a pool deadlock itself: its deadlock detector looks only at lock
//! cycles, and under a locked client pool every backend just sits `idle in transaction`,
//! waiting for its client (`ClientRead`). That picture is what this view gives the verdict.

use std::str::FromStr as _;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use super::{Blocker, ProbeError, QUERY_TIMEOUT, Sessions, timed};

/// The `application_name` the probe's own connection carries, so that it can be told apart
/// in `pg_stat_activity` by a person too.
pub(super) const PROBE_NAME: &str = "poolstorm-probe";

/// Connects (with a server-side statement timeout too) and reads the server's version.
pub(super) async fn connect(url: &str) -> Result<(PgConnection, String), ProbeError> {
    let options = PgConnectOptions::from_str(url)?
        .application_name(PROBE_NAME)
        .options([(
            "statement_timeout",
            QUERY_TIMEOUT.as_millis().to_string().as_str(),
        )]);
    let mut conn = timed(PgConnection::connect_with(&options)).await?;
    let version: String = timed(
        sqlx::query_scalar("SELECT 'PostgreSQL ' || current_setting('server_version')")
            .fetch_one(&mut conn),
    )
    .await?;
    Ok((conn, version))
}

/// One backend: state, wait_event_type, wait_event, ms in its state, ms since its query
/// began, in a transaction.
type BackendRow = (String, String, String, i64, i64, bool);

/// The app's backends and, when `saturated` and some wait on a lock, who they wait for.
pub(super) async fn backends(
    conn: &mut PgConnection,
    database: &str,
    saturated: bool,
) -> Result<Sessions, ProbeError> {
    let rows: Vec<BackendRow> = timed(
        sqlx::query_as(
            "SELECT COALESCE(state, ''), COALESCE(wait_event_type, ''), COALESCE(wait_event, ''), \
             (EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(state_change, clock_timestamp())) * 1000)::bigint, \
             (EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(query_start, clock_timestamp())) * 1000)::bigint, \
             xact_start IS NOT NULL \
             FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .bind(database)
        .fetch_all(&mut *conn),
    )
    .await?;
    let mut s = tally(&rows);
    if saturated && s.lock_waits > 0 {
        s.blocker = blocker(conn, database).await?;
    }
    Ok(s)
}

/// The backends counted: `idle` and `idle in transaction` are idle (the latter also in a
/// transaction), `active` runs a statement, `wait_event_type` `Lock` waits on a lock.
fn tally(rows: &[BackendRow]) -> Sessions {
    let mut s = Sessions {
        total: rows.len() as u64,
        client_read: Some(0),
        ..Sessions::default()
    };
    for (state, wait_type, wait, state_ms, query_ms, in_trx) in rows {
        let ms = u64::try_from(*state_ms).unwrap_or(0);
        if state.starts_with("idle") {
            s.idle += 1;
            s.idle_in_transaction += u64::from(*in_trx && state != "idle");
            s.idle_for_ms = Some(s.idle_for_ms.map_or(ms, |m| m.min(ms)));
        } else {
            s.running += 1;
            s.longest_running_ms = s
                .longest_running_ms
                .max(u64::try_from(*query_ms).unwrap_or(0));
        }
        if wait == "ClientRead" {
            s.client_read = s.client_read.map(|n| n + 1);
        }
        s.lock_waits += u64::from(wait_type == "Lock");
    }
    s
}

/// The backend the most lock waiters of the cell's database wait for: its pid, user,
/// `application_name`, state and transaction age.
async fn blocker(conn: &mut PgConnection, database: &str) -> Result<Option<Blocker>, ProbeError> {
    type Row = (i32, String, String, String, i64, i64, bool);
    let top: Option<Row> = timed(
        sqlx::query_as(
            "SELECT b.pid, COALESCE(b.usename::text, ''), COALESCE(b.application_name, ''), \
             COALESCE(b.state, ''), \
             (EXTRACT(EPOCH FROM clock_timestamp() - COALESCE(b.xact_start, clock_timestamp())))::bigint, \
             COUNT(*), bool_and(b.application_name = w.application_name) \
             FROM pg_stat_activity w \
             CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS held(pid) \
             JOIN pg_stat_activity b ON b.pid = held.pid \
             WHERE w.datname = $1 AND w.wait_event_type = 'Lock' AND w.pid <> pg_backend_pid() \
             GROUP BY b.pid, b.usename, b.application_name, b.state, b.xact_start \
             ORDER BY COUNT(*) DESC LIMIT 1",
        )
        .bind(database)
        .fetch_optional(&mut *conn),
    )
    .await?;
    Ok(top.map(
        |(pid, user, application, state, age_s, waiters, in_app)| Blocker {
            thread: u64::try_from(pid).unwrap_or(0),
            user,
            command: state,
            time_s: u64::try_from(age_s).unwrap_or(0),
            in_app,
            waiters: u64::try_from(waiters).unwrap_or(0),
            application: Some(application),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, wait_type: &str, wait: &str, state_ms: i64, trx: bool) -> BackendRow {
        (
            state.to_owned(),
            wait_type.to_owned(),
            wait.to_owned(),
            state_ms,
            state_ms,
            trx,
        )
    }

    #[test]
    fn idle_in_transaction_backends_waiting_on_their_client_count_as_idle_not_running() {
        let rows = vec![
            row("idle in transaction", "Client", "ClientRead", 2700, true),
            row("idle in transaction", "Client", "ClientRead", 3100, true),
            row("idle", "Client", "ClientRead", 900, false),
            row("active", "Timeout", "PgSleep", 4000, true),
            row("active", "Lock", "transactionid", 1500, true),
        ];
        let s = tally(&rows);
        assert_eq!(
            (
                s.total,
                s.idle,
                s.idle_in_transaction,
                s.client_read,
                s.running,
                s.lock_waits
            ),
            (5, 3, 2, Some(3), 2, 1)
        );
        assert_eq!(s.idle_for_ms, Some(900), "the shortest idle time");
        assert_eq!(s.longest_running_ms, 4000);
    }
}
