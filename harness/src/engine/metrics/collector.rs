//! The collector: merges the workers' tick counters and interval histograms into the run's
//! timeline, streams finished seconds to the interval log, and answers the live view.

use std::collections::BTreeMap;
use std::io;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::histogram::{Latency, Summary};
use super::outcome::{Families, Kind};
use super::recorder::{ConnectionTotals, KindCounts, Report, TICK, TICKS_PER_SECOND, TaskTotals};
use super::stall::{Stall, find_stalls};

/// Where finished seconds' latency histograms go as the run goes (the `.hlog` interval log).
pub trait IntervalSink: Send {
    /// The run starts now with these tasks.
    fn begin(&mut self, started_at: SystemTime, tasks: &[String]) -> io::Result<()>;
    /// Second `second` is closed: every task's latencies together, and each task's.
    fn interval(
        &mut self,
        second: u32,
        overall: &Latency,
        names: &[String],
        per_task: &[Latency],
    ) -> io::Result<()>;
    /// The run is over.
    fn finish(&mut self) -> io::Result<()>;
}

/// One second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Second {
    /// Seconds since the start (this row covers `[t, t + 1)`).
    pub t: u32,
    /// Requests started (the achieved rate).
    pub started: u64,
    /// Open model: starts dropped for want of a free slot.
    pub dropped: u64,
    /// Requests finished, any outcome.
    pub completed: u64,
    /// Requests finished, by outcome family (a field each in JSON: `ok`, `http`, ...).
    #[serde(flatten)]
    pub finished: Families,
    /// Most requests in flight at any tick of the second.
    pub in_flight: u64,
    /// Latency of the requests that finished in this second (µs).
    pub latency_us: Summary,
}

impl Second {
    /// Adds another second's counts (the same second of another shard); `t`, `in_flight`
    /// and `latency_us` are left to the caller.
    pub fn add_counts(&mut self, other: &Second) {
        // Destructured so that a new count cannot be forgotten here.
        let Second {
            t: _,
            started,
            dropped,
            completed,
            finished,
            in_flight: _,
            latency_us: _,
        } = other;
        self.started += started;
        self.dropped += dropped;
        self.completed += completed;
        self.finished.add(finished);
    }

    fn add_finished(&mut self, counts: &KindCounts) {
        for &kind in Kind::ALL {
            let n = counts[kind.index()];
            self.completed += n;
            self.finished[kind.family()] += n;
        }
    }
}

/// The run so far, for the live view.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub elapsed: Duration,
    pub started: u64,
    pub dropped: u64,
    pub finished: KindCounts,
    pub in_flight: u64,
    /// Completions per second over the last second.
    pub recent_rps: f64,
    /// When nothing has completed for at least the stall window with requests in flight:
    /// how long it has been quiet.
    pub stalled_for: Option<Duration>,
    /// Completions by kind in each of the last [`RECENT_SECONDS`] whole seconds, oldest first.
    pub recent: Vec<KindCounts>,
    /// Latency of every request finished in the seconds closed so far (µs).
    pub latency_us: Summary,
    /// When the first pool timeout finished (to the tick).
    pub first_pool_timeout: Option<Duration>,
    /// When the first completion that was not ok finished (to the tick).
    pub first_error: Option<Duration>,
}

/// Seconds of history the live view keeps.
pub const RECENT_SECONDS: usize = 60;

impl Live {
    pub fn count(&self, kind: Kind) -> u64 {
        self.finished[kind.index()]
    }

    pub fn completed(&self) -> u64 {
        self.finished.iter().sum()
    }
}

/// What a run measured, merged.
#[derive(Debug)]
pub struct Collected {
    /// Per task, in the plan's order: its name and totals.
    pub tasks: Vec<(String, TaskTotals)>,
    pub timeline: Vec<Second>,
    pub stalls: Vec<Stall>,
    /// Per tick: completions during it and requests in flight at its end (what stalls are
    /// found from).
    pub ticks: Vec<(u64, u64)>,
    pub started: u64,
    pub dropped: u64,
    /// What opening connections cost, every worker's merged.
    pub connections: ConnectionTotals,
}

#[derive(Debug, Default, Clone)]
struct TickRow {
    started: u64,
    dropped: u64,
    finished: KindCounts,
    /// Each worker's in-flight gauge at the end of this tick, when it reported one.
    gauges: Vec<Option<u64>>,
}

