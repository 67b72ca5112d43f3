//! A managed target-app: found on this machine, and started per cell as a [`Service`] with
//! that cell's flags on a free loopback port, ready once `/health` answers, stopped with
//! SIGTERM then SIGKILL after a bounded grace: a deadlocked app is killed, never reused.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::base::local::which;
use crate::run::service::{Launch, Ready, Service, StartError, free_port};

/// How long target-app gets to answer `/health`.
const STARTUP: Duration = Duration::from_secs(30);
/// The grace target-app is given for its own shutdown (`--shutdown-grace`).
const APP_GRACE: &str = "1";
/// How long after SIGTERM before SIGKILL.
const KILL_AFTER: Duration = Duration::from_secs(3);

/// Why the app could not be started.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(
        "target-app not found: build it (`cargo build --workspace`), or point POOLSTORM_TARGET_APP or the scenario's target.binary at it"
    )]
    NotFound,
    #[error("no free port: {0}")]
    Port(#[source] std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
}

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
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .or_else(|| which(&["target-app"], &[]))
        .ok_or(AppError::NotFound)
}

/// How to start target-app with `flags` on a free loopback port, its output going to `log`.
pub fn launch(binary: &Path, flags: &[String], log: &Path) -> Result<Launch, AppError> {
    let port = free_port().map_err(AppError::Port)?;
    let mut args = flags.to_vec();
    args.extend([
        "--listen".to_owned(),
        format!("127.0.0.1:{port}"),
        "--shutdown-grace".to_owned(),
        APP_GRACE.to_owned(),
    ]);
    Ok(Launch {
        program: binary.display().to_string(),
        args,
        env: vec![(
            "TARGET_APP_LOG".to_owned(),
            "target_app=info,warn".to_owned(),
        )],
        cwd: None,
        log: log.to_owned(),
        ready: Ready::Http {
            base_url: format!("http://127.0.0.1:{port}"),
            path: "/health".to_owned(),
        },
        ready_timeout: STARTUP,
        grace: KILL_AFTER,
        run_as: None,
    })
}

/// Starts target-app with `flags` and waits until `/health` answers.
pub async fn start(binary: &Path, flags: &[String], log: &Path) -> Result<Service, AppError> {
    Ok(Service::start(&launch(binary, flags, log)?).await?)
}
