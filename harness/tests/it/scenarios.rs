//! `poolstorm run` and `validate` end to end: the shipped scenarios parse, the harness's idea
//! of target-app's defaults matches target-app's own, and tiny scenarios run for real (the
//! binary, target-app children, SQLite and MariaDB) with their verdicts and files checked.

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::results::scenario::ScenarioReport;
use harness::run::scenario::{self, Overrides, params};
use harness::verdict::Verdict;
use tokio::process::Command;

use crate::support::{binary, latest_results, repo, run, wait_until};

/// target-app as cargo built it for this workspace, beside poolstorm.
fn target_app() -> PathBuf {
    let path = Path::new(binary()).with_file_name("target-app");
    assert!(
        path.is_file(),
        "{} is missing: build the workspace (`cargo build --workspace`)",
        path.display()
    );
    path
}

#[test]
fn every_shipped_scenario_parses_in_full_and_quick_form() {
    let mut found = 0;
    for entry in std::fs::read_dir(repo().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            found += 1;
            for quick in [false, true] {
                let s = scenario::load(
                    &path,
                    &Overrides {
                        quick,
                        ..Overrides::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !s.cells.is_empty() && !s.rules.is_empty(),
                    "{}",
                    path.display()
                );
            }
        }
    }
    assert_eq!(
        found, 7,
        "mode1-threadpool, mode1-sweep, mode2-sequence, mode2-sweep, blackbox, fastapi-sqlalchemy, pgbouncer"
    );
}

#[tokio::test]
async fn parameter_defaults_are_target_apps_own() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let app = harness::run::app::start(&target_app(), &[], &log)
        .await
        .unwrap();
    let doc: serde_json::Value =
        harness::engine::fetch::get_json(&app.url(), "/debug/pool", Duration::from_secs(5))
            .await
            .unwrap();
    app.stop().await;
    let config = &doc["config"];
    for p in params::all().filter(|p| p.section == params::Section::App) {
        let ours = p.default_value().unwrap().to_string();
        let theirs = match p.name {
            "acquire_timeout" => {
                (config["acquire_timeout_ms"].as_u64().unwrap() / 1000).to_string()
            }
            name => match &config[name] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        };
        assert_eq!(ours, theirs, "default of {}", p.name);
    }
}

/// A mode-1 cell that deadlocks, its fix, and a mode-2 cell that locks below the formula.
const TINY: &str = r#"
name = "tiny"
description = "one deadlock, one fix, one pool lock"
[app]
threads = 4
pool_max = 2
acquire_timeout = "none"
hold_ms = 100
[load]
users = 8
duration = "4s"
timeout = "20s"
[vars]
route = "mode1/dependency"
[[tasks]]
path = "/{route}"
[[cells]]
route = "mode1/dependency"
[[cells]]
route = "mode1/per-operation"
[stall]
window = "2s"
stop_on_deadlock = true
[[expect]]
when = 'route == "mode1/dependency"'
verdict = "deadlocked"
[[expect]]
when = 'route != "mode1/dependency"'
verdict = "healthy"
"#;

const TINY_MODE2: &str = r#"
name = "tiny2"
[app]
threads = 4
pool_max = 4
acquire_timeout = 30
work_ms = 200
[load]
users = 4
duration = "4s"
[[tasks]]
method = "POST"
path = "/mode2/messages"
json = { title = "t", contents = "c" }
[matrix]
pool_max = [4, 5]
[stall]
window = "2s"
stop_on_deadlock = true
[[expect]]
when = "pool_max < threads * (cm - 1) + 1"
verdict = "deadlocked"
[[expect]]
when = "pool_max >= threads * (cm - 1) + 1"
verdict = "healthy"
"#;