/// Merges worker reports.
pub struct Collector {
    workers: usize,
    names: Vec<String>,
    highest: Duration,
    stall_window: Duration,
    ticks: Vec<TickRow>,
    /// Interval histograms per second, per task, waiting for every worker's share.
    pending: BTreeMap<u32, Vec<Latency>>,
    /// The next second each worker may still send (`u32::MAX` once done).
    worker_next_second: Vec<u32>,
    next_second: u32,
    second_latency: Vec<Summary>,
    intervals: Option<Box<dyn IntervalSink>>,
    totals: Option<Vec<TaskTotals>>,
    connections: ConnectionTotals,
    latest_gauges: Vec<u64>,
    /// Every finished second's latencies, merged, for the live view.
    so_far: Latency,
    /// Running totals for the live view, so it never re-adds the whole run.
    started: u64,
    dropped: u64,
    finished: KindCounts,
    first_pool_timeout: Option<u32>,
    first_error: Option<u32>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("workers", &self.workers)
            .field("next_second", &self.next_second)
            .finish_non_exhaustive()
    }
}

impl Collector {
    pub fn new(
        workers: usize,
        names: Vec<String>,
        highest: Duration,
        stall_window: Duration,
        intervals: Option<Box<dyn IntervalSink>>,
    ) -> Self {
        Self {
            workers,
            names,
            highest,
            stall_window,
            ticks: Vec::new(),
            pending: BTreeMap::new(),
            worker_next_second: vec![0; workers],
            next_second: 0,
            second_latency: Vec::new(),
            intervals,
            totals: None,
            connections: ConnectionTotals::new(highest),
            latest_gauges: vec![0; workers],
            so_far: Latency::new(highest),
            started: 0,
            dropped: 0,
            finished: KindCounts::default(),
            first_pool_timeout: None,
            first_error: None,
        }
    }

    /// Takes one worker report in.
    pub fn on_report(&mut self, report: Report) -> io::Result<()> {
        match report {
            Report::Tick {
                worker,
                tick,
                counts,
            } => {
                let row = self.tick_row(tick as usize);
                row.started += counts.started;
                row.dropped += counts.dropped;
                for (a, b) in row.finished.iter_mut().zip(counts.finished) {
                    *a += b;
                }
                row.gauges[worker] = Some(counts.in_flight);
                self.latest_gauges[worker] = counts.in_flight;
                self.started += counts.started;
                self.dropped += counts.dropped;
                let errors: u64 = Kind::ALL
                    .iter()
                    .copied()
                    .filter(|k| !matches!(k, Kind::Ok | Kind::Aborted))
                    .map(|k| counts.finished[k.index()])
                    .sum();
                if errors > 0 {
                    self.first_error = Some(self.first_error.map_or(tick, |t| t.min(tick)));
                }
                if counts.finished[Kind::PoolTimeout.index()] > 0 {
                    self.first_pool_timeout =
                        Some(self.first_pool_timeout.map_or(tick, |t| t.min(tick)));
                }
                for (a, b) in self.finished.iter_mut().zip(counts.finished) {
                    *a += b;
                }
            }
            Report::Interval {
                worker,
                second,
                per_task,
            } => {
                let merged = self
                    .pending
                    .entry(second)
                    .or_insert_with(|| per_task.iter().map(empty_like).collect());
                for (a, b) in merged.iter_mut().zip(&per_task) {
                    a.add(b);
                }
                let next = &mut self.worker_next_second[worker];
                *next = (*next).max(second + 1);
                self.finalize_ready()?;
            }
            Report::Done {
                worker,
                totals,
                connections,
            } => {
                self.connections.merge(&connections);
                match &mut self.totals {
                    Some(all) => all.iter_mut().zip(&totals).for_each(|(a, b)| a.merge(b)),
                    None => self.totals = Some(totals),
                }
                self.worker_next_second[worker] = u32::MAX;
                self.finalize_ready()?;
            }
        }
        Ok(())
    }

    fn tick_row(&mut self, tick: usize) -> &mut TickRow {
        if self.ticks.len() <= tick {
            let blank = TickRow {
                gauges: vec![None; self.workers],
                ..TickRow::default()
            };
            self.ticks.resize(tick + 1, blank);
        }
        &mut self.ticks[tick]
    }

    /// Writes every second that no worker can still add to.
    fn finalize_ready(&mut self) -> io::Result<()> {
        let ready = self.worker_next_second.iter().copied().min().unwrap_or(0);
        let limit = if ready == u32::MAX {
            self.pending
                .keys()
                .next_back()
                .map_or(self.next_second, |s| s + 1)
        } else {
            ready
        };
        while self.next_second < limit {
            self.finalize_second()?;
        }
        Ok(())
    }

