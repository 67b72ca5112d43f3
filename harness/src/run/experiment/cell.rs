//! One cell, start to end: its target up (a fresh database and service, or the external
//! URL), the load with the server's pool sampled at 4 Hz (stopped early on a confirmed
//! deadlock when asked, or when the service dies), the mode-2 integrity check, the service
//! stopped, the verdict and the rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::time::Instant;

use super::Context;
use super::error::CellError;
use super::target::{self, Up};
use super::{expect, integrity};
use crate::base::error::chain;
use crate::base::param::ParamValue;
use crate::engine::driver::{self, Sinks};
use crate::engine::load::{self, LoadPlan, Target, TaskSpec};
use crate::engine::metrics::{IntervalSink, Live};
use crate::export::hlog::HlogWriter;
use crate::observe::database::{DbProbe, DbReport};
use crate::observe::{PoolSample, Sampler, SourceReport};
use crate::results::LoadReport;
use crate::results::scenario::{CellReport, Integrity, Peaks};
use crate::run::scenario::template::Bindings;
use crate::run::scenario::{Cell, Scenario, TargetSpec};
use crate::run::service::{Service, ServiceExit};
use crate::verdict::{self, Death, Observed, Verdict};
use crate::watch::monitor::Monitor;

/// The cell's load plan against `base_url`, its templates rendered with `bindings`.
pub fn plan(
    scenario: &Scenario,
    cell: &Cell,
    base_url: &str,
    bindings: &Bindings<'_>,
) -> Result<LoadPlan, CellError> {
    let target = Target::parse(base_url).map_err(CellError::Url)?;
    let mut tasks = Vec::new();
    for t in &scenario.tasks {
        let headers = t
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), bindings.render(v)))
            .collect();
        let body = Bytes::from(bindings.render(&t.body));
        let path = bindings.render(&t.path);
        let mut task = TaskSpec::new(&t.method, &path, headers, body, t.weight)?;
        if let Some(name) = &t.name {
            task.name = bindings.render(name);
        }
        tasks.push(task);
    }
    // The stall window is written in `[stall]`; every other load setting is a cell value.
    // Files (`cacert`, ...) are the scenario file's neighbours when relative.
    let window = ParamValue::Text(format!("{}ms", scenario.stall.window.as_millis()));
    let here = scenario
        .path
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."));
    let value = |key: load::settings::Key| match key {
        load::settings::Key::StallWindow => Some(window.clone()),
        _ => cell.get(key.name()).map(|v| match key.setting().kind {
            crate::base::param::Kind::Path => {
                ParamValue::Text(here.join(v.to_string()).display().to_string())
            }
            _ => v.clone(),
        }),
    };
    Ok(load::resolve(&value, target, tasks)?)
}

/// A cell's report before it has results.
fn blank(cell: &Cell) -> CellReport {
    CellReport::blank(
        cell.index,
        cell.label(),
        cell.slug(),
        cell.varying.clone(),
        cell.values.clone(),
    )
}

/// A cell that could not run.
fn failed(cell: &Cell, scenario: &Scenario, files: Vec<String>, error: String) -> CellReport {
    let rules = expect::evaluate(scenario, cell, Err(&error));
    CellReport {
        rules,
        error: Some(error),
        files,
        ..blank(cell)
    }
}

