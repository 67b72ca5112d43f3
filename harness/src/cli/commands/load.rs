//! `poolstorm load`: flags become a validated plan (a shard's share of it with `--shard`),
//! output files are opened before any load is sent, the run starts (at `--start-at`) and goes
//! with live progress and Ctrl-C handling, then the reports are written and the exit status
//! decided.

use std::path::Path;
use std::time::SystemTime;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::outputs::{self, Outputs, Paths};
use super::{Failure, Outcome, UsageError};
use crate::cli::LoadArgs;
use crate::engine::driver::{self, DriverError, Sinks};
use crate::engine::load::shard::{INDEX_VARIABLE, Shard};
use crate::engine::load::{self, LoadPlan, SettingsError, Target, TaskSpec, task};
use crate::engine::metrics::IntervalSink;
use crate::results::shard::{Histograms, SecondsCapture, ShardReport};
use crate::results::{LoadReport, model_report};
use crate::verdict::{self, Thresholds};

fn tasks(args: &LoadArgs, target: &Target) -> Result<Vec<TaskSpec>, UsageError> {
    let mut global = Vec::new();
    for h in &args.headers {
        global.push(
            task::parse_header(h).ok_or_else(|| {
                UsageError::new("--header", format!("`{h}`: expected NAME:VALUE"))
            })?,
        );
    }
    let mut tasks = if args.tasks.is_empty() {
        let body = match (&args.body, &args.body_file) {
            (Some(text), _) => Bytes::copy_from_slice(text.as_bytes()),
            (None, Some(file)) => std::fs::read(file)
                .map(Bytes::from)
                .map_err(|e| UsageError::new("--body-file", format!("{}: {e}", file.display())))?,
            (None, None) => Bytes::new(),
        };
        let single = TaskSpec::new(&args.method, &target.path, Vec::new(), body, 1);
        vec![single.map_err(|e| UsageError::new("--method", e.to_string()))?]
    } else {
        args.tasks
            .iter()
            .map(|t| {
                TaskSpec::parse(t, Path::new("."))
                    .map_err(|e| UsageError::new("--task", e.to_string()))
            })
            .collect::<Result<_, _>>()?
    };
    for task in &mut tasks {
        task.headers.extend(global.iter().cloned());
    }
    Ok(tasks)
}

/// Turns `poolstorm load` flags into a plan, naming the flag on any bad value.
pub fn plan(args: &LoadArgs) -> Result<LoadPlan, UsageError> {
    let mut target = Target::parse(&args.url).map_err(|e| UsageError::new("URL", e.to_string()))?;
    if args.tasks.is_empty() {
        // The URL's own path is the one task's path.
        target.base_path.clear();
    }
    let tasks = tasks(args, &target)?;
    let named = |e: SettingsError| UsageError {
        flag: e.setting.flag.to_owned(),
        message: e.message,
        cause: e.cause,
    };
    let values = args.settings.values().map_err(named)?;
    load::resolve(&|key| values.get(&key).cloned(), target, tasks).map_err(named)
}

/// The share this process runs, and the run it belongs to: `--shard I/N`, or
/// `JOB_COMPLETION_INDEX` with `--shards N`; `None` for a whole run.
fn shard(args: &LoadArgs) -> Result<Option<(Shard, String)>, UsageError> {
    let (shard, flag) = match (&args.shard, args.shards) {
        (Some(spec), _) => (
            Shard::parse(spec).map_err(|e| UsageError::new("--shard", e.0))?,
            "--shard",
        ),
        (None, Some(count)) => {
            let index = std::env::var(INDEX_VARIABLE).map_err(|_| {
                UsageError::new(
                    "--shards",
                    format!("needs {INDEX_VARIABLE} (an Indexed Job sets it), or give --shard I/N"),
                )
            })?;
            let index = index.trim().parse().map_err(|_| {
                UsageError::new(
                    "--shards",
                    format!("{INDEX_VARIABLE}=`{index}` is not an index"),
                )
            })?;
            (
                Shard::new(index, count).map_err(|e| UsageError::new("--shards", e.0))?,
                "--shards",
            )
        }
        (None, None) => return Ok(None),
    };
    let run = match (&args.run_id, &args.start_at) {
        (Some(id), _) if !id.trim().is_empty() => id.trim().to_owned(),
        (_, Some(at)) => at.trim().to_owned(),
        _ => {
            return Err(UsageError::new(
                flag,
                "needs --start-at TIME or --run-id ID, the same for every shard, so that merge can tell this run's shards from another's",
            ));
        }
    };
    Ok(Some((shard, run)))
}

