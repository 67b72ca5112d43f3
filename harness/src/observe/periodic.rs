//! What runs every [`EVERY`](super::EVERY) beside the load, on a task of its own so a slow or
//! hung source delays nothing but its own samples: a [`Probe`] (the pool's source, the
//! database) and the state it fills, shared with the live view and taken whole at the end.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::EVERY;

/// One kind of sample, taken into its state.
pub trait Probe: Send + 'static {
    type State: Default + Send + 'static;

    /// Takes one sample `t_ms` after the start into `state` (locked only briefly, never across
    /// an await).
    fn sample(
        &mut self,
        t_ms: u64,
        state: &Mutex<Self::State>,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// A probe sampling every [`EVERY`] until [`Periodic::finish`].
#[derive(Debug)]
pub struct Periodic<S> {
    state: Arc<Mutex<S>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl<S: Default + Send + 'static> Periodic<S> {
    /// Starts `probe` with `state`; times count from `start`. A tick the probe was too slow
    /// for is skipped, not caught up.
    pub fn start<P: Probe<State = S>>(mut probe: P, state: S, start: Instant) -> Self {
        let state = Arc::new(Mutex::new(state));
        let stop = CancellationToken::new();
        let task = {
            let (state, stop) = (Arc::clone(&state), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        () = stop.cancelled() => break,
                    }
                    let t_ms = start.elapsed().as_millis() as u64;
                    tokio::select! {
                        () = probe.sample(t_ms, &state) => {}
                        () = stop.cancelled() => break,
                    }
                }
            })
        };
        Self { state, stop, task }
    }

    /// The state so far, for the live view.
    pub fn state(&self) -> Arc<Mutex<S>> {
        Arc::clone(&self.state)
    }

    /// Stops (a sample under way is dropped) and returns the state.
    pub async fn finish(self) -> S {
        self.stop.cancel();
        let _ = self.task.await;
        std::mem::take(&mut *self.state.lock().expect("probe state lock"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter;

    impl Probe for Counter {
        type State = Vec<u64>;

        async fn sample(&mut self, t_ms: u64, state: &Mutex<Vec<u64>>) {
            state.lock().unwrap().push(t_ms);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_samples_every_tick_until_finished() {
        let start = Instant::now();
        let running = Periodic::start(Counter, Vec::new(), start);
        tokio::time::sleep(EVERY * 4 + EVERY / 2).await;
        assert_eq!(
            running.state().lock().unwrap().len(),
            5,
            "at 0 and four ticks after"
        );
        let taken = running.finish().await;
        let every = EVERY.as_millis() as u64;
        assert_eq!(taken, [0, every, 2 * every, 3 * every, 4 * every]);
    }
}
