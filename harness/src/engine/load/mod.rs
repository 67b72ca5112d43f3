//! What to send and how fast: the validated description of one load run, built from
//! `poolstorm load` flags or from a scenario, and handed to the driver.

pub mod protocol;
pub mod settings;
pub mod shard;
pub mod target;
pub mod task;

use std::time::Duration;

use serde::Serialize;

pub use protocol::{Protocol, TlsSettings};
pub use settings::{SETTINGS, Setting, SettingArgs, SettingsError, resolve};
pub use target::{Target, TargetError};
pub use task::{TaskError, TaskPicker, TaskSpec};

/// How requests are paced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    /// `users` each send a request, wait for its answer, think, and repeat (Locust, wrk).
    Closed {
        users: u32,
        /// Users started per second; `None` starts them all at once.
        spawn_rate: Option<f64>,
        /// Think time between one user's requests, uniform in `[min, max]` (seconds).
        #[serde(serialize_with = "ser_secs_pair")]
        wait: (Duration, Duration),
    },
    /// Requests start on a fixed schedule of `rate` per second whatever the answers do (k6's
    /// constant-arrival-rate, wrk2). Latency counts from each request's intended start; a start
    /// with all `max_in_flight` slots busy is dropped.
    Open { rate: f64, max_in_flight: u32 },
}

fn ser_secs_pair<S: serde::Serializer>(
    pair: &(Duration, Duration),
    s: S,
) -> Result<S::Ok, S::Error> {
    [pair.0.as_secs_f64(), pair.1.as_secs_f64()].serialize(s)
}

/// A complete, validated load run.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub target: Target,
    pub tasks: Vec<TaskSpec>,
    pub model: Model,
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
    /// Stop after starting this many requests.
    pub requests: Option<u64>,
    /// Longest wait for one request's full response.
    pub timeout: Duration,
    /// Threads that send requests, each with its own event loop.
    pub workers: usize,
    /// A stall is at least this long with no completions while requests are in flight.
    pub stall_window: Duration,
    /// Seed for task choice and think times.
    pub seed: u64,
    /// HTTP/1.1, h2 or h2c.
    pub protocol: Protocol,
    /// TLS settings (`https://` targets).
    pub tls: TlsSettings,
}
