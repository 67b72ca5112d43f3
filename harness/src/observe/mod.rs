//! What poolstorm sees of the server while a cell's load runs: its pool, sampled four times a
//! second from whichever source the target has (target-app's `/debug/pool` today), each
//! sample a [`PoolSample`] on the load's time axis. Gauges a source does not report are
//! `None`; a scrape that fails is a gap, never a zero.

pub mod database;
pub mod metrics;
pub mod periodic;
#[cfg(feature = "postgres")]
pub mod pgbouncer;
mod target_app;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use periodic::{Periodic, Probe};

pub use metrics::{Gauge, Mapping};
pub use target_app::from_snapshot;

/// The metric (or JSON pointer) each gauge came from, for evidence in the service's own
/// words; empty for target-app's `/debug/pool`, whose fields poolstorm names itself.
pub type GaugeNames = BTreeMap<Gauge, String>;

/// Time between samples.
pub const EVERY: Duration = Duration::from_millis(250);

/// The server's pool state at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    /// Most connections the pool opens.
    pub pool_max: Option<u64>,
    /// Connections lent out.
    pub pool_in_use: Option<u64>,
    /// Callers waiting for a connection.
    pub pool_waiting: Option<u64>,
    /// Open connections not lent out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_idle: Option<u64>,
    /// Connections open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_open: Option<u64>,
    /// Waits for a connection begun since the cell's first sample, from a counter (Go's
    /// database/sql has no gauge of callers waiting now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_waits: Option<u64>,
    /// Acquires that gave up so far.
    pub acquire_timeouts: Option<u64>,
    /// Request threads (target-app's bounded blocking pool).
    pub blocking_threads: Option<u64>,
    pub blocking_busy: Option<u64>,
    /// Jobs waiting for a thread.
    pub blocking_queued: Option<u64>,
    /// Mode-1 teardown jobs not finished (target-app only).
    pub teardown_pending: Option<u64>,
    pub requests_in_flight: Option<u64>,
    /// Cm observed: the most connections one request has held at once so far, over every route
    /// (target-app counts it per route: `max_connections_held`). Reports before this name
    /// called it `max_held`.
    #[serde(default, alias = "max_held", skip_serializing_if = "Option::is_none")]
    pub cm: Option<u64>,
}

/// `Some(a, b)` when both are known.
fn both(a: Option<u64>, b: Option<u64>) -> Option<(u64, u64)> {
    Some((a?, b?))
}

impl PoolSample {
    /// Every connection lent out and callers waiting for one (or, where the source only
    /// counts waits, waits begun during the run).
    pub fn pool_saturated(&self) -> bool {
        let waiters = match self.pool_waiting {
            Some(waiting) => waiting > 0,
            None => self.pool_waits.is_some_and(|w| w > 0),
        };
        both(self.pool_in_use, self.pool_max).is_some_and(|(used, max)| max > 0 && used >= max)
            && waiters
    }

    /// Every request thread busy and jobs queued for one.
    pub fn blocking_saturated(&self) -> bool {
        both(self.blocking_busy, self.blocking_threads)
            .is_some_and(|(busy, threads)| threads > 0 && busy >= threads)
            && self.blocking_queued.is_some_and(|q| q > 0)
    }

    pub fn saturated(&self) -> bool {
        self.pool_saturated() || self.blocking_saturated()
    }

    /// The state in words: "8/8 blocking threads busy and 28 jobs queued while 8 wait for a
    /// connection; 4/4 connections held by requests whose teardown is queued (4 pending)", or
    /// in the service's own metric names when it has them: "10/10 connections in use
    /// (hikaricp_connections_active of hikaricp_connections_max); 16 callers wait for a
    /// connection (hikaricp_connections_pending)".
    pub fn describe(&self, names: &GaugeNames) -> String {
        if names.is_empty() {
            self.describe_debug_pool()
        } else {
            self.describe_named(names)
        }
    }

