//! Shards of one run, merged exactly into one load report: histograms added (never averaged
//! percentiles), outcome and status counts summed, timelines aligned by wall-clock second and
//! summed, stalls found again on the summed tick series. Shards of another run, a shard given
//! twice, a missing shard, or shards that disagree on the target or the settings are refused
//! with the files named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::engine::metrics::{
    HistogramError, IntervalSink, Latency, Outcomes, Second, TICKS_PER_SECOND, find_stalls,
};
use crate::results::shard::{MergedFrom, MergedShard, ShardReport};
use crate::results::{ConnectionReport, LoadReport, Requests, SCHEMA, Settings, TaskReport};

/// Why shards cannot be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file or folder that cannot be read as a shard's report.
    #[error("{file}: {message}")]
    Input { file: String, message: String },
    /// A file that is not a poolstorm load report at all.
    #[error("{file}: not a poolstorm load report ({source})")]
    NotReport {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// A shard's histogram that cannot be read or added.
    #[error("{file}: {what}: {source}")]
    Histogram {
        file: String,
        what: String,
        #[source]
        source: HistogramError,
    },
    /// The shards do not make one whole run.
    #[error("{0}")]
    Shards(String),
    /// The merged interval log could not be written.
    #[error("writing the merged interval log: {0}")]
    Intervals(#[source] std::io::Error),
}

fn input(file: &Path, message: impl Into<String>) -> MergeError {
    MergeError::Input {
        file: file.display().to_string(),
        message: message.into(),
    }
}

/// A file to read, and whether it was found in a folder rather than named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub from_folder: bool,
}

/// The JSON files named, a folder standing for the `*.json` files in it (sorted).
pub fn files(paths: &[PathBuf]) -> Result<Vec<Source>, MergeError> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| input(path, e.to_string()))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| input(path, e.to_string()))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            if found.is_empty() {
                return Err(input(path, "holds no .json file"));
            }
            found.sort();
            out.extend(found.into_iter().map(|file| Source {
                file,
                from_folder: true,
            }));
        } else {
            out.push(Source {
                file: path.clone(),
                from_folder: false,
            });
        }
    }
    Ok(out)
}

/// A shard's report, read, with its file.
#[derive(Debug)]
pub struct Input {
    pub file: PathBuf,
    pub report: LoadReport,
}

impl Input {
    fn shard(&self) -> &ShardReport {
        self.report
            .shard
            .as_ref()
            .expect("read() keeps shards only")
    }

    fn name(&self) -> String {
        self.file.display().to_string()
    }
}

/// Reads each file; one that is not a shard's report is an error naming it, except a merged
/// report found in a folder (an earlier merge written beside its shards), which is skipped.
pub fn read(sources: &[Source]) -> Result<Vec<Input>, MergeError> {
    let mut inputs = Vec::with_capacity(sources.len());
    for Source { file, from_folder } in sources {
        let report = LoadReport::read(file).map_err(|source| MergeError::NotReport {
            file: file.display().to_string(),
            source,
        })?;
        match &report.shard {
            None if report.merged.is_some() && *from_folder => continue,
            None if report.merged.is_some() => {
                return Err(input(
                    file,
                    "is a merged report already; merge the shards it came from",
                ));
            }
            None => {
                return Err(input(
                    file,
                    "is not a shard's report (written without --shard)",
                ));
            }
            Some(s) if s.histograms.tasks.len() != report.tasks.len() => {
                return Err(input(file, "its shard histograms do not match its tasks"));
            }
            Some(_) => inputs.push(Input {
                file: file.clone(),
                report,
            }),
        }
    }
    Ok(inputs)
}

/// Every shard of one run, once each, in index order: what [`check`] lets through and
/// [`merge`] takes, so that no output file is created for shards that will be refused.
#[derive(Debug)]
pub struct Shards(Vec<Input>);

impl Shards {
    /// The run they are shards of.
    pub fn run(&self) -> &str {
        &self.0[0].shard().run
    }

    /// How many there are (all of the run's).
    pub fn count(&self) -> usize {
        self.0.len()
    }
}

