//! The report of a `poolstorm run` of one scenario (`report.json`, schema
//! `poolstorm.run/v1`): the resolved scenario, and per cell its parameters, verdict, load
//! report, pool samples, integrity check and rule results. Rewritten after every cell.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::LoadReport;
use crate::base::param::ParamValue;
use crate::observe::database::DbReport;
use crate::observe::{PoolSample, SourceReport};
use crate::verdict::{Judgement, Verdict};

/// Identifies the JSON layout.
pub const SCHEMA: &str = "poolstorm.run/v1";

/// How a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServiceExit {
    /// Exit status, `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// It did not end within the grace after SIGTERM and was killed.
    pub killed: bool,
    /// It exited on its own while the cell ran: seconds from its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub died_at_s: Option<f64>,
    /// Bytes of its output cut from the middle of its log (it keeps the first and the last
    /// [`KEEP`](crate::run::service::log::KEEP)).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_cut_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ServiceExit {
    /// "exit status 1", "signal 9 (SIGKILL)".
    pub fn status(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => match nix::sys::signal::Signal::try_from(sig) {
                Ok(s) => format!("signal {sig} ({})", s.as_str()),
                Err(_) => format!("signal {sig}"),
            },
            (None, None) => "an unknown status".to_owned(),
        }
    }
}

/// What was run, enough to run it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub file: String,
    /// The scenario file's text as it was read.
    pub source: String,
    pub target: String,
    pub backend: String,
    pub database: String,
    pub quick: bool,
    /// `--set` overrides, as given.
    pub set: Vec<String>,
}

impl ScenarioInfo {
    /// "with teardown = separate set on the command line", when `--set` changed a parameter:
    /// the description speaks of the file as written, this says what differs.
    pub fn set_note(&self) -> Option<String> {
        let pairs: Vec<String> = self
            .set
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((key, value)) => format!("{} = {}", key.trim(), value.trim()),
                None => pair.clone(),
            })
            .collect();
        (!pairs.is_empty()).then(|| format!("with {} set on the command line", pairs.join(", ")))
    }

    /// The description, and under it what `--set` changed.
    pub fn described(&self) -> String {
        match self.set_note() {
            Some(note) => format!(
                "{}
({note})",
                self.description
            ),
            None => self.description.clone(),
        }
    }
}

/// The highest values the server's pool samples reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peaks {
    pub pool_max: u64,
    pub pool_in_use: u64,
    pub pool_waiting: u64,
    pub blocking_threads: u64,
    pub blocking_busy: u64,
    pub blocking_queued: u64,
    pub teardown_pending: u64,
}

impl Peaks {
    pub fn of(samples: &[PoolSample]) -> Self {
        let peak = |pick: fn(&PoolSample) -> Option<u64>| {
            samples.iter().filter_map(pick).max().unwrap_or(0)
        };
        Self {
            pool_max: peak(|s| s.pool_max),
            pool_in_use: peak(|s| s.pool_in_use),
            pool_waiting: peak(|s| s.pool_waiting),
            blocking_threads: peak(|s| s.blocking_threads),
            blocking_busy: peak(|s| s.blocking_busy),
            blocking_queued: peak(|s| s.blocking_queued),
            teardown_pending: peak(|s| s.teardown_pending),
        }
    }
}

/// Mode 2: every 201 is one row with its own id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrity {
    /// `endpoint` (`/mode2/messages/stats`) or `database` (read directly when the app was stuck).
    pub source: String,
    pub rows: u64,
    pub distinct_ids: u64,
    /// 201 responses counted by the load.
    pub created: u64,
    /// Inserts whose answer never arrived (timeouts, connection errors, aborted): each may or
    /// may not have committed.
    pub unanswered: u64,
    pub passed: bool,
    pub message: String,
}

/// One expectation checked on one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: String,
    pub passed: bool,
    /// What was found (and, when it failed, what was expected).
    pub details: String,
}

/// One cell's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    pub index: usize,
    pub label: String,
    pub slug: String,
    /// The values that make this cell different, in declared order.
    pub varying: IndexMap<String, ParamValue>,
    /// Every parameter's effective value.
    pub params: BTreeMap<String, ParamValue>,
    /// target-app's command line (managed targets).
    pub app_flags: Vec<String>,
    /// The command line a command target was started with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `None` when the cell could not run.
    pub judgement: Option<Judgement>,
    pub stopped_on_deadlock: bool,
    pub load: Option<LoadReport>,
    pub pool_samples: Vec<PoolSample>,
    /// Where the pool samples came from, under which names, and their gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_source: Option<SourceReport>,
    /// poolstorm's own view of the cell's database, sampled beside the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DbReport>,
    pub peaks: Peaks,
    pub integrity: Option<Integrity>,
    pub rules: Vec<RuleResult>,
    /// How the service poolstorm started ended (target-app or a command target).
    pub app_exit: Option<ServiceExit>,
    /// Why the cell could not run.
    pub error: Option<String>,
    /// The interval log and the service's log, relative to the results folder.
    pub files: Vec<String>,
}

impl CellReport {
    /// A cell's report before it has results: no judgement, load, samples, rules or files.
    pub fn blank(
        index: usize,
        label: String,
        slug: String,
        varying: IndexMap<String, ParamValue>,
        params: BTreeMap<String, ParamValue>,
    ) -> Self {
        Self {
            index,
            label,
            slug,
            varying,
            params,
            app_flags: Vec::new(),
            command: Vec::new(),
            judgement: None,
            stopped_on_deadlock: false,
            load: None,
            pool_samples: Vec::new(),
            pool_source: None,
            database: None,
            peaks: Peaks::default(),
            integrity: None,
            rules: Vec::new(),
            app_exit: None,
            error: None,
            files: Vec::new(),
        }
    }

    /// A lone load run as a cell, so that a `poolstorm load` or `merge` report draws with the
    /// scenario report's charts: no parameters, no pool view, no rules.
    pub fn of_load(label: &str, load: LoadReport, judgement: Judgement) -> Self {
        Self {
            judgement: Some(judgement),
            load: Some(load),
            ..Self::blank(
                1,
                label.to_owned(),
                String::new(),
                IndexMap::new(),
                BTreeMap::new(),
            )
        }
    }

    pub fn verdict(&self) -> Option<Verdict> {
        self.judgement.as_ref().map(|j| j.verdict)
    }

    /// It ran, its integrity check (if any) held, and every rule that applies passed.
    pub fn passed(&self) -> bool {
        self.error.is_none()
            && self.integrity.as_ref().is_none_or(|i| i.passed)
            && self.rules.iter().all(|r| r.passed)
    }
}

/// The whole run of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    pub schema: String,
    pub scenario: ScenarioInfo,
    pub started_at: String,
    /// Every cell ran.
    pub complete: bool,
    pub interrupted: bool,
    /// Complete, and every cell passed.
    pub passed: bool,
    pub cells: Vec<CellReport>,
    /// `poolstorm advise`'s findings, when the cells are its search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<super::advice::Advice>,
    /// Which cells the scenario's rules expect to lock, computed by the run from the scenario
    /// (renderers draw it; none of them parses the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<Prediction>,
}

/// The boundary a scenario's rules draw: the condition of its first rule that expects a lock
/// (`deadlocked` or `starved`), and for every cell whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub rule: String,
    /// One per cell, in the cells' order.
    pub locks: Vec<bool>,
}

impl ScenarioReport {
    /// Reads a `report.json`.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(std::io::Error::other)
    }
}