/// Asserts that a run exited 0, showing what it wrote when it did not; its stdout.
fn succeeded(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `(tests, failures)` of the `<testsuite>` in a JUnit file.
fn junit_counts(xml: &str) -> (u64, u64) {
    let suite = &xml[xml.find("<testsuite ").expect("a testsuite")..];
    let suite = &suite[..suite.find('>').unwrap()];
    let attribute = |name: &str| -> u64 {
        let at = suite.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        suite[at..].split('"').next().unwrap().parse().unwrap()
    };
    (attribute("tests"), attribute("failures"))
}

async fn tiny_scenarios_reach_their_verdicts_and_write_every_file(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("tiny.toml"), dir.path().join("tiny2.toml"));
    std::fs::write(&one, TINY).unwrap();
    std::fs::write(&two, TINY_MODE2).unwrap();
    let out = dir.path().join("results");
    let output = run(&[&one, &two], db, &out).await;
    let stdout = succeeded(&output);
    assert!(stdout.contains("DEADLOCKED"), "{stdout}");

    let results = latest_results(&out, "tiny");
    let report = ScenarioReport::read(&results.join("report.json")).unwrap();
    assert!(report.passed && report.complete);
    assert_eq!(
        report.scenario.source, TINY,
        "the scenario travels with its results"
    );
    let verdicts: Vec<_> = report.cells.iter().map(|c| c.verdict().unwrap()).collect();
    assert_eq!(verdicts, [Verdict::Deadlocked, Verdict::Healthy]);
    let stuck = &report.cells[0];
    assert!(stuck.stopped_on_deadlock);
    assert_eq!((stuck.peaks.pool_in_use, stuck.peaks.pool_max), (2, 2));
    assert_eq!(
        stuck.app_exit.map(|e| e.code),
        Some(Some(1)),
        "a stuck app exits 1"
    );
    assert!(
        stuck
            .judgement
            .as_ref()
            .unwrap()
            .evidence
            .contains("teardown is queued")
    );
    for file in ["report.json", "report.csv", "report.md", "junit.xml"] {
        assert!(results.join(file).is_file(), "{file}");
    }
    for c in &report.cells {
        for f in &c.files {
            assert!(results.join(f).is_file(), "{f}");
        }
    }
    let junit = std::fs::read_to_string(results.join("junit.xml")).unwrap();
    assert_eq!(junit_counts(&junit), (4, 0), "{junit}");
    let csv = std::fs::read_to_string(results.join("report.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        3,
        "a header and one row per cell and task"
    );
    assert!(csv.lines().next().unwrap().contains("param_pool_max"));

    let report = ScenarioReport::read(&latest_results(&out, "tiny2").join("report.json")).unwrap();
    let verdicts: Vec<_> = report.cells.iter().map(|c| c.verdict().unwrap()).collect();
    assert_eq!(
        verdicts,
        [Verdict::Deadlocked, Verdict::Healthy],
        "Tn = 4: pool 4 locks, 5 does not"
    );
    for c in &report.cells {
        let integrity = c.integrity.as_ref().expect("mode-2 cells are checked");
        assert!(integrity.passed, "{}", integrity.message);
    }
    assert_eq!(
        report.cells[0].integrity.as_ref().unwrap().source,
        "database",
        "a locked app cannot answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_scenarios_run_on_sqlite() {
    tiny_scenarios_reach_their_verdicts_and_write_every_file("sqlite").await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_scenarios_run_on_mariadb() {
    tiny_scenarios_reach_their_verdicts_and_write_every_file(&crate::support::mysql_url()).await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_scenarios_run_on_postgres() {
    tiny_scenarios_reach_their_verdicts_and_write_every_file(&crate::support::postgres_url()).await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_local_starts_and_removes_a_throwaway_server() {
    a_local_backend_starts_and_removes_a_throwaway_server(
        "mariadb-local",
        "mysql://root@127.0.0.1:",
        "poolstorm-mariadb-",
    )
    .await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_local_starts_and_removes_a_throwaway_server() {
    a_local_backend_starts_and_removes_a_throwaway_server(
        "postgres-local",
        "postgres://postgres@127.0.0.1:",
        "poolstorm-postgres-",
    )
    .await;
}

/// The shipped pgbouncer scenario: target-app's own pool is large, pgbouncer's in transaction
/// mode is the one that locks, below Tn x (Cm - 1) + 1 = 17 and not at it, and the evidence is
/// pgbouncer's own counters beside PostgreSQL's view. Each cell's pgbouncer is gone after.
#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbouncers_pool_locks_below_the_formula_and_holds_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = dir.path().join("results");
    let output = Command::new(binary())
        .arg("run")
        .arg(repo().join("scenarios/pgbouncer.toml"))
        .args(["--quick", "--db", &crate::support::postgres_url()])
        .args(["--progress", "none", "--out"])
        .arg(&out)
        .env("TMPDIR", &tmp)
        .output()
        .await
        .unwrap();
    succeeded(&output);
    let report =
        ScenarioReport::read(&latest_results(&out, "pgbouncer").join("report.json")).unwrap();
    let verdicts: Vec<_> = report.cells.iter().map(|c| c.verdict().unwrap()).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Deadlocked,
            Verdict::Deadlocked,
            Verdict::Healthy,
            Verdict::Healthy
        ],
        "default_pool_size 8, 16, 17, 24"
    );
    let evidence = &report.cells[1].judgement.as_ref().unwrap().evidence;
    for words in [
        "16/16 connections in use (sv_active of pool_size)",
        "callers wait for a connection (cl_waiting)",
        "16 idle in transaction (ClientRead)",
    ] {
        assert!(evidence.contains(words), "{evidence}");
    }
    let source = report.cells[0].pool_source.as_ref().unwrap();
    assert!(
        source.url.contains("/pgbouncer (SHOW POOLS"),
        "{}",
        source.url
    );
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "pgbouncer's files are removed: {left:?}");
}

/// A command target behind pgbouncer: the FastAPI example's `{db.url}` is pgbouncer's (in
/// transaction mode, which pg8000's unnamed statements go through), and its own SQLAlchemy
/// pool still deadlocks where it does without one.
#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_target_reaches_its_database_through_pgbouncer() {
    let dir = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(repo().join("scenarios/fastapi-sqlalchemy.toml")).unwrap();
    let pooled = shipped
        .replace("name = \"fastapi-sqlalchemy\"", "name = \"fastapi_pgbouncer\"")
        .replace(
            "[target]",
            "[database]\npooler = \"pgbouncer\"\n[pgbouncer]\npool_mode = \"transaction\"\n\n[target]",
        )
        .replace("\"--hold-ms={hold_ms}\"", "\"--hold-ms={hold_ms}\", \"--database-url={db.url}\"")
        .replace(
            "cwd = \"../examples/fastapi-sqlalchemy\"",
            &format!(
                "cwd = \"{}\"",
                repo().join("examples/fastapi-sqlalchemy").display()
            ),
        );
    let file = dir.path().join("fastapi_pgbouncer.toml");
    std::fs::write(&file, pooled).unwrap();
    let out = dir.path().join("results");
    let output = run(&[&file], &crate::support::postgres_url(), &out).await;
    succeeded(&output);
    let report =
        ScenarioReport::read(&latest_results(&out, "fastapi_pgbouncer").join("report.json"))
            .unwrap();
    let verdicts: Vec<_> = report.cells.iter().map(|c| c.verdict().unwrap()).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Deadlocked,
            Verdict::Healthy,
            Verdict::Deadlocked,
            Verdict::Healthy
        ]
    );
    // {db.url} is pgbouncer's address, not the server's.
    let server = crate::support::postgres_url();
    let server_port = server.rsplit(':').next().unwrap();
    let given = report.cells[0]
        .command
        .iter()
        .find_map(|a| a.strip_prefix("--database-url="))
        .expect("the command got {db.url}");
    assert!(
        given.starts_with("postgres://") && !given.contains(&format!(":{server_port}/")),
        "{given} goes through pgbouncer, not to {server}"
    );
}