/// Runs one cell.
pub(super) async fn run(ctx: &Context<'_>, cell: &Cell, monitor: &mut dyn Monitor) -> CellReport {
    let scenario = ctx.scenario;
    let log = scenario.target.log_name(&cell.slug());
    // An external target has no log of ours; its name is only where nothing is written.
    let log_name = log
        .clone()
        .unwrap_or_else(|| format!("cells/{}.target.log", cell.slug()));
    let hlog_name = format!("cells/{}.hlog", cell.slug());
    let _ = std::fs::create_dir_all(ctx.dir.join("cells"));
    let log_files = || log.iter().cloned().collect::<Vec<_>>();

    let up = match target::bring_up(ctx, cell, &ctx.dir.join(&log_name)).await {
        Ok(up) => up,
        Err(e) => {
            let _ = ctx.redactor.file(&ctx.dir.join(&log_name));
            return failed(cell, scenario, log_files(), chain(&e));
        }
    };
    let mut report = CellReport {
        command: match scenario.target {
            TargetSpec::Command(_) => up.command_line.clone(),
            _ => Vec::new(),
        },
        app_flags: match scenario.target {
            TargetSpec::Managed { .. } => up.command_line.clone(),
            _ => Vec::new(),
        },
        ..blank(cell)
    };
    let plan = match plan(scenario, cell, &up.base_url, &up.bindings(cell)) {
        Ok(mut plan) => {
            // Secret header values as the cell sends them; task names (the interval log's
            // tags) without them.
            for task in &mut plan.tasks {
                for (name, value) in &task.headers {
                    if crate::base::redact::SECRET_HEADERS
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        ctx.redactor.add(value);
                    }
                }
                task.name = ctx.redactor.apply(&task.name);
            }
            plan
        }
        Err(e) => {
            stop(up).await;
            let _ = ctx.redactor.file(&ctx.dir.join(&log_name));
            let e = chain(&e);
            return CellReport {
                error: Some(format!("load: {e}")),
                rules: expect::evaluate(scenario, cell, Err(&e)),
                files: log_files(),
                ..report
            };
        }
    };

    let driven = match drive(ctx, cell, &plan, &up, &hlog_name, monitor).await {
        Ok(driven) => driven,
        Err(e) => {
            let e = chain(&e);
            stop(up).await;
            let _ = ctx.redactor.file(&ctx.dir.join(&log_name));
            return CellReport {
                rules: expect::evaluate(scenario, cell, Err(&e)),
                error: Some(e),
                files: log_files(),
                ..report
            };
        }
    };
    // target-app's own data check: ask the app while it runs; a stuck pool cannot answer,
    // so then read the table once the app is gone.
    let managed = scenario.target.is_target_app();
    let counted = managed
        .then(|| integrity::counted(&driven.report))
        .flatten();
    let from_app = match counted {
        Some(_) => integrity::from_endpoint(&up.base_url).await,
        None => None,
    };
    let db = up.db.clone();
    let exit = stop(up).await;
    let _ = ctx.redactor.file(&ctx.dir.join(&log_name));
    let log_tail = crate::base::local::tail(&ctx.dir.join(&log_name), 12);
    report.integrity = match counted {
        None => None,
        Some((created, unanswered)) => Some(match (from_app, &db) {
            (Some(counts), _) => integrity::judge("endpoint", counts, created, unanswered),
            // The table itself, once the app is gone.
            (None, Some(db)) => match db.message_counts().await {
                Ok(counts) => integrity::judge("database", counts, created, unanswered),
                Err(e) => unchecked(
                    created,
                    unanswered,
                    format!("cannot read the messages table: {e}"),
                ),
            },
            (None, None) => unchecked(
                created,
                unanswered,
                "the target did not answer /mode2/messages/stats".to_owned(),
            ),
        }),
    };
    let mut observed = driven.report.observed(
        &driven.samples,
        driven.source.as_ref(),
        driven.database.as_ref(),
    );
    observed.death = match (exit, driven.died_at_s) {
        (Some(exit), Some(at_s)) if exit.died_at_s.is_some() => Some(Death {
            at_s,
            status: exit.status(),
            log: log_tail,
        }),
        _ => None,
    };
    let judgement = verdict::judge(&observed, &scenario.thresholds);
    monitor.verdict(&judgement);
    // Leave the verdict on screen long enough to read before the next cell.
    tokio::time::sleep(monitor.linger()).await;
    report.rules = expect::evaluate(scenario, cell, Ok((&driven.report, &judgement)));
    let mut files = vec![hlog_name];
    files.extend(log_files());
    CellReport {
        peaks: Peaks::of(&driven.samples),
        judgement: Some(judgement),
        stopped_on_deadlock: driven.stopped_on_deadlock,
        load: Some(driven.report),
        pool_samples: driven.samples,
        pool_source: driven.source,
        database: driven.database,
        app_exit: exit,
        files,
        ..report
    }
}

/// Stops the cell's service, if poolstorm started one, then the pooler in front of its
/// database.
async fn stop(up: Up) -> Option<ServiceExit> {
    let exit = match up.service {
        Some(service) => Some(service.stop().await),
        None => None,
    };
    if let Some(pooler) = up.pooler {
        pooler.stop().await;
    }
    exit
}

