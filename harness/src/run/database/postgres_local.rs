//! How a throwaway PostgreSQL server is made from this machine's packages (Debian's
//! `postgresql`): `initdb` into a temp dir, a private port on 127.0.0.1 and a private socket
//! directory, run as the unprivileged `postgres` user when poolstorm runs as root (initdb and
//! postgres refuse root). [`LocalServer`] runs it.
//!
//! [`LocalServer`]: super::LocalServer

use std::path::{Path, PathBuf};

use nix::unistd::{Uid, User};
use tokio::process::Command;

use super::{DatabaseError, GRACE, Prepared, STARTUP};
use crate::base::reaper;
use crate::run::service::{Launch, Ready, free_port};

/// Where Debian and Ubuntu put each major version's programs.
const DEBIAN_VERSIONS: &str = "/usr/lib/postgresql";

/// The directory holding `initdb` and `postgres`: Debian's newest version, else `PATH`'s.
fn programs() -> Option<PathBuf> {
    let both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut debian: Vec<PathBuf> = std::fs::read_dir(DEBIAN_VERSIONS)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|d| both(d))
        .collect();
    debian.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    debian.pop().or_else(|| {
        crate::base::local::which(&["initdb"], crate::base::local::SYSTEM_DIRS)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|d| both(d))
    })
}

/// The user the server runs as: `postgres` when poolstorm is root, else poolstorm's own.
pub(super) fn server_user() -> Result<Option<User>, DatabaseError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(user)),
        _ => Err(DatabaseError::Setup(
            "the postgres-local backend runs PostgreSQL as the user `postgres` when poolstorm runs as root \
             (initdb and postgres refuse root), and there is no such user; the postgresql package makes it, \
             or run poolstorm as an unprivileged user"
                .to_owned(),
        )),
    }
}

/// Initializes a data directory in a new directory under `parent` and says how to start the
/// server; fails at once, saying what to install, when the machine has no PostgreSQL.
pub(super) async fn prepare(parent: &Path) -> Result<Prepared, DatabaseError> {
    let bin = programs().ok_or_else(|| {
        DatabaseError::Setup(format!(
            "the postgres-local backend needs PostgreSQL's initdb and postgres (in {DEBIAN_VERSIONS}/*/bin or on \
             PATH) and none was found; install them (`sudo apt-get install postgresql`), or use --db sqlite, or \
             --db postgres://USER:PASS@IP:PORT for a running server"
        ))
    })?;
    let user = server_user()?;
    let run_as = user.as_ref().map(|u| (u.uid.as_raw(), u.gid.as_raw()));
    let dir = reaper::temp_dir("poolstorm-postgres-", parent).map_err(DatabaseError::from)?;
    if let Some(user) = &user {
        std::os::unix::fs::chown(dir.path(), Some(user.uid.as_raw()), Some(user.gid.as_raw()))
            .map_err(|e| DatabaseError::caused("giving the data directory to postgres", e))?;
    }
    let data = dir.path().join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
        // The C locale: no locale package is needed, and none is asked for.
        .env("LC_ALL", "C");
    if let Some((uid, gid)) = run_as {
        initdb.uid(uid).gid(gid);
    }
    let install = initdb.output().await.map_err(DatabaseError::from)?;
    if !install.status.success() {
        return Err(DatabaseError::Setup(format!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        )));
    }
    let port = free_port().map_err(DatabaseError::from)?;
    let url = format!("postgres://postgres@127.0.0.1:{port}");
    let mut args = vec![
        "-D".to_owned(),
        data.display().to_string(),
        "-h".to_owned(),
        "127.0.0.1".to_owned(),
        "-p".to_owned(),
        port.to_string(),
        "-k".to_owned(),
        dir.path().display().to_string(),
    ];
    // A throwaway server: no durability, room for every cell's pool and the probe.
    for setting in [
        "max_connections=1000",
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
    ] {
        args.extend(["-c".to_owned(), setting.to_owned()]);
    }
    let launch = Launch {
        program: bin.join("postgres").display().to_string(),
        args,
        env: vec![("LC_ALL".to_owned(), "C".to_owned())],
        cwd: Some(dir.path().to_owned()),
        log: dir.path().join("server.log"),
        ready: Ready::Sql(format!("{url}/postgres")),
        ready_timeout: STARTUP,
        grace: GRACE,
        run_as,
    };
    Ok(Prepared { dir, launch, url })
}
