//! `poolstorm advise` end to end, on SQLite and on MariaDB: mode 2 with table ids at Tn = 16
//! finds Cm = 2 (from target-app's count, and by the pool-of-N probe) and a measured minimum of
//! 17; identity ids find Cm = 1; mode 1 with a shared teardown agrees with its measured rule.

use std::path::Path;

use harness::results::advice::Advice;

use crate::support::{binary, latest_results};

/// Mode 2 at Tn = 16 with `strategy` ids.
fn mode2(name: &str, strategy: &str) -> String {
    format!(
        r#"
name = "{name}"
[app]
threads = 16
id_strategy = "{strategy}"
acquire_timeout = 30
[load]
users = 16
duration = "4s"
timeout = "60s"
[[tasks]]
method = "POST"
path = "/mode2/messages"
json = {{ title = "hello", contents = "advise" }}
[stall]
window = "2s"
"#
    )
}

/// Mode 1 with the teardown on the handlers' pool, and the rule its sweep measured.
fn mode1(name: &str) -> String {
    format!(
        r#"
name = "{name}"
[app]
threads = 4
pool_max = 4
teardown = "shared"
acquire_timeout = "none"
hold_ms = 100
[load]
users = 8
duration = "4s"
timeout = "30s"
[[tasks]]
path = "/mode1/dependency"
[stall]
window = "2s"
[[expect]]
name = "pool_max + threads <= users deadlocks"
when = "users > threads && pool_max + threads <= users"
verdict = "deadlocked"
[[expect]]
name = "users - threads + 1 or more never does"
when = "users <= threads || pool_max + threads > users"
verdict = "healthy"
"#
    )
}

/// `poolstorm advise` on `text` with `db` and `extra` flags: the advice.
async fn advise(name: &str, text: &str, db: &str, extra: &[&str]) -> Advice {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.path().join("results");
    let output = tokio::process::Command::new(binary())
        .arg("advise")
        .arg(&file)
        .args([
            "--db",
            db,
            "--progress",
            "none",
            "--duration",
            "3s",
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("measured minimum"), "{stdout}");
    let results = latest_results(&out, name);
    read(&results.join("advice.json"))
}

fn read(path: &Path) -> Advice {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The minimum holds in every run, and the size just below it was seen to lock.
fn assert_boundary(a: &Advice, minimum: u64) {
    assert_boundary_within(a, minimum..=minimum);
}

/// As [`assert_boundary`], where the boundary is a race whose losing side a loaded machine
/// can also see: the measured minimum anywhere in `range`.
fn assert_boundary_within(a: &Advice, range: std::ops::RangeInclusive<u64>) {
    assert!(
        range.contains(&a.measured_minimum),
        "measured minimum {} outside {range:?}: {:#?}",
        a.measured_minimum,
        a.trials
    );
    let minimum = a.measured_minimum;
    let at: Vec<_> = a.trials.iter().filter(|t| t.pool == minimum).collect();
    assert_eq!(
        at.len() as u32,
        a.repeat,
        "every repetition at the minimum ran"
    );
    assert!(at.iter().all(|t| !t.locked()));
    assert!(
        a.trials.iter().any(|t| t.pool == minimum - 1 && t.locked()),
        "{:#?}",
        a.trials
    );
    assert!(
        a.curve.first().is_some_and(|p| p.pool == minimum) && a.curve.len() >= 3,
        "{:#?}",
        a.curve
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_ids_at_tn_16_need_17_connections_on_sqlite_found_by_the_probe() {
    let a = advise(
        "advise_table_sqlite",
        &mode2("advise_table_sqlite", "table"),
        "sqlite",
        &["--probe", "--repeat", "2"],
    )
    .await;
    assert_eq!(
        (a.cm, a.tasks[0].source.as_str()),
        (2, "probe"),
        "{:?}",
        a.tasks
    );
    assert!(
        a.tasks[0].evidence.contains("pool_max = 1: pool_timeout"),
        "a pool of one times out: {}",
        a.tasks[0].evidence
    );
    assert_eq!(a.formula_floor, 17);
    assert_boundary(&a, 17);
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_ids_at_tn_16_need_17_connections_on_mariadb_from_target_apps_count() {
    let a = advise(
        "advise_table_mariadb",
        &mode2("advise_table_mariadb", "table"),
        &crate::support::mysql_url(),
        &["--repeat", "2"],
    )
    .await;
    assert_eq!(
        (a.cm, a.tasks[0].source.as_str()),
        (2, "metrics"),
        "{:?}",
        a.tasks
    );
    assert_boundary(&a, 17);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_ids_need_one_connection_per_request_on_every_engine() {
    for db in crate::support::engines() {
        for extra in [&[][..], &["--probe"][..]] {
            let name = "advise_identity";
            let mut flags = vec!["--repeat", "1"];
            flags.extend(extra);
            let a = advise(name, &mode2(name, "identity"), &db, &flags).await;
            assert_eq!(a.cm, 1, "{db} {extra:?}: {:?}", a.tasks);
            assert_eq!(a.formula_floor, 1);
            assert_eq!(a.measured_minimum, 1, "{db}: {:#?}", a.trials);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_1_with_a_shared_teardown_agrees_with_its_measured_rule_on_every_engine() {
    for db in crate::support::engines() {
        let name = "advise_mode1";
        let a = advise(name, &mode1(name), &db, &["--repeat", "1"]).await;
        assert_eq!(a.cm, 1, "{db}: {:?}", a.tasks);
        let rule = a.rule_floor.as_ref().expect("the rules predict a floor");
        assert_eq!(rule.pool, 8 - 4 + 1, "users - threads + 1");
        // Teardown runs after the response is sent, so a user can have a request waiting
        // for its teardown and the next one in flight: on a loaded machine pool 5 has been
        // seen to lock (nine requests in the server for eight users).
        assert_boundary_within(&a, 5..=6);
    }
}

// Needs the example's Python venv (scripts/venv.sh, which `make test` runs): the interop tier.
#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_target_gets_its_cm_from_the_probe_and_its_floor_from_its_rules() {
    // The real FastAPI + SQLAlchemy example, its pool sized by the var `pool_size`.
    let file = crate::support::repo().join("scenarios/fastapi-sqlalchemy.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = tokio::process::Command::new(binary())
        .arg("advise")
        .arg(&file)
        .args([
            "--pool-param",
            "pool_size",
            "--db",
            "sqlite",
            // At pool 5 (pool + threads = users) the lock is a race that a loaded machine
            // can miss in one 3 s run; the search stops at the first of three that locks.
            "--repeat",
            "3",
            "--duration",
            "3s",
            "--progress",
            "none",
            "--out",
        ])
        .arg(&out)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let a = read(&latest_results(&out, "fastapi-sqlalchemy").join("advice.json"));
    assert_eq!((a.cm, a.tasks[0].source.as_str()), (1, "probe"));
    // threads 3, 8 users: pool_size + threads > users from 6 on.
    assert_eq!(a.rule_floor.as_ref().map(|r| r.pool), Some(6));
    // Pool 5 (pool + threads = users) locks only when the first requests' order loses the
    // race; three runs of 3 s usually see it, a loaded machine may not. Pool 6 locked once
    // on a loaded machine too, as teardown comes after the response (see mode 1 above).
    assert_boundary_within(&a, 5..=7);
}
