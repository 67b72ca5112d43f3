//! The result documents, plain serde types with nothing of the driver, the services or the
//! scenarios in them: one load run's report (schema `poolstorm.load/v1`, below), a scenario
//! run's ([`scenario`]), advice ([`advice`]) and a shard's part ([`shard`]); and what is
//! computed from documents alone: shards merged into one report ([`merge`]) and `--fail-if`
//! ([`gate`]). Every rendering of them is in [`crate::export`].

pub mod advice;
pub mod gate;
pub mod merge;
pub mod scenario;
pub mod shard;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::load::{LoadPlan, Model};
use crate::engine::metrics::RunOutput;
use crate::engine::metrics::{
    Family, Kind, OutcomeKey, Outcomes, Second, Stall, Summary, TaskTotals,
};
use crate::observe::database::DbReport;
use crate::observe::{PoolSample, SourceReport};
use crate::verdict::Observed;

/// Identifies the JSON layout; bumped when a field changes meaning.
pub const SCHEMA: &str = "poolstorm.load/v1";

/// How the load was paced, flattened for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// `closed` or `open`.
    pub kind: String,
    pub users: Option<u32>,
    pub spawn_rate: Option<f64>,
    pub wait_min_s: Option<f64>,
    pub wait_max_s: Option<f64>,
    pub rate: Option<f64>,
    pub max_in_flight: Option<u32>,
}

/// The run's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub timeout_s: f64,
    pub workers: usize,
    pub stall_window_s: f64,
    pub seed: u64,
}

/// Request counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    /// Requests started.
    pub total: u64,
    /// Requests that finished with an outcome other than `aborted`.
    pub completed: u64,
    /// Open model: starts dropped because every slot was busy.
    pub dropped: u64,
}

/// How requests travelled, and what opening connections cost apart from request latency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// `http/1.1`, `h2` or `h2c`.
    pub protocol: String,
    /// Requests in flight at once per connection (HTTP/2 streams; 1 for HTTP/1.1).
    pub streams: u32,
    /// The address the host was resolved to, once, before the run.
    pub address: String,
    /// `none` (http://), `verified` (the system's roots), `verified with cacert`, or
    /// `NOT VERIFIED (insecure)`.
    pub tls: String,
    /// A client certificate was offered (mutual TLS).
    pub client_certificate: bool,
    /// Connections opened.
    pub opened: u64,
    /// TCP connect of each, µs.
    pub connect_us: Summary,
    /// TLS handshake of each, µs (`https://` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_us: Option<Summary>,
    /// Connections that could not be opened, by reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refused: BTreeMap<String, u64>,
    /// HTTP/2 connections the server ended with GOAWAY.
    pub goaways: u64,
}

impl ConnectionReport {
    fn new(plan: &LoadPlan, run: &RunOutput) -> Self {
        let c = &run.collected.connections;
        let tls = match (&plan.target.tls, &plan.tls) {
            (false, _) => "none",
            (true, t) if t.insecure => "NOT VERIFIED (insecure)",
            (true, t) if t.cacert.is_some() => "verified with cacert",
            (true, _) => "verified",
        };
        Self {
            protocol: plan.protocol.name().to_owned(),
            streams: plan.protocol.streams(),
            address: run.address.to_string(),
            tls: tls.to_owned(),
            client_certificate: plan.tls.cert.is_some(),
            opened: c.opened,
            connect_us: c.connect.summary(),
            tls_handshake_us: plan.target.tls.then(|| c.tls_handshake.summary()),
            refused: c.refused.clone(),
            goaways: c.goaways,
        }
    }
}

/// One task's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    pub name: String,
    pub method: String,
    pub path: String,
    pub weight: u32,
    pub requests: u64,
    pub outcomes: Outcomes,
    pub status_codes: BTreeMap<u16, u64>,
    pub throughput_rps: f64,
    /// Every finished request (responses of any status, timeouts, connection errors).
    pub latency_us: Summary,
    /// 2xx responses only.
    pub ok_latency_us: Summary,
}

/// A `--fail-if` condition and whether it held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub condition: String,
    /// True when the condition held, which fails the run.
    pub failed: bool,
}

/// The whole report of a load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub schema: String,
    pub target: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// How long the run really took, drain included.
    pub elapsed_s: f64,
    /// Ended early by SIGINT/SIGTERM.
    pub interrupted: bool,
    pub model: ModelReport,
    pub settings: Settings,
    /// Protocol, TLS and connection setup.
    #[serde(default)]
    pub connections: ConnectionReport,
    pub requests: Requests,
    /// Finished requests by outcome: `ok`, `http_<status>`, `pool_timeout`, `timeout`,
    /// `connect`, `other`, `aborted` (zero counts left out, except `ok`).
    pub outcomes: Outcomes,
    /// Responses by HTTP status.
    pub status_codes: BTreeMap<u16, u64>,
    /// Completed requests per second of elapsed time.
    pub throughput_rps: f64,
    pub ok_rps: f64,
    /// Completed requests that were not `ok`, over completed requests.
    pub error_ratio: f64,
    pub latency_us: Summary,
    pub ok_latency_us: Summary,
    pub tasks: Vec<TaskReport>,
    pub timeline: Vec<Second>,
    pub stalls: Vec<Stall>,
    pub checks: Vec<Check>,
    /// A shard's report (`--shard`): which share of which run, and what merging needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<shard::ShardReport>,
    /// A merged report (`poolstorm merge`): the shards it was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<shard::MergedFrom>,
}

