//! target-app as a pool source: its `/debug/pool` document, deserialized into the contract's
//! [`Snapshot`] (the type target-app serializes), becomes a [`PoolSample`].

use std::time::Duration;

use contract::Snapshot;

use super::PoolSample;
use crate::engine::fetch::{self, FetchError};

/// The sample a snapshot taken `t_ms` after the start gives.
pub fn from_snapshot(s: &Snapshot, t_ms: u64) -> PoolSample {
    PoolSample {
        t_ms,
        pool_max: Some(u64::from(s.pool.max)),
        pool_in_use: Some(u64::from(s.pool.in_use)),
        pool_waiting: Some(s.pool.waiting),
        pool_idle: Some(u64::from(s.pool.idle)),
        pool_open: Some(u64::from(s.pool.open)),
        pool_waits: None,
        acquire_timeouts: Some(s.pool.acquire_timeouts),
        blocking_threads: s.blocking.threads,
        blocking_busy: Some(s.blocking.busy),
        blocking_queued: Some(s.blocking.queued),
        teardown_pending: Some(s.teardown.pending),
        requests_in_flight: Some(s.requests.in_flight),
        cm: s.routes.values().map(|r| u64::from(r.cm)).max(),
    }
}

/// `GET /debug/pool` now.
pub(super) async fn sample(
    base_url: &str,
    t_ms: u64,
    timeout: Duration,
) -> Result<PoolSample, FetchError> {
    let snapshot: Snapshot = fetch::get_json(base_url, "/debug/pool", timeout).await?;
    Ok(from_snapshot(&snapshot, t_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_app_snapshot_becomes_a_sample() {
        let doc = serde_json::json!({
            "uptime_ms": 1, "engine": "sqlite",
            "pool": {"max": 4, "min": 0, "open": 4, "idle": 0, "in_use": 4, "waiting": 8,
                     "acquire_timeouts": 0, "acquire_timeout_ms": null},
            "blocking": {"threads": 8, "busy": 8, "queued": 24},
            "teardown": {"mode": "shared", "pending": 4,
                         "separate": {"threads": null, "busy": 0, "queued": 0}},
            "requests": {"in_flight": 29}, "routes": {},
            "config": {"threads": 8, "pool_max": 4, "pool_min": 0, "acquire_timeout_ms": null,
                       "teardown": "shared", "hold_ms": 1000, "id_strategy": "table",
                       "id_block": 1000, "work_ms": 0, "id_strategy_connections": 2,
                       "database": ""}
        });
        let snapshot: Snapshot = serde_json::from_value(doc).unwrap();
        let s = from_snapshot(&snapshot, 1250);
        assert_eq!(
            (
                s.t_ms,
                s.pool_in_use,
                s.pool_waiting,
                s.blocking_queued,
                s.teardown_pending
            ),
            (1250, Some(4), Some(8), Some(24), Some(4))
        );
        assert!(s.pool_saturated() && s.blocking_saturated());
    }
}