/// `--start-at`, read.
fn start_at(args: &LoadArgs) -> Result<Option<SystemTime>, UsageError> {
    args.start_at
        .as_deref()
        .map(|at| {
            humantime::parse_rfc3339_weak(at.trim()).map_err(|e| {
                UsageError::new(
                    "--start-at",
                    format!("`{at}`: {e}; expected RFC 3339 in UTC, as 2026-12-01T09:00:00Z"),
                )
            })
        })
        .transpose()
}

/// Waits until `at` (or `stop`); a time already past starts at once, saying so.
async fn wait_until(at: SystemTime, stop: &CancellationToken) {
    match at.duration_since(SystemTime::now()) {
        Ok(wait) => {
            eprintln!(
                "poolstorm: waiting {} until {} (--start-at)",
                crate::base::human::short(wait),
                humantime::format_rfc3339_millis(at)
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.cancelled() => {}
            }
        }
        Err(late) => eprintln!(
            "poolstorm: --start-at was {} ago; starting now",
            crate::base::human::short(late.duration())
        ),
    }
}

/// Cancels `stop` on SIGINT or SIGTERM.
pub fn cancel_on_signal(stop: &CancellationToken) {
    let stop = stop.clone();
    tokio::spawn(async move {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
}

/// Runs `poolstorm load`.
pub async fn execute(args: &LoadArgs) -> Outcome {
    let mut plan = plan(args)?;
    let shard = shard(args)?;
    let start_at = start_at(args)?;
    let whole = plan.clone();
    if let Some((shard, _)) = &shard {
        let flag = if args.shard.is_some() {
            "--shard"
        } else {
            "--shards"
        };
        shard
            .apply(&mut plan)
            .map_err(|e| UsageError::new(flag, e.0))?;
    }
    let conditions = outputs::conditions(&args.fail_if)?;
    let mut outputs = Outputs::open(&Paths {
        json: args.json.as_ref(),
        csv: args.csv.as_ref(),
        hlog: args.hlog.as_ref(),
        html: args.html.as_ref(),
        hlog_note: shard.as_ref().map(|(shard, run)| {
            format!("Shard {shard} of run {run} (poolstorm merge adds the shards)")
        }),
    })?;
    // A shard keeps each second's histogram for merge, beside the .hlog.
    let (intervals, seconds) = match shard {
        Some(_) => {
            let (capture, seconds) = SecondsCapture::new(outputs.hlog.take());
            (
                Some(Box::new(capture) as Box<dyn IntervalSink>),
                Some(seconds),
            )
        }
        None => (outputs.hlog.take(), None),
    };

    let stop = CancellationToken::new();
    cancel_on_signal(&stop);
    if let Some(at) = start_at {
        wait_until(at, &stop).await;
    }
    let mut monitor = super::monitor(args.progress, args.no_tui);
    let thresholds = Thresholds::default();
    monitor.start(
        &crate::base::redact::urls(&plan.target.url),
        plan.duration,
        thresholds,
    );
    let mut live = |l: &crate::engine::metrics::Live| monitor.update(l, None, None);
    let sinks = Sinks {
        live: &mut live,
        intervals,
    };
    let run = match driver::run(&plan, sinks, stop).await {
        Ok(run) => run,
        Err(e) => {
            monitor.finish();
            return Err(match e {
                // What the URL or a task says is bad input; the rest is this machine's trouble.
                DriverError::Target(_) | DriverError::Prepare(_) => {
                    UsageError::because("URL", e).into()
                }
                DriverError::Tls(tls) => {
                    let flag = crate::engine::load::settings::find(tls.setting)
                        .map_or_else(|| "URL".to_owned(), |s| s.flag.to_owned());
                    UsageError::with(&flag, tls.detail(), tls).into()
                }
                DriverError::Thread(_) | DriverError::Intervals(_) => Failure::not_run(e),
            });
        }
    };

    let mut report = LoadReport::new(&plan, &run);
    if let (Some((shard, run_id)), Some(seconds)) = (shard, seconds) {
        report.shard = Some(ShardReport {
            index: shard.index,
            count: shard.count,
            run: run_id,
            start_at: args.start_at.as_ref().map(|s| s.trim().to_owned()),
            model: model_report(&whole.model),
            requests: whole.requests,
            seed: whole.seed,
            histograms: Histograms::of(&run.collected),
            seconds: std::mem::take(&mut *seconds.lock().expect("not poisoned")),
            ticks: run.collected.ticks.iter().map(|&(c, f)| [c, f]).collect(),
        });
    }
    monitor.verdict(&verdict::judge(
        &report.observed(&[], None, None),
        &thresholds,
    ));
    tokio::time::sleep(monitor.linger()).await;
    monitor.finish();
    let exit = outputs.finish(&mut report, &conditions, run.interrupted)?;
    // The files hold what the other workers measured; the run itself cannot be trusted.
    run.whole().map_err(Failure::not_run)?;
    Ok(exit)
}