    fn finalize_second(&mut self) -> io::Result<()> {
        let second = self.next_second;
        let per_task = self.pending.remove(&second).unwrap_or_else(|| {
            self.names
                .iter()
                .map(|_| Latency::new(self.highest))
                .collect()
        });
        let mut overall = Latency::new(self.highest);
        per_task.iter().for_each(|h| overall.add(h));
        if let Some(sink) = &mut self.intervals {
            sink.interval(second, &overall, &self.names, &per_task)?;
        }
        self.second_latency.push(overall.summary());
        self.so_far.add(&overall);
        self.next_second += 1;
        Ok(())
    }

    /// The run so far.
    pub fn live(&self, elapsed: Duration) -> Live {
        let mut live = Live {
            elapsed,
            in_flight: self.latest_gauges.iter().sum(),
            started: self.started,
            dropped: self.dropped,
            finished: self.finished,
            ..Live::default()
        };
        let now_tick = (elapsed.as_millis() / TICK.as_millis()) as usize;
        let recent = self
            .ticks
            .iter()
            .enumerate()
            .rev()
            .filter(|(i, _)| i + 1 < now_tick && i + 11 >= now_tick);
        live.recent_rps = recent
            .map(|(_, r)| r.finished.iter().sum::<u64>())
            .sum::<u64>() as f64;
        let last_completion = self
            .ticks
            .iter()
            .rposition(|r| r.finished.iter().any(|n| *n > 0));
        let quiet_since = match last_completion {
            Some(tick) => (tick + 1) as u32 * TICK,
            None => self
                .ticks
                .iter()
                .position(|r| r.started > 0)
                .map_or(elapsed, |t| t as u32 * TICK),
        };
        let quiet = elapsed.saturating_sub(quiet_since);
        if live.in_flight > 0 && quiet >= self.stall_window {
            live.stalled_for = Some(quiet);
        }
        let per_second = TICKS_PER_SECOND as usize;
        let whole = now_tick / per_second;
        live.recent = (whole.saturating_sub(RECENT_SECONDS)..whole)
            .map(|second| {
                let mut counts = KindCounts::default();
                for row in self.ticks.iter().skip(second * per_second).take(per_second) {
                    for (a, b) in counts.iter_mut().zip(row.finished) {
                        *a += b;
                    }
                }
                counts
            })
            .collect();
        live.latency_us = self.so_far.summary();
        live.first_pool_timeout = self.first_pool_timeout.map(|t| t * TICK);
        live.first_error = self.first_error.map(|t| t * TICK);
        live
    }

    /// Finishes the interval log and builds the timeline, the stalls and the totals.
    pub fn finish(mut self, elapsed: Duration) -> io::Result<Collected> {
        let end = self
            .pending
            .keys()
            .next_back()
            .map_or(self.next_second, |s| s + 1);
        while self.next_second < end {
            self.finalize_second()?;
        }
        if let Some(sink) = &mut self.intervals {
            sink.finish()?;
        }
        let seconds = (elapsed.as_millis().div_ceil(1000) as usize)
            .max(self.ticks.len().div_ceil(TICKS_PER_SECOND as usize));
        let mut timeline: Vec<Second> = (0..seconds)
            .map(|t| Second {
                t: t as u32,
                ..Second::default()
            })
            .collect();
        let mut gauges = vec![0u64; self.workers];
        let mut series = Vec::with_capacity(self.ticks.len());
        for (i, row) in self.ticks.iter().enumerate() {
            for (g, reported) in gauges.iter_mut().zip(&row.gauges) {
                if let Some(v) = reported {
                    *g = *v;
                }
            }
            let in_flight: u64 = gauges.iter().sum();
            let second = &mut timeline[i / TICKS_PER_SECOND as usize];
            second.started += row.started;
            second.dropped += row.dropped;
            second.add_finished(&row.finished);
            second.in_flight = second.in_flight.max(in_flight);
            series.push((row.finished.iter().sum(), in_flight));
        }
        for (second, summary) in timeline.iter_mut().zip(&self.second_latency) {
            second.latency_us = *summary;
        }
        let stalls = find_stalls(&series, self.stall_window);
        let totals = self.totals.take().unwrap_or_default();
        let started = timeline.iter().map(|s| s.started).sum();
        let dropped = timeline.iter().map(|s| s.dropped).sum();
        Ok(Collected {
            tasks: self.names.into_iter().zip(totals).collect(),
            timeline,
            stalls,
            ticks: series,
            started,
            dropped,
            connections: self.connections,
        })
    }
}

fn empty_like(h: &Latency) -> Latency {
    let mut e = h.clone();
    e.reset();
    e
}
