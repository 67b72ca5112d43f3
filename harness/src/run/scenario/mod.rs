//! Scenarios: a TOML file describing a target, a database backend, a load, a matrix of
//! configurations and the rules each must meet. Loading checks everything up front and
//! reports `file:line:col: message` with the allowed values; a loaded [`Scenario`] expands into
//! [`Cell`]s, one per configuration, in a fixed order.

mod file;
pub mod params;
mod resolve;
pub mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use crate::base::expr::{Expr, Value};
use crate::base::param::ParamValue;
use crate::verdict::{Thresholds, Verdict};

pub use params::Param;

/// A problem in a scenario file (or in a `--set`), with where it is, and the error beneath it
/// when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct ScenarioError {
    /// `file:line:col`, or the flag it came from.
    pub location: String,
    pub message: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ScenarioError {
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
            cause: None,
        }
    }

    /// At `location`, `cause`, whose words are the message (after `about`, when given).
    pub fn caused(
        location: impl Into<String>,
        about: Option<&str>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            location: location.into(),
            message: match about {
                Some(about) => format!("{about}: {cause}"),
                None => cause.to_string(),
            },
            cause: Some(Box::new(cause)),
        }
    }
}

/// A `--db` or `[database] backend` that names no backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown database backend `{0}`; use sqlite, mariadb-local, postgres-local, container (MySQL), container:postgres, or a mysql://USER:PASS@IP:PORT or postgres://USER:PASS@IP:PORT URL"
)]
pub struct UnknownBackend(pub String);

/// Names rules may use besides parameters and vars.
pub const DERIVED: &[&str] = &["cm", "engine", "backend", "cell"];

/// How the target is reached.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// target-app started per cell as a child process; `binary` overrides where it is found.
    Managed { binary: Option<PathBuf> },
    /// Any HTTP service already running (never restarted).
    External { url: String },
    /// The user's own program, started per cell with templated arguments and environment.
    Command(CommandSpec),
}

/// The kinds of target, as `[target] kind` names them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum TargetKind {
    /// target-app, started per cell (the default).
    Managed,
    /// A service already running.
    External,
    /// The user's own program, started per cell.
    Command,
}

impl TargetKind {
    /// `"managed", "external" or "command"`, for messages.
    pub fn choices() -> String {
        let quoted: Vec<String> = <Self as strum::VariantArray>::VARIANTS
            .iter()
            .map(|k| format!("\"{k}\""))
            .collect();
        match quoted.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

impl TargetSpec {
    pub fn kind(&self) -> TargetKind {
        match self {
            TargetSpec::Managed { .. } => TargetKind::Managed,
            TargetSpec::External { .. } => TargetKind::External,
            TargetSpec::Command(_) => TargetKind::Command,
        }
    }

    /// Whether poolstorm starts the target for each cell (and so gives it a database).
    pub fn is_started(&self) -> bool {
        !matches!(self, TargetSpec::External { .. })
    }

    /// Whether the target is target-app, which poolstorm knows from the inside (its
    /// `/debug/pool`, its data check, its connections per request).
    pub fn is_target_app(&self) -> bool {
        matches!(self, TargetSpec::Managed { .. })
    }

    /// The cell's log file in the results folder, for a target poolstorm starts.
    pub fn log_name(&self, slug: &str) -> Option<String> {
        match self {
            TargetSpec::Managed { .. } => Some(format!("cells/{slug}.target-app.log")),
            TargetSpec::Command(_) => Some(format!("cells/{slug}.target.log")),
            TargetSpec::External { .. } => None,
        }
    }
}

/// A `command` target: its templates (see [`template`]) and where it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSpec {
    /// The program and its arguments.
    pub command: Vec<String>,
    /// Added to poolstorm's own environment.
    pub env: Vec<(String, String)>,
    /// Where it runs (absolute: resolved against the scenario file's folder).
    pub cwd: PathBuf,
    /// Path polled with `GET` until it answers 2xx.
    pub ready: String,
    pub ready_timeout: Duration,
    /// Its base URL (default `http://127.0.0.1:{port}`).
    pub url: String,
    /// How to make the program when it is missing (`target.setup`), for the error message.
    pub setup: Option<String>,
}

/// What `[pool]` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolFrom {
    /// The service's metrics at `url`, through a mapping.
    Metrics,
    /// The admin console of the pgbouncer poolstorm starts (`source = "pgbouncer"`).
    Pgbouncer,
}