fn statuses_of(totals: &TaskTotals) -> BTreeMap<u16, u64> {
    totals.statuses.iter().collect()
}

fn completed(totals: &TaskTotals) -> u64 {
    totals.kinds.iter().sum::<u64>() - totals.kinds[Kind::Aborted.index()]
}

impl LoadReport {
    /// Reads a report that `--json` wrote (schema in `harness/schema/load-report.schema.json`,
    /// fields described in `docs/load-report.md`), as `poolstorm merge` does.
    pub fn read(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        serde_json::from_reader(std::io::BufReader::new(file)).map_err(std::io::Error::other)
    }

    /// Builds the report of a finished run.
    pub fn new(plan: &LoadPlan, run: &RunOutput) -> Self {
        let elapsed = run.elapsed.as_secs_f64().max(1e-9);
        let collected = &run.collected;
        let tasks = collected
            .tasks
            .iter()
            .zip(&plan.tasks)
            .map(|((name, totals), spec)| TaskReport {
                name: name.clone(),
                method: spec.method.clone(),
                path: spec.path.clone(),
                weight: spec.weight,
                requests: totals.kinds.iter().sum(),
                outcomes: totals.outcomes(),
                status_codes: statuses_of(totals),
                throughput_rps: completed(totals) as f64 / elapsed,
                latency_us: totals.all.summary(),
                ok_latency_us: totals.ok.summary(),
            })
            .collect();
        let mut all = collected
            .tasks
            .first()
            .map(|(_, t)| t.clone())
            .expect("at least one task");
        collected
            .tasks
            .iter()
            .skip(1)
            .for_each(|(_, t)| all.merge(t));
        let done = completed(&all);
        let ok = all.kinds[Kind::Ok.index()];
        Self {
            schema: SCHEMA.to_owned(),
            target: crate::base::redact::urls(&plan.target.url),
            started_at: humantime::format_rfc3339_millis(run.started_at).to_string(),
            elapsed_s: run.elapsed.as_secs_f64(),
            interrupted: run.interrupted,
            model: model_report(&plan.model),
            settings: Settings {
                duration_s: plan.duration.map(|d| d.as_secs_f64()),
                requests: plan.requests,
                timeout_s: plan.timeout.as_secs_f64(),
                workers: plan.workers,
                stall_window_s: plan.stall_window.as_secs_f64(),
                seed: plan.seed,
            },
            connections: ConnectionReport::new(plan, run),
            requests: Requests {
                total: collected.started,
                completed: done,
                dropped: collected.dropped,
            },
            outcomes: all.outcomes(),
            status_codes: statuses_of(&all),
            throughput_rps: done as f64 / elapsed,
            ok_rps: ok as f64 / elapsed,
            error_ratio: if done == 0 {
                0.0
            } else {
                (done - ok) as f64 / done as f64
            },
            latency_us: all.all.summary(),
            ok_latency_us: all.ok.summary(),
            tasks,
            timeline: collected.timeline.clone(),
            stalls: collected.stalls.clone(),
            checks: Vec::new(),
            shard: None,
            merged: None,
        }
    }

    /// Finished requests with this outcome.
    pub fn outcome(&self, key: impl Into<OutcomeKey>) -> u64 {
        self.outcomes.get(key)
    }

    /// What the verdict is judged from, with the server's pool `samples` and their source
    /// (`None`: no pool view), and poolstorm's own view of the database (`None`: not watched).
    pub fn observed<'a>(
        &self,
        samples: &'a [PoolSample],
        source: Option<&'a SourceReport>,
        database: Option<&'a DbReport>,
    ) -> Observed<'a> {
        let first_second = |pred: &dyn Fn(&Second) -> bool| {
            self.timeline
                .iter()
                .find(|s| pred(s))
                .map(|s| f64::from(s.t))
        };
        Observed {
            elapsed_s: self.elapsed_s,
            finished: true,
            completed: self.requests.completed,
            ok: self.outcome(Kind::Ok),
            pool_timeouts: self.outcome(Kind::PoolTimeout),
            errors: self
                .outcomes
                .iter()
                .filter(|(k, n)| !matches!(k.kind(), Kind::Ok | Kind::Aborted) && *n > 0)
                .collect(),
            stalls: self.stalls.clone(),
            samples,
            source,
            database,
            death: None,
            first_pool_timeout_s: first_second(&|s| s.finished[Family::PoolTimeout] > 0),
            first_error_s: first_second(&|s| {
                s.completed > s.finished[Family::Ok] + s.finished[Family::Aborted]
            }),
            ok_rps: self.ok_rps,
            p99_us: self.latency_us.p99,
        }
    }
}

pub fn model_report(model: &Model) -> ModelReport {
    let blank = ModelReport {
        kind: String::new(),
        users: None,
        spawn_rate: None,
        wait_min_s: None,
        wait_max_s: None,
        rate: None,
        max_in_flight: None,
    };
    match *model {
        Model::Closed {
            users,
            spawn_rate,
            wait,
        } => ModelReport {
            kind: "closed".to_owned(),
            users: Some(users),
            spawn_rate,
            wait_min_s: Some(wait.0.as_secs_f64()),
            wait_max_s: Some(wait.1.as_secs_f64()),
            ..blank
        },
        Model::Open {
            rate,
            max_in_flight,
        } => ModelReport {
            kind: "open".to_owned(),
            rate: Some(rate),
            max_in_flight: Some(max_in_flight),
            ..blank
        },
    }
}
