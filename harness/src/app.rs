//! A managed target-app: started as a child process per cell with that cell's flags on
//! `127.0.0.1:0` (the address read from its first stdout line), ready once `/health`
//! answers, and stopped with SIGTERM then SIGKILL after a bounded grace: a deadlocked app is
//! killed, never reused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::fetch;
use crate::local::{tail, which};

/// How long target-app gets to print its address and answer `/health`.
const STARTUP: Duration = Duration::from_secs(30);
/// The grace target-app is given for its own shutdown (`--shutdown-grace`).
const APP_GRACE: &str = "1";
/// How long after SIGTERM before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(3);

/// Why the app could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AppError(pub String);

/// Finds the target-app binary: `configured` (scenario `target.binary`), then
/// `$POOLSTORM_TARGET_APP`, then next to this executable, then on `PATH`.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, AppError> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("target-app"));
    let candidates = configured
        .map(Path::to_path_buf)
        .into_iter()
        .chain(std::env::var_os("POOLSTORM_TARGET_APP").map(PathBuf::from))
        .chain(beside);
    candidates.into_iter().find(|p| p.is_file()).or_else(|| which(&["target-app"], &[])).ok_or_else(|| {
        AppError(
            "target-app not found: build it (`cargo build --workspace`), or point POOLSTORM_TARGET_APP or the \
             scenario's target.binary at it"
                .to_owned(),
        )
    })
}

/// A running target-app.
#[derive(Debug)]
pub struct ManagedApp {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    log: PathBuf,
}

/// How the app ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppExit {
    /// Exit status, `None` when killed by a signal.
    pub code: Option<i32>,
    /// It did not end within the grace and was killed.
    pub killed: bool,
}

impl ManagedApp {
    /// Starts `binary` with `flags`, its stderr going to `log`.
    pub async fn start(binary: &Path, flags: &[String], log: &Path) -> Result<Self, AppError> {
        let err_file =
            std::fs::File::create(log).map_err(|e| AppError(format!("{}: {e}", log.display())))?;
        let mut child = Command::new(binary)
            .args(flags)
            .args(["--listen", "127.0.0.1:0", "--shutdown-grace", APP_GRACE])
            .env("TARGET_APP_LOG", "target_app=info,warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err_file)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| AppError(format!("cannot start {}: {e}", binary.display())))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let first = tokio::time::timeout(STARTUP, BufReader::new(stdout).lines().next_line()).await;
        let base_url = match first {
            Ok(Ok(Some(line))) if line.starts_with("listening on http://") => {
                line["listening on ".len()..].to_owned()
            }
            _ => {
                let _ = child.kill().await;
                return Err(AppError(format!(
                    "target-app did not start; its log says:\n{}",
                    tail(log, 10)
                )));
            }
        };
        let app = Self {
            child,
            base_url,
            log: log.to_owned(),
        };
        app.wait_healthy().await?;
        Ok(app)
    }

    async fn wait_healthy(&self) -> Result<(), AppError> {
        let deadline = tokio::time::Instant::now() + STARTUP;
        loop {
            if let Ok((200, _)) =
                fetch::get(&self.base_url, "/health", Duration::from_secs(1)).await
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(AppError(format!(
                    "{}/health did not answer 200; log:\n{}",
                    self.base_url,
                    tail(&self.log, 10)
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM; SIGKILL when it has not exited [`KILL_AFTER`] later.
    pub async fn stop(mut self) -> AppExit {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(KILL_AFTER, self.child.wait()).await {
            Ok(Ok(status)) => AppExit {
                code: status.code(),
                killed: false,
            },
            _ => {
                let _ = self.child.kill().await;
                AppExit {
                    code: None,
                    killed: true,
                }
            }
        }
    }
}
