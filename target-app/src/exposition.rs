//! `GET /metrics` in Prometheus text format 0.0.4, written by prometheus-client: the pool
//! snapshot's gauges and counters read at scrape time, per-route families, and the
//! acquire-wait histogram. The crate does the naming rules (`_total` on counters) and the
//! escaping of help text and label values.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

use contract::Snapshot;
use contract::metrics as names;

/// The snapshot's numbers as metric families, encoded on each scrape.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

/// A metric of one value: (name, help, value).
type Scalar = (&'static str, &'static str, u64);

impl SnapshotCollector {
    fn gauges(&self) -> [Scalar; 9] {
        let s = &self.0;
        [
            (
                names::POOL_MAX,
                "Most connections the pool opens.",
                u64::from(s.pool.max),
            ),
            (
                names::POOL_OPEN,
                "Connections open now.",
                u64::from(s.pool.open),
            ),
            (
                names::POOL_IDLE,
                "Open connections not lent out.",
                u64::from(s.pool.idle),
            ),
            (
                names::POOL_IN_USE,
                "Connections lent out now.",
                u64::from(s.pool.in_use),
            ),
            (
                names::POOL_WAITING,
                "Callers waiting for a connection.",
                s.pool.waiting,
            ),
            (
                names::BLOCKING_THREADS,
                "Size of the bounded blocking pool.",
                u64::from(s.config.threads),
            ),
            (
                names::BLOCKING_BUSY,
                "Blocking jobs running.",
                s.blocking.busy,
            ),
            (
                names::BLOCKING_QUEUED,
                "Blocking jobs waiting for a thread.",
                s.blocking.queued,
            ),
            (
                names::TEARDOWN_PENDING,
                "Mode-1 teardown jobs not finished.",
                s.teardown.pending,
            ),
        ]
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        for (name, help, value) in self.gauges() {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        let in_flight = ConstGauge::new(s.requests.in_flight);
        in_flight.encode(encoder.encode_descriptor(
            names::REQUESTS_IN_FLIGHT,
            "HTTP requests being served.",
            None,
            in_flight.metric_type(),
        )?)?;
        let timeouts = ConstCounter::new(s.pool.acquire_timeouts);
        timeouts.encode(encoder.encode_descriptor(
            names::counter_base(names::POOL_ACQUIRE_TIMEOUTS_TOTAL),
            "Acquires that gave up after the acquire timeout.",
            None,
            timeouts.metric_type(),
        )?)?;

        let mut requests = encoder.encode_descriptor(
            "target_app_requests",
            "Finished HTTP requests by route and status.",
            None,
            ConstCounter::new(0u64).metric_type(),
        )?;
        for (path, route) in &s.routes {
            for (status, n) in &route.requests {
                let labels = [("route", path.clone()), ("status", status.to_string())];
                ConstCounter::new(*n).encode(requests.encode_family(&labels)?)?;
            }
        }
        let mut held = encoder.encode_descriptor(
            "target_app_route_max_connections_held",
            "Most connections one request of the route held at once (observed Cm).",
            None,
            ConstGauge::new(0u32).metric_type(),
        )?;
        for (path, route) in &s.routes {
            let labels = [("route", path.clone())];
            ConstGauge::new(route.cm).encode(held.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The `/metrics` text for `snapshot` and the acquire-wait histogram (seconds).
pub fn render(snapshot: Snapshot, acquire_wait: &Histogram) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    registry.register_with_unit(
        "target_app_pool_acquire_wait",
        "Time spent waiting for a pooled connection",
        Unit::Seconds,
        acquire_wait.clone(),
    );
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(route: &str) -> Snapshot {
        serde_json::from_value(serde_json::json!({
            "uptime_ms": 1, "engine": "sqlite",
            "pool": {"max": 4, "min": 0, "open": 4, "idle": 0, "in_use": 4, "waiting": 8,
                     "acquire_timeouts": 2, "acquire_timeout_ms": null},
            "blocking": {"threads": 8, "busy": 8, "queued": 24},
            "teardown": {"mode": "shared", "pending": 4,
                         "separate": {"threads": null, "busy": 0, "queued": 0}},
            "requests": {"in_flight": 29},
            "routes": {route: {"in_flight": 1, "max_connections_held": 2, "requests": {"200": 3}}},
            "config": {"threads": 8, "pool_max": 4, "pool_min": 0, "acquire_timeout_ms": null,
                       "teardown": "shared", "hold_ms": 1000, "id_strategy": "table",
                       "id_block": 1000, "work_ms": 0, "id_strategy_connections": 2,
                       "database": "sqlite:///x.db"}
        }))
        .unwrap()
    }

    #[test]
    fn gauges_counters_and_histograms_keep_their_names() {
        let wait = Histogram::new([0.1, 1.0]);
        for v in [0.05, 0.5, 3.0] {
            wait.observe(v);
        }
        let text = render(snapshot("/mode1/async"), &wait);
        for needle in [
            "target_app_pool_in_use_connections 4\n",
            "target_app_pool_waiting 8\n",
            "target_app_blocking_queued 24\n",
            "# TYPE target_app_pool_acquire_timeouts_total counter\n",
            "target_app_pool_acquire_timeouts_total 2\n",
            "target_app_requests_total{route=\"/mode1/async\",status=\"200\"} 3\n",
            "target_app_route_max_connections_held{route=\"/mode1/async\"} 2\n",
            "# TYPE target_app_pool_acquire_wait_seconds histogram\n",
            "target_app_pool_acquire_wait_seconds_bucket{le=\"1\"} 2\n",
            "target_app_pool_acquire_wait_seconds_count 3\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let text = render(snapshot("/a\"b\\c\nd"), &Histogram::new([1.0]));
        assert!(
            text.contains(r#"target_app_route_max_connections_held{route="/a\"b\\c\nd"} 2"#),
            "{text}"
        );
    }
}
