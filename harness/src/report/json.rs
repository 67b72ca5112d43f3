//! The JSON report: the [`LoadReport`] document as written by `--json` (schema in
//! `harness/schema/load-report.schema.json`, fields described in `docs/load-report.md`).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::Path;

use super::LoadReport;

/// Writes the report, pretty-printed.
pub fn write(report: &LoadReport, out: File) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Reads a report written by [`write`].
pub fn read(path: &Path) -> io::Result<LoadReport> {
    let file = File::open(path)?;
    serde_json::from_reader(BufReader::new(file)).map_err(io::Error::other)
}
