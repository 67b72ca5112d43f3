//! The shared state every handler sees: configuration, database, the bounded blocking pools,
//! the id allocator and the counters.

use std::sync::Arc;
use std::time::Instant;

use crate::blocking::BoundedPool;
use crate::config::Config;
use crate::db::Database;
use crate::ids::IdAllocator;
use crate::metrics::{Gauge, Registry};

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub db: Arc<Database>,
    /// The bounded blocking pool of `--threads` jobs (anyio's limiter; Tn in mode 2).
    pub workers: BoundedPool,
    /// Where `--teardown separate` runs teardown jobs: a limiter of its own per job.
    pub teardown_pool: BoundedPool,
    /// Teardown jobs submitted but not finished, wherever they run.
    pub teardown_pending: Gauge,
    pub ids: IdAllocator,
    pub registry: Registry,
    pub started: Instant,
}

impl App {
    /// Builds the state around a connected database, counting requests for these route paths.
    pub fn new(config: Config, db: Arc<Database>, paths: &[&'static str]) -> Arc<Self> {
        let threads = config.threads as usize;
        Arc::new(Self {
            workers: BoundedPool::new(threads),
            teardown_pool: BoundedPool::unbounded(),
            teardown_pending: Gauge::default(),
            ids: IdAllocator::new(config.id_strategy, config.id_block, threads),
            registry: Registry::new(paths),
            started: Instant::now(),
            db,
            config,
        })
    }

    /// No request, blocking job or teardown is left.
    pub fn is_idle(&self) -> bool {
        let (workers, teardowns) = (self.workers.gauges(), self.teardown_pool.gauges());
        self.registry.in_flight.get() == 0
            && workers.busy + workers.queued + teardowns.busy + teardowns.queued == 0
            && self.teardown_pending.get() == 0
    }
}
