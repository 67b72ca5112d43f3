//! The parameters a scenario can set, sweep in a matrix and test in rules: target-app's
//! settings (their ranges and defaults come from the contract crate, the same ones target-app
//! builds its flags from) and the load settings (from the load settings table). Nothing here
//! restates a range or a default.

use contract::app::{self, Bounded};
use contract::{IdStrategy, Teardown};

use super::TargetKind;
use crate::base::param::{Kind, ParamError, ParamValue};
use crate::engine::load::{SETTINGS, Setting};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// A target-app flag (managed targets only).
    App,
    /// A load setting.
    Load,
    /// A pgbouncer setting (`[database] pooler = "pgbouncer"` only).
    Pgbouncer,
}

/// A default value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Preset {
    Unset,
    Int(i64),
    Text(&'static str),
}

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub section: Section,
    pub kind: Kind,
    default: Preset,
    /// What it means, for the docs.
    pub doc: &'static str,
}

const fn int(b: Bounded) -> Kind {
    Kind::Int {
        min: b.min,
        max: b.max,
    }
}

const fn app_param(name: &'static str, kind: Kind, default: Preset, doc: &'static str) -> Param {
    Param {
        name,
        section: Section::App,
        kind,
        default,
        doc,
    }
}

/// target-app's settings, in its `--help` order.
const APP: &[Param] = &[
    app_param(
        "threads",
        int(app::THREADS),
        Preset::Int(app::THREADS.default),
        "bounded blocking pool (anyio's limiter; Tn in mode 2)",
    ),
    app_param(
        "pool_max",
        int(app::POOL_MAX),
        Preset::Int(app::POOL_MAX.default),
        "most connections in the pool",
    ),
    app_param(
        "pool_min",
        int(app::POOL_MIN),
        Preset::Int(app::POOL_MIN.default),
        "idle connections kept open",
    ),
    app_param(
        "acquire_timeout",
        Kind::SecondsOrNone,
        Preset::Int(app::ACQUIRE_TIMEOUT_SECS as i64),
        "wait for a connection before a 503 `pool_timeout`; `\"none\"` waits forever",
    ),
    app_param(
        "teardown",
        Kind::Choice(&Teardown::NAMES),
        Preset::Text(Teardown::DEFAULT.name()),
        "where mode 1's session teardown runs",
    ),
    app_param(
        "hold_ms",
        int(app::HOLD_MS),
        Preset::Int(app::HOLD_MS.default),
        "ms a mode-1 handler holds its connection",
    ),
    app_param(
        "id_strategy",
        Kind::Choice(&IdStrategy::NAMES),
        Preset::Text(IdStrategy::DEFAULT.name()),
        "how mode 2 allocates ids",
    ),
    app_param(
        "id_block",
        int(app::ID_BLOCK),
        Preset::Int(app::ID_BLOCK.default),
        "ids per block for pooled-lo and pooled-lotl",
    ),
    app_param(
        "work_ms",
        int(app::WORK_MS),
        Preset::Int(app::WORK_MS.default),
        "ms of work on connection A before a mode-2 id is needed",
    ),
    app_param(
        "query_delay_ms",
        int(app::QUERY_DELAY_MS),
        Preset::Int(app::QUERY_DELAY_MS.default),
        "ms of a server-side sleep on every checkout (SELECT SLEEP on MySQL/MariaDB, pg_sleep on PostgreSQL; a slow database)",
    ),
];

/// pgbouncer's pool modes, in its documentation's order.
pub const POOL_MODES: [&str; 3] = ["session", "transaction", "statement"];

/// pgbouncer's settings a cell may vary, with pgbouncer's own defaults.
const PGBOUNCER: &[Param] = &[
    Param {
        name: "pool_mode",
        section: Section::Pgbouncer,
        kind: Kind::Choice(&POOL_MODES),
        default: Preset::Text("session"),
        doc: "when pgbouncer gives a server connection back: at the client's disconnect, its transaction's end, or its statement's",
    },
    Param {
        name: "default_pool_size",
        section: Section::Pgbouncer,
        kind: Kind::Int { min: 1, max: 10000 },
        default: Preset::Int(20),
        doc: "pgbouncer's server connections per user and database",
    },
];

impl From<&'static Setting> for Param {
    fn from(s: &'static Setting) -> Self {
        Param {
            name: s.name(),
            section: Section::Load,
            kind: s.kind,
            default: s.default.map_or(Preset::Unset, Preset::Text),
            doc: s.help,
        }
    }
}

/// Every parameter: target-app's first, then the load settings a scenario sets in `[load]`,
/// then pgbouncer's.
pub fn all() -> impl Iterator<Item = Param> {
    APP.iter()
        .copied()
        .chain(
            SETTINGS
                .iter()
                .filter(|s| s.table.is_none())
                .map(Param::from),
        )
        .chain(PGBOUNCER.iter().copied())
}

