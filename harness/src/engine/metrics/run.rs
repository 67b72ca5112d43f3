//! What a finished run measured, as the driver hands it back: the collected counts and
//! histograms, when and how long it ran, and the workers that panicked.

use std::time::{Duration, SystemTime};

use super::Collected;

/// Everything a finished run measured.
#[derive(Debug)]
pub struct RunOutput {
    /// The address the target's host was resolved to, once, before the run.
    pub address: std::net::SocketAddr,
    pub started_at: SystemTime,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub collected: Collected,
    /// The workers that panicked; their share is missing from `collected`.
    pub panics: Vec<WorkerPanic>,
}

/// A worker thread, or a task on its event loop, that panicked: its share of the load is
/// missing from the results.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("load worker {worker} panicked: {message}")]
pub struct WorkerPanic {
    pub worker: usize,
    pub message: String,
}

impl WorkerPanic {
    /// The panic's message, from the payload `std::panic` carries.
    pub fn of(worker: usize, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        Self { worker, message }
    }
}

/// The workers of a run that panicked, as one error: the run is not to be trusted (exit 3),
/// though what the other workers measured was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}; the results lack their share of the load", list(.0))]
pub struct Panicked(pub Vec<WorkerPanic>);

fn list(panics: &[WorkerPanic]) -> String {
    panics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl RunOutput {
    /// `Err` when a worker panicked.
    pub fn whole(&self) -> Result<(), Panicked> {
        match self.panics.is_empty() {
            true => Ok(()),
            false => Err(Panicked(self.panics.clone())),
        }
    }
}
