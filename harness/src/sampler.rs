//! Samples the server's own pool state (target-app's `/debug/pool`) four times a second while
//! a cell's load runs, keeping every sample and the latest one for live decisions.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::fetch;
use crate::verdict::PoolSample;

/// Time between samples.
pub const EVERY: Duration = Duration::from_millis(250);

/// Reads a `/debug/pool` document into a sample taken `t_ms` after the start.
pub fn parse(snapshot: &Value, t_ms: u64) -> Option<PoolSample> {
    let n = |path: &str| path.split('.').fold(snapshot, |v, k| &v[k]).as_u64();
    Some(PoolSample {
        t_ms,
        pool_max: n("pool.max")?,
        pool_in_use: n("pool.in_use")?,
        pool_waiting: n("pool.waiting")?,
        acquire_timeouts: n("pool.acquire_timeouts").unwrap_or_default(),
        blocking_threads: n("blocking.threads").unwrap_or_default(),
        blocking_busy: n("blocking.busy").unwrap_or_default(),
        blocking_queued: n("blocking.queued").unwrap_or_default(),
        teardown_pending: n("teardown.pending").unwrap_or_default(),
        requests_in_flight: n("requests.in_flight").unwrap_or_default(),
    })
}

/// A running sampler.
#[derive(Debug)]
pub struct Sampler {
    latest: Arc<Mutex<Option<PoolSample>>>,
    stop: CancellationToken,
    task: JoinHandle<Vec<PoolSample>>,
}

impl Sampler {
    /// Starts sampling `base_url`; times count from `start`.
    pub fn start(base_url: String, start: Instant) -> Self {
        let latest = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        let task = {
            let (latest, stop) = (Arc::clone(&latest), stop.clone());
            tokio::spawn(async move {
                let mut samples = Vec::new();
                let mut tick = tokio::time::interval(EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = stop.cancelled() => break,
                    }
                    let t_ms = start.elapsed().as_millis() as u64;
                    let Ok(doc) = fetch::get_json(&base_url, "/debug/pool", EVERY * 4).await else {
                        continue;
                    };
                    if let Some(sample) = parse(&doc, t_ms) {
                        *latest.lock().expect("sample lock") = Some(sample);
                        samples.push(sample);
                    }
                }
                samples
            })
        };
        Self { latest, stop, task }
    }

    /// A handle to the most recent sample.
    pub fn latest(&self) -> Arc<Mutex<Option<PoolSample>>> {
        Arc::clone(&self.latest)
    }

    /// Stops and returns every sample.
    pub async fn finish(self) -> Vec<PoolSample> {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_app_snapshot_becomes_a_sample() {
        let doc = serde_json::json!({
            "pool": {"max": 4, "open": 4, "idle": 0, "in_use": 4, "waiting": 8, "acquire_timeouts": 0},
            "blocking": {"threads": 8, "busy": 8, "queued": 24},
            "teardown": {"pending": 4}, "requests": {"in_flight": 29}
        });
        let s = parse(&doc, 1250).unwrap();
        assert_eq!(
            (
                s.t_ms,
                s.pool_in_use,
                s.pool_waiting,
                s.blocking_queued,
                s.teardown_pending
            ),
            (1250, 4, 8, 24, 4)
        );
        assert!(s.pool_saturated() && s.blocking_saturated());
        assert!(parse(&serde_json::json!({"status": "ok"}), 0).is_none());
    }
}
