//! A throwaway MariaDB (or MySQL) server from this machine's packages: a fresh datadir in a
//! temp dir, a private port on 127.0.0.1 and a private socket, its own process group (so a
//! terminal's Ctrl-C reaches poolstorm only), stopped and removed by [`LocalServer::stop`] or,
//! failing that, when dropped, and by the [`reaper`](crate::base::reaper) should poolstorm die.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sqlx::Connection as _;
use tokio::process::{Child, Command};

use super::DatabaseError;
use crate::base::local::{SYSTEM_DIRS, tail, which};
use crate::base::poll;

/// How long the server gets to say it is ready.
const STARTUP: Duration = Duration::from_secs(60);

/// A running throwaway server.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    /// The server's process group (its pid), registered with the reaper.
    group: u32,
    dir: tempfile::TempDir,
    /// `mysql://root@127.0.0.1:PORT`.
    pub url: String,
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |u| u.name)
}

impl LocalServer {
    /// Initializes a datadir and starts the server; fails at once, saying what to install,
    /// when the machine has no server binary.
    pub async fn start() -> Result<Self, DatabaseError> {
        Self::start_in(&std::env::temp_dir()).await
    }

    /// [`LocalServer::start`] with its files in a new directory under `parent`.
    pub async fn start_in(parent: &Path) -> Result<Self, DatabaseError> {
        let server = which(&["mariadbd", "mysqld"], SYSTEM_DIRS).ok_or_else(|| {
            DatabaseError::Setup(
                "the mariadb-local backend needs a MariaDB or MySQL server binary (mariadbd or mysqld) and none was \
                 found; install one (`sudo apt-get install mariadb-server`), or use --db sqlite, or --db \
                 mysql://USER:PASS@IP:PORT for a running server"
                    .to_owned(),
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("poolstorm-mariadb-")
            .tempdir_in(parent)
            .map_err(DatabaseError::from)?;
        crate::base::reaper::watch_dir(dir.path());
        let data = dir.path().join("data");
        let user = format!("--user={}", current_user());
        let mariadb = server.file_name().is_some_and(|n| n == "mariadbd");
        let install = match which(&["mariadb-install-db", "mysql_install_db"], SYSTEM_DIRS)
            .filter(|_| mariadb)
        {
            Some(installer) => {
                Command::new(installer)
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .args([
                        "--auth-root-authentication-method=normal",
                        "--skip-test-db",
                        &user,
                    ])
                    .output()
                    .await
            }
            None => {
                Command::new(&server)
                    .args(["--no-defaults", "--initialize-insecure"])
                    .arg(format!("--datadir={}", data.display()))
                    .arg(&user)
                    .output()
                    .await
            }
        }
        .map_err(DatabaseError::from)?;
        if !install.status.success() {
            return Err(DatabaseError::Setup(format!(
                "initializing a datadir failed: {}{}",
                String::from_utf8_lossy(&install.stdout),
                String::from_utf8_lossy(&install.stderr)
            )));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(DatabaseError::from)?
            .port();
        let log = dir.path().join("error.log");
        let child = Command::new(&server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg(format!(
                "--socket={}",
                dir.path().join("mysqld.sock").display()
            ))
            .arg(format!(
                "--pid-file={}",
                dir.path().join("mysqld.pid").display()
            ))
            .arg(format!("--log-error={}", log.display()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=128M",
            ])
            .args(["--max-connections=2000", &user])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(DatabaseError::from)?;
        let group = child.id().expect("a spawned child has a pid");
        crate::base::reaper::watch_group(group);
        let mut server = Self {
            child,
            group,
            dir,
            url: format!("mysql://root@127.0.0.1:{port}"),
        };
        server.wait_ready(&log).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, log: &Path) -> Result<(), DatabaseError> {
        sqlx::any::install_default_drivers();
        let url = format!("{}/", self.url);
        let child = &mut self.child;
        let ready = poll::until(STARTUP, Duration::from_millis(100), async || {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(status);
            }
            match sqlx::AnyConnection::connect(&url).await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    Ok(Some(()))
                }
                Err(_) => Ok(None),
            }
        })
        .await;
        match ready {
            Ok(Some(())) => Ok(()),
            Ok(None) => Err(DatabaseError::Setup(format!(
                "the server did not start within {}:\n{}",
                humantime::format_duration(STARTUP),
                tail(log, 12)
            ))),
            Err(status) => Err(DatabaseError::Setup(format!(
                "the server exited ({status}):\n{}",
                tail(log, 12)
            ))),
        }
    }

    /// The server's process id (for tests that take the database away mid-run).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its files.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.kill().await;
            }
        }
    }
}

impl Drop for LocalServer {
    /// Its files go with the temp dir, the server with `kill_on_drop`: the reaper need not.
    fn drop(&mut self) {
        crate::base::reaper::forget_group(self.group);
        crate::base::reaper::forget_dir(self.dir.path());
    }
}
