//! Running a scenario: its database backend up once, then each cell in order against a fresh
//! database and a fresh target-app, every result file rewritten after each cell (so an
//! interrupted run keeps what it measured), the backend down at the end, also on Ctrl-C.

mod cell;
mod error;
mod expect;
mod integrity;
mod target;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

pub use cell::plan;
pub use target::app_flags;

use crate::base::redact::Redactor;
use crate::export::{self, ExportError, ExportManager};
use crate::results::advice::Advice;
use crate::results::scenario::{CellReport, SCHEMA, ScenarioInfo, ScenarioReport};
use crate::run::app;
use crate::run::database::Databases;
use crate::run::scenario::{Cell, Scenario, TargetSpec};
use crate::watch::monitor::Monitor;

/// What every cell of a scenario run shares.
#[derive(Debug)]
pub(super) struct Context<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) databases: Option<&'a Databases>,
    pub(super) binary: Option<&'a Path>,
    /// The results folder.
    pub(super) dir: &'a Path,
    /// Cancelled by Ctrl-C.
    pub(super) stop: &'a CancellationToken,
    /// The run's secrets: nothing written or shown may contain them.
    pub(super) redactor: &'a Redactor,
}

/// Why a scenario could not run at all (a cell that fails is reported, not an error).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Program(#[from] error::MissingProgram),
    #[error(transparent)]
    App(#[from] crate::run::app::AppError),
    #[error("database backend {backend}: {source}")]
    Backend {
        backend: String,
        #[source]
        source: crate::run::database::DatabaseError,
    },
    #[error("writing results in {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// How scenarios are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Results go to `out/<scenario>/<timestamp>/`.
    pub out: PathBuf,
    /// `--set` as given, for the report.
    pub set: Vec<String>,
    pub quick: bool,
}

/// `20261122-113000`, UTC.
fn stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
        .replace('T', "-")
        .trim_end_matches('Z')
        .to_owned()
}