/// A pool poolstorm starts between each cell's service and its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooler {
    /// Debian's pgbouncer, with the cell's `pool_mode` and `default_pool_size`.
    Pgbouncer,
}

/// `[pool]`: where a target's pool is read from when not from target-app's `/debug/pool`.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSpec {
    pub from: PoolFrom,
    /// A URL template, or a path (`/metrics`) joined to the target's URL.
    pub url: String,
    pub mapping: crate::observe::Mapping,
    pub preset: Option<String>,
    /// How long one scrape may take.
    pub timeout: Duration,
}

/// Where each cell's database comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file per cell.
    Sqlite,
    /// A throwaway `mariadbd`/`mysqld` from this machine, a fresh database per cell.
    MariadbLocal,
    /// A throwaway PostgreSQL from this machine's `postgresql` package, a fresh database per
    /// cell.
    PostgresLocal,
    /// A server of this engine in a container through testcontainers (needs a Docker engine):
    /// `container` is MySQL, `container:postgres` PostgreSQL.
    Container(contract::Engine),
    /// A MySQL/MariaDB or PostgreSQL server at this URL; a fresh database per cell.
    Url(String),
}

impl Backend {
    /// Parses `sqlite`, `mariadb-local`, `postgres-local`, `container[:mysql|:postgres]`, or a
    /// `mysql://` or `postgres://` URL.
    pub fn parse(text: &str) -> Result<Self, UnknownBackend> {
        use contract::Engine;
        match text {
            "sqlite" => Ok(Backend::Sqlite),
            "mariadb-local" => Ok(Backend::MariadbLocal),
            "postgres-local" => Ok(Backend::PostgresLocal),
            "container" | "container:mysql" => Ok(Backend::Container(Engine::Mysql)),
            "container:postgres" => Ok(Backend::Container(Engine::Postgres)),
            url => match Engine::of_url(url) {
                Some(Engine::Mysql | Engine::Postgres) => Ok(Backend::Url(url.to_owned())),
                _ => Err(UnknownBackend(url.to_owned())),
            },
        }
    }

    /// The name shown in reports (`url` for a URL).
    pub fn name(&self) -> &str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MariadbLocal => "mariadb-local",
            Backend::PostgresLocal => "postgres-local",
            Backend::Container(_) => "container",
            Backend::Url(_) => "url",
        }
    }

    /// The engine its databases run on.
    pub fn engine(&self) -> contract::Engine {
        use contract::Engine;
        match self {
            Backend::Sqlite => Engine::Sqlite,
            Backend::MariadbLocal => Engine::Mysql,
            Backend::PostgresLocal => Engine::Postgres,
            Backend::Container(engine) => *engine,
            Backend::Url(url) => Engine::of_url(url).unwrap_or(Engine::Mysql),
        }
    }
}

/// A request template; `{name}` in path, headers and body takes a parameter's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTemplate {
    pub name: Option<String>,
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub weight: u32,
}

/// An expectation: in every cell where `when` holds, each given check must pass.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub when: Option<Expr>,
    pub verdicts: Vec<Verdict>,
    pub max_p99_ms: Option<f64>,
    pub max_timeout_ratio: Option<f64>,
    pub max_error_ratio: Option<f64>,
    pub min_ok_rps: Option<f64>,
}

/// Stall detection and early stop.
#[derive(Debug, Clone, PartialEq)]
pub struct StallSpec {
    pub window: Duration,
    pub stop_on_deadlock: bool,
}

