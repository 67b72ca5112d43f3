//! Cm of one task: the most connections one of its requests holds at once. From the
//! service's own count where it keeps one (target-app's `max_connections_held`, read from
//! `/debug/pool` while one user sends the task), else by the pool-of-N probe the incident's
//! team used: one request at a time on a pool of N with a short acquire timeout, N = 1, 2, ...;
//! a request that cannot finish means it needs more than N.

use super::{AdviseError, Runner};
use crate::base::param::ParamValue;
use crate::engine::metrics::Kind;
use crate::results::advice::TaskCm;
use crate::run::experiment::{RunOptions, Session};
use crate::run::scenario::Scenario;

/// Requests per probe size, one at a time.
const PROBE_REQUESTS: u64 = 3;
/// The largest pool the probe tries before giving up.
const MAX_PROBE: u64 = 8;
/// How long one user sends the task while the service's count is read.
const METRICS_RUN: &str = "1500ms";

/// Cm of the one task of `alone`, in a session of its own.
pub(super) async fn measure(
    runner: &mut Runner<'_>,
    alone: &Scenario,
    task: &str,
    managed: bool,
    threads: u64,
) -> Result<TaskCm, AdviseError> {
    let options = RunOptions {
        out: runner.options.out.clone(),
        set: runner.options.set.clone(),
        quick: false,
    };
    let mut session = Session::start(alone, &options).await?;
    let found = measure_in(runner, &mut session, task, managed, threads).await;
    let cells = session.cells();
    session.finish(Ok(()), cells, runner.stop).await?;
    found
}

async fn measure_in(
    runner: &mut Runner<'_>,
    session: &mut Session<'_>,
    task: &str,
    managed: bool,
    threads: u64,
) -> Result<TaskCm, AdviseError> {
    let pool = runner.options.pool_param.clone();
    let pool = pool.as_str();
    if !runner.options.probe_only {
        // A pool no single request can run short of, one user: what the service counted.
        let roomy = ParamValue::Int((threads * 2 + 2) as i64);
        let cell = runner.cell(
            &[
                (pool, roomy),
                ("users", ParamValue::Int(1)),
                ("duration", ParamValue::Text(METRICS_RUN.to_owned())),
            ],
            &["rate", "requests"],
            &[pool, "users"],
        );
        let report = session
            .run_cell(&cell, runner.stop, &mut *runner.monitor)
            .await?;
        let ok = report.load.as_ref().map_or(0, |l| l.outcome(Kind::Ok));
        let held = report.pool_samples.iter().filter_map(|s| s.cm).max();
        if let (Some(held), true) = (held, ok > 0) {
            return Ok(TaskCm {
                task: task.to_owned(),
                cm: held.max(1),
                source: "metrics".to_owned(),
                evidence: format!(
                    "max_connections_held {held} in /debug/pool after {ok} requests from one user"
                ),
            });
        }
    }
    let mut below = String::new();
    for n in 1..=MAX_PROBE {
        runner.check_stop()?;
        let mut set = vec![
            (pool, ParamValue::Int(n as i64)),
            ("users", ParamValue::Int(1)),
            ("requests", ParamValue::Int(PROBE_REQUESTS as i64)),
            ("timeout", ParamValue::Text("10s".to_owned())),
        ];
        if managed {
            set.push(("acquire_timeout", ParamValue::Float(1.0)));
        }
        let cell = runner.cell(&set, &["duration", "rate"], &[pool]);
        let report = session
            .run_cell(&cell, runner.stop, &mut *runner.monitor)
            .await?;
        let Some(load) = &report.load else {
            return Err(AdviseError::Measure(format!(
                "the probe at {pool} = {n} did not run: {}",
                report.error.as_deref().unwrap_or("no reason given")
            )));
        };
        let ok = load.outcome(Kind::Ok);
        let seen: Vec<String> = load
            .outcomes
            .iter()
            .filter(|(_, count)| *count > 0)
            .map(|(k, count)| format!("{k} {count}"))
            .collect();
        if ok == PROBE_REQUESTS {
            return Ok(TaskCm {
                task: task.to_owned(),
                cm: n,
                source: "probe".to_owned(),
                evidence: format!(
                    "one request at a time: {pool} = {n} answered {ok}/{PROBE_REQUESTS}{below}"
                ),
            });
        }
        below = format!("; {pool} = {n}: {}", seen.join(", "));
    }
    Err(AdviseError::Measure(format!(
        "task `{task}`: no request finished one at a time with {pool} up to {MAX_PROBE}{below}"
    )))
}
