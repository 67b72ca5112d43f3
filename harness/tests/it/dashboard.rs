//! The live dashboard in a real terminal: `poolstorm run` inside tmux, the screen read back with
//! `capture-pane` while a cell deadlocks; and `--no-tui` falling back to plain lines.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::binary;

/// Ends each command: the pane stays open (waiting on its input) so its last screen can be
/// read, until the session is killed.
const KEEP_OPEN: &str = "exec cat";

/// A tmux session, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn start(command: &str) -> Self {
        let name = format!(
            "poolstorm-test-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        );
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "150",
                "-y",
                "40",
                command,
            ])
            .status()
            .expect("tmux drives the dashboard test: apt-get install tmux");
        assert!(status.success());
        Self(name)
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen shows every needle; returns that screen.
    fn wait_for(&self, needles: &[&str], limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {needles:?}; last screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

const DEADLOCK: &str = r#"
name = "dash"
[app]
threads = 4
pool_max = 2
acquire_timeout = "none"
hold_ms = 100
[load]
users = 8
duration = "6s"
[[tasks]]
path = "/mode1/dependency"
[stall]
window = "2s"
stop_on_deadlock = true
[[expect]]
verdict = "deadlocked"
"#;

fn scenario(dir: &Path) -> String {
    let file = dir.join("dash.toml");
    std::fs::write(&file, DEADLOCK).unwrap();
    file.display().to_string()
}

#[test]
fn the_dashboard_shows_the_gauges_and_a_deadlock_banner_in_a_real_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "{} run {} --db sqlite --out {}; echo RUN-ENDED-$?; {KEEP_OPEN}",
        binary(),
        scenario(dir.path()),
        dir.path().join("results").display()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for(
        &["DEADLOCKED at", "pool in use", "blocking busy"],
        Duration::from_secs(30),
    );
    let line = |label: &str| {
        screen
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        screen.contains("completions per second by outcome"),
        "{screen}"
    );
    assert!(line("pool in use").contains("2/2"), "{screen}");
    assert!(line("blocking busy").contains("4/4"), "{screen}");
    assert!(
        line("teardowns pending").contains("teardowns pending 2"),
        "{screen}"
    );
    assert!(
        screen.contains("connections held by requests whose teardown is queued"),
        "{screen}"
    );
    assert!(screen.contains("dash [1/1] base"), "{screen}");
    // After the run the terminal is given back and the comparison table printed.
    let after = tmux.wait_for(&["RUN-ENDED-0"], Duration::from_secs(30));
    assert!(
        after.contains("deadlocked (stopped)") && after.contains("all 1 rule checks passed"),
        "{after}"
    );
    assert!(
        !after.contains("completions per second"),
        "the dashboard is gone: {after}"
    );
}

#[test]
fn no_tui_prints_progress_lines_instead() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "{} run {} --db sqlite --no-tui --out {}; echo RUN-ENDED-$?; {KEEP_OPEN}",
        binary(),
        scenario(dir.path()),
        dir.path().join("results").display()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for(&["RUN-ENDED-0"], Duration::from_secs(40));
    assert!(
        screen.contains("req/s") && screen.contains("in flight"),
        "{screen}"
    );
    assert!(
        !screen.contains("completions per second by outcome"),
        "{screen}"
    );
}

#[test]
fn poolstorm_load_shows_the_dashboard_too_without_a_server_view() {
    // The stub runs here, on a runtime of the test's own: it listens before tmux starts.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stub = runtime
        .block_on(harness::engine::stub::Stub::start(
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let url = format!("{}/ok", stub.url());
    let command = format!(
        "{} load {url} --users 4 --duration 4s; echo LOAD-ENDED-$?; {KEEP_OPEN}",
        binary()
    );
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for(
        &["completions per second by outcome", "no server view"],
        Duration::from_secs(20),
    );
    assert!(screen.contains(&url), "{screen}");
    let after = tmux.wait_for(&["LOAD-ENDED-0"], Duration::from_secs(20));
    assert!(
        after.contains("GET /ok") && after.contains("stalls     none"),
        "the summary after the dashboard: {after}"
    );
}
