//! Databases for scenario cells: a fresh, empty database per cell from the scenario's
//! backend (a SQLite file, a throwaway local MariaDB or PostgreSQL, a container, or a MySQL or
//! PostgreSQL URL), and direct reads of the messages table for the mode-2 integrity check.

#[cfg(feature = "containers")]
mod container;
mod mariadb_local;
mod pgbouncer;
mod postgres_local;

use std::path::PathBuf;
use std::time::Duration;

use contract::Engine;
use sqlx::Connection as _;

#[cfg(feature = "containers")]
pub use container::{
    ContainerServer, IMAGE_VARIABLE, MYSQL_TAG, POSTGRES_IMAGE_VARIABLE, POSTGRES_TAG,
    engine_address, engine_answers, image,
};
pub use pgbouncer::{Pgbouncer, PoolerSettings};

use crate::base::reaper::WatchedDir;
use crate::run::scenario::Backend;
use crate::run::scenario::template::DbValues;
use crate::run::service::{Launch, Service};

/// How long a throwaway server gets to say it is ready.
const STARTUP: Duration = Duration::from_secs(60);
/// How long it gets to shut down after SIGTERM, before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

/// Why a database could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("{0}")]
    Setup(String),
    /// `what` failed with `source`.
    #[error("{what}: {source}")]
    Caused {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
}

impl DatabaseError {
    /// `what` failed with `source`.
    pub fn caused(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Caused {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

/// Where cells get their databases from, for one scenario run.
#[derive(Debug)]
pub enum Databases {
    /// Each cell gets a new file in this directory.
    Sqlite { dir: tempfile::TempDir },
    /// Each cell gets a new database on this server (`mysql://...` or `postgres://...`
    /// without a database).
    Server {
        engine: Engine,
        server_url: String,
        owned: Option<Server>,
    },
}

/// A server poolstorm started and must stop.
#[derive(Debug)]
pub enum Server {
    Local(Box<LocalServer>),
    #[cfg(feature = "containers")]
    Container(Box<ContainerServer>),
}

impl Server {
    async fn stop(self) {
        match self {
            Server::Local(local) => local.stop().await,
            #[cfg(feature = "containers")]
            Server::Container(container) => container.stop().await,
        }
    }
}

/// A throwaway server made ready to start: its files' directory, how to start it, its URL.
struct Prepared {
    dir: WatchedDir,
    launch: Launch,
    url: String,
}

/// A throwaway server from this machine's packages (MariaDB's or PostgreSQL's), its own
/// process group (so a terminal's Ctrl-C reaches poolstorm only), a [`Service`] like any
/// other child, stopped and removed by [`LocalServer::stop`] or, failing that, when dropped,
/// and by the [`reaper`](crate::base::reaper) should poolstorm die.
#[derive(Debug)]
pub struct LocalServer {
    /// The server, supervised as every child process is (its group, its log, its stop).
    service: Service,
    /// Its data, socket and log; declared after the server, so removed after it stops.
    _dir: WatchedDir,
    pub engine: Engine,
    /// `mysql://root@127.0.0.1:PORT` or `postgres://postgres@127.0.0.1:PORT`.
    pub url: String,
}

impl LocalServer {
    /// A throwaway server of `engine` (MySQL is MariaDB's, or MySQL's), its files in a new
    /// directory under the temp dir.
    pub async fn start(engine: Engine) -> Result<Self, DatabaseError> {
        Self::start_in(engine, &std::env::temp_dir()).await
    }

    /// [`LocalServer::start`] with its files in a new directory under `parent`.
    pub async fn start_in(engine: Engine, parent: &std::path::Path) -> Result<Self, DatabaseError> {
        let (prepared, name) = match engine {
            Engine::Postgres => (postgres_local::prepare(parent).await?, "PostgreSQL"),
            _ => (mariadb_local::prepare(parent).await?, "MariaDB"),
        };
        let service = Service::start(&prepared.launch).await.map_err(|e| {
            DatabaseError::caused(format!("the throwaway {name} server did not start"), e)
        })?;
        Ok(Self {
            service,
            _dir: prepared.dir,
            engine,
            url: prepared.url,
        })
    }

    /// The server's process id (for tests that take the database away mid-run).
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }

    /// Stops the server (SIGTERM to its group, so each of its processes ends too, then
    /// SIGKILL after 10 s) and removes its files.
    pub async fn stop(self) {
        self.service.stop().await;
    }
}

/// One cell's database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellDatabase {
    /// What target-app gets as `--database-url`.
    pub url: String,
    /// The file, for SQLite.
    pub file: Option<PathBuf>,
}

/// Counts in the messages table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageCounts {
    pub rows: u64,
    pub distinct_ids: u64,
}

