//! The `poolstorm` binary from outside: exit statuses, bad input naming its flag, SIGINT
//! writing the files, and `--fail-if`.

use harness::engine::metrics::Kind;
use std::process::Output;
use std::time::Duration;

use harness::engine::stub::Stub;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::support::binary;

async fn poolstorm(args: &[&str]) -> Output {
    Command::new(binary()).args(args).output().await.unwrap()
}

#[tokio::test]
async fn bad_input_exits_2_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["load", "ftp://127.0.0.1/"], "URL"),
        (&["load", "http://127.0.0.1:1/", "--users", "0"], "--users"),
        (&["load", "http://127.0.0.1:1/", "--rate", "-5"], "--rate"),
        (
            &["load", "http://127.0.0.1:1/", "--duration", "soon"],
            "--duration",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--timeout", "0s"],
            "--timeout",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--wait", "2s..1s"],
            "--wait",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--spawn-rate", "0"],
            "--spawn-rate",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--requests", "0"],
            "--requests",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--stall-window", "x"],
            "--stall-window",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--task", "GET nowhere"],
            "--task",
        ),
        (
            &["load", "http://127.0.0.1:1/", "-H", "no-colon"],
            "--header",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--fail-if", "p99 > 5"],
            "--fail-if",
        ),
        (
            &[
                "load",
                "http://127.0.0.1:1/",
                "--json",
                "/no/such/dir/r.json",
            ],
            "--json",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--users", "3", "--rate", "5"],
            "--users",
        ),
        (
            &["load", "http://127.0.0.1:1/", "--max-in-flight", "9"],
            "--max-in-flight",
        ),
    ];
    for (args, flag) in cases {
        let out = poolstorm(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag),
            "{args:?}: message does not name {flag}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_if_conditions_decide_the_exit_status() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let failing = format!("{}/status?code=500", stub.url());
    let base = [
        "load",
        failing.as_str(),
        "--requests",
        "50",
        "--progress",
        "none",
    ];
    let held = poolstorm(&[&base[..], &["--fail-if", "error_ratio > 0.01"]].concat()).await;
    assert_eq!(
        held.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&held.stdout)
    );
    assert!(String::from_utf8_lossy(&held.stdout).contains("error_ratio > 0.01: FAILED"));
    let passed = poolstorm(&[&base[..], &["--fail-if", "p99_ms > 5000 || stalled"]].concat()).await;
    assert_eq!(passed.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_ends_the_run_early_and_still_writes_the_files() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let url = format!("{}/delay?ms=200", stub.url());
    let mut child = Command::new(binary())
        .args([
            "load",
            &url,
            "--users",
            "4",
            "--duration",
            "60s",
            "--progress",
            "plain",
        ])
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stderr line by line: the first progress line is an event to wait for.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first_progress = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("req/s") {
                return line;
            }
        }
        panic!("stderr closed without a progress line");
    })
    .await
    .expect("plain progress lines when not a terminal");
    // Three rounds of four users have started: eight answered, four in flight.
    tokio::time::timeout(Duration::from_secs(20), stub.requests_reached(12))
        .await
        .expect("the load reaches the stub");
    crate::support::interrupt(&child).await;
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(130));
    let report = harness::results::LoadReport::read(&json).unwrap();
    assert!(report.interrupted);
    assert_eq!(report.outcome(Kind::Aborted), 4);
    assert!(report.outcome(Kind::Ok) >= 8, "{:?}", report.outcomes);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    assert!(first_progress.contains("in flight"), "{first_progress}");
}

#[tokio::test]
async fn help_documents_the_task_syntax_and_fail_if_names() {
    let out = poolstorm(&["load", "--help"]).await;
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "METHOD PATH [weight=N]",
        "pool_timeout_ratio",
        "--rate",
        "--spawn-rate",
        "--hlog",
        "--fail-if",
    ] {
        assert!(help.contains(needle), "--help misses {needle}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_panics_fails_the_run_with_exit_3_and_the_others_results_are_written() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let url = format!("{}/ok", stub.url());
    let out = Command::new(binary())
        .args(["load", &url, "--users", "4", "--workers", "2"])
        .args(["--requests", "200", "--progress", "none", "--json"])
        .arg(&json)
        .env("POOLSTORM_FAULT_PANIC_WORKER", "1")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("load worker 1 panicked: worker 1 panics"),
        "names the worker and its panic message: {stderr}"
    );
    let report = harness::results::LoadReport::read(&json).expect("the report is still written");
    assert_eq!(report.outcome(Kind::Ok), 200, "{:?}", report.outcomes);
    assert_eq!(stub.requests(), 200);
}
