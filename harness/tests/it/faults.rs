//! Faults injected into a running cell, on SQLite, MariaDB and PostgreSQL: the database server
//! killed, a row lock (on SQLite the write lock) held from outside, every query slowed down
//! (`SLEEP`, `pg_sleep`), target-app killed. Each verdict names the cause and is never
//! `deadlocked`; in the same run, a pool below Tn x (Cm - 1) + 1 without a fault is
//! `deadlocked`, and the faulted cell without its fault is `healthy`.
//!
//! Every fault waits for its cell to be running (rows in its messages table) before it
//! strikes, and is lifted when the next cell starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::results::scenario::{CellReport, ScenarioReport};
use harness::verdict::Verdict;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sqlx::Connection as _;
use sqlx::mysql::MySqlConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::support::{binary, latest_results, wait_until};

/// Mode 2 with Tn = 4 and a table sequence (Cm = 2): pool 4 locks, pool 5 does not (200 ms of
/// work on connection A makes every thread hold one when the first needs its second, so the
/// lock is certain, not a race). `fault` says which cell gets which fault, so that rules can
/// expect the new verdicts.
fn scenario(name: &str, cells: &str) -> String {
    format!(
        r#"
name = "{name}"

[app]
threads = 4
id_strategy = "table"
work_ms = 200
acquire_timeout = 30

[load]
users = 8
duration = "8s"
timeout = "60s"

[vars]
fault = "none"

[[tasks]]
method = "POST"
path = "/mode2/messages"
json = {{ title = "hello", contents = "fault" }}

{cells}

[stall]
window = "2s"
stop_on_deadlock = true

[verdict]
database_slow_ms = 500

[[expect]]
name = "below Tn x (Cm - 1) + 1 the pool locks"
when = "pool_max < threads * (cm - 1) + 1"
verdict = "deadlocked"

[[expect]]
name = "at Tn x (Cm - 1) + 1 it never does"
when = "pool_max >= threads * (cm - 1) + 1 && fault == 'none'"
verdict = "healthy"

[[expect]]
name = "a lock held from outside is lock contention"
when = "fault == 'row-lock'"
verdict = "lock_contention"

[[expect]]
name = "slow queries are a slow database"
when = "fault == 'slow'"
verdict = "database_slow"

[[expect]]
name = "a killed target is a dead target"
when = "fault == 'kill-app'"
verdict = "target_died"
"#
    )
}

/// A `poolstorm run` under way. A test that fails before the run ends stops it with SIGTERM,
/// as a CI runner would, so that it stops its target-app too: one left behind would hold its
/// cell's database and confuse the next run.
struct Run(Option<tokio::process::Child>);

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(pid) = self.0.as_ref().and_then(tokio::process::Child::id) {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
    }
}

/// `poolstorm run FILE --db DB`, started, for a test that strikes while it runs.
fn start(file: &Path, db: &str, out: &Path) -> Run {
    let child = tokio::process::Command::new(binary())
        .arg("run")
        .arg(file)
        .args(["--db", db, "--progress", "none", "--out"])
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    Run(Some(child))
}

/// Writes scenario `name` with `cells` into a new folder and starts it on `db`: the folder
/// (kept while the test runs), where results go, and the run.
fn launch(name: &str, cells: &str, db: &str) -> (tempfile::TempDir, PathBuf, Run) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, scenario(name, cells)).unwrap();
    let out = dir.path().join("results");
    let run = start(&file, db, &out);
    (dir, out, run)
}

/// Waits (bounded) for the run to end on its own: its exit code, stdout and report.
async fn finish(
    mut run: Run,
    out: &Path,
    name: &str,
) -> (Option<i32>, String, ScenarioReport, PathBuf) {
    let child = run.0.take().expect("a run under way");
    let output = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("the run ends on its own")
        .unwrap();
    let stdout = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let dir = latest_results(out, name);
    let report = ScenarioReport::read(&dir.join("report.json")).unwrap();
    (output.status.code(), stdout, report, dir)
}

/// The cell's database name, as poolstorm names it.
fn db_name(scenario: &str, cell: usize) -> String {
    format!("ps_{scenario}_{cell:02}")
}

/// target-app processes whose command line mentions `needle` (the cell's database).
fn target_app(needle: &str) -> Option<(Pid, Vec<String>)> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let entry = entry.ok()?;
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let raw = std::fs::read(entry.path().join("cmdline")).ok()?;
        let argv: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_app = argv.first()?.ends_with("target-app");
        (is_app && argv.iter().any(|a| a.contains(needle))).then(|| (Pid::from_raw(pid), argv))
    })
}

