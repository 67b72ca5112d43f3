//! How a throwaway MariaDB (or MySQL) server is made from this machine's packages: a fresh
//! datadir in a temp dir, a private port on 127.0.0.1 and a private socket. [`LocalServer`]
//! runs it.
//!
//! [`LocalServer`]: super::LocalServer

use std::path::Path;

use tokio::process::Command;

use super::{DatabaseError, GRACE, Prepared, STARTUP};
use crate::base::local::{SYSTEM_DIRS, which};
use crate::base::reaper;
use crate::run::service::{Launch, Ready, free_port};

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |u| u.name)
}

/// Initializes a datadir in a new directory under `parent` and says how to start the
/// server; fails at once, saying what to install, when the machine has no server binary.
pub(super) async fn prepare(parent: &Path) -> Result<Prepared, DatabaseError> {
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
    let install =
        match which(&["mariadb-install-db", "mysql_install_db"], SYSTEM_DIRS).filter(|_| mariadb) {
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
        run_as: None,
    };
    Ok(Prepared { dir, launch, url })
}
