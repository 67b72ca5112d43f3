//! poolstorm's own view of a cell's database, from one connection outside the app's pool,
//! sampled four times a second beside the pool with a timeout on every query: whether the
//! database answers and how fast; on MySQL/MariaDB ([`mysql`]) and PostgreSQL ([`postgres`])
//! the app's sessions as the server sees them and who waits on whose lock; on SQLite whether
//! the write lock can be had.

mod mysql;
#[cfg(feature = "postgres")]
mod postgres;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::Engine;
use serde::{Deserialize, Serialize};
use sqlx::Connection as _;
use sqlx::mysql::MySqlConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::time::Instant;

use super::periodic::{Periodic, Probe};
use crate::base::human::{ms_secs, rtt};

/// The longest any one probe query may take.
pub(super) const QUERY_TIMEOUT: Duration = Duration::from_millis(800);

/// Which database the probe watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// A MySQL/MariaDB or PostgreSQL database: the cell's URL and its name (the app's sessions
    /// are those connected to it).
    Server {
        engine: Engine,
        url: String,
        database: String,
    },
    /// A SQLite file.
    Sqlite { path: PathBuf },
}

/// The server's view of the app's sessions at one moment (MySQL/MariaDB; PostgreSQL calls
/// them backends).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Connections to the cell's database, poolstorm's own left out.
    pub total: u64,
    /// Sleeping between statements (PostgreSQL: `idle` or `idle in transaction`).
    pub idle: u64,
    /// Of those, inside an open transaction (InnoDB lists one only after its first
    /// statement; PostgreSQL from its `BEGIN`).
    pub idle_in_transaction: u64,
    /// PostgreSQL: backends waiting for their client to send the next statement
    /// (`wait_event` `ClientRead`), what a backend under a locked pool waits on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_read: Option<u64>,
    /// Running a statement (PostgreSQL: `active`).
    pub running: u64,
    /// The longest a running statement has run, ms.
    pub longest_running_ms: u64,
    /// The shortest time any idle session has been idle, ms: "all idle for at least ...".
    pub idle_for_ms: Option<u64>,
    /// Sessions waiting on a row lock (PostgreSQL: any heavyweight lock, `wait_event_type`
    /// `Lock`).
    pub lock_waits: u64,
    /// The session most of them wait for, when any wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker: Option<Blocker>,
}

/// A session that holds a row lock others wait for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blocker {
    /// The server's thread id (PostgreSQL: the backend's pid).
    pub thread: u64,
    pub user: String,
    /// `Sleep` (idle in its transaction) or `Query`; PostgreSQL: its `state`
    /// (`idle in transaction`, `active`).
    pub command: String,
    /// Seconds in its current state (PostgreSQL: since its transaction began).
    pub time_s: u64,
    /// One of the app's own sessions (MySQL: connected to the cell's database; PostgreSQL:
    /// with the `application_name` of the backends that wait).
    pub in_app: bool,
    /// Sessions waiting for it.
    pub waiters: u64,
    /// PostgreSQL: its `application_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

/// The database at one moment, from poolstorm's own connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DbSample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// poolstorm's own connection got an answer.
    pub up: bool,
    /// The round trip of `SELECT 1`, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_us: Option<u64>,
    /// Why it did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// MySQL/MariaDB: the app's sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
    /// SQLite: whether the write lock could be had (`BEGIN IMMEDIATE` without waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_lock_free: Option<bool>,
}

/// What a cell's report says about its database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DbReport {
    pub engine: contract::Engine,
    /// The server's flavour and version, as it says (`10.11.6-MariaDB-0+deb12u1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why part of the view is missing (a privilege the user lacks, say), once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub samples: Vec<DbSample>,
}

impl DbSample {
    /// The sample in a line: "answers in 0.4 ms; 10 sessions: 10 idle, 0 running, 0 waiting
    /// on a lock", "write lock free", or "DOWN: Connection refused".
    pub fn brief(&self) -> String {
        if !self.up {
            return format!("DOWN: {}", self.error.as_deref().unwrap_or("no answer"));
        }
        let mut out = format!("answers in {}", self.rtt_us.map_or("?".to_owned(), rtt));
        if let Some(x) = &self.sessions {
            out.push_str(&format!(
                "; {} sessions: {} idle, {} running (longest {}), {} waiting on a lock",
                x.total,
                x.idle,
                x.running,
                ms_secs(x.longest_running_ms),
                x.lock_waits
            ));
        }
        match self.write_lock_free {
            Some(true) => out.push_str("; write lock free"),
            Some(false) => out.push_str("; write lock HELD"),
            None => {}
        }
        out
    }
}

