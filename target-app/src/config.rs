//! Command-line flags (each with a `TARGET_APP_*` environment fallback) and their validation.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use contract::app::{self, ACQUIRE_TIMEOUT_SECS};
use url::Url;

/// How long `--acquire-timeout none` waits: long enough to be "forever" for any experiment,
/// short enough that sqlx's `Instant + timeout` arithmetic cannot overflow.
pub const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Most milliseconds a handler may hold its connection (`--hold-ms`, `?hold_ms=`).
pub const MAX_HOLD_MS: u64 = app::HOLD_MS.max as u64;

/// The target-app configuration, as parsed from flags and environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "target-app",
    version,
    about = "Reproduces two real connection-pool deadlocks against SQLite or MySQL/MariaDB",
    long_about = "Reproduces two real connection-pool deadlocks against SQLite or MySQL/MariaDB.\n\n\
Mode 1 (FastAPI + SQLAlchemy + anyio): GET /mode1/dependency runs a blocking handler on a bounded \
pool of --threads jobs; its session teardown goes through --teardown. GET /mode1/async and \
GET /mode1/per-operation are the known fixes.\n\
Mode 2 (HikariCP + Hibernate): POST /mode2/messages inserts a row on connection A and takes its id \
per --id-strategy (`table` takes a second connection B for every id).\n\n\
Observe with GET /debug/pool (JSON), GET /metrics (Prometheus), GET /health.\n\
Once bound it prints one line `listening on http://ADDR` to stdout. SIGTERM/SIGINT shut it down; \
after --shutdown-grace it exits even when requests are stuck (exit status 1, else 0).",
    after_help = "Every flag can also be set with its environment variable, e.g. TARGET_APP_POOL_MAX=4.\n\
Use IP addresses, not host names, in database URLs (names are resolved once at start).\n\
Examples:\n  target-app --threads 8 --pool-max 4 --acquire-timeout none\n  \
target-app --database-url mysql://root@127.0.0.1:3306/poolstorm --threads 16 --pool-max 10 --id-strategy table\n  \
target-app --database-url postgres://postgres@127.0.0.1:5432/poolstorm --threads 16 --pool-max 16 --work-ms 200"
)]
pub struct Config {
    /// Database URL: `sqlite://PATH`, `mysql://USER:PASS@IP:PORT/DB` (`mariadb://` also works) or
    /// `postgres://USER:PASS@IP:PORT/DB`; a MySQL or PostgreSQL database is created if missing.
    /// Default: a SQLite file in a fresh temporary directory, removed at exit.
    #[arg(long, env = "TARGET_APP_DATABASE_URL", value_name = "URL", value_parser = parse_database_url)]
    pub database_url: Option<DatabaseUrl>,

