//! The gauges and counters the service keeps about itself, per route and overall (rendered
//! for `/metrics` by the `exposition` module).

use std::collections::BTreeMap;
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

/// What the service counts for one route.
#[derive(Debug, Default)]
pub struct RouteStats {
    pub in_flight: Gauge,
    by_status: Mutex<BTreeMap<u16, u64>>,
    /// Most connections any one request of this route held at once (observed Cm).
    pub cm: Arc<AtomicU32>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
