//! Counters, gauges and histograms the service keeps about itself, per route and overall, and
//! their rendering in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A gauge raised while a [`GaugeGuard`] lives, so cancelled futures and panics keep it right.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

/// Holds one unit of a [`Gauge`] until dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a Gauge);

impl Gauge {
    /// Raises the gauge until the guard is dropped.
    pub fn enter(&self) -> GaugeGuard<'_> {
        self.0.fetch_add(1, Ordering::SeqCst);
        GaugeGuard(self)
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A fixed-bucket histogram (Prometheus style, cumulative on output).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// A histogram with the given upper bucket bounds (ascending); `+Inf` is implied.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub fn observe(&self, value: f64) {
        let bucket = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in self
            .bounds
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_owned()])
            .enumerate()
        {
            cumulative += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {}", self.count());
    }
}

/// What the service counts for one route.
#[derive(Debug, Default)]
pub struct RouteStats {
    pub in_flight: Gauge,
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// Most connections any one request of this route held at once (observed Cm).
    pub max_connections_held: Arc<AtomicU32>,
}

impl RouteStats {
    /// Counts a finished request by its status.
    pub fn record(&self, status: u16) {
        *self
            .by_status
            .lock()
            .expect("status map lock")
            .entry(status)
            .or_default() += 1;
    }

    /// Finished requests by status.
    pub fn by_status(&self) -> BTreeMap<u16, u64> {
        self.by_status.lock().expect("status map lock").clone()
    }
}

/// Per-route statistics for a fixed set of routes, plus the requests in flight overall.
#[derive(Debug)]
pub struct Registry {
    routes: BTreeMap<&'static str, Arc<RouteStats>>,
    pub in_flight: Gauge,
}

impl Registry {
    /// A registry for these route paths.
    pub fn new(paths: &[&'static str]) -> Self {
        Self {
            routes: paths.iter().map(|p| (*p, Arc::default())).collect(),
            in_flight: Gauge::default(),
        }
    }

    /// The stats of a route, if it is one of ours.
    pub fn route(&self, path: &str) -> Option<&Arc<RouteStats>> {
        self.routes.get(path)
    }

    /// All routes, in path order.
    pub fn routes(&self) -> impl Iterator<Item = (&'static str, &Arc<RouteStats>)> {
        self.routes.iter().map(|(path, stats)| (*path, stats))
    }
}

/// Builds Prometheus text: one `# HELP`/`# TYPE` header per family, then its samples.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// One unlabelled gauge or counter.
    pub fn scalar(
        &mut self,
        kind: &str,
        name: &str,
        help: &str,
        value: impl std::fmt::Display,
    ) -> &mut Self {
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
        self
    }

    /// A family of labelled samples: `(labels, value)` with labels already in `k="v"` form.
    pub fn family(
        &mut self,
        kind: &str,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (String, u64)>,
    ) -> &mut Self {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
        self
    }

    /// A histogram.
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) -> &mut Self {
        histogram.render(&mut self.out, name, help);
        self
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_renders_cumulative_buckets() {
        static BOUNDS: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(BOUNDS);
        for v in [0.05, 0.5, 0.7, 3.0] {
            h.observe(v);
        }
        let mut e = Exposition::default();
        e.histogram("wait_seconds", "Wait.", &h);
        let text = e.finish();
        assert!(text.contains("wait_seconds_bucket{le=\"0.1\"} 1\n"));
        assert!(text.contains("wait_seconds_bucket{le=\"1\"} 3\n"));
        assert!(text.contains("wait_seconds_bucket{le=\"+Inf\"} 4\n"));
        assert!(text.contains("wait_seconds_count 4\n"));
        assert!(text.contains("wait_seconds_sum 4.25\n"));
    }

    #[test]
    fn gauge_guard_lowers_the_gauge_when_dropped() {
        let g = Gauge::default();
        let a = g.enter();
        let b = g.enter();
        assert_eq!(g.get(), 2);
        drop(a);
        drop(b);
        assert_eq!(g.get(), 0);
    }
}
