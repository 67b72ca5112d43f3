//! A worker thread: its own single-threaded event loop running a share of the users (closed
//! model) or of the schedule (open model), recording into its own [`Recorder`], and reporting
//! to the collector every tick. One loop serves both models; only the pacing differs.
//!
//! Stopping early (Ctrl-C) aborts the worker's tasks; a request in flight at that moment is
//! recorded as `aborted` by its [`InFlight`] guard, so nothing on the hot path waits on the
//! shared stop signal.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::link::{Link, Links};
use super::{Shared, WorkerPanic, pace};
use crate::engine::load::{Model, Protocol};
use crate::engine::metrics::{Kind, Outcome, Recorder, Report, TICK};

type Rec = Rc<RefCell<Recorder>>;

/// Runs worker `worker` to completion on the current thread's `LocalSet`. A task of its that
/// panicked is returned (the first, if several did); the worker's other users go on to the end.
/// `panic_hook` adds one task that panics, for the test of that path.
pub(super) async fn run(
    worker: usize,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Report>,
    panic_hook: bool,
) -> Option<WorkerPanic> {
    let recorder: Rec = Rc::new(RefCell::new(Recorder::new(
        shared.prepared.len(),
        shared.highest,
    )));
    let ticker = tokio::task::spawn_local(ticks(
        worker,
        Arc::clone(&shared),
        Rc::clone(&recorder),
        tx.clone(),
    ));
    let mut senders = JoinSet::new();
    let mut links = Links::new(match shared.plan.protocol {
        Protocol::Http1 => None,
        p => Some(p.streams()),
    });
    match shared.plan.model {
        Model::Closed {
            users,
            spawn_rate,
            wait,
        } => {
            for user in (0..users as usize).filter(|user| user % shared.workers == worker) {
                let delay = spawn_rate.map_or(Duration::ZERO, |rate| {
                    Duration::from_secs_f64(user as f64 / rate)
                });
                senders.spawn_local(closed_user(
                    user,
                    delay,
                    wait,
                    links.next(),
                    Arc::clone(&shared),
                    Rc::clone(&recorder),
                ));
            }
        }
        Model::Open {
            rate,
            max_in_flight,
        } => {
            let slots = (max_in_flight as usize).div_ceil(shared.workers).max(1);
            let slot_links = (0..slots).map(|_| links.next()).collect();
            senders.spawn_local(open_schedule(
                worker,
                rate,
                slot_links,
                Arc::clone(&shared),
                Rc::clone(&recorder),
            ));
        }
    }
    if panic_hook {
        senders.spawn_local(async move {
            panic!("worker {worker} panics, as POOLSTORM_FAULT_PANIC_WORKER asked")
        });
    }
    let mut stopping = false;
    let mut panicked = None;
    loop {
        tokio::select! {
            joined = senders.join_next() => match joined {
                None => break,
                Some(Err(e)) if e.is_panic() && panicked.is_none() => {
                    panicked = Some(WorkerPanic::of(worker, e.into_panic().as_ref()));
                }
                Some(_) => {}
            },
            () = shared.timing.stop.cancelled(), if !stopping => {
                stopping = true;
                senders.abort_all();
            }
        }
    }
    ticker.abort();
    let _ = ticker.await;
    let (tick, second) = shared.timing.position(Instant::now());
    let mut r = recorder.borrow_mut();
    links.drain_into(&mut r);
    let _ = tx.send(Report::Tick {
        worker,
        tick,
        counts: r.take_tick(),
    });
    let _ = tx.send(Report::Interval {
        worker,
        second,
        per_task: r.take_interval(),
    });
    drop(r);
    let recorder = Rc::try_unwrap(recorder)
        .expect("every sender task has ended")
        .into_inner();
    let (totals, connections) = recorder.into_totals();
    let _ = tx.send(Report::Done {
        worker,
        totals,
        connections,
    });
    panicked
}