/// The server part of a database URL (`mysql://USER:PASS@HOST:PORT`), without database or
/// options.
fn server_of(url: &str) -> Result<String, DatabaseError> {
    let mut url = url::Url::parse(url)
        .map_err(|e| DatabaseError::caused(format!("`{url}` is not a URL"), e))?;
    url.set_path("");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The URL poolstorm creates and drops databases through: the server's own database on
/// PostgreSQL (a connection there must name one), none on MySQL.
fn admin_url(engine: Engine, server_url: &str) -> String {
    match engine {
        Engine::Postgres => format!("{server_url}/postgres"),
        _ => format!("{server_url}/"),
    }
}

/// Fails at once when this build has no driver for `engine`'s servers.
fn driver_for(engine: Engine) -> Result<(), DatabaseError> {
    if engine == Engine::Postgres && !cfg!(feature = "postgres") {
        return Err(DatabaseError::Setup(
            "this poolstorm was built without PostgreSQL (as `make demo` builds it): build it with its \
             default features, `make release` or `cargo build --release`, or use --db sqlite, \
             mariadb-local or a mysql:// URL"
                .to_owned(),
        ));
    }
    Ok(())
}

impl Databases {
    /// Gets the backend ready: a temp dir, a started local server, or a reachable URL.
    pub async fn start(backend: &Backend) -> Result<Self, DatabaseError> {
        sqlx::any::install_default_drivers();
        let engine = backend.engine();
        driver_for(engine)?;
        let owned = |server_url: String, owned: Server| Databases::Server {
            engine,
            server_url,
            owned: Some(owned),
        };
        match backend {
            Backend::Sqlite => Ok(Databases::Sqlite {
                dir: tempfile::Builder::new()
                    .prefix("poolstorm-sqlite-")
                    .tempdir()
                    .map_err(DatabaseError::from)?,
            }),
            Backend::MariadbLocal | Backend::PostgresLocal => {
                let local = LocalServer::start(engine).await?;
                Ok(owned(local.url.clone(), Server::Local(Box::new(local))))
            }
            #[cfg(feature = "containers")]
            Backend::Container(engine) => {
                let container = ContainerServer::start(*engine).await?;
                Ok(owned(
                    container.url.clone(),
                    Server::Container(Box::new(container)),
                ))
            }
            #[cfg(not(feature = "containers"))]
            Backend::Container(_) => Err(DatabaseError::Setup(
                "this poolstorm was built without the container backend (as `make demo` builds \
                 it): build it with its default features, `make release` or `cargo build \
                 --release`, or use --db sqlite, mariadb-local, postgres-local or a mysql:// or \
                 postgres:// URL"
                    .to_owned(),
            )),
            Backend::Url(url) => {
                let server_url = server_of(url)?;
                let conn = sqlx::AnyConnection::connect(&admin_url(engine, &server_url))
                    .await
                    .map_err(|e| {
                        DatabaseError::caused(format!("cannot connect to {server_url}"), e)
                    })?;
                let _ = conn.close().await;
                Ok(Databases::Server {
                    engine,
                    server_url,
                    owned: None,
                })
            }
        }
    }

    /// A fresh, empty database for one cell, named after the scenario and the cell.
    pub async fn for_cell(
        &self,
        scenario: &str,
        cell: usize,
    ) -> Result<CellDatabase, DatabaseError> {
        let name: String = format!("ps_{scenario}_{cell:02}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        match self {
            Databases::Sqlite { dir } => {
                let file = dir.path().join(format!("{name}.db"));
                let _ = std::fs::remove_file(&file);
                Ok(CellDatabase {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    file: Some(file),
                })
            }
            Databases::Server {
                engine, server_url, ..
            } => {
                let mut conn = sqlx::AnyConnection::connect(&admin_url(*engine, server_url))
                    .await
                    .map_err(DatabaseError::from)?;
                // `name` is [a-z0-9_] only; identifiers cannot be bound. PostgreSQL's FORCE
                // ends a previous run's sessions that would keep the drop waiting.
                let statements = match engine {
                    Engine::Postgres => [
                        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
                        format!("CREATE DATABASE \"{name}\""),
                    ],
                    _ => [
                        format!("DROP DATABASE IF EXISTS `{name}`"),
                        format!("CREATE DATABASE `{name}`"),
                    ],
                };
                for statement in statements {
                    sqlx::query(sqlx::AssertSqlSafe(statement))
                        .execute(&mut conn)
                        .await
                        .map_err(DatabaseError::from)?;
                }
                let _ = conn.close().await;
                Ok(CellDatabase {
                    url: format!("{server_url}/{name}"),
                    file: None,
                })
            }
        }
    }

    /// Stops a local server or container; removes temp files.
    pub async fn stop(self) {
        match self {
            Databases::Sqlite { dir } => drop(dir),
            Databases::Server {
                owned: Some(server),
                ..
            } => server.stop().await,
            Databases::Server { owned: None, .. } => {}
        }
    }

    /// `sqlite`, `mariadb-local (mysql://root@127.0.0.1:PORT)`, ...
    pub fn describe(&self) -> String {
        match self {
            Databases::Sqlite { dir } => format!("sqlite (files in {})", dir.path().display()),
            Databases::Server {
                server_url, owned, ..
            } => match owned {
                Some(Server::Local(local)) => match local.engine {
                    Engine::Postgres => format!("postgres-local ({server_url})"),
                    _ => format!("mariadb-local ({server_url})"),
                },
                #[cfg(feature = "containers")]
                Some(Server::Container(c)) => format!("container {} ({server_url})", c.image),
                None => server_url.clone(),
            },
        }
    }
}

impl CellDatabase {
    /// The engine it runs on, from its URL's scheme.
    pub fn engine(&self) -> Engine {
        if self.file.is_some() {
            return Engine::Sqlite;
        }
        Engine::of_url(&self.url).unwrap_or(Engine::Mysql)
    }

    /// What a command target's `{db.*}` placeholders take: `{db.url}` is
    /// `mysql://USER:PASS@IP:PORT/NAME` or `sqlite:///PATH`, `{db.jdbc}` the same for a JVM.
    pub fn values(&self) -> DbValues {
        if let Some(file) = &self.file {
            return DbValues {
                url: format!("sqlite:///{}", file.display()),
                name: file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                path: Some(file.display().to_string()),
                jdbc: Engine::Sqlite.jdbc("", 0, "", &file.display().to_string()),
                ..DbValues::default()
            };
        }
        let parsed = url::Url::parse(&self.url).ok();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let host = parsed
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_owned));
        let port = parsed.as_ref().and_then(url::Url::port_or_known_default);
        let name = parsed
            .as_ref()
            .map(|u| u.path().trim_start_matches('/').to_owned())
            .unwrap_or_default();
        let engine = self.engine();
        DbValues {
            url: self.url.clone(),
            jdbc: engine.jdbc(
                host.as_deref().unwrap_or("127.0.0.1"),
                port.or(engine.default_port()).unwrap_or_default(),
                &name,
                "",
            ),
            host,
            port,
            name,
            user: parsed.as_ref().map(|u| decode(u.username())),
            password: parsed
                .as_ref()
                .map(|u| u.password().map(decode).unwrap_or_default()),
            path: None,
        }
    }

    /// Reads the messages table directly (when the app cannot answer, e.g. deadlocked).
    pub async fn message_counts(&self) -> Result<MessageCounts, DatabaseError> {
        let mut conn = sqlx::AnyConnection::connect(&self.url)
            .await
            .map_err(DatabaseError::from)?;
        let (rows, distinct_ids): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM messages")
                .fetch_one(&mut conn)
                .await
                .map_err(DatabaseError::from)?;
        let _ = conn.close().await;
        Ok(MessageCounts {
            rows: rows as u64,
            distinct_ids: distinct_ids as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_get_the_parts_of_a_cell_database() {
        let mysql = CellDatabase {
            url: "mysql://app:p%40ss@127.0.0.1:3307/ps_x_01".to_owned(),
            file: None,
        };
        let v = mysql.values();
        assert_eq!(
            (
                v.host.as_deref(),
                v.port,
                v.name.as_str(),
                v.user.as_deref(),
                v.password.as_deref()
            ),
            (
                Some("127.0.0.1"),
                Some(3307),
                "ps_x_01",
                Some("app"),
                Some("p@ss")
            )
        );
        assert_eq!(v.jdbc, "jdbc:mysql://127.0.0.1:3307/ps_x_01");
        let postgres = CellDatabase {
            url: "postgres://app@127.0.0.1/ps_x_01".to_owned(),
            file: None,
        };
        assert_eq!(
            postgres.values().jdbc,
            "jdbc:postgresql://127.0.0.1:5432/ps_x_01"
        );
        let sqlite = CellDatabase {
            url: "sqlite:///tmp/d/ps_x_01.db?mode=rwc".to_owned(),
            file: Some(PathBuf::from("/tmp/d/ps_x_01.db")),
        };
        let v = sqlite.values();
        assert_eq!(v.url, "sqlite:////tmp/d/ps_x_01.db");
        assert_eq!(
            (v.name.as_str(), v.path.as_deref()),
            ("ps_x_01", Some("/tmp/d/ps_x_01.db"))
        );
        assert_eq!(v.jdbc, "jdbc:sqlite:/tmp/d/ps_x_01.db");
    }

    #[test]
    fn the_server_part_keeps_credentials_and_drops_the_database() {
        assert_eq!(
            server_of("mysql://app:p%40ss@127.0.0.1:3307/db?ssl-mode=disabled").unwrap(),
            "mysql://app:p%40ss@127.0.0.1:3307"
        );
        assert_eq!(
            server_of("mysql://root@127.0.0.1:3306").unwrap(),
            "mysql://root@127.0.0.1:3306"
        );
        assert!(server_of("not a url").is_err());
    }
}