    /// target-app's `/debug/pool`, in poolstorm's words.
    fn describe_debug_pool(&self) -> String {
        let n = |v: Option<u64>| v.map_or("?".to_owned(), |v| v.to_string());
        let mut parts = Vec::new();
        if self.blocking_saturated() && self.pool_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy and {} jobs queued while {} wait for a connection",
                n(self.blocking_busy),
                n(self.blocking_threads),
                n(self.blocking_queued),
                n(self.pool_waiting)
            ));
        } else if self.blocking_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy, {} jobs queued",
                n(self.blocking_busy),
                n(self.blocking_threads),
                n(self.blocking_queued)
            ));
        } else if self.pool_saturated() {
            parts.push(format!(
                "{} callers wait for a connection",
                n(self.pool_waiting)
            ));
        }
        match self.teardown_pending.filter(|p| *p > 0) {
            Some(pending) => parts.push(format!(
                "{}/{} connections held by requests whose teardown is queued ({pending} pending)",
                self.pool_in_use.unwrap_or(0).min(pending),
                n(self.pool_max),
            )),
            None => parts.push(format!(
                "{}/{} connections in use",
                n(self.pool_in_use),
                n(self.pool_max)
            )),
        }
        parts.join("; ")
    }

    /// A service's own metrics, each number with the metric it came from.
    fn describe_named(&self, names: &GaugeNames) -> String {
        let named = |gauges: &[Gauge]| -> String {
            let found: Vec<&str> = gauges
                .iter()
                .filter_map(|g| names.get(g).map(String::as_str))
                .collect();
            if found.is_empty() {
                String::new()
            } else {
                format!(" ({})", found.join(" of "))
            }
        };
        let mut parts = Vec::new();
        if let Some((used, max)) = both(self.pool_in_use, self.pool_max) {
            parts.push(format!(
                "{used}/{max} connections in use{}",
                named(&[Gauge::InUse, Gauge::Max])
            ));
        } else if let Some(used) = self.pool_in_use {
            parts.push(format!(
                "{used} connections in use{}",
                named(&[Gauge::InUse])
            ));
        }
        match (self.pool_waiting, self.pool_waits) {
            (Some(w), _) => parts.push(format!(
                "{w} callers wait for a connection{}",
                named(&[Gauge::Waiting])
            )),
            (None, Some(w)) => parts.push(format!(
                "{w} waits for a connection began during the run{}",
                named(&[Gauge::Waits])
            )),
            (None, None) => {}
        }
        if let Some((busy, max)) = both(self.blocking_busy, self.blocking_threads) {
            let queued = match self.blocking_queued {
                Some(q) => format!(", {q} queued{}", named(&[Gauge::ThreadsQueued])),
                None => String::new(),
            };
            parts.push(format!(
                "{busy}/{max} request threads busy{}{queued}",
                named(&[Gauge::ThreadsBusy, Gauge::ThreadsMax])
            ));
        }
        parts.join("; ")
    }

    /// Its value of `gauge` (the waits since the cell's first sample for [`Gauge::Waits`]):
    /// the one place a gauge meets its field, for what charts and views draw.
    pub fn gauge(&self, gauge: Gauge) -> Option<u64> {
        match gauge {
            Gauge::InUse => self.pool_in_use,
            Gauge::Max => self.pool_max,
            Gauge::Waiting => self.pool_waiting,
            Gauge::Idle => self.pool_idle,
            Gauge::Open => self.pool_open,
            Gauge::ThreadsBusy => self.blocking_busy,
            Gauge::ThreadsMax => self.blocking_threads,
            Gauge::ThreadsQueued => self.blocking_queued,
            Gauge::Timeouts => self.acquire_timeouts,
            Gauge::Waits => self.pool_waits,
        }
    }

    /// A sample from a reading of the service's metrics; `waits_at_start` is the waits
    /// counter of the cell's first reading.
    pub fn from_reading(t_ms: u64, r: &metrics::Reading, waits_at_start: Option<u64>) -> Self {
        let v = |g: Gauge| r.values.get(&g).copied();
        PoolSample {
            t_ms,
            pool_max: v(Gauge::Max),
            pool_in_use: v(Gauge::InUse),
            pool_waiting: v(Gauge::Waiting),
            pool_idle: v(Gauge::Idle),
            pool_open: v(Gauge::Open),
            pool_waits: v(Gauge::Waits).map(|w| w.saturating_sub(waits_at_start.unwrap_or(w))),
            acquire_timeouts: v(Gauge::Timeouts),
            blocking_threads: v(Gauge::ThreadsMax),
            blocking_busy: v(Gauge::ThreadsBusy),
            blocking_queued: v(Gauge::ThreadsQueued),
            teardown_pending: None,
            requests_in_flight: None,
            cm: None,
        }
    }
}

/// Where a target's pool is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolSource {
    /// target-app's `/debug/pool` at this base URL.
    TargetApp { base_url: String },
    /// A service's metrics (Prometheus text or JSON) at this URL, read through a mapping.
    Metrics {
        url: String,
        mapping: Mapping,
        /// The preset the mapping came from, if any.
        preset: Option<String>,
        /// How long one scrape may take.
        timeout: Duration,
    },
    /// A pgbouncer's admin console (`SHOW POOLS`), the pool of one database.
    Pgbouncer {
        admin_url: String,
        database: String,
        timeout: Duration,
    },
}

