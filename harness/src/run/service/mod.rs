//! A child process poolstorm supervises: the service under test of a cell (target-app, or the
//! user's own program), a throwaway database server, a test's nginx. One way for all of them:
//! its own process group (which the [`reaper`](crate::base::reaper) kills should poolstorm
//! die), its stdout and stderr in a bounded log file ([`log`]), ready once its [`Ready`] check
//! passes (a `GET` that answers 2xx, a TCP port or a database that accepts a connection),
//! watched for an exit while it runs, and stopped with SIGTERM to the whole group, then
//! SIGKILL after a grace; dropped without a stop, its group is killed. A stuck service is
//! killed, never reused.

pub mod log;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use sqlx::Connection as _;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::base::local::tail;
use crate::base::{poll, reaper};
use crate::engine::fetch;
pub use crate::results::scenario::ServiceExit;
use log::BoundedLog;

/// Lines of the log quoted when a service fails.
const LOG_LINES: usize = 12;
/// How long a service's output may take to end after it exited, before its log is closed.
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// How to start one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    /// Added to poolstorm's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// What says it is ready, asked every [`Ready::every`] for at most `ready_timeout`.
    pub ready: Ready,
    pub ready_timeout: Duration,
    /// How long after SIGTERM before SIGKILL.
    pub grace: Duration,
    /// The user and group it runs as (uid, gid), when not poolstorm's own: PostgreSQL refuses
    /// to run as root.
    pub run_as: Option<(u32, u32)>,
}

/// What says a started service is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// `GET {base_url}{path}` answers 2xx (`base_url`: `http://127.0.0.1:PORT`).
    Http { base_url: String, path: String },
    /// A TCP connection to this address opens.
    Tcp(std::net::SocketAddr),
    /// A database connection to this URL (sqlx's Any drivers) opens and closes.
    Sql(String),
}

impl Ready {
    /// Where it is reached: the base URL, the address, the database URL.
    pub fn url(&self) -> String {
        match self {
            Ready::Http { base_url, .. } => base_url.clone(),
            Ready::Tcp(addr) => addr.to_string(),
            Ready::Sql(url) => url.clone(),
        }
    }

    /// Whether the check passes now.
    async fn passes(&self) -> bool {
        match self {
            Ready::Http { base_url, path } => matches!(
                fetch::get(base_url, path, Duration::from_secs(1)).await,
                Ok((200..=299, _))
            ),
            Ready::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
            Ready::Sql(url) => {
                sqlx::any::install_default_drivers();
                match sqlx::AnyConnection::connect(url).await {
                    Ok(conn) => {
                        let _ = conn.close().await;
                        true
                    }
                    Err(_) => false,
                }
            }
        }
    }

    /// How often it is asked.
    fn every(&self) -> Duration {
        match self {
            Ready::Sql(_) => Duration::from_millis(100),
            _ => Duration::from_millis(50),
        }
    }
}

impl std::fmt::Display for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ready::Http { base_url, path } => write!(f, "answer GET {base_url}{path} with 2xx"),
            Ready::Tcp(addr) => write!(f, "accept a TCP connection on {addr}"),
            Ready::Sql(url) => write!(
                f,
                "accept a database connection at {}",
                crate::base::redact::urls(url)
            ),
        }
    }
}

/// Why a service did not come up.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot write the log {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{program}` exited with {status} before it was ready; its log ends:\n{log}")]
    Exited {
        program: String,
        status: String,
        log: String,
    },
    #[error(
        "`{program}` did not {ready} within {}; its log ends:\n{log}",
        humantime::format_duration(*timeout)
    )]
    NotReady {
        program: String,
        ready: Ready,
        timeout: Duration,
        log: String,
    },
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    pid: Pid,
    program: String,
    started: Instant,
    exited: watch::Receiver<Option<(std::process::ExitStatus, Instant)>>,
    log: PathBuf,
    output: BoundedLog,
    grace: Duration,
    ready: Ready,
    /// Stopped, or its group killed: nothing left for [`Drop`] to do.
    ended: bool,
}

fn log_file(
    path: &Path,
) -> Result<(BoundedLog, std::io::PipeWriter, std::io::PipeWriter), StartError> {
    let fail = |source: std::io::Error| StartError::Log {
        path: path.to_owned(),
        source,
    };
    let (log, out) = BoundedLog::create(path, log::KEEP, log::KEEP).map_err(fail)?;
    let err = out.try_clone().map_err(fail)?;
    Ok((log, out, err))
}