/// `--db BACKEND` runs a one-cell scenario on a throwaway server at `url_start...`, whose
/// files (a temp dir named `prefix...`) are gone afterwards.
#[cfg(feature = "interop")]
async fn a_local_backend_starts_and_removes_a_throwaway_server(
    backend: &str,
    url_start: &str,
    prefix: &str,
) {
    let dir = tempfile::tempdir().unwrap();
    // Its temp files in the test's own folder, to be found and counted.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let file = dir.path().join("one.toml");
    let one_cell = TINY
        .replace("[[cells]]\nroute = \"mode1/dependency\"\n", "")
        .replace("duration = \"4s\"", "duration = \"1s\"");
    std::fs::write(&file, one_cell).unwrap();
    let output = Command::new(binary())
        .arg("run")
        .arg(&file)
        .args(["--db", backend, "--progress", "none", "--out"])
        .arg(dir.path().join("results"))
        .env("TMPDIR", &tmp)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let report = ScenarioReport::read(
        &latest_results(&dir.path().join("results"), "tiny").join("report.json"),
    )
    .unwrap();
    assert!(
        report
            .scenario
            .database
            .starts_with(&format!("{backend} ({url_start}")),
        "{}",
        report.scenario.database
    );
    assert_eq!(report.cells[0].verdict(), Some(Verdict::Healthy));
    assert!(
        report.cells[0].database.is_some(),
        "the probe watched the cell's database"
    );
    let leftovers = std::fs::read_dir(&tmp)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(prefix)
        })
        .count();
    assert_eq!(leftovers, 0, "the throwaway server's files are removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_expectation_exits_1_and_names_the_cell_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    let wrong = TINY
        .replace("verdict = \"deadlocked\"", "verdict = \"healthy\"")
        .replace("duration = \"4s\"", "duration = \"3s\"");
    std::fs::write(
        &file,
        wrong.replace("[[cells]]\nroute = \"mode1/per-operation\"\n", ""),
    )
    .unwrap();
    let output = run(&[&file], "sqlite", &dir.path().join("results")).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED:\n  - cell 1 (route=mode1/dependency)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("verdict deadlocked, expected healthy"),
        "{stdout}"
    );
    let junit = std::fs::read_to_string(
        latest_results(&dir.path().join("results"), "tiny").join("junit.xml"),
    )
    .unwrap();
    assert_eq!(junit_counts(&junit).1, 1, "{junit}");
}