/// A stretch of time with no sample: the source failed or did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// Seconds from the start of the load to the first failed scrape.
    pub from_s: f64,
    /// The first scrape that answered again; `None` when it never did.
    pub to_s: Option<f64>,
    /// Why the first failed scrape failed.
    pub reason: String,
}

/// What a cell's report says about its pool source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The URL sampled (`/debug/pool` of target-app, or the service's metrics).
    pub url: String,
    /// The preset the mapping came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The service's own name for each gauge read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub names: GaugeNames,
    /// Gauges the mapping asks for that the service did not give, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Stretches with no sample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
}

impl SourceReport {
    /// "in use hikaricp_connections_active, max hikaricp_connections_max, ...", or `None`
    /// for target-app's `/debug/pool`.
    pub fn names_in_words(&self) -> Option<String> {
        if self.names.is_empty() {
            return None;
        }
        let words: Vec<String> = self
            .names
            .iter()
            .map(|(gauge, name)| format!("{} {name}", gauge.key().replace('_', " ")))
            .collect();
        Some(words.join(", "))
    }

    /// "http://127.0.0.1:9/actuator/prometheus (preset hikaricp)".
    pub fn described(&self) -> String {
        match &self.preset {
            Some(preset) => format!("{} (preset {preset})", self.url),
            None => self.url.clone(),
        }
    }

    /// "pool metrics stopped answering at 2.3 s (no answer within 1s)" for the last gap that
    /// never closed.
    pub fn silence(&self) -> Option<String> {
        let gap = self.gaps.last().filter(|g| g.to_s.is_none())?;
        Some(format!(
            "pool metrics ({}) stopped answering at {}: {}",
            self.url,
            crate::base::human::secs(gap.from_s),
            gap.reason
        ))
    }
}

/// What the sampler shares with the live view while it runs.
#[derive(Debug, Default)]
pub struct PoolState {
    pub samples: Vec<PoolSample>,
    pub report: SourceReport,
    waits_at_start: Option<u64>,
}

impl PoolState {
    fn record(&mut self, t_ms: u64, outcome: Result<(PoolSample, metrics::Reading), SampleError>) {
        let t_s = t_ms as f64 / 1000.0;
        match outcome {
            Ok((sample, reading)) => {
                if let Some(gap) = self.report.gaps.last_mut().filter(|g| g.to_s.is_none()) {
                    gap.to_s = Some(t_s);
                }
                if self.report.names.is_empty() {
                    self.report.names = reading.names;
                }
                if self.report.missing.is_empty() {
                    self.report.missing = reading.missing;
                }
                self.samples.push(sample);
            }
            Err(err) => {
                if self.report.gaps.last().is_none_or(|g| g.to_s.is_some()) {
                    self.report.gaps.push(Gap {
                        from_s: t_s,
                        to_s: None,
                        reason: crate::base::error::chain(&err),
                    });
                }
            }
        }
    }
}

impl PoolSource {
    /// The URL it samples.
    pub fn url(&self) -> String {
        match self {
            PoolSource::TargetApp { base_url } => {
                format!("{}/debug/pool", base_url.trim_end_matches('/'))
            }
            PoolSource::Metrics { url, .. } => url.clone(),
            PoolSource::Pgbouncer {
                admin_url,
                database,
                ..
            } => format!("{admin_url} (SHOW POOLS, database {database})"),
        }
    }

    /// One sample now (with the reading it came from), or why there is none.
    async fn read(
        &self,
        t_ms: u64,
        waits_at_start: Option<u64>,
    ) -> Result<(PoolSample, metrics::Reading), SampleError> {
        match self {
            PoolSource::TargetApp { base_url } => target_app::sample(base_url, t_ms, EVERY * 4)
                .await
                .map(|s| (s, metrics::Reading::default()))
                .map_err(|e| SampleError::Fetch(e.why)),
            PoolSource::Metrics {
                url,
                mapping,
                timeout,
                ..
            } => {
                let (status, body) = crate::engine::fetch::get(url, "", *timeout)
                    .await
                    .map_err(|e| SampleError::Fetch(e.why))?;
                if !(200..300).contains(&status) {
                    return Err(SampleError::Fetch(crate::engine::fetch::Why::Status(
                        status,
                    )));
                }
                let reading = if mapping.is_json() {
                    metrics::read_json(&body, mapping)?
                } else {
                    metrics::read_text(&String::from_utf8_lossy(&body), mapping)?
                };
                if reading.values.is_empty() {
                    return Err(SampleError::NoneFound(reading.missing.join("; ")));
                }
                let sample = PoolSample::from_reading(t_ms, &reading, waits_at_start);
                Ok((sample, reading))
            }
            #[cfg(feature = "postgres")]
            PoolSource::Pgbouncer {
                admin_url,
                database,
                timeout,
            } => {
                let reading = pgbouncer::read(admin_url, database, *timeout).await?;
                let sample = PoolSample::from_reading(t_ms, &reading, waits_at_start);
                Ok((sample, reading))
            }
            #[cfg(not(feature = "postgres"))]
            PoolSource::Pgbouncer { .. } => Err(SampleError::NotBuilt),
        }
    }
}