fn unchecked(created: u64, unanswered: u64, message: String) -> Integrity {
    Integrity {
        source: "none".to_owned(),
        rows: 0,
        distinct_ids: 0,
        created,
        unanswered,
        passed: false,
        message,
    }
}

/// What the load measured, with the server's view beside it.
struct Driven {
    report: LoadReport,
    samples: Vec<PoolSample>,
    source: Option<SourceReport>,
    /// poolstorm's own view of the database, when it watched one.
    database: Option<DbReport>,
    /// When the service poolstorm started died, in seconds from the start of the load.
    died_at_s: Option<f64>,
    stopped_on_deadlock: bool,
}

/// The load with the sampler beside it; stops early on a confirmed deadlock when the
/// scenario asks, and when the service poolstorm started dies.
async fn drive(
    ctx: &Context<'_>,
    cell: &Cell,
    plan: &LoadPlan,
    up: &Up,
    hlog_name: &str,
    monitor: &mut dyn Monitor,
) -> Result<Driven, CellError> {
    let scenario = ctx.scenario;
    let cell_stop = ctx.stop.child_token();
    let sampler = up
        .pool_source(ctx, cell)
        .map(|source| Sampler::start(source, Instant::now()));
    let pool = sampler.as_ref().map(Sampler::state);
    let load_start = Instant::now();
    let probe = scenario
        .probe_database
        .then(|| up.db_target())
        .flatten()
        .map(|db| DbProbe::start(db, pool.clone(), load_start));
    let database = probe.as_ref().map(DbProbe::report);
    let stopped = Arc::new(AtomicBool::new(false));
    let title = format!(
        "{} [{}/{}] {}",
        scenario.name,
        cell.index,
        scenario.cells.len(),
        cell.label()
    );
    monitor.start(
        &ctx.redactor.apply(&title),
        plan.duration,
        scenario.thresholds,
    );
    let stop_on_deadlock = scenario.stall.stop_on_deadlock;
    let thresholds = scenario.thresholds;
    let service = up.service.as_ref();
    let mut live = |l: &Live| {
        let state = pool.as_ref().map(|p| p.lock().expect("pool state lock"));
        let db = database.as_ref().map(|d| d.lock().expect("db report lock"));
        monitor.update(l, state.as_deref(), db.as_deref());
        if cell_stop.is_cancelled() {
            return;
        }
        if service.is_some_and(|s| s.exited().is_some()) {
            cell_stop.cancel();
            return;
        }
        if stop_on_deadlock {
            let (samples, source) = state
                .as_deref()
                .map_or((&[][..], None), |s| (&s.samples[..], Some(&s.report)));
            // The same engine as the final verdict; a stop needs the server's pool to show it.
            let mut observed = Observed::live(l, samples, source);
            observed.database = db.as_deref();
            let now = verdict::judge(&observed, &thresholds);
            if now.verdict == Verdict::Deadlocked && now.sample.is_some() {
                stopped.store(true, Ordering::SeqCst);
                cell_stop.cancel();
            }
        }
    };
    let intervals = HlogWriter::create(&ctx.dir.join(hlog_name))
        .ok()
        .map(|h| Box::new(h) as Box<dyn IntervalSink>);
    let run = driver::run(
        plan,
        Sinks {
            live: &mut live,
            intervals,
        },
        cell_stop.clone(),
    )
    .await;
    let (samples, source) = match sampler {
        Some(sampler) => {
            let (samples, source) = sampler.finish().await;
            (samples, Some(source))
        }
        None => (Vec::new(), None),
    };
    let database = match probe {
        Some(probe) => Some(probe.finish().await),
        None => None,
    };
    let died_at_s = service
        .and_then(Service::exited_at)
        .map(|at| at.saturating_duration_since(load_start).as_secs_f64());
    let run = run?;
    run.whole()?;
    let mut report = LoadReport::new(plan, &run);
    // Stopping on a deadlock or a dead service is the cell's own decision, not an
    // interruption of the run.
    report.interrupted = ctx.stop.is_cancelled();
    Ok(Driven {
        report,
        samples,
        source,
        database,
        died_at_s,
        stopped_on_deadlock: stopped.load(Ordering::SeqCst),
    })
}
