//! target-app's settings as both programs know them: the choices (`--teardown`,
//! `--id-strategy`, the database engine) and every numeric flag's range and default. target-app
//! builds its flags from these; poolstorm checks scenario values and fills in defaults with them.

use serde::{Deserialize, Serialize};

/// A whole-number setting: its range and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded {
    pub min: i64,
    pub max: i64,
    pub default: i64,
}

impl Bounded {
    /// The range, as clap's `value_parser!(u32).range(..)` takes it.
    pub const fn range(self) -> std::ops::RangeInclusive<i64> {
        self.min..=self.max
    }
}

/// `--threads`: the bounded blocking pool (anyio's CapacityLimiter has 40 tokens; Tn in mode 2).
pub const THREADS: Bounded = Bounded {
    min: 1,
    max: 4096,
    default: 40,
};
/// `--pool-max`: most connections (HikariCP's maximumPoolSize and sqlx both default to 10).
pub const POOL_MAX: Bounded = Bounded {
    min: 1,
    max: 10_000,
    default: 10,
};
/// `--pool-min`: idle connections kept open.
pub const POOL_MIN: Bounded = Bounded {
    min: 0,
    max: 10_000,
    default: 0,
};
/// `--hold-ms`: how long a mode-1 handler holds its connection (the seed's `time.sleep(1)`).
pub const HOLD_MS: Bounded = Bounded {
    min: 0,
    max: 60_000,
    default: 1000,
};
/// `--work-ms`: work on connection A before a mode-2 id is needed.
pub const WORK_MS: Bounded = Bounded {
    min: 0,
    max: 60_000,
    default: 0,
};
/// `--query-delay-ms`: a server-side `SELECT SLEEP` on every connection checkout (MySQL/MariaDB
/// only), to make the database slow on purpose.
pub const QUERY_DELAY_MS: Bounded = Bounded {
    min: 0,
    max: 60_000,
    default: 0,
};
/// `--id-block`: ids per block for pooled-lo and pooled-lotl (Hibernate's increment_size).
pub const ID_BLOCK: Bounded = Bounded {
    min: 1,
    max: 1_000_000,
    default: 1000,
};
/// `--acquire-timeout` default in seconds (HikariCP, SQLAlchemy and sqlx all wait 30 s).
pub const ACQUIRE_TIMEOUT_SECS: u64 = 30;

/// Where mode 1's request-scoped session is torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Teardown {
    /// A second job on the same bounded pool as the handler (FastAPI < 0.82): deadlocks.
    Shared,
    /// A job on its own limiter (FastAPI >= 0.82, PR #5122).
    Separate,
    /// Inside the handler job, before it gives its thread back.
    Inline,
}

/// How mode 2 allocates ids (Hibernate optimizers and the alternatives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum IdStrategy {
    /// A second connection for every id (table-based sequence, no optimizer).
    Table,
    /// A second connection once per block of --id-block ids, one block shared by all threads.
    PooledLo,
    /// A second connection once per block, one block per worker thread.
    PooledLotl,
    /// AUTO_INCREMENT / INTEGER PRIMARY KEY on connection A.
    Identity,
    /// The sequence row updated inside A's own transaction.
    SameConn,
}

/// Which database engine target-app runs on, and poolstorm's backends, probe and templates
/// speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// target-app's default: a SQLite file.
    #[default]
    Sqlite,
    Mysql,
    /// PostgreSQL (`postgres://`), directly or through pgbouncer.
    Postgres,
}

/// The names of a list of choices, at compile time.
macro_rules! names {
    ($all:expr, $n:expr) => {{
        let mut out = [""; $n];
        let mut i = 0;
        while i < $n {
            out[i] = $all[i].name();
            i += 1;
        }
        out
    }};
}

impl Teardown {
    /// target-app's default: the teardown that deadlocks, as FastAPI before 0.82 did.
    pub const DEFAULT: Self = Self::Shared;
    pub const ALL: [Teardown; 3] = [Teardown::Shared, Teardown::Separate, Teardown::Inline];
    /// Every name, in order.
    pub const NAMES: [&'static str; 3] = names!(Self::ALL, 3);

    /// The name on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            Teardown::Shared => "shared",
            Teardown::Separate => "separate",
            Teardown::Inline => "inline",
        }
    }
}

