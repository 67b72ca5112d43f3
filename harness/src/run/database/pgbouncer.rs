//! `[database] pooler = "pgbouncer"`: Debian's pgbouncer started for one cell on a private
//! port in front of the cell's PostgreSQL database, with the cell's `pool_mode` and
//! `default_pool_size`, and its admin console open to the cell's user, so that poolstorm can
//! read `SHOW POOLS` from it. It runs as `postgres` when poolstorm is root (pgbouncer refuses
//! root), a [`Service`] like any other child, its config and log in a watched temp dir.

use std::net::SocketAddr;
use std::time::Duration;

use super::{CellDatabase, DatabaseError, GRACE, postgres_local};
use crate::base::local::{SYSTEM_DIRS, which};
use crate::base::reaper::{self, WatchedDir};
use crate::run::service::{Launch, Ready, Service, free_port};

/// How long pgbouncer gets to listen.
const STARTUP: Duration = Duration::from_secs(20);

/// The cell's pgbouncer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolerSettings {
    /// `session`, `transaction` or `statement`.
    pub pool_mode: String,
    /// Server connections per user and database.
    pub default_pool_size: u64,
}

/// A running pgbouncer in front of one cell's database.
#[derive(Debug)]
pub struct Pgbouncer {
    service: Service,
    /// Its config, auth file and unix socket; removed after it stops.
    _dir: WatchedDir,
    port: u16,
    user: String,
    settings: PoolerSettings,
}

/// `"name" "password"` as pgbouncer's auth file quotes it (a `"` is doubled).
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

impl Pgbouncer {
    /// Starts pgbouncer in front of `db` (a PostgreSQL database) with `settings`.
    pub async fn start(
        db: &CellDatabase,
        settings: &PoolerSettings,
    ) -> Result<Self, DatabaseError> {
        let program = which(&["pgbouncer"], SYSTEM_DIRS).ok_or_else(|| {
            DatabaseError::Setup(
                "pooler = \"pgbouncer\" needs pgbouncer and none was found; install it \
                 (`sudo apt-get install pgbouncer`)"
                    .to_owned(),
            )
        })?;
        let server = db.values();
        let user = server.user.clone().unwrap_or_else(|| "postgres".to_owned());
        let run_as = postgres_local::server_user()?;
        let dir = reaper::temp_dir("poolstorm-pgbouncer-", &std::env::temp_dir())
            .map_err(DatabaseError::from)?;
        let port = free_port().map_err(DatabaseError::from)?;
        let path = |name: &str| dir.path().join(name);
        // Clients come only from this machine's loopback; pgbouncer logs into the server with
        // the password in the auth file.
        let config = format!(
            "[databases]\n\
             * = host={host} port={server_port}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir = {dir}\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             admin_users = {user}\n\
             pool_mode = {mode}\n\
             default_pool_size = {size}\n\
             max_client_conn = 1000\n\
             ignore_startup_parameters = extra_float_digits, options\n",
            host = server.host.as_deref().unwrap_or("127.0.0.1"),
            server_port = server.port.unwrap_or(5432),
            dir = dir.path().display(),
            auth = path("userlist.txt").display(),
            mode = settings.pool_mode,
            size = settings.default_pool_size,
        );
        std::fs::write(path("pgbouncer.ini"), config).map_err(DatabaseError::from)?;
        let auth = format!(
            "{} {}\n",
            quoted(&user),
            quoted(server.password.as_deref().unwrap_or_default())
        );
        std::fs::write(path("userlist.txt"), auth).map_err(DatabaseError::from)?;
        if let Some(owner) = &run_as {
            for name in ["", "pgbouncer.ini", "userlist.txt"] {
                std::os::unix::fs::chown(
                    path(name),
                    Some(owner.uid.as_raw()),
                    Some(owner.gid.as_raw()),
                )
                .map_err(|e| DatabaseError::caused("giving pgbouncer its files", e))?;
            }
        }
        let launch = Launch {
            program: program.display().to_string(),
            args: vec![path("pgbouncer.ini").display().to_string()],
            env: Vec::new(),
            cwd: Some(dir.path().to_owned()),
            log: path("pgbouncer.log"),
            ready: Ready::Tcp(SocketAddr::from(([127, 0, 0, 1], port))),
            ready_timeout: STARTUP,
            grace: GRACE,
            run_as: run_as.map(|u| (u.uid.as_raw(), u.gid.as_raw())),
        };
        let service = Service::start(&launch)
            .await
            .map_err(|e| DatabaseError::caused("pgbouncer did not start", e))?;
        Ok(Self {
            service,
            _dir: dir,
            port,
            user,
            settings: settings.clone(),
        })
    }

    /// `db` reached through pgbouncer: its URL with pgbouncer's address.
    pub fn pooled(&self, db: &CellDatabase) -> CellDatabase {
        let url = match url::Url::parse(&db.url) {
            Ok(mut url) => {
                let _ = url.set_host(Some("127.0.0.1"));
                let _ = url.set_port(Some(self.port));
                url.to_string()
            }
            Err(_) => db.url.clone(),
        };
        CellDatabase { url, file: None }
    }

    /// The URL target-app takes: the pooled one, with unnamed statements outside session
    /// mode (pgbouncer 1.18 cannot follow prepared statements from one transaction to the
    /// next server connection).
    pub fn target_app_url(&self, db: &CellDatabase) -> String {
        let pooled = self.pooled(db).url;
        if self.settings.pool_mode == "session" {
            return pooled;
        }
        let joiner = if pooled.contains('?') { '&' } else { '?' };
        format!("{pooled}{joiner}statement-cache-capacity=0")
    }

    /// Its admin console, where `SHOW POOLS` is asked.
    pub fn admin_url(&self) -> String {
        format!("postgres://{}@127.0.0.1:{}/pgbouncer", self.user, self.port)
    }

    /// Stops it (SIGTERM: pgbouncer's immediate shutdown) and removes its files.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_file_names_are_quoted_with_doubled_quotes() {
        assert_eq!(quoted("app"), "\"app\"");
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
    }
}