/// The cell's SQLite file, from its target-app's `--database-url`.
fn sqlite_file(scenario: &str, cell: usize) -> Option<PathBuf> {
    let (_, argv) = target_app(&format!("{}.db", db_name(scenario, cell)))?;
    let url = argv.iter().find(|a| a.starts_with("sqlite://"))?;
    let path = url.trim_start_matches("sqlite://");
    Some(PathBuf::from(path.split('?').next()?))
}

/// The cell's database on a PostgreSQL `server`, as a session named `application`.
#[cfg(feature = "interop")]
fn pg_cell_url(server: &str, scenario: &str, cell: usize, application: &str) -> String {
    format!(
        "{server}/{}?application_name={application}",
        db_name(scenario, cell)
    )
}

/// Rows in the cell's messages table so far (MySQL or PostgreSQL: on `server`).
async fn rows(server: Option<&str>, scenario: &str, cell: usize) -> Option<u64> {
    let count = |table: String| format!("SELECT CAST(COUNT(*) AS SIGNED) FROM {table}");
    let n: i64 = match server {
        #[cfg(feature = "interop")]
        Some(server) if server.starts_with("postgres") => {
            let url = pg_cell_url(server, scenario, cell, "poolstorm-test");
            let mut conn = sqlx::postgres::PgConnection::connect(&url).await.ok()?;
            sqlx::query_scalar("SELECT COUNT(*) FROM messages")
                .fetch_one(&mut conn)
                .await
                .ok()?
        }
        Some(server) => {
            let mut conn = MySqlConnection::connect(&format!("{server}/")).await.ok()?;
            let sql = count(format!("{}.messages", db_name(scenario, cell)));
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .ok()?
        }
        None => {
            let options = SqliteConnectOptions::new()
                .filename(sqlite_file(scenario, cell)?)
                .read_only(true);
            let mut conn = SqliteConnection::connect_with(&options).await.ok()?;
            sqlx::query_scalar(sqlx::AssertSqlSafe(count("messages".to_owned())))
                .fetch_one(&mut conn)
                .await
                .ok()?
        }
    };
    u64::try_from(n).ok()
}

/// Waits until cell `cell` has begun and written 20 rows: it is running and healthy. (A
/// server shared with earlier runs may still hold the cell's database from before; it is
/// made anew before the cell's target-app starts.)
async fn running(server: Option<&str>, scenario: &str, cell: usize) {
    begun(scenario, cell).await;
    wait_until(
        Duration::from_secs(90),
        &format!("cell {cell} of {scenario} to write 20 rows"),
        async || rows(server, scenario, cell).await.filter(|n| *n >= 20),
    )
    .await;
}

/// Waits until cell `cell` has begun (its target-app is up), which means the one before has
/// ended.
async fn begun(scenario: &str, cell: usize) {
    let needle = db_name(scenario, cell);
    wait_until(
        Duration::from_secs(90),
        &format!("cell {cell} of {scenario} to begin"),
        async || target_app(&needle),
    )
    .await;
}

/// Kills the target-app of a running cell.
async fn kill_app(server: Option<&str>, scenario: &str, cell: usize) {
    running(server, scenario, cell).await;
    let (pid, _) = target_app(&db_name(scenario, cell)).expect("its target-app runs");
    kill(pid, Signal::SIGKILL).unwrap();
}

fn verdict(cell: &CellReport) -> Option<Verdict> {
    cell.verdict()
}

/// Asserts the cell's verdict, and that its evidence says each of `words`.
fn judged(cell: &CellReport, expected: Verdict, words: &[&str]) {
    let evidence = cell
        .judgement
        .as_ref()
        .map_or("(no verdict)", |j| j.evidence.as_str());
    assert_eq!(
        verdict(cell),
        Some(expected),
        "cell {}: {evidence}",
        cell.index
    );
    for w in words {
        assert!(
            evidence.contains(w),
            "cell {}'s evidence says `{w}`: {evidence}",
            cell.index
        );
    }
}

#[cfg(feature = "interop")]
const SERVER_CELLS: &str = r#"
[[cells]]
pool_max = 4

[[cells]]
pool_max = 5
fault = "row-lock"

[[cells]]
pool_max = 5
fault = "slow"
query_delay_ms = 3000

[[cells]]
pool_max = 5
fault = "kill-app"