impl DbReport {
    /// The cell's database in a few words, for the comparison table: the median round trip,
    /// then the worst of what was seen ("down 8/40 from 12.0 s", "16 lock waits" at most,
    /// "queries 2.5 s" at the longest, "write lock held 3/40" samples).
    pub fn summary(&self) -> String {
        let mut rtts: Vec<u64> = self.samples.iter().filter_map(|s| s.rtt_us).collect();
        if self.samples.is_empty() {
            return "-".to_owned();
        }
        rtts.sort_unstable();
        let mut parts = vec![match rtts.get(rtts.len() / 2) {
            Some(us) => rtt(*us),
            None => "no answer".to_owned(),
        }];
        if let Some(first) = self.samples.iter().find(|s| !s.up) {
            let failed = self.samples.iter().filter(|s| !s.up).count();
            parts.push(format!(
                "down {failed}/{} from {}",
                self.samples.len(),
                ms_secs(first.t_ms)
            ));
        }
        let sessions = self.samples.iter().filter_map(|s| s.sessions.as_ref());
        let waits = sessions.clone().map(|x| x.lock_waits).max().unwrap_or(0);
        if waits > 0 {
            parts.push(format!("{waits} lock waits"));
        }
        let longest = sessions.map(|x| x.longest_running_ms).max().unwrap_or(0);
        if longest >= 1000 {
            parts.push(format!("queries {}", ms_secs(longest)));
        }
        let tried = self.samples.iter().filter(|s| s.write_lock_free.is_some());
        let held = tried
            .clone()
            .filter(|s| s.write_lock_free == Some(false))
            .count();
        if held > 0 {
            parts.push(format!("write lock held {held}/{}", tried.count()));
        }
        parts.join(", ")
    }
}

/// The probe's connection.
enum Conn {
    Mysql {
        conn: MySqlConnection,
        mariadb: bool,
    },
    #[cfg(feature = "postgres")]
    Postgres(sqlx::postgres::PgConnection),
    Sqlite(SqliteConnection),
}

/// Why the probe's question to the database got no answer.
#[derive(Debug, thiserror::Error)]
pub(super) enum ProbeError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("no answer within {}", humantime::format_duration(QUERY_TIMEOUT))]
    Timeout,
    #[cfg(not(feature = "postgres"))]
    #[error("this poolstorm was built without PostgreSQL")]
    NotBuilt,
}

impl ProbeError {
    /// SQLite's "database is locked" or "busy": the write lock is held by another connection.
    fn is_sqlite_lock(&self) -> bool {
        let words = self.to_string();
        words.contains("locked") || words.contains("busy")
    }
}

