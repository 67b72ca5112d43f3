//! The names of target-app's Prometheus metrics (`GET /metrics`), which target-app writes and
//! poolstorm's `target-app` preset reads: written once, here. A counter's name is given as
//! exposed, with the `_total` that prometheus-client adds to it.

/// Connections lent out now.
pub const POOL_IN_USE: &str = "target_app_pool_in_use_connections";
/// Most connections the pool opens.
pub const POOL_MAX: &str = "target_app_pool_max_connections";
/// Callers waiting for a connection.
pub const POOL_WAITING: &str = "target_app_pool_waiting";
/// Open connections not lent out.
pub const POOL_IDLE: &str = "target_app_pool_idle_connections";
/// Connections open now.
pub const POOL_OPEN: &str = "target_app_pool_open_connections";
/// Acquires that gave up after the acquire timeout (a counter).
pub const POOL_ACQUIRE_TIMEOUTS_TOTAL: &str = "target_app_pool_acquire_timeouts_total";
/// Size of the bounded blocking pool.
pub const BLOCKING_THREADS: &str = "target_app_blocking_threads";
/// Blocking jobs running.
pub const BLOCKING_BUSY: &str = "target_app_blocking_busy";
/// Blocking jobs waiting for a thread.
pub const BLOCKING_QUEUED: &str = "target_app_blocking_queued";
/// Mode-1 teardown jobs not finished.
pub const TEARDOWN_PENDING: &str = "target_app_teardown_pending";
/// HTTP requests being served.
pub const REQUESTS_IN_FLIGHT: &str = "target_app_requests_in_flight";

/// A counter's name as given to prometheus-client, which adds `_total` when it writes it.
pub fn counter_base(exposed: &'static str) -> &'static str {
    exposed
        .strip_suffix("_total")
        .expect("a counter's exposed name ends in _total")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counters_base_name_drops_the_total_prometheus_client_adds() {
        assert_eq!(
            counter_base(POOL_ACQUIRE_TIMEOUTS_TOTAL),
            "target_app_pool_acquire_timeouts"
        );
    }
}