[[cells]]
pool_max = 5
"#;

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mariadb_a_row_lock_slow_queries_and_a_killed_app_are_named_not_called_deadlocks() {
    let name = "faults_mysql";
    let server = crate::support::mysql_url();
    let (_dir, out, child) = launch(name, SERVER_CELLS, &server);

    // Cell 2: another session takes the sequence row with SELECT ... FOR UPDATE and leaves its
    // transaction open until cell 3 begins.
    running(Some(&server), name, 2).await;
    let mut outside = MySqlConnection::connect(&format!("{server}/"))
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut outside).await.unwrap();
    let lock = format!(
        "SELECT next_val FROM {}.id_sequence WHERE name = 'messages' FOR UPDATE",
        db_name(name, 2)
    );
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .execute(&mut outside)
        .await
        .unwrap();
    begun(name, 3).await;
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    drop(outside);

    // Cell 4: its target-app killed.
    kill_app(Some(&server), name, 4).await;

    let (code, stdout, report, _) = finish(child, &out, name).await;
    let cells = &report.cells;
    // The deadlock's evidence shows the database idle under it.
    judged(&cells[0], Verdict::Deadlocked, &["none waiting on a lock"]);
    judged(
        &cells[1],
        Verdict::LockContention,
        &[
            "wait on a row lock held by thread",
            "not one of the app's sessions",
        ],
    );
    judged(
        &cells[2],
        Verdict::DatabaseSlow,
        &["running queries, the longest for"],
    );
    judged(&cells[3], Verdict::TargetDied, &["signal 9 (SIGKILL)"]);
    // The faulted cells without their faults.
    judged(&cells[4], Verdict::Healthy, &[]);
    assert!(
        cells.iter().all(|c| c.database.is_some()),
        "every cell watched its database"
    );
    assert_eq!(code, Some(0), "every rule expected its fault:\n{stdout}");
    assert!(stdout.contains("LOCK_CONTENTION at"), "{stdout}");
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_row_lock_pg_sleep_and_a_killed_app_are_named_not_called_deadlocks() {
    let name = "faults_postgres";
    let server = crate::support::postgres_url();
    let (_dir, out, child) = launch(name, SERVER_CELLS, &server);

    // Cell 2: another session, in the cell's database (PostgreSQL sessions belong to one),
    // takes the sequence row with SELECT ... FOR UPDATE and keeps its transaction open until
    // cell 3 begins.
    running(Some(&server), name, 2).await;
    let holder = pg_cell_url(&server, name, 2, "poolstorm-fault");
    let mut outside = sqlx::postgres::PgConnection::connect(&holder)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut outside).await.unwrap();
    sqlx::query("SELECT next_val FROM id_sequence WHERE name = 'messages' FOR UPDATE")
        .execute(&mut outside)
        .await
        .unwrap();
    begun(name, 3).await;
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    drop(outside);

    kill_app(Some(&server), name, 4).await;

    let (code, stdout, report, _) = finish(child, &out, name).await;
    let cells = &report.cells;
    // PostgreSQL's own picture of a pool deadlock: backends idle in their transactions,
    // waiting for a client that waits for the pool.
    judged(
        &cells[0],
        Verdict::Deadlocked,
        &[
            "idle in transaction (ClientRead)",
            "none active; none waiting on a lock",
        ],
    );
    judged(
        &cells[1],
        Verdict::LockContention,
        &[
            "wait on a lock held by pid",
            "application_name `poolstorm-fault`",
            "idle in transaction, its transaction open",
            "not one of the app's backends",
        ],
    );
    judged(
        &cells[2],
        Verdict::DatabaseSlow,
        &["running queries (active), the longest for"],
    );
    judged(&cells[3], Verdict::TargetDied, &["signal 9 (SIGKILL)"]);
    judged(&cells[4], Verdict::Healthy, &[]);
    let version = cells[0].database.as_ref().and_then(|d| d.version.clone());
    assert!(
        version
            .as_deref()
            .is_some_and(|v| v.starts_with("PostgreSQL ")),
        "{version:?}"
    );
    assert_eq!(code, Some(0), "every rule expected its fault:\n{stdout}");
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_killed_mid_cell_is_down_not_deadlocked_and_the_finished_cells_are_kept() {
    a_killed_database_is_down(contract::Engine::Mysql, "faults_down").await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_killed_mid_cell_is_down_not_deadlocked_and_the_finished_cells_are_kept() {
    a_killed_database_is_down(contract::Engine::Postgres, "faults_pg_down").await;
}

/// A throwaway server of `engine` killed (SIGKILL to its process group: a crash) while cell
/// 2 of 3 runs.
#[cfg(feature = "interop")]
async fn a_killed_database_is_down(engine: contract::Engine, name: &str) {
    let servers = tempfile::tempdir().unwrap();
    // Its files in the test's own folder: other tests count the servers left in the temp dir.
    let server = harness::run::database::LocalServer::start_in(engine, servers.path())
        .await
        .expect("a throwaway database server");
    let cells = "[[cells]]\npool_max = 4\n\n[[cells]]\npool_max = 5\n\n[[cells]]\npool_max = 6\n";
    let (_dir, out, child) = launch(name, cells, &server.url);

    running(Some(&server.url), name, 2).await;
    let pid = server.pid();
    nix::sys::signal::killpg(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();

    let (code, stdout, report, results) = finish(child, &out, name).await;
    server.stop().await;
    let cells = &report.cells;
    judged(&cells[0], Verdict::Deadlocked, &[]);
    judged(&cells[1], Verdict::DatabaseDown, &["database down at"]);
    assert!(
        cells[2].error.is_some(),
        "the cell after it could not get a database"
    );
    // The run ends by itself, with each failed rule named; a cell that could not get a
    // database was not carried out (exit 3).
    assert_eq!(code, Some(3), "{stdout}");
    assert!(
        stdout.contains("cell 2 (pool_max=5): at Tn x (Cm - 1) + 1 it never does"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cell 3 (pool_max=6): did not run"),
        "{stdout}"
    );
    // The finished cell's files are whole.
    for f in &cells[0].files {
        let path = results.join(f);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.is_empty() && text.ends_with('\n'),
            "{} is complete",
            path.display()
        );
    }
    assert!(cells[0].load.as_ref().unwrap().elapsed_s > 0.0);
    for f in ["report.json", "report.html", "report.csv", "report.md"] {
        assert!(results.join(f).metadata().unwrap().len() > 0, "{f}");
    }
}

const SQLITE_CELLS: &str = r#"
[[cells]]
pool_max = 4

[[cells]]
pool_max = 5
fault = "row-lock"

[[cells]]
pool_max = 5
fault = "kill-app"

[[cells]]
pool_max = 5
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_write_lock_held_outside_and_a_killed_app_are_named_not_called_deadlocks() {
    let name = "faults_sqlite";
    let (_dir, out, child) = launch(name, SQLITE_CELLS, "sqlite");

    // Cell 2: another connection takes the write lock (BEGIN IMMEDIATE) and keeps it.
    running(None, name, 2).await;
    let options = SqliteConnectOptions::new()
        .filename(sqlite_file(name, 2).unwrap())
        .busy_timeout(Duration::from_secs(10));
    let mut outside = SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut outside)
        .await
        .unwrap();
    begun(name, 3).await;
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    drop(outside);

    kill_app(None, name, 3).await;

    let (code, stdout, report, _) = finish(child, &out, name).await;
    let cells = &report.cells;
    judged(&cells[0], Verdict::Deadlocked, &["its write lock is free"]);
    judged(
        &cells[1],
        Verdict::LockContention,
        &["write lock is held by another connection"],
    );
    judged(&cells[2], Verdict::TargetDied, &["signal 9 (SIGKILL)"]);
    judged(&cells[3], Verdict::Healthy, &[]);
    assert_eq!(code, Some(0), "{stdout}");
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mode_2_boundary_is_the_same_with_and_without_the_database_probe() {
    let dir = tempfile::tempdir().unwrap();
    let boundary = |name: &str, probe: bool| {
        format!(
            r#"
name = "{name}"
[database]
probe = {probe}
[app]
threads = 16
id_strategy = "table"
work_ms = 200
[load]
users = 16
duration = "4s"
timeout = "60s"
[[tasks]]
method = "POST"
path = "/mode2/messages"
json = {{ title = "hello", contents = "boundary" }}
[matrix]
pool_max = [16, 17]
[stall]
window = "2s"
stop_on_deadlock = true
[[expect]]
when = "pool_max < threads * (cm - 1) + 1"
verdict = "deadlocked"
[[expect]]
when = "pool_max >= threads * (cm - 1) + 1"
verdict = "healthy"
"#
        )
    };
    let with = dir.path().join("with.toml");
    let without = dir.path().join("without.toml");
    std::fs::write(&with, boundary("boundary_probe", true)).unwrap();
    std::fs::write(&without, boundary("boundary_no_probe", false)).unwrap();
    let out = dir.path().join("results");
    let output = crate::support::run(&[&with, &without], &crate::support::mysql_url(), &out).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let verdicts = |name: &str| {
        let report = ScenarioReport::read(&latest_results(&out, name).join("report.json")).unwrap();
        let watched = report.cells.iter().all(|c| c.database.is_some());
        (
            report.cells.iter().map(verdict).collect::<Vec<_>>(),
            watched,
        )
    };
    let (probed, watched) = verdicts("boundary_probe");
    let (unprobed, unwatched) = verdicts("boundary_no_probe");
    assert_eq!(
        probed,
        vec![Some(Verdict::Deadlocked), Some(Verdict::Healthy)]
    );
    assert_eq!(probed, unprobed);
    assert!(watched && !unwatched, "probe = false turns the probe off");
}
