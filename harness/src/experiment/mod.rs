//! Running a scenario: its database backend up once, then each cell in order against a fresh
//! database and a fresh target-app, every result file rewritten after each cell (so an
//! interrupted run keeps what it measured), the backend down at the end, also on Ctrl-C.

mod cell;
mod expect;
mod integrity;
mod target;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

pub use cell::plan;
pub use target::app_flags;

use crate::app;
use crate::database::Databases;
use crate::monitor::Monitor;
use crate::redact::Redactor;
use crate::report::scenario::{SCHEMA, ScenarioInfo, ScenarioReport};
use crate::report::{cells_csv, comparison, html, junit};
use crate::scenario::{Scenario, TargetSpec};

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
    #[error("{0}")]
    Setup(String),
    #[error("writing results in {dir}: {source}")]
    Write {
        dir: PathBuf,
        source: std::io::Error,
    },
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

/// Writes `report.json`, `report.csv`, `report.md` and `junit.xml`.
pub fn write_results(report: &ScenarioReport, dir: &Path) -> Result<(), RunError> {
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| RunError::Write {
                dir: dir.to_owned(),
                source,
            })
    };
    let json = serde_json::to_string_pretty(report).expect("reports serialize");
    write("report.json", json)?;
    write("report.csv", cells_csv::render(report))?;
    write("report.md", comparison::markdown(report))?;
    write("junit.xml", junit::render(report))?;
    write("report.html", html::render(report))?;
    Ok(())
}

/// Runs every cell of `scenario`; returns its report and results folder.
pub async fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
    stop: &CancellationToken,
    monitor: &mut dyn Monitor,
) -> Result<(ScenarioReport, PathBuf), RunError> {
    let binary = match &scenario.target {
        TargetSpec::Managed { binary } => {
            Some(app::locate(binary.as_deref()).map_err(|e| RunError::Setup(e.0))?)
        }
        TargetSpec::External { .. } | TargetSpec::Command(_) => None,
    };
    let databases = match &scenario.target {
        TargetSpec::Managed { .. } | TargetSpec::Command(_) => {
            Some(Databases::start(&scenario.backend).await.map_err(|e| {
                RunError::Setup(format!("database backend {}: {e}", scenario.backend.name()))
            })?)
        }
        TargetSpec::External { .. } => None,
    };
    let dir = results_dir(&options.out, &scenario.name)?;
    let redactor = Redactor::default();
    for secret in scenario.secret_values() {
        redactor.add(&secret);
    }
    let mut report = ScenarioReport {
        schema: SCHEMA.to_owned(),
        scenario: ScenarioInfo {
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
        },
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        complete: false,
        interrupted: false,
        passed: false,
        cells: Vec::new(),
    };
    if !monitor.owns_screen() {
        eprintln!(
            "poolstorm: {} ({} cells) -> {}",
            scenario.name,
            scenario.cells.len(),
            dir.display()
        );
    }
    let ctx = Context {
        scenario,
        databases: databases.as_ref(),
        binary: binary.as_deref(),
        dir: &dir,
        stop,
        redactor: &redactor,
    };
    report.scenario = redactor.scrub(&report.scenario);
    let mut outcome = Ok(());
    for cell in &scenario.cells {
        if stop.is_cancelled() {
            break;
        }
        let result = cell::run(&ctx, cell, monitor).await;
        report.cells.push(redactor.scrub(&result));
        report.interrupted = stop.is_cancelled();
        if let Err(e) = write_results(&report, &dir) {
            outcome = Err(e);
            break;
        }
    }
    if let Some(databases) = databases {
        databases.stop().await;
    }
    outcome?;
    report.complete = report.cells.len() == scenario.cells.len() && !stop.is_cancelled();
    report.interrupted = stop.is_cancelled();
    report.passed = report.complete && report.cells.iter().all(|c| c.passed());
    write_results(&report, &dir)?;
    Ok((report, dir))
}
