//! What poolstorm sees of the server while a cell's load runs: its pool, sampled four times a
//! second from whichever source the target has (target-app's `/debug/pool` today), each
//! sample a [`PoolSample`] on the load's time axis. Gauges a source does not report are
//! `None`; a scrape that fails is a gap, never a zero.

mod target_app;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use target_app::from_snapshot;

/// Time between samples.
pub const EVERY: Duration = Duration::from_millis(250);

/// The server's pool state at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// Most connections the pool opens.
    pub pool_max: Option<u64>,
    /// Connections lent out.
    pub pool_in_use: Option<u64>,
    /// Callers waiting for a connection.
    pub pool_waiting: Option<u64>,
    /// Acquires that gave up so far.
    pub acquire_timeouts: Option<u64>,
    /// Request threads (target-app's bounded blocking pool).
    pub blocking_threads: Option<u64>,
    pub blocking_busy: Option<u64>,
    /// Jobs waiting for a thread.
    pub blocking_queued: Option<u64>,
    /// Mode-1 teardown jobs not finished (target-app only).
    pub teardown_pending: Option<u64>,
    pub requests_in_flight: Option<u64>,
}

/// `Some(a, b)` when both are known.
fn both(a: Option<u64>, b: Option<u64>) -> Option<(u64, u64)> {
    Some((a?, b?))
}

impl PoolSample {
    /// Every connection lent out and callers waiting for one.
    pub fn pool_saturated(&self) -> bool {
        both(self.pool_in_use, self.pool_max).is_some_and(|(used, max)| max > 0 && used >= max)
            && self.pool_waiting.is_some_and(|w| w > 0)
    }

    /// Every request thread busy and jobs queued for one.
    pub fn blocking_saturated(&self) -> bool {
        both(self.blocking_busy, self.blocking_threads)
            .is_some_and(|(busy, threads)| threads > 0 && busy >= threads)
            && self.blocking_queued.is_some_and(|q| q > 0)
    }

    pub fn saturated(&self) -> bool {
        self.pool_saturated() || self.blocking_saturated()
    }

    /// The state in words: "8/8 blocking threads busy and 28 jobs queued while 8 wait for a
    /// connection; 4/4 connections held by requests whose teardown is queued (4 pending)".
    pub fn describe(&self) -> String {
        let n = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        let mut parts = Vec::new();
        if self.blocking_saturated() && self.pool_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy and {} jobs queued while {} wait for a connection",
                n(self.blocking_busy),
                n(self.blocking_threads),
                n(self.blocking_queued),
                n(self.pool_waiting)
            ));
        } else if self.blocking_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy, {} jobs queued",
                n(self.blocking_busy),
                n(self.blocking_threads),
                n(self.blocking_queued)
            ));
        } else if self.pool_saturated() {
            parts.push(format!(
                "{} callers wait for a connection",
                n(self.pool_waiting)
            ));
        }
        match self.teardown_pending.filter(|p| *p > 0) {
            Some(pending) => parts.push(format!(
                "{}/{} connections held by requests whose teardown is queued ({pending} pending)",
                self.pool_in_use.unwrap_or(0).min(pending),
                n(self.pool_max),
            )),
            None => parts.push(format!(
                "{}/{} connections in use",
                n(self.pool_in_use),
                n(self.pool_max)
            )),
        }
        parts.join("; ")
    }
}

/// Where a target's pool is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolSource {
    /// target-app's `/debug/pool` at this base URL.
    TargetApp { base_url: String },
}

impl PoolSource {
    /// One sample now, or why there is none.
    async fn sample(&self, t_ms: u64) -> Result<PoolSample, String> {
        match self {
            PoolSource::TargetApp { base_url } => target_app::sample(base_url, t_ms, EVERY * 4)
                .await
                .map_err(|e| e.to_string()),
        }
    }
}

/// Samples taken so far, shared with the live view.
pub type Samples = Arc<Mutex<Vec<PoolSample>>>;

/// A running sampler.
#[derive(Debug)]
pub struct Sampler {
    samples: Samples,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Sampler {
    /// Starts sampling `source`; times count from `start`.
    pub fn start(source: PoolSource, start: Instant) -> Self {
        let samples: Samples = Arc::default();
        let stop = CancellationToken::new();
        let task = {
            let (samples, stop) = (Arc::clone(&samples), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = stop.cancelled() => break,
                    }
                    let t_ms = start.elapsed().as_millis() as u64;
                    if let Ok(sample) = source.sample(t_ms).await {
                        samples.lock().expect("samples lock").push(sample);
                    }
                }
            })
        };
        Self {
            samples,
            stop,
            task,
        }
    }

    /// The samples so far, for the live view.
    pub fn samples(&self) -> Samples {
        Arc::clone(&self.samples)
    }

    /// Stops and returns every sample.
    pub async fn finish(self) -> Vec<PoolSample> {
        self.stop.cancel();
        let _ = self.task.await;
        std::mem::take(&mut *self.samples.lock().expect("samples lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_needs_every_gauge_it_speaks_of() {
        let full = PoolSample {
            pool_max: Some(4),
            pool_in_use: Some(4),
            pool_waiting: Some(2),
            ..PoolSample::default()
        };
        assert!(full.pool_saturated() && !full.blocking_saturated());
        let unknown_waiters = PoolSample {
            pool_waiting: None,
            ..full
        };
        assert!(!unknown_waiters.saturated());
        assert_eq!(
            unknown_waiters.describe(),
            "4/4 connections in use",
            "a missing gauge is not a zero"
        );
    }
}
