//! The HdrHistogram interval log (`.hlog`, format 1.3, V2+DEFLATE histograms, base64), one
//! untagged line per second for all tasks together and one tagged line per task. Java's
//! `HistogramLogProcessor` and the HdrHistogram plotter read it. Values are microseconds.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::engine::metrics::{IntervalSink, Latency};

/// Writes an interval log as the run goes, one second at a time.
pub struct HlogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
    /// Header comments of the writer's own, as `#[...]` lines (a shard's identity).
    notes: Vec<String>,
}

impl std::fmt::Debug for HlogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HlogWriter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The tag of a task's lines: its name with spaces and commas made `_`.
pub fn tag_of(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, ' ' | ',' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

impl HlogWriter {
    /// Creates (or truncates) the file now, so a bad path fails before any load is sent.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
            serializer: V2DeflateSerializer::new(),
            notes: Vec::new(),
        })
    }

    /// Adds a `#[note]` line to the header (readers skip comment lines they do not know).
    pub fn note(mut self, note: String) -> Self {
        self.notes.push(note);
        self
    }
}

impl IntervalSink for HlogWriter {
    /// Writes the header: start time, format version, units and the task tags.
    fn begin(&mut self, started_at: SystemTime, tasks: &[String]) -> io::Result<()> {
        let epoch = started_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let when = humantime::format_rfc3339_millis(started_at);
        writeln!(
            self.out,
            "#[Logged with poolstorm {}]",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(self.out, "#[Histogram log format version 1.3]")?;
        writeln!(
            self.out,
            "#[StartTime: {epoch:.3} (seconds since epoch), {when}]"
        )?;
        writeln!(self.out, "#[BaseTime: {epoch:.3} (seconds since epoch)]")?;
        writeln!(
            self.out,
            "#[Values in microseconds; untagged lines hold every task, tagged lines one task each]"
        )?;
        for name in tasks {
            writeln!(self.out, "#[Tag {} = {name}]", tag_of(name))?;
        }
        for note in &self.notes {
            writeln!(self.out, "#[{}]", note.replace(['\r', '\n', ']'], " "))?;
        }
        writeln!(
            self.out,
            "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
        )?;
        self.out.flush()
    }

    /// Writes second `second`: the merged histogram untagged, then each task's, tagged.
    fn interval(
        &mut self,
        second: u32,
        overall: &Latency,
        names: &[String],
        per_task: &[Latency],
    ) -> io::Result<()> {
        let start = Duration::from_secs(u64::from(second));
        let length = Duration::from_secs(1);
        let mut writer =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        writer
            .write_histogram(overall.inner(), start, length, None)
            .map_err(io::Error::other)?;
        if per_task.len() > 1 {
            for (name, histogram) in names.iter().zip(per_task) {
                let tag = tag_of(name);
                writer
                    .write_histogram(histogram.inner(), start, length, Tag::new(&tag))
                    .map_err(io::Error::other)?;
            }
        }
        self.out.flush()
    }

    /// Flushes what is left.
    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