/// Why one sample could not be taken (the words go into the report's gap).
#[derive(Debug, thiserror::Error)]
enum SampleError {
    #[error(transparent)]
    Fetch(crate::engine::fetch::Why),
    #[error(transparent)]
    Scrape(#[from] metrics::ScrapeError),
    #[error("none of the pool's metrics found ({0})")]
    NoneFound(String),
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Console(#[from] pgbouncer::ConsoleError),
    #[cfg(not(feature = "postgres"))]
    #[error("this poolstorm was built without PostgreSQL, and so without pgbouncer's console")]
    NotBuilt,
}

/// The sampler's state, shared with the live view.
pub type Shared = Arc<Mutex<PoolState>>;

/// A running sampler of the server's pool.
#[derive(Debug)]
pub struct Sampler(Periodic<PoolState>);

impl Probe for PoolSource {
    type State = PoolState;

    async fn sample(&mut self, t_ms: u64, state: &Mutex<PoolState>) {
        let waits = state.lock().expect("pool state lock").waits_at_start;
        let outcome = self.read(t_ms, waits).await;
        let mut s = state.lock().expect("pool state lock");
        if let Ok((_, reading)) = &outcome
            && s.waits_at_start.is_none()
        {
            s.waits_at_start = reading.values.get(&Gauge::Waits).copied();
        }
        s.record(t_ms, outcome);
    }
}

impl Sampler {
    /// Starts sampling `source` on a task of its own (a slow or hung source delays nothing
    /// but its own samples); times count from `start`.
    pub fn start(source: PoolSource, start: Instant) -> Self {
        let mut state = PoolState::default();
        state.report.url = source.url();
        if let PoolSource::Metrics { preset, .. } = &source {
            state.report.preset.clone_from(preset);
        }
        Self(Periodic::start(source, state, start))
    }

    /// The state so far, for the live view.
    pub fn state(&self) -> Shared {
        self.0.state()
    }

    /// Stops and returns every sample and the source's report.
    pub async fn finish(self) -> (Vec<PoolSample>, SourceReport) {
        let s = self.0.finish().await;
        (s.samples, s.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_cm_is_written_as_cm_and_read_under_its_old_name_too() {
        let sample: PoolSample = serde_json::from_str(r#"{"t_ms": 0, "max_held": 2}"#).unwrap();
        assert_eq!(sample.cm, Some(2));
        let written = serde_json::to_value(sample).unwrap();
        assert_eq!(
            (written["cm"].as_u64(), written.get("max_held")),
            (Some(2), None)
        );
    }

    #[test]
    fn every_gauge_of_a_reading_comes_back_from_its_sample_under_the_same_gauge() {
        let reading = metrics::Reading {
            values: Gauge::ALL.iter().zip(1..).map(|(&g, v)| (g, v)).collect(),
            ..Default::default()
        };
        let sample = PoolSample::from_reading(0, &reading, Some(0));
        for &g in Gauge::ALL {
            assert_eq!(sample.gauge(g), reading.values.get(&g).copied(), "{g}");
        }
    }

    #[test]
    fn saturation_needs_every_gauge_it_speaks_of() {
        let full = PoolSample {
            pool_max: Some(4),
            pool_in_use: Some(4),
            pool_waiting: Some(2),
            ..PoolSample::default()
        };
        assert!(full.pool_saturated() && !full.blocking_saturated());
        let unknown_waiters = PoolSample {
            pool_waiting: None,
            ..full
        };
        assert!(!unknown_waiters.saturated());
        assert_eq!(
            unknown_waiters.describe(&GaugeNames::new()),
            "4/4 connections in use",
            "a missing gauge is not a zero"
        );
    }
}