    /// Address to listen on; port 0 picks a free port.
    #[arg(
        long,
        env = "TARGET_APP_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:0"
    )]
    pub listen: SocketAddr,

    /// Most connections the pool opens (HikariCP maximumPoolSize, sqlx max_connections).
    #[arg(long, env = "TARGET_APP_POOL_MAX", allow_negative_numbers = true, value_name = "N", default_value_t = app::POOL_MAX.default as u32,
          value_parser = clap::value_parser!(u32).range(app::POOL_MAX.range()))]
    pub pool_max: u32,

    /// Connections the pool keeps open when idle (must not exceed --pool-max).
    #[arg(long, env = "TARGET_APP_POOL_MIN", allow_negative_numbers = true, value_name = "N", default_value_t = app::POOL_MIN.default as u32,
          value_parser = clap::value_parser!(u32).range(app::POOL_MIN.range()))]
    pub pool_min: u32,

    /// Seconds to wait for a pooled connection before answering 503 `pool_timeout`,
    /// or `none` to wait forever (SQLAlchemy pool_timeout=None).
    #[arg(long, env = "TARGET_APP_ACQUIRE_TIMEOUT", allow_negative_numbers = true, value_name = "SECONDS|none", default_value_t = AcquireTimeout::After(Duration::from_secs(ACQUIRE_TIMEOUT_SECS)),
          value_parser = parse_acquire_timeout)]
    pub acquire_timeout: AcquireTimeout,

    /// Size of the bounded blocking pool (anyio's CapacityLimiter: 40 tokens; Tn in mode 2).
    #[arg(long, env = "TARGET_APP_THREADS", allow_negative_numbers = true, value_name = "N", default_value_t = app::THREADS.default as u32,
          value_parser = clap::value_parser!(u32).range(app::THREADS.range()))]
    pub threads: u32,

    /// Where mode 1's session teardown runs: on the same bounded pool (`shared`, deadlocks),
    /// on its own limiter (`separate`, FastAPI >= 0.82), or inside the handler job (`inline`).
    #[arg(long, env = "TARGET_APP_TEARDOWN", value_enum, default_value_t = Teardown::default())]
    pub teardown: Teardown,

    /// Milliseconds a mode-1 handler holds its connection (the seed's time.sleep(1)), 0..=60000.
    #[arg(long, env = "TARGET_APP_HOLD_MS", allow_negative_numbers = true, value_name = "MS", default_value_t = app::HOLD_MS.default as u64,
          value_parser = clap::value_parser!(u64).range(app::HOLD_MS.min as u64..=app::HOLD_MS.max as u64))]
    pub hold_ms: u64,

    /// How mode 2 allocates message ids.
    #[arg(long, env = "TARGET_APP_ID_STRATEGY", value_enum, default_value_t = IdStrategy::default())]
    pub id_strategy: IdStrategy,

    /// Milliseconds a mode-2 request works inside its transaction on connection A before it
    /// needs an id (reads, business logic), 0..=60000. 0 is a bare `repository.save()`.
    #[arg(long, env = "TARGET_APP_WORK_MS", allow_negative_numbers = true, value_name = "MS", default_value_t = app::WORK_MS.default as u64,
          value_parser = clap::value_parser!(u64).range(app::WORK_MS.min as u64..=app::WORK_MS.max as u64))]
    pub work_ms: u64,

    /// Milliseconds of server-side sleep (`SELECT SLEEP`, `pg_sleep`) every connection checkout
    /// runs before the app uses it (MySQL/MariaDB and PostgreSQL), 0..=60000: a slow database,
    /// for fault injection.
    #[arg(long, env = "TARGET_APP_QUERY_DELAY_MS", allow_negative_numbers = true, value_name = "MS", default_value_t = app::QUERY_DELAY_MS.default as u64,
          value_parser = clap::value_parser!(u64).range(app::QUERY_DELAY_MS.min as u64..=app::QUERY_DELAY_MS.max as u64))]
    pub query_delay_ms: u64,

    /// Ids per block for `pooled-lo` and `pooled-lotl` (Hibernate increment_size).
    #[arg(long, env = "TARGET_APP_ID_BLOCK", allow_negative_numbers = true, value_name = "N", default_value_t = app::ID_BLOCK.default as u32,
          value_parser = clap::value_parser!(u32).range(app::ID_BLOCK.range()))]
    pub id_block: u32,

    /// Seconds to wait for in-flight requests after SIGTERM/SIGINT before exiting anyway.
    #[arg(long, env = "TARGET_APP_SHUTDOWN_GRACE", allow_negative_numbers = true, value_name = "SECONDS", default_value = "5",
          value_parser = parse_seconds)]
    pub shutdown_grace: SecondsArg,
}

pub use contract::{Engine, IdStrategy, Teardown};

/// `--acquire-timeout`: a bound or forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireTimeout {
    After(Duration),
    Never,
}

impl std::fmt::Display for AcquireTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::After(d) => write!(f, "{}", d.as_secs_f64()),
            Self::Never => f.write_str("none"),
        }
    }
}

impl AcquireTimeout {
    /// The duration handed to the pool; `Never` becomes [`FOREVER`].
    pub fn as_duration(self) -> Duration {
        match self {
            Self::After(d) => d,
            Self::Never => FOREVER,
        }
    }

    /// Milliseconds, or `None` for forever (as shown in `/debug/pool`).
    pub fn as_millis(self) -> Option<u64> {
        match self {
            Self::After(d) => Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            Self::Never => None,
        }
    }
}

/// A duration given in (fractional) seconds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecondsArg(pub Duration);