/// The parameter called `name`.
pub fn find(name: &str) -> Option<Param> {
    all().find(|p| p.name == name)
}

/// Every parameter name, for error messages.
pub fn names() -> Vec<&'static str> {
    all().map(|p| p.name).collect()
}

/// The parameters a target of this kind takes: target-app's settings only when poolstorm
/// manages target-app (another target's `[vars]` may use their names for its own settings);
/// pgbouncer's for every target poolstorm gives a database.
pub fn for_target(kind: TargetKind) -> impl Iterator<Item = Param> {
    all().filter(move |p| match p.section {
        Section::App => kind == TargetKind::Managed,
        Section::Load => true,
        Section::Pgbouncer => kind != TargetKind::External,
    })
}

/// The parameter called `name` for a target of this kind.
pub fn find_for(kind: TargetKind, name: &str) -> Option<Param> {
    for_target(kind).find(|p| p.name == name)
}

/// A value a parameter does not take, naming the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{name} {source}")]
pub struct BadParam {
    pub name: &'static str,
    #[source]
    pub source: ParamError,
}

impl Param {
    /// Checks and normalizes a TOML value for this parameter.
    pub fn normalize(&self, value: &toml::Value) -> Result<ParamValue, BadParam> {
        self.kind.normalize(value).map_err(|source| BadParam {
            name: self.name,
            source,
        })
    }

    /// The default, normalized.
    pub fn default_value(&self) -> Option<ParamValue> {
        let value = match self.default {
            Preset::Unset => return None,
            Preset::Int(n) => toml::Value::Integer(n),
            Preset::Text(text) => return Some(self.kind.parse_text(text).expect("valid default")),
        };
        Some(self.normalize(&value).expect("defaults are valid"))
    }

    /// `--flag value` for target-app.
    pub fn flag(&self, value: &ParamValue) -> [String; 2] {
        [
            format!("--{}", self.name.replace('_', "-")),
            value.to_string(),
        ]
    }
}

/// Connections one mode-2 insert holds at once with an id strategy (HikariCP's Cm).
pub fn cm(id_strategy: &str) -> u32 {
    IdStrategy::from_name(id_strategy).map_or(1, IdStrategy::cm)
}

/// The Markdown table of target-app's settings, as scenarios/README.md shows it (a test keeps
/// the two in step).
pub fn app_markdown_table() -> String {
    let mut out = String::from("| parameter | type | default | meaning |\n|---|---|---|---|\n");
    for p in APP {
        let kind = p.kind.describe();
        let default = p
            .default_value()
            .map_or_else(String::new, |v| format!("`{v}`"));
        out.push_str(&format!(
            "| `{}` | {kind} | {default} | {} |\n",
            p.name, p.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(name: &str, value: impl Into<toml::Value>) -> Result<ParamValue, BadParam> {
        find(name).unwrap().normalize(&value.into())
    }

    #[test]
    fn values_are_checked_against_their_kind_naming_the_parameter() {
        assert_eq!(
            norm("threads", toml::Value::Integer(8)),
            Ok(ParamValue::Int(8))
        );
        assert!(
            norm("threads", toml::Value::Integer(0))
                .unwrap_err()
                .to_string()
                .contains("threads must be from 1 to 4096")
        );
        assert!(
            norm("teardown", "later")
                .unwrap_err()
                .to_string()
                .contains("shared, separate, inline")
        );
        assert_eq!(norm("duration", "4s"), Ok(ParamValue::Text("4s".into())));
        assert!(norm("duration", "soon").is_err());
    }

    #[test]
    fn defaults_are_target_apps_and_the_load_tables() {
        let default = |name: &str| find(name).unwrap().default_value();
        assert_eq!(default("threads"), Some(ParamValue::Int(40)));
        assert_eq!(default("acquire_timeout"), Some(ParamValue::Float(30.0)));
        assert_eq!(default("teardown"), Some(ParamValue::Text("shared".into())));
        assert_eq!(
            default("id_strategy"),
            Some(ParamValue::Text("table".into()))
        );
        assert_eq!(default("timeout"), Some(ParamValue::Text("60s".into())));
        assert_eq!(default("users"), None);
        assert!(find("stall_window").is_none(), "set in [stall], not [load]");
        let p = find("pool_max").unwrap();
        assert_eq!(
            p.flag(&ParamValue::Int(4)),
            ["--pool-max".to_owned(), "4".to_owned()]
        );
    }

    #[test]
    fn cm_comes_from_the_id_strategy() {
        assert_eq!(cm("table"), 2);
        assert_eq!(cm("identity"), 1);
    }
}