impl Service {
    /// Starts the service and waits until it is ready.
    pub async fn start(launch: &Launch) -> Result<Self, StartError> {
        let (output, out, err) = log_file(&launch.log)?;
        let mut command = Command::new(&launch.program);
        command
            .args(&launch.args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &launch.cwd {
            command.current_dir(cwd);
        }
        if let Some((uid, gid)) = launch.run_as {
            // std drops root's supplementary groups before it changes the user.
            command.uid(uid).gid(gid);
        }
        let spawned = command.spawn();
        // The pipe's writing ends are the child's alone now: its end is the log's end.
        drop(command);
        let mut child = spawned.map_err(|source| StartError::Spawn {
            program: launch.program.clone(),
            source,
        })?;
        let id = child.id().expect("a spawned child has a pid");
        reaper::watch_group(id);
        let pid = Pid::from_raw(id as i32);
        let (tx, exited) = watch::channel(None);
        tokio::spawn(async move {
            if let Ok(status) = child.wait().await {
                let _ = tx.send(Some((status, Instant::now())));
            }
        });
        let service = Self {
            pid,
            program: launch.program.clone(),
            started: Instant::now(),
            exited,
            log: launch.log.clone(),
            output,
            grace: launch.grace,
            ready: launch.ready.clone(),
            ended: false,
        };
        service.wait_ready(launch.ready_timeout).await
    }

    async fn wait_ready(mut self, timeout: Duration) -> Result<Self, StartError> {
        let ready = poll::until(timeout, self.ready.every(), async || {
            if let Some(exit) = self.exited() {
                return Err(exit);
            }
            Ok(self.ready.passes().await.then_some(()))
        })
        .await;
        let failed = match ready {
            Ok(Some(())) => return Ok(self),
            Ok(None) => StartError::NotReady {
                program: self.program.clone(),
                ready: self.ready.clone(),
                timeout,
                log: self.closed_log_tail(),
            },
            Err(exit) => StartError::Exited {
                program: self.program.clone(),
                status: exit.status(),
                log: self.closed_log_tail(),
            },
        };
        self.kill_group(Signal::SIGKILL);
        self.ended = true;
        Err(failed)
    }

    /// Where it is reached (see [`Ready::url`]): `http://127.0.0.1:PORT` for an HTTP service.
    pub fn url(&self) -> String {
        self.ready.url()
    }

    /// Its process id, which is its process group's too.
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// How it ended, if it has: an exit on its own, before anyone stopped it.
    pub fn exited(&self) -> Option<ServiceExit> {
        let (status, at) = (*self.exited.borrow())?;
        Some(exit_of(
            status,
            false,
            Some(at.duration_since(self.started).as_secs_f64()),
        ))
    }

    /// When it exited on its own, as an instant.
    pub fn exited_at(&self) -> Option<Instant> {
        self.exited.borrow().map(|(_, at)| at)
    }

    /// The last lines of its log so far.
    pub fn log_tail(&self) -> String {
        self.output.last_lines(&self.log, LOG_LINES)
    }

    /// Its log closed once its output ended (its group was killed), and its last lines.
    fn closed_log_tail(&self) -> String {
        let _ = self.output.finish(LOG_DRAIN);
        reaper::forget_group(self.pid.as_raw() as u32);
        tail(&self.log, LOG_LINES)
    }

    fn kill_group(&self, signal: Signal) {
        let _ = killpg(self.pid, signal);
    }

    /// Stops it: SIGTERM to its process group, SIGKILL after the grace. A service that had
    /// already exited reports when.
    pub async fn stop(mut self) -> ServiceExit {
        if let Some(mut exit) = self.exited() {
            self.kill_group(Signal::SIGKILL);
            exit.log_cut_bytes = self.close_log();
            self.ended = true;
            return exit;
        }
        self.kill_group(Signal::SIGTERM);
        let killed = tokio::time::timeout(self.grace, self.exited.wait_for(Option::is_some))
            .await
            .is_err();
        if killed {
            self.kill_group(Signal::SIGKILL);
            let waited = tokio::time::timeout(
                Duration::from_secs(5),
                self.exited.wait_for(Option::is_some),
            );
            let _ = waited.await.is_ok();
        }
        // Anything of its group still running (a shell's children) goes too.
        self.kill_group(Signal::SIGKILL);
        let log_cut_bytes = self.close_log();
        self.ended = true;
        let ended = *self.exited.borrow();
        match ended {
            Some((status, _)) => ServiceExit {
                log_cut_bytes,
                ..exit_of(status, killed, None)
            },
            None => ServiceExit {
                code: None,
                signal: Some(Signal::SIGKILL as i32),
                killed: true,
                died_at_s: None,
                log_cut_bytes,
            },
        }
    }

    /// Closes its log (what it wrote after its group was killed is dropped) and forgets its
    /// group; the bytes cut from the log.
    fn close_log(&self) -> u64 {
        reaper::forget_group(self.pid.as_raw() as u32);
        self.output.finish(LOG_DRAIN).unwrap_or(0)
    }
}

impl Drop for Service {
    /// A service nobody stopped (a run that failed half-way) takes its group with it.
    fn drop(&mut self) {
        if !self.ended {
            self.kill_group(Signal::SIGKILL);
            reaper::forget_group(self.pid());
        }
    }
}

fn exit_of(status: std::process::ExitStatus, killed: bool, died_at_s: Option<f64>) -> ServiceExit {
    use std::os::unix::process::ExitStatusExt as _;
    ServiceExit {
        code: status.code(),
        signal: status.signal(),
        killed,
        died_at_s,
        log_cut_bytes: 0,
    }
}

/// A free port on 127.0.0.1 (the kernel's pick, released for the service to bind).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(dir: &Path, script: &str, ready_timeout: Duration) -> Launch {
        let port = free_port().unwrap();
        Launch {
            program: "sh".to_owned(),
            args: vec!["-c".to_owned(), script.replace("PORT", &port.to_string())],
            env: vec![("GREETING".to_owned(), "hello".to_owned())],
            cwd: Some(dir.to_owned()),
            log: dir.join("service.log"),
            ready: Ready::Http {
                base_url: format!("http://127.0.0.1:{port}"),
                path: "/".to_owned(),
            },
            ready_timeout,
            grace: Duration::from_secs(2),
            run_as: None,
        }
    }

    #[tokio::test]
    async fn a_service_that_exits_at_start_says_so_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let l = launch(
            dir.path(),
            "echo \"$GREETING from $(pwd)\"; exit 7",
            Duration::from_secs(10),
        );
        let err = Service::start(&l).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("exited with exit status 7"), "{text}");
        assert!(
            text.contains(&format!("hello from {}", dir.path().display())),
            "the log, the env and the cwd: {text}"
        );
    }

    #[tokio::test]
    async fn a_service_that_never_answers_is_killed_after_its_ready_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let l = launch(
            dir.path(),
            "echo waiting; exec sleep 60",
            Duration::from_millis(600),
        );
        let started = Instant::now();
        let err = Service::start(&l).await.unwrap_err();
        assert!(matches!(err, StartError::NotReady { .. }), "{err}");
        assert!(err.to_string().contains("waiting"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_service_dropped_without_a_stop_takes_its_whole_group_with_it() {
        let dir = tempfile::tempdir().unwrap();
        // Ready at once: the test holds the port it checks.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut l = launch(
            dir.path(),
            "sleep 60 & echo $! > child.pid; wait",
            Duration::from_secs(10),
        );
        l.ready = Ready::Tcp(port.local_addr().unwrap());
        let service = Service::start(&l).await.unwrap();
        let pid_file = dir.path().join("child.pid");
        let child = poll::until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            async || {
                Ok::<_, ()>(
                    std::fs::read_to_string(&pid_file)
                        .ok()
                        .and_then(|t| t.trim().parse::<i32>().ok()),
                )
            },
        )
        .await
        .unwrap()
        .expect("the shell wrote its child's pid");
        let running = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit(") ")
                    .next()
                    .is_some_and(|r| !r.starts_with('Z'))
            })
        };
        assert!(running(child));
        drop(service);
        let gone = poll::until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            async || Ok::<_, ()>((!running(child)).then_some(())),
        )
        .await;
        assert_eq!(
            gone,
            Ok(Some(())),
            "the shell's child {child} outlived the drop"
        );
    }

    #[tokio::test]
    async fn a_program_that_does_not_exist_cannot_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = launch(dir.path(), "", Duration::from_secs(1));
        l.program = "/no/such/program".to_owned();
        assert!(matches!(
            Service::start(&l).await,
            Err(StartError::Spawn { .. })
        ));
    }
}