/// Why a flag's value, or a combination of flags, is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "`{text}` is not a URL ({source}): expected sqlite://PATH or mysql://USER:PASS@IP:PORT/DB"
    )]
    NotUrl {
        text: String,
        #[source]
        source: url::ParseError,
    },
    #[error(
        "unsupported scheme `{0}`: expected sqlite://PATH, mysql://USER:PASS@IP:PORT/DB (or mariadb://...) or postgres://USER:PASS@IP:PORT/DB"
    )]
    Scheme(String),
    #[error(
        "expected mysql://USER:PASS@IP:PORT/DB or postgres://USER:PASS@IP:PORT/DB: the URL names no host"
    )]
    NoHost,
    #[error(
        "this target-app was built without its `{0}` feature (as `make demo` builds it): build it with its default features, `make release` or `cargo build --release`"
    )]
    NotBuilt(&'static str),
    #[error("cannot set host `{host}`: {source}")]
    Host {
        host: String,
        #[source]
        source: url::ParseError,
    },
    #[error("`{text}` is not a number of seconds")]
    NotSeconds {
        text: String,
        #[source]
        source: std::num::ParseFloatError,
    },
    #[error("`{0}` is out of range 0..=86400 seconds")]
    SecondsRange(String),
    #[error("must be more than 0 seconds, or `none` to wait forever")]
    ZeroTimeout,
    #[error("--pool-min ({min}) must not exceed --pool-max ({max})")]
    PoolMinAboveMax { min: u32, max: u32 },
}

/// The `application_name` target-app's PostgreSQL backends carry.
pub const APPLICATION_NAME: &str = "target-app";

/// A validated database URL (`sqlite://PATH`, `mysql://USER:PASS@HOST:PORT/DB` or
/// `postgres://USER:PASS@HOST:PORT/DB`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub engine: Engine,
    url: Url,
}

impl DatabaseUrl {
    /// Parses and checks a database URL.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let url = Url::parse(text).map_err(|source| ConfigError::NotUrl {
            text: text.to_owned(),
            source,
        })?;
        let engine = Engine::of_scheme(url.scheme())
            .ok_or_else(|| ConfigError::Scheme(url.scheme().to_owned()))?;
        if engine == Engine::Postgres && !cfg!(feature = "postgres") {
            return Err(ConfigError::NotBuilt("postgres"));
        }
        if engine != Engine::Sqlite && url.host().is_none() {
            return Err(ConfigError::NoHost);
        }
        let mut url = url;
        // Its backends named in pg_stat_activity, as JDBC's and libpq's clients name theirs,
        // unless the URL names them itself.
        if engine == Engine::Postgres && !url.query_pairs().any(|(k, _)| k == "application_name") {
            url.query_pairs_mut()
                .append_pair("application_name", APPLICATION_NAME);
        }
        Ok(Self { engine, url })
    }

    /// Whether statements must go unnamed: a PostgreSQL URL with sqlx's
    /// `statement-cache-capacity=0`, the setting for a transaction pooler in front (see
    /// [`crate::db::statement`]).
    pub fn unnamed_statements(&self) -> bool {
        self.engine == Engine::Postgres
            && self
                .url
                .query_pairs()
                .any(|(k, v)| k == "statement-cache-capacity" && v == "0")
    }

    /// A SQLite database in the file at `path`, created when missing.
    pub fn sqlite_file(path: &std::path::Path) -> Self {
        Self::parse(&format!("sqlite://{}?mode=rwc", path.display()))
            .expect("a sqlite:// URL of a path parses")
    }

    /// The URL as sqlx takes it.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The same URL pointing at another host (an address resolved once at start).
    pub fn with_host(&self, host: &str) -> Result<Self, ConfigError> {
        let mut url = self.url.clone();
        url.set_host(Some(host))
            .map_err(|source| ConfigError::Host {
                host: host.to_owned(),
                source,
            })?;
        Ok(Self {
            engine: self.engine,
            url,
        })
    }

    /// The URL with any password replaced by `***`, for logs and `/debug/pool`.
    pub fn redacted(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        url.to_string()
    }
}

fn parse_database_url(s: &str) -> Result<DatabaseUrl, ConfigError> {
    DatabaseUrl::parse(s)
}

fn parse_acquire_timeout(s: &str) -> Result<AcquireTimeout, ConfigError> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(AcquireTimeout::Never);
    }
    let SecondsArg(d) = parse_seconds(s)?;
    if d.is_zero() {
        return Err(ConfigError::ZeroTimeout);
    }
    Ok(AcquireTimeout::After(d))
}

fn parse_seconds(s: &str) -> Result<SecondsArg, ConfigError> {
    let secs: f64 = s.trim().parse().map_err(|source| ConfigError::NotSeconds {
        text: s.to_owned(),
        source,
    })?;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(ConfigError::SecondsRange(s.to_owned()));
    }
    Ok(SecondsArg(Duration::from_secs_f64(secs)))
}

