//! A load report's files (`--json`, `--csv`, `--hlog`, `--html`), created before any work so
//! that a bad path fails first, and written once the report is final; and the ending shared
//! by `poolstorm load` and `poolstorm merge`: `--fail-if` checked, files written, the summary
//! printed, the exit status decided.

use std::fs::File;
use std::path::PathBuf;

use super::{Exit, Failure, Outcome, UsageError};
use crate::expr::Expr;
use crate::gate;
use crate::metrics::IntervalSink;
use crate::report::hlog::HlogWriter;
use crate::report::{LoadReport, csv, html, json, text};

/// Where each file goes (`None`: not written).
#[derive(Debug, Default)]
pub struct Paths<'a> {
    pub json: Option<&'a PathBuf>,
    pub csv: Option<&'a PathBuf>,
    pub hlog: Option<&'a PathBuf>,
    pub html: Option<&'a PathBuf>,
    /// A line for the `.hlog`'s header (a shard's identity).
    pub hlog_note: Option<String>,
}

/// The files, open.
pub struct Outputs {
    json: Option<File>,
    csv: Option<File>,
    html: Option<(PathBuf, File)>,
    /// Taken by the driver, which streams each second into it.
    pub hlog: Option<Box<dyn IntervalSink>>,
}

fn create(flag: &str, path: Option<&PathBuf>) -> Result<Option<File>, UsageError> {
    path.map(|p| {
        File::create(p)
            .map_err(|e| UsageError::new(flag, format!("cannot create {}: {e}", p.display())))
    })
    .transpose()
}

/// Parses every `--fail-if` condition, naming the bad one.
pub fn conditions(fail_if: &[String]) -> Result<Vec<Expr>, UsageError> {
    fail_if
        .iter()
        .map(|c| gate::parse(c).map_err(|e| UsageError::new("--fail-if", format!("`{c}`: {e}"))))
        .collect()
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outputs")
            .field("html", &self.html.as_ref().map(|(p, _)| p))
            .finish_non_exhaustive()
    }
}

impl Outputs {
    /// Creates (or truncates) every file now.
    pub fn open(paths: &Paths<'_>) -> Result<Self, UsageError> {
        let hlog = paths
            .hlog
            .map(|p| {
                HlogWriter::create(p)
                    .map(|h| match &paths.hlog_note {
                        Some(note) => h.note(note.clone()),
                        None => h,
                    })
                    .map(|h| Box::new(h) as Box<dyn IntervalSink>)
                    .map_err(|e| {
                        UsageError::new("--hlog", format!("cannot create {}: {e}", p.display()))
                    })
            })
            .transpose()?;
        let html = create("--html", paths.html)?;
        Ok(Self {
            json: create("--json", paths.json)?,
            csv: create("--csv", paths.csv)?,
            html: paths.html.cloned().zip(html),
            hlog,
        })
    }

    /// Checks the conditions on the final report, writes the files, prints the summary, and
    /// says how the program ends.
    pub fn finish(
        mut self,
        report: &mut LoadReport,
        conditions: &[Expr],
        interrupted: bool,
    ) -> Outcome {
        report.checks = gate::check(report, conditions).map_err(Failure::not_run)?;
        if let Some(file) = self.json.take() {
            json::write(report, file).map_err(Failure::not_run)?;
        }
        if let Some(file) = self.csv.take() {
            csv::write(report, file).map_err(Failure::not_run)?;
        }
        if let Some((path, file)) = self.html.take() {
            html::write_load(report, file).map_err(|e| {
                Failure::not_run(
                    anyhow::Error::new(e).context(format!("writing {}", path.display())),
                )
            })?;
        }
        print!("{}", text::render(report));
        Ok(if interrupted {
            Exit::Interrupted
        } else if report.checks.iter().any(|c| c.failed) {
            Exit::Failed
        } else {
            Exit::Done
        })
    }
}