/// One configuration to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// 1-based, in run order.
    pub index: usize,
    /// The values that make this cell different (from `cells` and `matrix`), in declared order.
    pub varying: IndexMap<String, ParamValue>,
    /// Every parameter and var with its effective value.
    pub values: BTreeMap<String, ParamValue>,
}

impl Cell {
    /// `route=async,teardown=shared`, or `base` when nothing varies.
    pub fn label(&self) -> String {
        if self.varying.is_empty() {
            return "base".to_owned();
        }
        self.varying
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A file-name-safe id: `03-route-async_teardown-shared`.
    pub fn slug(&self) -> String {
        let label: String = self
            .label()
            .chars()
            .map(|c| match c {
                '=' => '-',
                ',' => '_',
                c if c.is_ascii_alphanumeric() || c == '-' || c == '.' => c,
                _ => '_',
            })
            .collect();
        format!("{:02}-{label}", self.index)
    }

    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.values.get(name)
    }
}

/// A loaded, checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub source: String,
    pub target: TargetSpec,
    pub backend: Backend,
    pub tasks: Vec<TaskTemplate>,
    pub cells: Vec<Cell>,
    pub stall: StallSpec,
    pub thresholds: Thresholds,
    pub rules: Vec<Rule>,
    /// Where the pool is read from, when `[pool]` says.
    pub pool: Option<PoolSpec>,
    /// The names of the free ports a cell needs (`""` for `{port}`).
    pub ports: Vec<String>,
    /// `[vars]` and `[target] env` keys whose values are secret.
    pub secrets: Vec<String>,
    /// Watch each cell's database from poolstorm's own connection (`[database] probe`).
    pub probe_database: bool,
    /// A pool poolstorm starts in front of each cell's database (`[database] pooler`).
    pub pooler: Option<Pooler>,
}

impl Scenario {
    /// Every secret known before a cell runs: the values of secret vars in every cell, the
    /// values of secret headers (`Authorization`, `Cookie`) as written, and the database
    /// URL's password.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .cells
            .iter()
            .flat_map(|c| self.secrets.iter().filter_map(|k| c.get(k)))
            .map(ToString::to_string)
            .collect();
        out.extend(
            self.tasks
                .iter()
                .flat_map(|t| &t.headers)
                .filter(|(k, _)| {
                    crate::base::redact::SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str())
                })
                .map(|(_, v)| v.clone()),
        );
        if let Backend::Url(url) = &self.backend
            && let Some(password) = url::Url::parse(url)
                .ok()
                .and_then(|u| u.password().map(str::to_owned))
        {
            out.push(
                percent_encoding::percent_decode_str(&password)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
        }
        out
    }

    /// Whether `[target] env` key `name` holds a secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.iter().any(|s| s == name)
    }
}

/// What the command line changes: `--set`, `--quick`, `--db`.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub set: Vec<(String, String)>,
    pub quick: bool,
    pub db: Option<Backend>,
}

/// Reads and checks a scenario file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| ScenarioError::caused(path.display().to_string(), Some("cannot read"), e))?;
    parse(path, &source, overrides)
}

/// Checks scenario text as if read from `path`.
pub fn parse(path: &Path, source: &str, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    resolve::resolve(path, source, overrides)
}

impl Scenario {
    /// The value of a name in a cell's rules: parameters, vars, and `cm`, `engine`, `backend`,
    /// `cell`.
    pub fn lookup(&self, cell: &Cell, name: &str) -> Option<Value> {
        match name {
            "cm" => {
                let strategy = cell
                    .get("id_strategy")
                    .map_or("table".to_owned(), ToString::to_string);
                Some(Value::Num(f64::from(params::cm(&strategy))))
            }
            "engine" => Some(Value::Str(self.backend.engine().name().to_owned())),
            "backend" => Some(Value::Str(self.backend.name().to_owned())),
            "cell" => Some(Value::Num(cell.index as f64)),
            _ => cell.get(name).map(ParamValue::to_expr),
        }
    }
}

#[cfg(test)]
mod tests;