impl Config {
    /// Parses flags and environment, exiting with status 2 and a message naming the flag on
    /// bad input (clap's convention).
    pub fn parse_or_exit() -> Self {
        let config = Self::parse();
        if let Err(err) = config.check() {
            let mut cmd = <Self as clap::CommandFactory>::command();
            cmd.error(clap::error::ErrorKind::ArgumentConflict, err)
                .exit();
        }
        config
    }

    /// Checks rules that span several flags.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.pool_min > self.pool_max {
            return Err(ConfigError::PoolMinAboveMax {
                min: self.pool_min,
                max: self.pool_max,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Config::command().debug_assert();
    }

    #[test]
    fn defaults_mirror_the_anchors() {
        let c = Config::try_parse_from(["target-app"]).unwrap();
        assert_eq!(c.threads, 40);
        assert_eq!(c.pool_max, 10);
        assert_eq!(
            c.acquire_timeout,
            AcquireTimeout::After(Duration::from_secs(30))
        );
        assert_eq!(c.hold_ms, 1000);
        assert_eq!(c.teardown, Teardown::Shared);
        assert_eq!(c.listen.to_string(), "127.0.0.1:0");
    }

    #[test]
    fn acquire_timeout_accepts_seconds_and_none() {
        assert_eq!(parse_acquire_timeout("none"), Ok(AcquireTimeout::Never));
        assert_eq!(
            parse_acquire_timeout("1.5"),
            Ok(AcquireTimeout::After(Duration::from_millis(1500)))
        );
        assert!(parse_acquire_timeout("0").is_err());
        assert!(parse_acquire_timeout("soon").is_err());
    }

    #[test]
    fn database_url_rejects_unknown_schemes() {
        assert!(
            parse_database_url("oracle://x")
                .unwrap_err()
                .to_string()
                .contains("unsupported scheme")
        );
        assert_eq!(
            parse_database_url("mariadb://root@127.0.0.1/db")
                .unwrap()
                .engine,
            Engine::Mysql
        );
        assert!(parse_database_url("mysql:nohost").is_err());
        assert_eq!(
            parse_database_url("postgres://app:pw@127.0.0.1:5432/db")
                .unwrap()
                .engine,
            Engine::Postgres
        );
        assert!(parse_database_url("postgresql:nohost").is_err());
        assert_eq!(
            parse_database_url("postgres://app@127.0.0.1/db")
                .unwrap()
                .as_str(),
            "postgres://app@127.0.0.1/db?application_name=target-app",
            "its backends are named in pg_stat_activity"
        );
        assert_eq!(
            parse_database_url("postgres://app@127.0.0.1/db?application_name=shop")
                .unwrap()
                .as_str(),
            "postgres://app@127.0.0.1/db?application_name=shop"
        );
        let pooled = parse_database_url("postgres://app@127.0.0.1/db?statement-cache-capacity=0");
        assert!(pooled.unwrap().unnamed_statements(), "behind pgbouncer");
        assert!(
            !parse_database_url("postgres://app@127.0.0.1/db")
                .unwrap()
                .unnamed_statements()
        );
        assert!(
            parse_database_url("not a url")
                .unwrap_err()
                .to_string()
                .contains("not a URL")
        );
    }

    #[test]
    fn redaction_hides_passwords_only() {
        let u = parse_database_url("mysql://app:secret@127.0.0.1:3306/db").unwrap();
        assert_eq!(u.redacted(), "mysql://app:***@127.0.0.1:3306/db");
        let u = parse_database_url("mysql://root@127.0.0.1:3306/db").unwrap();
        assert_eq!(u.redacted(), "mysql://root@127.0.0.1:3306/db");
        let u = parse_database_url("mysql://a%40b:p%3Aw@127.0.0.1/db?ssl-mode=disabled").unwrap();
        assert_eq!(
            u.redacted(),
            "mysql://a%40b:***@127.0.0.1/db?ssl-mode=disabled"
        );
    }

    #[test]
    fn pool_min_above_pool_max_is_rejected() {
        let c =
            Config::try_parse_from(["target-app", "--pool-max", "2", "--pool-min", "3"]).unwrap();
        assert!(c.check().unwrap_err().to_string().contains("--pool-min"));
    }
}