impl IdStrategy {
    /// target-app's default: Hibernate's table sequence without an optimizer.
    pub const DEFAULT: Self = Self::Table;
    pub const ALL: [IdStrategy; 5] = [
        IdStrategy::Table,
        IdStrategy::PooledLo,
        IdStrategy::PooledLotl,
        IdStrategy::Identity,
        IdStrategy::SameConn,
    ];
    /// Every name, in order.
    pub const NAMES: [&'static str; 5] = names!(Self::ALL, 5);

    /// The name on the command line and in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            IdStrategy::Table => "table",
            IdStrategy::PooledLo => "pooled-lo",
            IdStrategy::PooledLotl => "pooled-lotl",
            IdStrategy::Identity => "identity",
            IdStrategy::SameConn => "same-conn",
        }
    }

    /// Most connections one request holds at once with this strategy: HikariCP's Cm.
    pub fn cm(self) -> u32 {
        match self {
            IdStrategy::Table | IdStrategy::PooledLo | IdStrategy::PooledLotl => 2,
            IdStrategy::Identity | IdStrategy::SameConn => 1,
        }
    }

    /// The strategy called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl Default for Teardown {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Default for IdStrategy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Engine {
    /// The name in JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Mysql => "mysql",
            Engine::Postgres => "postgres",
        }
    }

    /// The engine a database URL's scheme names: `sqlite`, `mysql` or `mariadb`, `postgres`
    /// or `postgresql`.
    pub fn of_scheme(scheme: &str) -> Option<Engine> {
        match scheme {
            "sqlite" => Some(Engine::Sqlite),
            "mysql" | "mariadb" => Some(Engine::Mysql),
            "postgres" | "postgresql" => Some(Engine::Postgres),
            _ => None,
        }
    }

    /// The engine a database URL names by its scheme (`postgres://...`).
    pub fn of_url(url: &str) -> Option<Engine> {
        Engine::of_scheme(url.split_once("://")?.0)
    }

    /// The server's port when a URL gives none (SQLite has no server).
    pub fn default_port(self) -> Option<u16> {
        match self {
            Engine::Sqlite => None,
            Engine::Mysql => Some(3306),
            Engine::Postgres => Some(5432),
        }
    }

    /// Its JDBC URL for a database `name` on `host:port`, or in the SQLite file `path`.
    pub fn jdbc(self, host: &str, port: u16, name: &str, path: &str) -> String {
        match self {
            Engine::Sqlite => format!("jdbc:sqlite:{path}"),
            Engine::Mysql => format!("jdbc:mysql://{host}:{port}/{name}"),
            Engine::Postgres => format!("jdbc:postgresql://{host}:{port}/{name}"),
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_forms() {
        for t in Teardown::ALL {
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.name())
            );
        }
        for s in IdStrategy::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
            assert_eq!(IdStrategy::from_name(s.name()), Some(s));
        }
        assert_eq!(serde_json::to_string(&Engine::Mysql).unwrap(), "\"mysql\"");
        assert_eq!(Engine::of_scheme("postgresql"), Some(Engine::Postgres));
        assert_eq!(Engine::of_scheme("mariadb"), Some(Engine::Mysql));
        assert_eq!(Engine::of_scheme("oracle"), None);
        assert_eq!(Engine::Postgres.default_port(), Some(5432));
    }

    #[test]
    fn only_sequence_strategies_take_a_second_connection() {
        let cm: Vec<u32> = IdStrategy::ALL.iter().map(|s| s.cm()).collect();
        assert_eq!(cm, [2, 2, 2, 1, 1]);
    }

    #[test]
    fn defaults_lie_in_their_ranges() {
        for b in [THREADS, POOL_MAX, POOL_MIN, HOLD_MS, WORK_MS, ID_BLOCK] {
            assert!(b.range().contains(&b.default), "{b:?}");
        }
    }
}
