//! When requests start, apart from sending them: the run's [`Timing`] (its start, its end, its
//! request budget, its stop signal), the open model's schedule ([`open`]) and a closed-model
//! user's loop ([`closed`]). The clock is tokio's, and that is the seam: a test that starts
//! tokio's clock paused walks a whole schedule in no time and to the microsecond, with no
//! socket and no wall clock. The real-socket pacing tests stay beside them
//! (`tests/it/pacing.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::metrics::{TICK, TICKS_PER_SECOND};

/// A run's clock and limits, shared by every worker.
#[derive(Debug)]
pub struct Timing {
    pub start: Instant,
    /// The end of the duration, if the run has one.
    pub deadline: Option<Instant>,
    /// Requests still allowed to start (`--requests`).
    budget: Option<AtomicU64>,
    pub stop: CancellationToken,
}

impl Timing {
    /// A run that starts now and ends after `duration`, after `requests`, or on `stop`.
    pub fn new(duration: Option<Duration>, requests: Option<u64>, stop: CancellationToken) -> Self {
        let start = Instant::now();
        Self {
            start,
            deadline: duration.map(|d| start + d),
            budget: requests.map(AtomicU64::new),
            stop,
        }
    }

    /// Whether a new request may start now (the duration is not over and nobody said stop).
    pub fn may_start(&self) -> bool {
        !self.stop.is_cancelled() && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Takes one request from the budget.
    pub fn claim(&self) -> bool {
        self.budget.as_ref().is_none_or(|b| {
            b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }

    /// Sleeps until `when`; false when the duration ends first. (Ctrl-C aborts the sleeping
    /// task instead.)
    pub async fn sleep_until(&self, when: Instant) -> bool {
        match self.deadline {
            Some(deadline) if when >= deadline => {
                tokio::time::sleep_until(deadline).await;
                false
            }
            _ => {
                tokio::time::sleep_until(when).await;
                self.may_start()
            }
        }
    }

    /// (tick, second) of an instant, counted from the start.
    pub fn position(&self, at: Instant) -> (u32, u32) {
        let tick =
            u32::try_from(at.saturating_duration_since(self.start).as_millis() / TICK.as_millis())
                .unwrap_or(u32::MAX);
        (tick, tick / TICKS_PER_SECOND)
    }
}

/// Worker `worker`'s share of an open-model schedule at `rate` starts per second over
/// `workers` workers: starts `workers / rate` apart, the first `worker / rate` after the start,
/// so the workers' starts interleave evenly. Calls `start` with each intended start (latency
/// counts from it) until the duration ends, the budget is spent, or the run is stopped.
pub async fn open(
    timing: &Timing,
    worker: usize,
    workers: usize,
    rate: f64,
    mut start: impl FnMut(Instant),
) {
    let first = timing.start + Duration::from_secs_f64(worker as f64 / rate);
    let per_worker = rate / workers as f64;
    for k in 0u64.. {
        let intended = first + Duration::from_secs_f64(k as f64 / per_worker);
        if !timing.sleep_until(intended).await || !timing.claim() {
            break;
        }
        start(intended);
    }
}

/// A closed-model user: starts `delay` after the run, then sends (`send`, given the user's
/// random numbers), thinks for a time drawn from `wait` (min, max), and repeats until the
/// duration ends, the budget is spent, or the run is stopped.
pub async fn closed(
    timing: &Timing,
    delay: Duration,
    wait: (Duration, Duration),
    rng: &mut fastrand::Rng,
    mut send: impl AsyncFnMut(&mut fastrand::Rng),
) {
    if !timing.sleep_until(timing.start + delay).await {
        return;
    }
    let (wait_min, wait_max) = wait;
    while timing.may_start() && timing.claim() {
        send(rng).await;
        if wait_max > Duration::ZERO {
            let think = wait_min + (wait_max - wait_min).mul_f64(rng.f64());
            if !timing.sleep_until(Instant::now() + think).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    /// Every intended start of `workers` open-model workers, as offsets from the run's start,
    /// and how far behind its intended start each was made (`lag`).
    async fn open_starts(timing: &Timing, workers: usize, rate: f64) -> (Vec<Duration>, Duration) {
        let starts = RefCell::new(Vec::new());
        let lag = RefCell::new(Duration::ZERO);
        let each = (0..workers).map(|worker| {
            open(timing, worker, workers, rate, |intended| {
                let late = Instant::now().saturating_duration_since(intended);
                let mut lag = lag.borrow_mut();
                *lag = (*lag).max(late);
                starts.borrow_mut().push(intended - timing.start);
            })
        });
        futures_join_all(each).await;
        let mut starts = starts.into_inner();
        starts.sort();
        (starts, lag.into_inner())
    }

    /// Runs the futures together on this task (the workers of one test).
    async fn futures_join_all<F: std::future::Future<Output = ()>>(
        futures: impl Iterator<Item = F>,
    ) {
        let mut set: Vec<_> = futures.map(Box::pin).collect();
        std::future::poll_fn(|cx| {
            set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
            if set.is_empty() {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_model_starts_exactly_its_rate_evenly_spaced_across_workers() {
        let timing = Timing::new(
            Some(Duration::from_secs(10)),
            None,
            CancellationToken::new(),
        );
        let (starts, lag) = open_starts(&timing, 3, 200.0).await;
        assert_eq!(starts.len(), 2000, "200 req/s for 10 s");
        assert_eq!(
            lag,
            Duration::ZERO,
            "each start is made at its intended instant"
        );
        let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        let step = Duration::from_micros(5000);
        let tolerance = Duration::from_micros(2);
        assert!(
            min.abs_diff(step) <= tolerance && max.abs_diff(step) <= tolerance,
            "starts 5 ms apart across the three workers: {min:?}..{max:?}"
        );
        assert_eq!(starts[0], Duration::ZERO);
        assert!(starts[1999] < Duration::from_secs(10));
        assert_eq!(
            Instant::now() - timing.start,
            Duration::from_secs(10),
            "ends at its end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_model_stops_when_its_budget_is_spent_or_it_is_stopped() {
        let budgeted = Timing::new(
            Some(Duration::from_secs(60)),
            Some(7),
            CancellationToken::new(),
        );
        let (starts, _) = open_starts(&budgeted, 2, 100.0).await;
        assert_eq!(starts.len(), 7, "--requests 7");
        assert_eq!(
            *starts.last().unwrap(),
            Duration::from_millis(60),
            "the 7th, 10 ms apart"
        );

        let stop = CancellationToken::new();
        let stopped = Timing::new(None, None, stop.clone());
        let after = tokio::spawn({
            let stop = stop.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(1005)).await;
                stop.cancel();
            }
        });
        let (starts, _) = open_starts(&stopped, 1, 50.0).await;
        after.await.unwrap();
        assert_eq!(
            starts.len(),
            51,
            "starts at 0, 20 ms, ... 1000 ms, then the stop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_user_waits_its_spawn_delay_then_thinks_between_requests() {
        let timing = Timing::new(Some(Duration::from_secs(3)), None, CancellationToken::new());
        let sent = RefCell::new(Vec::new());
        let mut rng = fastrand::Rng::with_seed(7);
        let wait = (Duration::from_millis(200), Duration::from_millis(400));
        closed(
            &timing,
            Duration::from_millis(500),
            wait,
            &mut rng,
            async |_| {
                sent.borrow_mut().push(Instant::now() - timing.start);
                // The request itself takes 100 ms.
                tokio::time::sleep(Duration::from_millis(100)).await;
            },
        )
        .await;
        let sent = sent.into_inner();
        assert_eq!(sent[0], Duration::from_millis(500), "the spawn delay");
        for pair in sent.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                (Duration::from_millis(300)..=Duration::from_millis(500)).contains(&gap),
                "100 ms of request and 200-400 ms of thinking: {gap:?}"
            );
        }
        // 2.5 s of sending at 300-500 ms a round.
        assert!((5..=9).contains(&sent.len()), "{sent:?}");
        assert!(*sent.last().unwrap() < Duration::from_secs(3));
    }
}