/// Every tick: the counters since the last one; on each new second, the interval's latencies.
async fn ticks(
    worker: usize,
    shared: Arc<Shared>,
    recorder: Rec,
    tx: mpsc::UnboundedSender<Report>,
) {
    let mut interval = tokio::time::interval_at(shared.timing.start + TICK, TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut closed_seconds = 0;
    loop {
        interval.tick().await;
        let (tick, second) = shared.timing.position(Instant::now());
        let mut r = recorder.borrow_mut();
        let _ = tx.send(Report::Tick {
            worker,
            tick: tick.saturating_sub(1),
            counts: r.take_tick(),
        });
        if second > closed_seconds {
            let _ = tx.send(Report::Interval {
                worker,
                second: second - 1,
                per_task: r.take_interval(),
            });
            closed_seconds = second;
        }
    }
}

/// A request in flight: if its task is aborted before it finishes, dropping the guard records
/// it as `aborted`.
struct InFlight<'a> {
    recorder: &'a Rec,
    task: usize,
    since: Instant,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let outcome = Outcome::no_response(Kind::Aborted);
        self.recorder
            .borrow_mut()
            .finished(self.task, outcome, self.since.elapsed());
    }
}

/// Sends one request on `link` and records it with latency counted from `since` (a request
/// that opened a connection includes the setup, which is also recorded on its own).
async fn send_one(
    shared: &Shared,
    recorder: &Rec,
    link: &mut Link,
    rng: &mut fastrand::Rng,
    since: Instant,
) {
    let task = shared.picker.pick(rng);
    recorder.borrow_mut().started();
    let guard = InFlight {
        recorder,
        task,
        since,
    };
    let outcome = link
        .send(&shared.dialer, &shared.prepared[task], shared.plan.timeout)
        .await;
    std::mem::forget(guard);
    let mut r = recorder.borrow_mut();
    r.finished(task, outcome, since.elapsed());
    link.drain_into(&mut r);
}

/// A closed-model user: start after `delay`, then request, think (`wait`), repeat until told
/// to stop ([`pace::closed`]).
async fn closed_user(
    user: usize,
    delay: Duration,
    wait: (Duration, Duration),
    mut link: Link,
    shared: Arc<Shared>,
    recorder: Rec,
) {
    let mut rng = fastrand::Rng::with_seed(
        shared.plan.seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    pace::closed(&shared.timing, delay, wait, &mut rng, async |rng| {
        send_one(&shared, &recorder, &mut link, rng, Instant::now()).await;
    })
    .await;
}

/// This worker's share of an open-model schedule: `rate / workers` starts per second, each
/// handed to a free slot (a connection) or counted as dropped when every slot is busy.
async fn open_schedule(
    worker: usize,
    rate: f64,
    links: Vec<Link>,
    shared: Arc<Shared>,
    recorder: Rec,
) {
    let slots = links.len();
    let free: Rc<RefCell<Vec<usize>>> = Rc::new(RefCell::new((0..slots).rev().collect()));
    let mut starts = Vec::with_capacity(slots);
    // Dropped with this task when the run is aborted, which aborts every slot.
    let mut slot_tasks = JoinSet::new();
    for (slot, link) in links.into_iter().enumerate() {
        let (start_tx, start_rx) = mpsc::unbounded_channel::<Instant>();
        starts.push(start_tx);
        slot_tasks.spawn_local(open_slot(
            slot,
            worker,
            link,
            start_rx,
            Arc::clone(&shared),
            Rc::clone(&recorder),
            Rc::clone(&free),
        ));
    }
    pace::open(&shared.timing, worker, shared.workers, rate, |intended| {
        let slot = free.borrow_mut().pop();
        match slot {
            Some(slot) => {
                let _ = starts[slot].send(intended);
            }
            None => recorder.borrow_mut().dropped(),
        }
    })
    .await;
    drop(starts);
    while slot_tasks.join_next().await.is_some() {}
}

/// One open-model slot: sends a request for each intended start it is given.
async fn open_slot(
    slot: usize,
    worker: usize,
    mut link: Link,
    mut starts: mpsc::UnboundedReceiver<Instant>,
    shared: Arc<Shared>,
    recorder: Rec,
    free: Rc<RefCell<Vec<usize>>>,
) {
    let mut rng = fastrand::Rng::with_seed(
        shared.plan.seed ^ ((worker << 32 | slot) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    while let Some(intended) = starts.recv().await {
        send_one(&shared, &recorder, &mut link, &mut rng, intended).await;
        free.borrow_mut().push(slot);
    }
}
