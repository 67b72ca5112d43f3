//! The scenario file as written: TOML tables deserialized with every value's position kept,
//! so that later checks can point at `file:line:col`. See `scenarios/README.md`.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// `key = value` pairs with their positions, in the order written.
pub(super) type Table = IndexMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) description: String,
    pub(super) target: Option<Spanned<RawTarget>>,
    pub(super) database: Option<Spanned<RawDatabase>>,
    #[serde(default)]
    pub(super) app: Table,
    #[serde(default)]
    pub(super) load: Table,
    /// `[pgbouncer]`: the pooler's settings (`pool_mode`, `default_pool_size`).
    #[serde(default)]
    pub(super) pgbouncer: Table,
    #[serde(default)]
    pub(super) vars: Table,
    #[serde(default)]
    pub(super) tasks: Vec<Spanned<RawTask>>,
    #[serde(default)]
    pub(super) cells: Vec<Spanned<Table>>,
    #[serde(default)]
    pub(super) matrix: IndexMap<Spanned<String>, Spanned<Vec<Spanned<toml::Value>>>>,
    pub(super) stall: Option<RawStall>,
    pub(super) verdict: Option<RawVerdict>,
    #[serde(default)]
    pub(super) expect: Vec<Spanned<RawExpect>>,
    #[serde(default)]
    pub(super) quick: Table,
    pub(super) pool: Option<Spanned<Table>>,
    /// `[vars]` and `[target] env` keys whose values never appear in any output.
    #[serde(default)]
    pub(super) secrets: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) kind: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) binary: Option<String>,
    pub(super) command: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub(super) env: IndexMap<String, Spanned<String>>,
    pub(super) cwd: Option<Spanned<String>>,
    pub(super) ready: Option<Spanned<String>>,
    pub(super) ready_timeout: Option<Spanned<toml::Value>>,
    pub(super) setup: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub(super) backend: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    /// Watch the database from poolstorm's own connection (default true).
    pub(super) probe: Option<bool>,
    /// A pool poolstorm starts in front of each cell's database (`"pgbouncer"`).
    pub(super) pooler: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTask {
    pub(super) method: Option<Spanned<String>>,
    pub(super) path: Spanned<String>,
    pub(super) weight: Option<Spanned<i64>>,
    pub(super) name: Option<String>,
    pub(super) body: Option<Spanned<String>>,
    /// A body given as a TOML table, sent as JSON.
    pub(super) json: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub(super) headers: IndexMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStall {
    pub(super) window: Option<Spanned<toml::Value>>,
    pub(super) stop_on_deadlock: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerdict {
    pub(super) healthy_max_error_ratio: Option<Spanned<f64>>,
    pub(super) starved_min_pool_timeout_ratio: Option<Spanned<f64>>,
    pub(super) deadlock_min_saturated_share: Option<Spanned<f64>>,
    pub(super) database_slow_ms: Option<Spanned<f64>>,
}

/// One verdict or several allowed ones.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    pub(super) name: Option<String>,
    pub(super) when: Option<Spanned<String>>,
    pub(super) verdict: Option<Spanned<OneOrMany>>,
    pub(super) max_p99_ms: Option<f64>,
    pub(super) max_timeout_ratio: Option<f64>,
    pub(super) max_error_ratio: Option<f64>,
    pub(super) min_ok_rps: Option<f64>,
}
