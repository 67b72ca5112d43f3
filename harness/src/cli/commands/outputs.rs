//! A load report's files (`--json`, `--csv`, `--hlog`, `--html`), created before any work so
//! that a bad path fails first, and written once the report is final; and the ending shared
//! by `poolstorm load` and `poolstorm merge`: `--fail-if` checked, files written, the summary
//! printed, the exit status decided.

use std::path::PathBuf;

use super::{Exit, Failure, Outcome, UsageError};
use crate::base::expr::Expr;
use crate::engine::metrics::IntervalSink;
use crate::export::hlog::HlogWriter;
use crate::export::text;
use crate::export::{self, ExportError, ExportManager};
use crate::results::LoadReport;
use crate::results::gate;

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

impl Paths<'_> {
    /// The path the flag `name` gave (`--json`, `--csv`, `--html`), if any.
    fn of(&self, name: &str) -> Option<&PathBuf> {
        match name {
            "--json" => self.json,
            "--csv" => self.csv,
            "--html" => self.html,
            _ => None,
        }
    }
}

/// The files, open.
pub struct Outputs {
    files: ExportManager<LoadReport>,
    /// Taken by the driver, which streams each second into it.
    pub hlog: Option<Box<dyn IntervalSink>>,
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
            .field("files", &self.files)
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
        let mut files = ExportManager::default();
        for export in &export::LOAD {
            if let Some(path) = paths.of(export.name) {
                files.add(export, path.clone()).map_err(|e| match e {
                    ExportError::Create { name, path, source } => {
                        UsageError::new(name, format!("cannot create {}: {source}", path.display()))
                    }
                    ExportError::Write { .. } => UsageError::new(export.name, e.to_string()),
                })?;
            }
        }
        Ok(Self { files, hlog })
    }

    /// Checks the conditions on the final report, writes the files, prints the summary, and
    /// says how the program ends.
    pub fn finish(
        self,
        report: &mut LoadReport,
        conditions: &[Expr],
        interrupted: bool,
    ) -> Outcome {
        report.checks = gate::check(report, conditions).map_err(Failure::not_run)?;
        self.files.write(report).map_err(Failure::not_run)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_load_format_has_its_flag_in_paths() {
        let (json, csv, html) = (PathBuf::from("j"), PathBuf::from("c"), PathBuf::from("h"));
        let paths = Paths {
            json: Some(&json),
            csv: Some(&csv),
            html: Some(&html),
            ..Paths::default()
        };
        for export in &export::LOAD {
            assert!(
                paths.of(export.name).is_some(),
                "{} has no path",
                export.name
            );
        }
    }
}