#[tokio::test]
async fn bad_scenarios_exit_2_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        TINY.replace("hold_ms = 100", "hold_ms = 100\npool_size = 3"),
    )
    .unwrap();
    for command in ["validate", "run"] {
        let output = Command::new(binary())
            .arg(command)
            .arg(&file)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{}:9:1: unknown parameter `pool_size`",
                file.display()
            )),
            "{stderr}"
        );
    }
    let output = Command::new(binary())
        .args(["validate", "--db", "oracle"])
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--db: unknown database backend `oracle`")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_keeps_the_cells_that_finished() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(
        &file,
        TINY.replace("duration = \"4s\"", "duration = \"30s\"")
            .replace("stop_on_deadlock = true", "stop_on_deadlock = true\n"),
    )
    .unwrap();
    let out = dir.path().join("results");
    let child = Command::new(binary())
        .arg("run")
        .arg(&file)
        .args(["--db", "sqlite", "--progress", "none", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Cell 1 deadlocks and stops after the 2 s stall window; cell 2 runs for 30 s.
    let results = wait_until(Duration::from_secs(60), "cell 1's results", async || {
        let dir = std::fs::read_dir(out.join("tiny"))
            .ok()?
            .next()?
            .ok()?
            .path();
        let report = ScenarioReport::read(&dir.join("report.json")).ok()?;
        (report.cells.len() == 1).then_some(dir)
    })
    .await;
    // Interrupt cell 2 once its interval log holds a finished second of load.
    wait_until(
        Duration::from_secs(60),
        "cell 2's first second",
        async || {
            let cell = std::fs::read_dir(results.join("cells"))
                .ok()?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| {
                    p.to_string_lossy().ends_with(".hlog") && p.to_string_lossy().contains("/02-")
                })?;
            let log = std::fs::read_to_string(cell).ok()?;
            log.lines()
                .any(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .then_some(())
        },
    )
    .await;
    crate::support::interrupt(&child).await;
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.status.code(), Some(130));
    let report = ScenarioReport::read(&results.join("report.json")).unwrap();
    assert!(report.interrupted && !report.complete && !report.passed);
    assert_eq!(report.cells.len(), 2, "the interrupted cell is kept too");
    assert_eq!(report.cells[0].verdict(), Some(Verdict::Deadlocked));
    assert!(report.cells[1].load.as_ref().unwrap().interrupted);
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poolstorm_killed_mid_cell_leaves_no_throwaway_server_and_no_datadir() {
    killed_mid_cell_leaves_nothing("mariadb-local", "poolstorm-mariadb-", "mysqld.pid").await;
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poolstorm_killed_mid_cell_leaves_no_throwaway_postgres_and_no_data_directory() {
    killed_mid_cell_leaves_nothing(
        "postgres-local",
        "poolstorm-postgres-",
        "data/postmaster.pid",
    )
    .await;
}

/// poolstorm SIGKILLed while a cell runs on `backend`: the reaper stops the server (whose pid
/// is the first line of `pid_file` in its temp dir `prefix...`) and removes its files.
#[cfg(feature = "interop")]
async fn killed_mid_cell_leaves_nothing(backend: &str, prefix: &str, pid_file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    let one_long_cell = TINY
        .replace("[[cells]]\nroute = \"mode1/dependency\"\n", "")
        .replace("duration = \"4s\"", "duration = \"60s\"");
    std::fs::write(&file, one_long_cell).unwrap();
    // Its temp files in the test's own folder, to be found and counted.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut poolstorm = Command::new(binary())
        .arg("run")
        .arg(&file)
        .args(["--db", backend, "--progress", "none", "--out"])
        .arg(dir.path().join("results"))
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let datadir = || {
        std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
    };
    let (server_dir, pid) = wait_until(
        Duration::from_secs(60),
        "the throwaway server's pid file",
        async || {
            let d = datadir()?;
            let pid = std::fs::read_to_string(d.join(pid_file)).ok()?;
            let pid = pid.lines().next()?.trim().parse::<i32>().ok()?;
            // initdb's bootstrap run writes a pid file of its own and removes it.
            crate::support::alive(pid).then_some((d, pid))
        },
    )
    .await;
    // The cell runs: target-app answers, through the server.
    wait_until(
        Duration::from_secs(30),
        "the cell's target-app log",
        async || {
            std::fs::read_dir(dir.path().join("results/tiny"))
                .ok()?
                .next()?
                .ok()
                .map(|e| e.path().join("cells"))
                .filter(|cells| std::fs::read_dir(cells).is_ok_and(|mut d| d.next().is_some()))
        },
    )
    .await;
    let alive = crate::support::alive;
    assert!(alive(pid));
    poolstorm.start_kill().unwrap();
    poolstorm.wait().await.unwrap();
    wait_until(
        Duration::from_secs(2),
        "the server and its datadir to be gone after poolstorm's SIGKILL",
        async || (!alive(pid) && !server_dir.exists()).then_some(()),
    )
    .await;
}