pub(super) async fn timed<T>(
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, ProbeError> {
    match tokio::time::timeout(QUERY_TIMEOUT, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(ProbeError::Timeout),
    }
}

impl DbTarget {
    async fn connect(&self, report: &Mutex<DbReport>) -> Result<Conn, ProbeError> {
        match self {
            #[cfg(feature = "postgres")]
            DbTarget::Server {
                engine: Engine::Postgres,
                url,
                ..
            } => {
                let (conn, version) = postgres::connect(url).await?;
                report.lock().expect("db report lock").version = Some(version);
                Ok(Conn::Postgres(conn))
            }
            #[cfg(not(feature = "postgres"))]
            DbTarget::Server {
                engine: Engine::Postgres,
                ..
            } => Err(ProbeError::NotBuilt),
            DbTarget::Server { url, .. } => {
                let mut conn = timed(MySqlConnection::connect(url)).await?;
                let version: String =
                    timed(sqlx::query_scalar("SELECT VERSION()").fetch_one(&mut conn)).await?;
                let mariadb = version.contains("MariaDB");
                report.lock().expect("db report lock").version = Some(version);
                Ok(Conn::Mysql { conn, mariadb })
            }
            DbTarget::Sqlite { path } => {
                // No busy wait: a held write lock must show at once, not be waited out.
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .busy_timeout(Duration::ZERO);
                Ok(Conn::Sqlite(
                    timed(SqliteConnection::connect_with(&options)).await?,
                ))
            }
        }
    }
}

impl Conn {
    /// `SELECT 1`, timed.
    async fn ping(&mut self) -> Result<u64, ProbeError> {
        let started = std::time::Instant::now();
        match self {
            Conn::Mysql { conn, .. } => {
                timed(sqlx::query("SELECT 1").execute(&mut *conn)).await?;
            }
            #[cfg(feature = "postgres")]
            Conn::Postgres(conn) => {
                timed(sqlx::query("SELECT 1").execute(&mut *conn)).await?;
            }
            Conn::Sqlite(conn) => {
                timed(sqlx::query("SELECT 1").execute(&mut *conn)).await?;
            }
        }
        Ok(started.elapsed().as_micros() as u64)
    }

    /// SQLite: can the write lock be had now?
    async fn write_lock_free(conn: &mut SqliteConnection) -> Result<bool, ProbeError> {
        match timed(sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn)).await {
            Ok(_) => {
                timed(sqlx::query("ROLLBACK").execute(&mut *conn)).await?;
                Ok(true)
            }
            Err(e) if e.is_sqlite_lock() => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A running probe of the database.
#[derive(Debug)]
pub struct DbProbe(Periodic<DbReport>);

/// What the probe keeps between samples: its target, its connection, and the pool's state
/// (PostgreSQL's `pg_blocking_pids()` is asked only while the pool is saturated).
struct Probing {
    target: DbTarget,
    conn: Option<Conn>,
    pool: Option<crate::observe::Shared>,
}

impl Probing {
    /// Whether the pool is saturated now, or poolstorm cannot see the pool.
    fn pool_saturated(&self) -> bool {
        self.pool.as_ref().is_none_or(|p| {
            p.lock()
                .expect("pool state lock")
                .samples
                .last()
                .is_some_and(crate::observe::PoolSample::pool_saturated)
        })
    }
}

impl Probe for Probing {
    type State = DbReport;

    async fn sample(&mut self, t_ms: u64, report: &Mutex<DbReport>) {
        let saturated = self.pool_saturated();
        let sampled = sample(&self.target, &mut self.conn, report, t_ms, saturated).await;
        if let Some(sample) = sampled {
            report.lock().expect("db report lock").samples.push(sample);
        }
    }
}

impl DbProbe {
    /// Starts probing `target` on a task of its own beside the pool's sampler, when there
    /// is one; times count from `start`.
    pub fn start(target: DbTarget, pool: Option<crate::observe::Shared>, start: Instant) -> Self {
        let engine = match target {
            DbTarget::Server { engine, .. } => engine,
            DbTarget::Sqlite { .. } => Engine::Sqlite,
        };
        let report = DbReport {
            engine,
            ..DbReport::default()
        };
        let probing = Probing {
            target,
            conn: None,
            pool,
        };
        Self(Periodic::start(probing, report, start))
    }

    /// The report so far, for the live view.
    pub fn report(&self) -> Arc<Mutex<DbReport>> {
        self.0.state()
    }

    /// Stops and returns the report.
    pub async fn finish(self) -> DbReport {
        self.0.finish().await
    }
}

/// Adds `text` to the report's notes, once.
fn note(report: &Mutex<DbReport>, text: String) {
    let mut r = report.lock().expect("db report lock");
    if !r.notes.contains(&text) {
        r.notes.push(text);
    }
}

/// One sample: (re)connect when needed, ping, then the engine's own view (who blocks whom
/// only while `saturated`, on PostgreSQL). `None` while a SQLite file does not exist yet: a
/// service that has not created its database is not a database that went down.
async fn sample(
    target: &DbTarget,
    conn: &mut Option<Conn>,
    report: &Mutex<DbReport>,
    t_ms: u64,
    saturated: bool,
) -> Option<DbSample> {
    #[cfg(not(feature = "postgres"))]
    let _ = saturated;
    let down = |error: ProbeError| {
        Some(DbSample {
            t_ms,
            up: false,
            error: Some(crate::base::error::chain(&error)),
            ..DbSample::default()
        })
    };
    if conn.is_none() {
        if let DbTarget::Sqlite { path } = target
            && !path.exists()
        {
            note(
                report,
                format!(
                    "no view while {} did not exist (the service had not created it)",
                    path.display()
                ),
            );
            return None;
        }
        match target.connect(report).await {
            Ok(c) => *conn = Some(c),
            Err(e) => return down(e),
        }
    }
    let c = conn.as_mut().expect("connected above");
    let rtt_us = match c.ping().await {
        Ok(rtt) => rtt,
        Err(e) => {
            // Whatever broke, the next sample starts from a fresh connection.
            *conn = None;
            return down(e);
        }
    };
    let mut s = DbSample {
        t_ms,
        up: true,
        rtt_us: Some(rtt_us),
        ..DbSample::default()
    };
    let note = |text: String| note(report, text);
    match (c, target) {
        (Conn::Mysql { conn, mariadb }, DbTarget::Server { database, .. }) => {
            match mysql::sessions(conn, *mariadb, database).await {
                Ok(sessions) => s.sessions = Some(sessions),
                Err(e) => note(format!("the app's sessions could not be read: {e}")),
            }
        }
        #[cfg(feature = "postgres")]
        (Conn::Postgres(conn), DbTarget::Server { database, .. }) => {
            match postgres::backends(conn, database, saturated).await {
                Ok(sessions) => s.sessions = Some(sessions),
                Err(e) => note(format!(
                    "the app's backends could not be read from pg_stat_activity: {e}"
                )),
            }
        }
        (Conn::Sqlite(conn), DbTarget::Sqlite { .. }) => match Conn::write_lock_free(conn).await {
            Ok(free) => s.write_lock_free = Some(free),
            Err(e) => note(format!("the write lock could not be tried: {e}")),
        },
        _ => unreachable!("a connection of the target's engine"),
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sqlite_file_answers_and_shows_its_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut other = SqliteConnection::connect_with(&options).await.unwrap();
        let report = Mutex::new(DbReport::default());
        let target = DbTarget::Sqlite { path };
        let mut conn = None;
        let free = sample(&target, &mut conn, &report, 0, false).await.unwrap();
        assert!(free.up && free.rtt_us.is_some());
        assert_eq!(free.write_lock_free, Some(true));
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        let held = sample(&target, &mut conn, &report, 250, false)
            .await
            .unwrap();
        assert_eq!(
            held.write_lock_free,
            Some(false),
            "another connection holds it"
        );
        sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    }

    #[test]
    fn the_summary_gives_the_median_round_trip_and_the_worst_that_was_seen() {
        let answering = |t_ms, rtt_us, lock_waits| DbSample {
            t_ms,
            up: true,
            rtt_us: Some(rtt_us),
            sessions: Some(Sessions {
                lock_waits,
                ..Sessions::default()
            }),
            ..DbSample::default()
        };
        let mut report = DbReport {
            samples: vec![
                answering(0, 400, 0),
                answering(250, 500, 3),
                answering(500, 9000, 1),
            ],
            ..DbReport::default()
        };
        assert_eq!(report.summary(), "0.5 ms, 3 lock waits");
        report.samples.push(DbSample {
            t_ms: 750,
            error: Some("refused".to_owned()),
            ..DbSample::default()
        });
        assert_eq!(
            report.summary(),
            "0.5 ms, down 1/4 from 0.8 s, 3 lock waits"
        );
        assert_eq!(DbReport::default().summary(), "-");
    }

    #[tokio::test]
    async fn a_server_nobody_listens_on_is_down_with_the_reason() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let target = DbTarget::Server {
            engine: Engine::Mysql,
            url: format!("mysql://root@127.0.0.1:{port}/x"),
            database: "x".to_owned(),
        };
        let report = Mutex::new(DbReport::default());
        let s = sample(&target, &mut None, &report, 0, false).await.unwrap();
        assert!(!s.up);
        assert!(s.error.unwrap().to_lowercase().contains("refused"));
    }
}
