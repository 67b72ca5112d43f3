//! What a shard's report carries beyond a single run's, so that `poolstorm merge` can add
//! shards exactly: which share of which run it is, the whole run's load, and its histograms
//! and tick series losslessly (base64 V2+DEFLATE HdrHistograms, as `.hlog` lines hold them).
//! Also the note a merged report keeps of the shards it came from.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::ModelReport;
use crate::engine::load::shard::Shard;
use crate::engine::metrics::{Collected, IntervalSink, Latency};

/// A task's histograms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskHistograms {
    /// Every finished request.
    pub all: String,
    /// 2xx responses only.
    pub ok: String,
}

/// The run's histograms, encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    /// Per task, in the report's order.
    pub tasks: Vec<TaskHistograms>,
    /// TCP connect of each connection opened.
    pub connect: String,
    /// TLS handshake of each (`https://`).
    pub tls_handshake: String,
}

impl Histograms {
    /// Encodes what the collector merged.
    pub fn of(collected: &Collected) -> Self {
        Self {
            tasks: collected
                .tasks
                .iter()
                .map(|(_, t)| TaskHistograms {
                    all: t.all.encode(),
                    ok: t.ok.encode(),
                })
                .collect(),
            connect: collected.connections.connect.encode(),
            tls_handshake: collected.connections.tls_handshake.encode(),
        }
    }
}

/// The `shard` section of a shard's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardReport {
    /// This shard's index, from 0.
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
    /// The run's identity, the same in every shard of it: `--run-id` (in Kubernetes, the
    /// Job's uid), else `--start-at`.
    pub run: String,
    /// The agreed start, RFC 3339, when `--start-at` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// The whole run's load, before it was divided (the report's `model` is this shard's).
    pub model: ModelReport,
    /// The whole run's request budget.
    pub requests: Option<u64>,
    /// The whole run's seed (this shard used it plus its index).
    pub seed: u64,
    pub histograms: Histograms,
    /// Every task's latencies per second of the run, encoded, in order from second 0.
    pub seconds: Vec<String>,
    /// Per 100 ms tick: completions during it and requests in flight at its end.
    pub ticks: Vec<[u64; 2]>,
}

impl ShardReport {
    pub fn shard(&self) -> Shard {
        Shard {
            index: self.index,
            count: self.count,
        }
    }
}

/// One shard a merged report was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    pub index: u32,
    /// The file it was read from.
    pub file: String,
    pub started_at: String,
    /// Seconds after the earliest shard's start its timeline was placed at.
    pub offset_s: u32,
    pub elapsed_s: f64,
    /// Requests it started.
    pub requests: u64,
    /// Where it sent them (each machine resolves the host itself).
    pub address: String,
    pub workers: usize,
}

/// The `merged` section of a merged report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    pub run: String,
    pub shards: Vec<MergedShard>,
}

/// An interval sink that keeps each second's histogram of every task together, encoded,
/// beside the `.hlog` (if any) it passes every call on to.
pub struct SecondsCapture {
    next: Option<Box<dyn IntervalSink>>,
    seconds: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for SecondsCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecondsCapture").finish_non_exhaustive()
    }
}

impl SecondsCapture {
    /// The sink, and where the encoded seconds will be once the run is over.
    pub fn new(next: Option<Box<dyn IntervalSink>>) -> (Self, Arc<Mutex<Vec<String>>>) {
        let seconds = Arc::new(Mutex::new(Vec::new()));
        (
            Self {
                next,
                seconds: Arc::clone(&seconds),
            },
            seconds,
        )
    }
}

impl IntervalSink for SecondsCapture {
    fn begin(&mut self, started_at: SystemTime, tasks: &[String]) -> io::Result<()> {
        match &mut self.next {
            Some(next) => next.begin(started_at, tasks),
            None => Ok(()),
        }
    }

    fn interval(
        &mut self,
        second: u32,
        overall: &Latency,
        names: &[String],
        per_task: &[Latency],
    ) -> io::Result<()> {
        {
            let mut seconds = self.seconds.lock().expect("not poisoned");
            debug_assert_eq!(seconds.len(), second as usize, "seconds come in order");
            seconds.push(overall.encode());
        }
        match &mut self.next {
            Some(next) => next.interval(second, overall, names, per_task),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match &mut self.next {
            Some(next) => next.finish(),
            None => Ok(()),
        }
    }
}
