//! The command line from outside: every flag's bad value is refused with exit status 2 and
//! the flag named, `--help` lists every flag, start-up prints one line, SIGTERM ends the app
//! (within the grace period, even when it is deadlocked).

use std::process::Command;
use std::time::Duration;

use crate::support::{Backend, Call, Load, RunningApp, binary, num, wait_for_snapshot};

/// (flag, bad value) pairs: each must be refused naming the flag.
const BAD_VALUES: &[(&str, &str)] = &[
    ("--database-url", "oracle://127.0.0.1/x"),
    ("--listen", "nowhere"),
    ("--pool-max", "0"),
    ("--pool-max", "ten"),
    ("--pool-min", "-1"),
    ("--acquire-timeout", "0"),
    ("--acquire-timeout", "soon"),
    ("--threads", "0"),
    ("--teardown", "later"),
    ("--hold-ms", "60001"),
    ("--id-strategy", "uuid"),
    ("--id-block", "0"),
    ("--work-ms", "x"),
    ("--query-delay-ms", "60001"),
    ("--shutdown-grace", "-3"),
];

#[test]
fn every_bad_flag_value_exits_2_naming_the_flag() {
    for (flag, value) in BAD_VALUES {
        let out = Command::new(binary()).args([flag, value]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{flag} {value}: message does not name the flag: {stderr}"
        );
    }
}

#[test]
fn bad_values_from_the_environment_name_the_flag_too() {
    let out = Command::new(binary())
        .env("TARGET_APP_POOL_MAX", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pool-max"));
}

#[test]
fn pool_min_above_pool_max_is_refused() {
    let out = Command::new(binary())
        .args(["--pool-max", "2", "--pool-min", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pool-min"));
}

#[test]
fn help_lists_every_flag_with_its_environment_variable() {
    let out = Command::new(binary()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--database-url",
        "--listen",
        "--pool-max",
        "--pool-min",
        "--acquire-timeout",
        "--threads",
        "--teardown",
        "--hold-ms",
        "--id-strategy",
        "--id-block",
        "--work-ms",
        "--query-delay-ms",
        "--shutdown-grace",
    ] {
        assert!(help.contains(flag), "--help misses {flag}");
        let var = format!(
            "TARGET_APP_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert!(help.contains(&var), "--help misses {var}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_start_up_error() {
    let out = tokio::process::Command::new(binary())
        .args([
            "--database-url",
            "mysql://root@127.0.0.1:1/nothing",
            "--acquire-timeout",
            "2",
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when not listening"
    );
}

#[tokio::test]
async fn a_query_delay_on_sqlite_is_refused_naming_the_flag() {
    let out = tokio::process::Command::new(binary())
        .args(["--query-delay-ms", "100"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--query-delay-ms needs a MySQL/MariaDB or PostgreSQL --database-url"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_idle_app_and_exits_0() {
    let db = Backend::Sqlite.fresh_db("cli_sigterm").await;
    let app = RunningApp::start(&db, "").await;
    assert_eq!(app.get("/health").await.0, 200);
    assert_eq!(app.terminate(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_a_deadlocked_app_after_the_grace_period() {
    let db = Backend::Sqlite.fresh_db("cli_grace").await;
    let flags = "--threads 2 --pool-max 1 --acquire-timeout none --shutdown-grace 1";
    let app = RunningApp::start(&db, flags).await;
    let load = Load::once(
        &app,
        8,
        Call::get("/mode1/dependency?hold_ms=100"),
        Duration::from_secs(60),
    );
    let stuck =
        |s: &serde_json::Value| num(s, "teardown.pending") > 0 && num(s, "pool.waiting") > 0;
    wait_for_snapshot(&app, Duration::from_secs(5), stuck).await;
    let started = tokio::time::Instant::now();
    let (code, stderr) = app.terminate_and_read_stderr(Duration::from_secs(10)).await;
    load.abort();
    assert_eq!(code, Some(1), "a stuck app exits 1 after the grace period");
    assert!(
        stderr.contains("grace period over with work stuck; exiting"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "a stuck shutdown says why it exits, and nothing panics:\n{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}