/// A fresh results folder.
fn results_dir(out: &Path, scenario: &str) -> Result<PathBuf, RunError> {
    let base = out.join(scenario).join(stamp(SystemTime::now()));
    let mut dir = base.clone();
    for n in 2.. {
        if !dir.exists() {
            break;
        }
        dir = PathBuf::from(format!("{}-{n}", base.display()));
    }
    std::fs::create_dir_all(dir.join("cells")).map_err(|source| RunError::Write {
        dir: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// Where a run's results are, for the terminal: the page to open, then the other files (with
/// `extra` ones a command wrote beside them).
pub fn results_lines(dir: &Path, extra: &[&str]) -> String {
    let (first, rest) = export::RUN.split_first().expect("a file at least");
    let others: Vec<&str> = extra
        .iter()
        .copied()
        .chain(rest.iter().map(|f| f.name))
        .collect();
    format!(
        "  results: {}\n    open {}\n    beside it: {}, cells/ (each cell's .hlog and log)\n",
        dir.display(),
        dir.join(first.name).display(),
        others.join(", ")
    )
}

/// A scenario's run under way: its database backend up, its results folder, its report so
/// far. `poolstorm run` runs the scenario's cells in it; `poolstorm advise` runs the cells its
/// search chooses.
#[derive(Debug)]
pub struct Session<'s> {
    scenario: &'s Scenario,
    databases: Option<Databases>,
    binary: Option<PathBuf>,
    dir: PathBuf,
    redactor: Redactor,
    report: ScenarioReport,
    /// The results folder's files, rewritten after every cell.
    files: ExportManager<ScenarioReport>,
}

impl<'s> Session<'s> {
    /// Brings the backend up and makes the results folder.
    pub async fn start(scenario: &'s Scenario, options: &RunOptions) -> Result<Self, RunError> {
        if let TargetSpec::Command(spec) = &scenario.target {
            target::check_program(spec)?;
        }
        let binary = match &scenario.target {
            TargetSpec::Managed { binary } => Some(app::locate(binary.as_deref())?),
            TargetSpec::External { .. } | TargetSpec::Command(_) => None,
        };
        let databases = if scenario.target.is_started() {
            Some(
                Databases::start(&scenario.backend)
                    .await
                    .map_err(|source| RunError::Backend {
                        backend: scenario.backend.name().to_owned(),
                        source,
                    })?,
            )
        } else {
            None
        };
        let dir = match results_dir(&options.out, &scenario.name) {
            Ok(dir) => dir,
            Err(e) => {
                if let Some(databases) = databases {
                    databases.stop().await;
                }
                return Err(e);
            }
        };
        let redactor = Redactor::default();
        for secret in scenario.secret_values() {
            redactor.add(&secret);
        }
        let info = ScenarioInfo {
            name: scenario.name.clone(),
            description: scenario.description.clone(),
            file: scenario.path.display().to_string(),
            source: scenario.source.clone(),
            target: match &scenario.target {
                TargetSpec::Managed { .. } => format!(
                    "managed target-app ({})",
                    binary
                        .as_ref()
                        .map_or(String::new(), |b| b.display().to_string())
                ),
                TargetSpec::External { url } => url.clone(),
                TargetSpec::Command(c) => format!("command: {}", c.command.join(" ")),
            },
            backend: scenario.backend.name().to_owned(),
            database: databases
                .as_ref()
                .map_or("none (external target)".to_owned(), Databases::describe),
            quick: options.quick,
            set: options.set.clone(),
        };
        let report = ScenarioReport {
            schema: SCHEMA.to_owned(),
            scenario: redactor.scrub(&info),
            started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            complete: false,
            interrupted: false,
            passed: false,
            cells: Vec::new(),
            advice: None,
            predicted: None,
        };
        // Every file there from the start, a report of no cells yet.
        let mut files = ExportManager::default();
        let created = files
            .add_all_in(&export::RUN, &dir)
            .and_then(|()| files.write(&report));
        if let Err(e) = created {
            if let Some(databases) = databases {
                databases.stop().await;
            }
            return Err(e.into());
        }
        Ok(Self {
            scenario,
            databases,
            binary,
            dir,
            redactor,
            report,
            files,
        })
    }

    /// The results folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Cells run so far.
    pub fn cells(&self) -> usize {
        self.report.cells.len()
    }

    /// Adds `poolstorm advise`'s findings to the report (and its HTML page).
    pub fn annotate(&mut self, advice: Advice) -> Result<(), RunError> {
        self.report.advice = Some(advice);
        Ok(self.files.write(&self.report)?)
    }

    /// Runs one cell and rewrites every result file with it.
    pub async fn run_cell(
        &mut self,
        cell: &Cell,
        stop: &CancellationToken,
        monitor: &mut dyn Monitor,
    ) -> Result<&CellReport, RunError> {
        let ctx = Context {
            scenario: self.scenario,
            databases: self.databases.as_ref(),
            binary: self.binary.as_deref(),
            dir: &self.dir,
            stop,
            redactor: &self.redactor,
        };
        let result = cell::run(&ctx, cell, monitor).await;
        self.report.cells.push(self.redactor.scrub(&result));
        self.report.predicted = expect::predicted(self.scenario, &self.report.cells);
        self.report.interrupted = stop.is_cancelled();
        self.files.write(&self.report)?;
        Ok(self.report.cells.last().expect("pushed above"))
    }

    /// Takes the backend down; when `outcome` is fine, writes the final results, complete
    /// when `expected` cells ran and nobody stopped the run.
    pub async fn finish(
        mut self,
        outcome: Result<(), RunError>,
        expected: usize,
        stop: &CancellationToken,
    ) -> Result<(ScenarioReport, PathBuf), RunError> {
        if let Some(databases) = self.databases.take() {
            databases.stop().await;
        }
        outcome?;
        let report = &mut self.report;
        report.complete = report.cells.len() == expected && !stop.is_cancelled();
        report.interrupted = stop.is_cancelled();
        report.passed = report.complete && report.cells.iter().all(|c| c.passed());
        self.files.write(report)?;
        Ok((self.report, self.dir))
    }
}

/// Runs every cell of `scenario`; returns its report and results folder.
pub async fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
    stop: &CancellationToken,
    monitor: &mut dyn Monitor,
) -> Result<(ScenarioReport, PathBuf), RunError> {
    let mut session = Session::start(scenario, options).await?;
    if !monitor.owns_screen() {
        eprintln!(
            "poolstorm: {} ({} cells) -> {}",
            scenario.name,
            scenario.cells.len(),
            session.dir().display()
        );
    }
    let mut outcome = Ok(());
    for cell in &scenario.cells {
        if stop.is_cancelled() {
            break;
        }
        if let Err(e) = session.run_cell(cell, stop, monitor).await {
            outcome = Err(e);
            break;
        }
    }
    session.finish(outcome, scenario.cells.len(), stop).await
}