/// Refuses shards of two runs, a shard twice, a missing shard, and disagreement on anything
/// the shards of one run share.
pub fn check(mut inputs: Vec<Input>) -> Result<Shards, MergeError> {
    refuse(&inputs)?;
    inputs.sort_by_key(|i| i.shard().index);
    Ok(Shards(inputs))
}

fn refuse(inputs: &[Input]) -> Result<(), MergeError> {
    let first = inputs
        .first()
        .ok_or_else(|| MergeError::Shards("no shard to merge".into()))?;
    let same = |what: &str, pick: &dyn Fn(&Input) -> String| -> Result<(), MergeError> {
        let want = pick(first);
        match inputs.iter().find(|i| pick(i) != want) {
            Some(other) => Err(MergeError::Shards(format!(
                "the shards disagree on {what}: {} has {want}, {} has {}",
                first.name(),
                other.name(),
                pick(other)
            ))),
            None => Ok(()),
        }
    };
    same("the run (mixing runs)", &|i| i.shard().run.clone())?;
    same("the count of shards", &|i| i.shard().count.to_string())?;
    same("the target", &|i| i.report.target.clone())?;
    same("the tasks", &|i| {
        i.report
            .tasks
            .iter()
            .map(|t| format!("{} {} weight={}", t.method, t.path, t.weight))
            .collect::<Vec<_>>()
            .join(", ")
    })?;
    same("the load", &|i| format!("{:?}", i.shard().model))?;
    same("the request budget", &|i| {
        format!("{:?}", i.shard().requests)
    })?;
    same("the duration", &|i| {
        format!("{:?}", i.report.settings.duration_s)
    })?;
    same("the timeout", &|i| i.report.settings.timeout_s.to_string())?;
    same("the stall window", &|i| {
        i.report.settings.stall_window_s.to_string()
    })?;
    same("the protocol", &|i| {
        let c = &i.report.connections;
        format!("{} x{} TLS {}", c.protocol, c.streams, c.tls)
    })?;

    let count = first.shard().count;
    if let Some(stray) = inputs.iter().find(|i| i.shard().index >= count) {
        return Err(MergeError::Shards(format!(
            "{} says it is shard index {} of {count}: out of range (indexes run from 0 to {})",
            stray.name(),
            stray.shard().index,
            count.saturating_sub(1)
        )));
    }
    let mut seen: BTreeMap<u32, &Input> = BTreeMap::new();
    for i in inputs {
        if let Some(earlier) = seen.insert(i.shard().index, i) {
            return Err(MergeError::Shards(format!(
                "shard {} is given twice: {} and {}",
                i.shard().shard(),
                earlier.name(),
                i.name()
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|n| !seen.contains_key(n))
        .map(|n| n.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Shards(format!(
            "shard {} of {count} missing: run {} has {} of its {count} shards here",
            missing.join(", "),
            first.shard().run,
            seen.len()
        )));
    }
    Ok(())
}

/// `source`, met in shard `i`'s histogram `what`.
fn histogram(i: &Input, what: &str) -> impl FnOnce(HistogramError) -> MergeError {
    let (file, what) = (i.file.display().to_string(), what.to_owned());
    move |source| MergeError::Histogram { file, what, source }
}

fn decode(i: &Input, what: &str, text: &str) -> Result<Latency, MergeError> {
    Latency::decode(text).map_err(histogram(i, what))
}

/// Adds `h` into `sum` (which takes a copy of the first).
fn accumulate(sum: &mut Option<Latency>, h: &Latency) -> Result<(), HistogramError> {
    match sum {
        Some(s) => s.add_any(h),
        None => {
            *sum = Some(h.clone());
            Ok(())
        }
    }
}

/// Adds `text`'s histogram, from shard `i`, into `into`.
fn add(into: &mut Option<Latency>, i: &Input, what: &str, text: &str) -> Result<(), MergeError> {
    let h = decode(i, what, text)?;
    accumulate(into, &h).map_err(histogram(i, what))
}

fn summary(h: &Option<Latency>) -> crate::engine::metrics::Summary {
    h.as_ref().map(Latency::summary).unwrap_or_default()
}

fn started(i: &Input) -> Result<SystemTime, MergeError> {
    humantime::parse_rfc3339_weak(&i.report.started_at).map_err(|e| {
        input(
            &i.file,
            format!("started_at `{}`: {e}", i.report.started_at),
        )
    })
}

/// Merges the shards of one run into one report (its `merged` section names them). Each
/// merged second's histogram of every task together also goes to `intervals` (the merged
/// `.hlog`; untagged lines only, as shards keep no per-task seconds).
pub fn merge(
    Shards(inputs): Shards,
    mut intervals: Option<&mut (dyn IntervalSink + '_)>,
) -> Result<LoadReport, MergeError> {
    let starts = inputs.iter().map(started).collect::<Result<Vec<_>, _>>()?;
    let t0 = *starts.iter().min().expect("check() wants a shard");
    // Each shard's place on the merged clock, to the second: with --start-at the shards start
    // within milliseconds of each other and every offset is 0.
    let offsets: Vec<Duration> = starts
        .iter()
        .map(|s| s.duration_since(t0).unwrap_or_default())
        .collect();
    let seconds: Vec<u32> = offsets
        .iter()
        .map(|o| o.as_secs_f64().round() as u32)
        .collect();
    let first = &inputs[0];

    // Ticks, then stalls found again on their sum.
    let per_second = TICKS_PER_SECOND as usize;
    let mut ticks: Vec<(u64, u64)> = Vec::new();
    for (i, &off) in inputs.iter().zip(&seconds) {
        let base = off as usize * per_second;
        for (k, [completed, in_flight]) in i.shard().ticks.iter().enumerate() {
            if ticks.len() <= base + k {
                ticks.resize(base + k + 1, (0, 0));
            }
            ticks[base + k].0 += completed;
            ticks[base + k].1 += in_flight;
        }
    }
    let stall_window = Duration::from_secs_f64(first.report.settings.stall_window_s);
    let stalls = find_stalls(&ticks, stall_window);

    // The timeline: counts summed second by second, each second's latency from its merged
    // histogram, in flight from the summed ticks.
    let length = inputs
        .iter()
        .zip(&seconds)
        .map(|(i, &off)| off as usize + i.report.timeline.len().max(i.shard().seconds.len()))
        .chain([ticks.len().div_ceil(per_second)])
        .max()
        .unwrap_or(0);
    let mut timeline: Vec<Second> = (0..length)
        .map(|t| Second {
            t: t as u32,
            ..Second::default()
        })
        .collect();
    for (i, &off) in inputs.iter().zip(&seconds) {
        for s in &i.report.timeline {
            timeline[(s.t + off) as usize].add_counts(s);
        }
    }
    if let Some(sink) = intervals.as_deref_mut() {
        sink.begin(t0, &[]).map_err(MergeError::Intervals)?;
    }
    for (t, second) in timeline.iter_mut().enumerate() {
        second.in_flight = ticks
            .iter()
            .skip(t * per_second)
            .take(per_second)
            .map(|&(_, f)| f)
            .max()
            .unwrap_or(0);
        // One second's histograms at a time: decoded, added, summarized and dropped (a
        // histogram of a minute's range takes a few hundred KB; an hour of them would not fit).
        let mut latency = None;
        for (i, &off) in inputs.iter().zip(&seconds) {
            let Some(local) = t.checked_sub(off as usize) else {
                continue;
            };
            if let Some(text) = i.shard().seconds.get(local) {
                add(&mut latency, i, &format!("second {local}"), text)?;
            }
        }
        second.latency_us = summary(&latency);
        if let (Some(sink), Some(h)) = (intervals.as_deref_mut(), &latency) {
            sink.interval(t as u32, h, &[], &[])
                .map_err(MergeError::Intervals)?;
        }
    }

    // Totals: histograms added task by task, counts summed.
    let elapsed_s = inputs
        .iter()
        .zip(&offsets)
        .map(|(i, o)| o.as_secs_f64() + i.report.elapsed_s)
        .fold(0.0, f64::max)
        .max(1e-9);
    let (mut all, mut ok) = (None, None);
    let mut tasks = Vec::with_capacity(first.report.tasks.len());
    for (n, task) in first.report.tasks.iter().enumerate() {
        let (mut task_all, mut task_ok) = (None, None);
        let (mut requests, mut outcomes, mut statuses) = (0, Outcomes::default(), BTreeMap::new());
        for i in &inputs {
            let h = &i.shard().histograms.tasks[n];
            add(&mut task_all, i, &task.name, &h.all)?;
            add(&mut task_ok, i, &task.name, &h.ok)?;
            let theirs = &i.report.tasks[n];
            requests += theirs.requests;
            outcomes.merge(&theirs.outcomes);
            for (status, count) in &theirs.status_codes {
                *statuses.entry(*status).or_insert(0) += count;
            }
        }
        for (sum, part) in [(&mut all, &task_all), (&mut ok, &task_ok)] {
            if let Some(part) = part {
                accumulate(sum, part).map_err(histogram(first, &task.name))?;
            }
        }
        tasks.push(TaskReport {
            throughput_rps: outcomes.completed() as f64 / elapsed_s,
            latency_us: summary(&task_all),
            ok_latency_us: summary(&task_ok),
            requests,
            outcomes,
            status_codes: statuses,
            ..task.clone()
        });
    }
    let mut outcomes = Outcomes::default();
    let mut status_codes = BTreeMap::new();
    let mut requests = Requests {
        total: 0,
        completed: 0,
        dropped: 0,
    };
    let (mut connect, mut handshake) = (None, None);
    let mut connections = ConnectionReport {
        address: String::new(),
        opened: 0,
        refused: BTreeMap::new(),
        goaways: 0,
        ..first.report.connections.clone()
    };
    let mut addresses: Vec<String> = Vec::new();
    for i in &inputs {
        let r = &i.report;
        outcomes.merge(&r.outcomes);
        for (status, count) in &r.status_codes {
            *status_codes.entry(*status).or_insert(0) += count;
        }
        requests.total += r.requests.total;
        requests.completed += r.requests.completed;
        requests.dropped += r.requests.dropped;
        let c = &r.connections;
        connections.opened += c.opened;
        connections.goaways += c.goaways;
        for (reason, n) in &c.refused {
            *connections.refused.entry(reason.clone()).or_insert(0) += n;
        }
        if !addresses.contains(&c.address) {
            addresses.push(c.address.clone());
        }
        add(&mut connect, i, "connect", &i.shard().histograms.connect)?;
        add(
            &mut handshake,
            i,
            "tls handshake",
            &i.shard().histograms.tls_handshake,
        )?;
    }
    if let Some(sink) = intervals {
        sink.finish().map_err(MergeError::Intervals)?;
    }
    connections.address = addresses.join(", ");
    connections.connect_us = summary(&connect);
    if connections.tls_handshake_us.is_some() {
        connections.tls_handshake_us = Some(summary(&handshake));
    }
    let ok_count = outcomes.get(crate::engine::metrics::Kind::Ok);
    let shard = first.shard();
    let merged = MergedFrom {
        run: shard.run.clone(),
        shards: inputs
            .iter()
            .zip(&seconds)
            .map(|(i, &offset_s)| MergedShard {
                index: i.shard().index,
                file: i.name(),
                started_at: i.report.started_at.clone(),
                offset_s,
                elapsed_s: i.report.elapsed_s,
                requests: i.report.requests.total,
                address: i.report.connections.address.clone(),
                workers: i.report.settings.workers,
            })
            .collect(),
    };
    Ok(LoadReport {
        schema: SCHEMA.to_owned(),
        target: first.report.target.clone(),
        started_at: humantime::format_rfc3339_millis(t0).to_string(),
        elapsed_s,
        interrupted: inputs.iter().any(|i| i.report.interrupted),
        model: shard.model.clone(),
        settings: Settings {
            requests: shard.requests,
            workers: inputs.iter().map(|i| i.report.settings.workers).sum(),
            seed: shard.seed,
            ..first.report.settings.clone()
        },
        connections,
        throughput_rps: requests.completed as f64 / elapsed_s,
        ok_rps: ok_count as f64 / elapsed_s,
        error_ratio: if requests.completed == 0 {
            0.0
        } else {
            (requests.completed - ok_count) as f64 / requests.completed as f64
        },
        requests,
        outcomes,
        status_codes,
        latency_us: summary(&all),
        ok_latency_us: summary(&ok),
        tasks,
        timeline,
        stalls,
        checks: Vec::new(),
        shard: None,
        merged: Some(merged),
    })
}
