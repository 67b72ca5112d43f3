//! The JSON report: the [`LoadReport`] document as written by `--json` (schema in
//! `harness/schema/load-report.schema.json`, fields described in `docs/load-report.md`;
//! written by [`export::LOAD`](super::export::LOAD)), read back for `poolstorm merge`.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use super::LoadReport;

/// Reads a report that `--json` wrote.
pub fn read(path: &Path) -> io::Result<LoadReport> {
    let file = File::open(path)?;
    serde_json::from_reader(BufReader::new(file)).map_err(io::Error::other)
}
