//! The load driver: worker threads (one event loop each) send the requests, a collector on
//! the caller's task merges what they report into a timeline, stalls and totals, streams
//! interval histograms to the `.hlog`, and feeds the live view.
//!
//! A worker that panics does not end the run: the other workers go on, and the panic comes
//! back in [`RunOutput::panics`] for the caller to fail the run on (exit 3). For the test of
//! that path, `POOLSTORM_FAULT_PANIC_WORKER=N` makes worker N's event loop run one task that
//! panics; nothing else reads it.

mod client;
mod dial;
mod http1;
mod http2;
mod link;
pub mod pace;
pub mod tls;
mod worker;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use client::{PrepareError, Prepared};
pub use dial::{Refused, Setup};
pub use tls::TlsError;

pub use crate::engine::metrics::{Panicked, RunOutput, WorkerPanic};

use crate::engine::load::{LoadPlan, TargetError, TaskPicker};
use crate::engine::metrics::{Collector, IntervalSink, Live};

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot start worker thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("writing the interval log: {0}")]
    Intervals(#[source] std::io::Error),
}

/// Read-only state every worker shares.
#[derive(Debug)]
struct Shared {
    plan: LoadPlan,
    prepared: Vec<Prepared>,
    picker: TaskPicker,
    dialer: dial::Dialer,
    workers: usize,
    timing: pace::Timing,
    /// Largest latency histograms track exactly.
    highest: Duration,
}

/// Where a run's live view and interval histograms go.
pub struct Sinks<'a> {
    /// Called about four times a second with the run so far.
    pub live: &'a mut (dyn FnMut(&Live) + Send),
    /// Each finished second's histograms (the `.hlog` interval log).
    pub intervals: Option<Box<dyn IntervalSink>>,
}

impl std::fmt::Debug for Sinks<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks")
            .field("intervals", &self.intervals.is_some())
            .finish_non_exhaustive()
    }
}

/// The environment variable of the test hook (see the module's doc).
const PANIC_HOOK: &str = "POOLSTORM_FAULT_PANIC_WORKER";

/// How often the live view is refreshed.
const LIVE_EVERY: Duration = Duration::from_millis(250);

/// Runs `plan` to its end (duration, request count, or `stop`), then returns what it measured.
/// Never waits longer than the duration plus one request timeout (plus a tick).
pub async fn run(
    plan: &LoadPlan,
    mut sinks: Sinks<'_>,
    stop: CancellationToken,
) -> Result<RunOutput, DriverError> {
    let addr = plan.target.resolve().await?;
    let dialer = dial::Dialer::new(plan, addr)?;
    let prepared = plan
        .tasks
        .iter()
        .map(|t| Prepared::new(&plan.target, t))
        .collect::<Result<Vec<_>, _>>()?;
    let workers = plan.workers.max(1);
    let highest =
        (plan.timeout * 2).max(Duration::from_secs(10)) + plan.duration.unwrap_or_default();
    let timing = pace::Timing::new(plan.duration, plan.requests, stop.clone());
    let start = timing.start;
    let started_at = SystemTime::now();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        picker: TaskPicker::new(&plan.tasks),
        prepared,
        dialer,
        workers,
        timing,
        highest,
    });
    let names: Vec<String> = plan.tasks.iter().map(|t| t.name.clone()).collect();
    if let Some(sink) = &mut sinks.intervals {
        sink.begin(started_at, &names)
            .map_err(DriverError::Intervals)?;
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    let panic_hook = std::env::var(PANIC_HOOK)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let mut threads = Vec::with_capacity(workers);
    for worker in 0..workers {
        let (shared, tx) = (Arc::clone(&shared), tx.clone());
        let panics = panic_hook == Some(worker);
        let thread = std::thread::Builder::new()
            .name(format!("poolstorm-worker-{worker}"))
            .spawn(move || -> Option<WorkerPanic> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("worker runtime");
                tokio::task::LocalSet::new()
                    .block_on(&runtime, worker::run(worker, shared, tx, panics))
            });
        threads.push(thread.map_err(DriverError::Thread)?);
    }
    drop(tx);

    let mut collector = Collector::new(
        workers,
        names,
        highest,
        plan.stall_window,
        sinks.intervals.take(),
    );
    let mut refresh = tokio::time::interval(LIVE_EVERY);
    loop {
        tokio::select! {
            report = rx.recv() => match report {
                Some(report) => collector.on_report(report).map_err(DriverError::Intervals)?,
                None => break,
            },
            _ = refresh.tick() => (sinks.live)(&collector.live(start.elapsed())),
        }
    }
    let panics = threads
        .into_iter()
        .enumerate()
        .filter_map(|(worker, thread)| match thread.join() {
            Ok(panicked) => panicked,
            Err(payload) => Some(WorkerPanic::of(worker, payload.as_ref())),
        })
        .collect();
    let elapsed = start.elapsed();
    (sinks.live)(&collector.live(elapsed));
    let collected = collector.finish(elapsed).map_err(DriverError::Intervals)?;
    Ok(RunOutput {
        address: addr,
        started_at,
        elapsed,
        interrupted: stop.is_cancelled(),
        collected,
        panics,
    })
}
