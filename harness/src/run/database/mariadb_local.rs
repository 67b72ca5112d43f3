//! A throwaway MariaDB (or MySQL) server from this machine's packages: a fresh datadir in a
//! temp dir, a private port on 127.0.0.1 and a private socket, its own process group (so a
//! terminal's Ctrl-C reaches poolstorm only), a [`Service`] like any other child, stopped and
//! removed by [`LocalServer::stop`] or, failing that, when dropped, and by the
//! [`reaper`](crate::base::reaper) should poolstorm die.

use std::path::Path;
use std::time::Duration;

use tokio::process::Command;

use super::DatabaseError;
use crate::base::local::{SYSTEM_DIRS, which};
use crate::base::reaper::{self, WatchedDir};
use crate::run::service::{Launch, Ready, Service, free_port};

/// How long the server gets to say it is ready.
const STARTUP: Duration = Duration::from_secs(60);
/// How long it gets to shut down after SIGTERM, before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// A running throwaway server.
#[derive(Debug)]
pub struct LocalServer {
    /// The server, supervised as every child process is (its group, its log, its stop).
    service: Service,
    /// Its datadir, socket and log; declared after the server, so removed after it stops.
    _dir: WatchedDir,
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
        let dir = reaper::temp_dir("poolstorm-mariadb-", parent).map_err(DatabaseError::from)?;
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
        let port = free_port().map_err(DatabaseError::from)?;
        let url = format!("mysql://root@127.0.0.1:{port}");
        let path = |name: &str| dir.path().join(name).display().to_string();
        let launch = Launch {
            program: server.display().to_string(),
            args: vec![
                "--no-defaults".to_owned(),
                format!("--datadir={}", data.display()),
                format!("--port={port}"),
                format!("--socket={}", path("mysqld.sock")),
                format!("--pid-file={}", path("mysqld.pid")),
                "--bind-address=127.0.0.1".to_owned(),
                "--skip-name-resolve".to_owned(),
                "--innodb-buffer-pool-size=128M".to_owned(),
                "--max-connections=2000".to_owned(),
                user,
            ],
            env: Vec::new(),
            cwd: None,
            // Without --log-error the server writes its error log to stderr.
            log: dir.path().join("server.log"),
            ready: Ready::Sql(format!("{url}/")),
            ready_timeout: STARTUP,
            grace: GRACE,
        };
        let service = Service::start(&launch)
            .await
            .map_err(|e| DatabaseError::caused("the throwaway MariaDB server did not start", e))?;
        Ok(Self {
            service,
            _dir: dir,
            url,
        })
    }

    /// The server's process id (for tests that take the database away mid-run).
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s) and removes its files.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}
