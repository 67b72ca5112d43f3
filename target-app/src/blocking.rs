//! A bounded blocking pool modelled on anyio's `CapacityLimiter`: a fair semaphore of N permits
//! in front of `spawn_blocking`, the permit held while the job runs, with busy and queued gauges.
//!
//! Every job is told which of the N worker slots it runs in (a stable "thread id" from 0 to N-1),
//! so per-thread state such as Hibernate's `pooled-lotl` id blocks can be kept per slot.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use contract::snapshot::Gauges as PoolGauges;

use crate::metrics::Gauge;

/// Which of the pool's worker slots a job runs in: 0..threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSlot(pub usize);

/// A pool of at most `threads` concurrently running blocking jobs; callers beyond that wait in
/// FIFO order (tokio's semaphore is fair, as anyio's limiter is).
#[derive(Debug)]
pub struct BoundedPool {
    threads: Option<usize>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    permits: Arc<Semaphore>,
    free_slots: Mutex<Vec<usize>>,
    busy: AtomicUsize,
    queued: Gauge,
}

/// A running job's hold on the pool: when dropped (at the end of the job, even by panic) it
/// gives the slot back and lowers the busy gauge before its permit is released.
struct Running {
    slot: Option<usize>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(index) = self.slot {
            self.shared
                .free_slots
                .lock()
                .expect("slot list lock")
                .push(index);
        }
        self.shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BoundedPool {
    /// A pool that runs at most `threads` jobs at once.
    pub fn new(threads: usize) -> Self {
        assert!(threads > 0, "a bounded pool needs at least one thread");
        Self::with_permits(Some(threads), threads)
    }

    /// A pool with no practical bound: each job gets its own limiter, as FastAPI >= 0.82 does
    /// for dependency teardown (a fresh `CapacityLimiter(1)` per call).
    pub fn unbounded() -> Self {
        Self::with_permits(None, Semaphore::MAX_PERMITS)
    }

    fn with_permits(threads: Option<usize>, permits: usize) -> Self {
        let slots = threads.map(|n| (0..n).rev().collect()).unwrap_or_default();
        Self {
            threads,
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(permits)),
                free_slots: Mutex::new(slots),
                busy: AtomicUsize::new(0),
                queued: Gauge::default(),
            }),
        }
    }

    /// Runs `job` on a blocking thread once a permit is free, holding the permit until the job
    /// returns. Waiting is cancel-safe; once started the job always runs to completion.
    pub async fn run<T, F>(&self, job: F) -> T
    where
        F: FnOnce(WorkerSlot) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = {
            let _queued = self.shared.queued.enter();
            Arc::clone(&self.shared.permits)
                .acquire_owned()
                .await
                .expect("the pool's semaphore is never closed")
        };
        let slot = self.threads.map(|_| {
            self.shared
                .free_slots
                .lock()
                .expect("slot list lock")
                .pop()
                .expect("a permit always comes with a free slot")
        });
        self.shared.busy.fetch_add(1, Ordering::SeqCst);
        let running = Running {
            slot,
            shared: Arc::clone(&self.shared),
            _permit: permit,
        };
        let handle = tokio::task::spawn_blocking(move || {
            let running = running;
            job(WorkerSlot(running.slot.unwrap_or(0)))
        });
        match handle.await {
            Ok(value) => value,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("blocking job did not finish: {err}"),
        }
    }

    /// Busy and queued jobs now.
    pub fn gauges(&self) -> PoolGauges {
        PoolGauges {
            threads: self.threads.map(|n| n as u64),
            busy: self.shared.busy.load(Ordering::SeqCst) as u64,
            queued: self.shared.queued.get(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Polls the pool's gauges until `done` holds (the jobs and waiters run on other tasks and
    /// threads); fails after 5 s.
    async fn gauges_reach(pool: &BoundedPool, done: impl Fn(PoolGauges) -> bool) -> PoolGauges {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let now = pool.gauges();
            if done(now) {
                return now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "gauges stuck at {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_beyond_the_bound_queue_until_a_permit_frees() {
        let pool = Arc::new(BoundedPool::new(2));
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let mut handles = Vec::new();
        for _ in 0..3 {
            let pool = Arc::clone(&pool);
            let rx = Arc::clone(&release_rx);
            handles.push(tokio::spawn(async move {
                pool.run(move |_| rx.lock().unwrap().recv().unwrap()).await
            }));
        }
        let full = gauges_reach(&pool, |g| g.busy + g.queued == 3).await;
        assert_eq!(
            full,
            PoolGauges {
                threads: Some(2),
                busy: 2,
                queued: 1
            }
        );
        for _ in 0..3 {
            release_tx.send(()).unwrap();
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(
            pool.gauges(),
            PoolGauges {
                threads: Some(2),
                busy: 0,
                queued: 0
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_jobs_get_distinct_slots() {
        let pool = Arc::new(BoundedPool::new(3));
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let mut handles = Vec::new();
        for _ in 0..3 {
            let pool = Arc::clone(&pool);
            let barrier = Arc::clone(&barrier);
            handles.push(tokio::spawn(async move {
                pool.run(move |slot| {
                    barrier.wait();
                    slot.0
                })
                .await
            }));
        }
        let mut slots = Vec::new();
        for h in handles {
            slots.push(h.await.unwrap());
        }
        slots.sort_unstable();
        assert_eq!(slots, vec![0, 1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_wait_leaves_the_queue() {
        let pool = Arc::new(BoundedPool::new(1));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move { pool.run(move |_| rx.recv().unwrap()).await })
        };
        gauges_reach(&pool, |g| g.busy == 1).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), pool.run(|_| ())).await;
        assert!(waiting.is_err());
        assert_eq!(pool.gauges().queued, 0);
        tx.send(()).unwrap();
        blocker.await.unwrap();
    }
}
