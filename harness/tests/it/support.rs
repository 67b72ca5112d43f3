//! Test support: the real CLI parsing path into a plan, the driver run in-process against the
//! stub on port 0, and the `poolstorm` binary for exit codes and signals.

use std::time::Duration;

use clap::Parser as _;
use harness::cli::commands::load::plan;
use harness::cli::{Cli, Command, LoadArgs};
use harness::engine::driver::{self, Sinks};
use harness::results::LoadReport;
use tokio_util::sync::CancellationToken;

/// `poolstorm load ARGS...` parsed as the binary would (arguments split on whitespace).
pub(crate) fn load_args(args: &str) -> LoadArgs {
    load_argv(&args.split_whitespace().collect::<Vec<_>>())
}

/// `poolstorm load ARGV...` parsed as the binary would.
pub(crate) fn load_argv(argv: &[&str]) -> LoadArgs {
    let argv = ["poolstorm", "load"]
        .into_iter()
        .chain(argv.iter().copied());
    match Cli::try_parse_from(argv).expect("valid arguments").command {
        Command::Load(args) => *args,
        _ => unreachable!("a load command line"),
    }
}

/// Runs `poolstorm load ARGS...` in-process and returns its report and how long it took.
pub(crate) async fn load(args: &str) -> (LoadReport, Duration) {
    load_with(&load_args(args), CancellationToken::new()).await
}

pub(crate) async fn load_with(args: &LoadArgs, stop: CancellationToken) -> (LoadReport, Duration) {
    let plan = plan(args).expect("a valid plan");
    let started = std::time::Instant::now();
    let mut live = |_: &harness::engine::metrics::Live| {};
    let run = driver::run(
        &plan,
        Sinks {
            live: &mut live,
            intervals: None,
        },
        stop,
    )
    .await
    .expect("run");
    (LoadReport::new(&plan, &run), started.elapsed())
}

/// The `poolstorm` binary.
pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_poolstorm")
}

/// Sends SIGINT to a child process, as Ctrl-C in a terminal would.
pub(crate) async fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("still running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
}

/// Asks `check` every 100 ms until it gives a value; fails, saying what it waited for, after
/// `limit`. The one wait of the integration tests (the library's is `base::poll::until`).
pub(crate) async fn wait_until<T>(
    limit: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {limit:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether process `pid` still runs (a zombie, its parent gone, does not).
pub(crate) fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(") ")
            .next()
            .is_some_and(|rest| !rest.starts_with('Z'))
    })
}

/// The repository's root.
pub(crate) fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The databases a test that runs "on every engine" uses: SQLite, and in the tier that has a
/// MariaDB and a PostgreSQL server (feature `interop`, which `make test` turns on) those too.
pub(crate) fn engines() -> Vec<String> {
    let sqlite = "sqlite".to_owned();
    #[cfg(feature = "interop")]
    return vec![sqlite, mysql_url(), postgres_url()];
    #[cfg(not(feature = "interop"))]
    vec![sqlite]
}

/// The MySQL server the tests use (`make test` starts one). Only the `interop` tier has it, so
/// a test that needs it does not compile without that feature.
#[cfg(feature = "interop")]
pub(crate) fn mysql_url() -> String {
    std::env::var("POOLSTORM_MYSQL_URL").expect(
        "this test needs a MySQL/MariaDB server: run `make test` or set POOLSTORM_MYSQL_URL=mysql://USER:PASS@IP:PORT",
    )
}

/// The PostgreSQL server the tests use (`make test` starts one with scripts/with-postgres.sh):
/// `postgres://USER@IP:PORT`, without a database.
#[cfg(feature = "interop")]
pub(crate) fn postgres_url() -> String {
    std::env::var("POOLSTORM_POSTGRES_URL").expect(
        "this test needs a PostgreSQL server: run `make test` or set POOLSTORM_POSTGRES_URL=postgres://USER:PASS@IP:PORT",
    )
}

/// `poolstorm run FILES --db DB --progress none --out OUT`.
pub(crate) async fn run(
    files: &[&std::path::Path],
    db: &str,
    out: &std::path::Path,
) -> std::process::Output {
    tokio::process::Command::new(binary())
        .arg("run")
        .args(files)
        .args(["--db", db, "--progress", "none", "--out"])
        .arg(out)
        .output()
        .await
        .unwrap()
}

/// The newest results folder of scenario `name` under `out`.
pub(crate) fn latest_results(out: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    dirs.pop().unwrap()
}

/// The value validates against the published load report schema.
pub(crate) fn assert_load_schema(value: &serde_json::Value) {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/load-report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "schema errors: {errors:#?}");
}
