//! One cell, start to end: a fresh database, target-app started with the cell's flags, the
//! load with the server's pool sampled at 4 Hz (and stopped early on a confirmed deadlock
//! when asked), the mode-2 integrity check, the app stopped, the verdict and the rules.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{expect, integrity};
use crate::app::{AppExit, ManagedApp};
use crate::database::Databases;
use crate::driver::{self, Sinks};
use crate::load::{self, LoadPlan, Target, TaskSpec};
use crate::metrics::{IntervalSink, Live};
use crate::monitor::Monitor;
use crate::observe::{PoolSample, PoolSource, Sampler};
use crate::param::ParamValue;
use crate::report::LoadReport;
use crate::report::hlog::HlogWriter;
use crate::report::scenario::{CellReport, Integrity, Peaks};
use crate::scenario::params::{self, Section};
use crate::scenario::{Cell, Scenario, TargetSpec, render};
use crate::verdict::{self, Observed, Verdict};

/// What every cell of a scenario run shares.
#[derive(Debug)]
pub(super) struct Context<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) databases: Option<&'a Databases>,
    pub(super) binary: Option<&'a Path>,
    /// The results folder.
    pub(super) dir: &'a Path,
    /// Cancelled by Ctrl-C.
    pub(super) stop: &'a CancellationToken,
}

/// target-app flags for a cell: every app parameter, defaults included.
pub fn app_flags(cell: &Cell) -> Vec<String> {
    params::all()
        .filter(|p| p.section == Section::App)
        .filter_map(|p| Some(p.flag(cell.get(p.name)?)))
        .flatten()
        .collect()
}

/// The cell's load plan against `base_url`.
pub fn plan(scenario: &Scenario, cell: &Cell, base_url: &str) -> Result<LoadPlan, String> {
    let target = Target::parse(base_url).map_err(|e| e.to_string())?;
    let mut tasks = Vec::new();
    for t in &scenario.tasks {
        let headers = t
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), render(v, cell)))
            .collect();
        let body = Bytes::from(render(&t.body, cell));
        let mut task = TaskSpec::new(&t.method, &render(&t.path, cell), headers, body, t.weight)
            .map_err(|e| e.to_string())?;
        if let Some(name) = &t.name {
            task.name = render(name, cell);
        }
        tasks.push(task);
    }
    // The stall window is written in `[stall]`; every other load setting is a cell value.
    let window = ParamValue::Text(format!("{}ms", scenario.stall.window.as_millis()));
    let value = |name: &str| match name {
        "stall_window" => Some(window.clone()),
        _ => cell.get(name).cloned(),
    };
    load::resolve(&value, target, tasks).map_err(|e| e.to_string())
}

/// A cell's report before it has results.
fn blank(cell: &Cell, flags: Vec<String>) -> CellReport {
    CellReport {
        index: cell.index,
        label: cell.label(),
        slug: cell.slug(),
        varying: cell.varying.clone(),
        params: cell.values.clone(),
        app_flags: flags,
        judgement: None,
        stopped_on_deadlock: false,
        load: None,
        pool_samples: Vec::new(),
        peaks: Peaks::default(),
        integrity: None,
        rules: Vec::new(),
        app_exit: None,
        error: None,
        files: Vec::new(),
    }
}

/// A cell that could not run.
fn failed(cell: &Cell, scenario: &Scenario, flags: Vec<String>, error: String) -> CellReport {
    let rules = expect::evaluate(scenario, cell, Err(&error));
    CellReport {
        rules,
        error: Some(error),
        ..blank(cell, flags)
    }
}

/// Runs one cell.
pub(super) async fn run(ctx: &Context<'_>, cell: &Cell, monitor: &mut dyn Monitor) -> CellReport {
    let scenario = ctx.scenario;
    let flags = match scenario.target {
        TargetSpec::Managed { .. } => app_flags(cell),
        TargetSpec::External { .. } => Vec::new(),
    };
    let cells_dir = ctx.dir.join("cells");
    let log_name = format!("cells/{}.target-app.log", cell.slug());
    let hlog_name = format!("cells/{}.hlog", cell.slug());
    let _ = std::fs::create_dir_all(&cells_dir);

    // The target: a fresh database and app, or the external URL.
    let (base_url, app, db) = match (&scenario.target, ctx.databases, ctx.binary) {
        (TargetSpec::External { url }, _, _) => (url.clone(), None, None),
        (TargetSpec::Managed { .. }, Some(databases), Some(binary)) => {
            let db = match databases.for_cell(&scenario.name, cell.index).await {
                Ok(db) => db,
                Err(e) => return failed(cell, scenario, flags, e.to_string()),
            };
            let mut all = flags.clone();
            all.extend(["--database-url".to_owned(), db.url.clone()]);
            match ManagedApp::start(binary, &all, &ctx.dir.join(&log_name)).await {
                Ok(app) => (app.base_url.clone(), Some(app), Some(db)),
                Err(e) => return failed(cell, scenario, flags, e.to_string()),
            }
        }
        (TargetSpec::Managed { .. }, _, _) => {
            return failed(
                cell,
                scenario,
                flags,
                "a managed target needs target-app and a database".to_owned(),
            );
        }
    };
    let plan = match plan(scenario, cell, &base_url) {
        Ok(plan) => plan,
        Err(e) => {
            if let Some(app) = app {
                app.stop().await;
            }
            return failed(cell, scenario, flags, format!("load: {e}"));
        }
    };

    let (report, samples, stopped) =
        match drive(ctx, cell, &plan, &base_url, &hlog_name, monitor).await {
            Ok(driven) => driven,
            Err(e) => {
                if let Some(app) = app {
                    app.stop().await;
                }
                return failed(cell, scenario, flags, e);
            }
        };
    // Ask the app while it runs; a stuck pool cannot answer, so then read the table once the
    // app is gone.
    let counted = integrity::counted(&report);
    let from_app = match counted {
        Some(_) => integrity::from_endpoint(&base_url).await,
        None => None,
    };
    let app_exit: Option<AppExit> = match app {
        Some(app) => Some(app.stop().await),
        None => None,
    };
    let integrity = match counted {
        None => None,
        Some((created, unanswered)) => Some(match (from_app, &db) {
            (Some(counts), _) => integrity::judge("endpoint", counts, created, unanswered),
            (None, Some(db)) => match integrity::from_database(db).await {
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

    let judgement = verdict::judge(&report.observed(&samples), &scenario.thresholds);
    monitor.verdict(&judgement);
    // Leave the verdict on screen long enough to read before the next cell.
    tokio::time::sleep(monitor.linger()).await;
    let rules = expect::evaluate(scenario, cell, Ok((&report, &judgement)));
    let mut files = vec![hlog_name];
    if app_exit.is_some() {
        files.push(log_name);
    }
    CellReport {
        peaks: Peaks::of(&samples),
        judgement: Some(judgement),
        stopped_on_deadlock: stopped,
        load: Some(report),
        pool_samples: samples,
        integrity,
        rules,
        app_exit,
        files,
        ..blank(cell, flags)
    }
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

/// The load with the sampler beside it; stops early on a confirmed deadlock when the
/// scenario asks. Returns the report, the samples and whether it stopped early.
async fn drive(
    ctx: &Context<'_>,
    cell: &Cell,
    plan: &LoadPlan,
    base_url: &str,
    hlog_name: &str,
    monitor: &mut dyn Monitor,
) -> Result<(LoadReport, Vec<PoolSample>, bool), String> {
    let scenario = ctx.scenario;
    let cell_stop = ctx.stop.child_token();
    let source = PoolSource::TargetApp {
        base_url: base_url.to_owned(),
    };
    let sampler = Sampler::start(source, Instant::now());
    let samples = sampler.samples();
    let stopped = Arc::new(AtomicBool::new(false));
    let title = format!(
        "{} [{}/{}] {}",
        scenario.name,
        cell.index,
        scenario.cells.len(),
        cell.label()
    );
    monitor.start(&title, plan.duration, scenario.thresholds);
    let stop_on_deadlock = scenario.stall.stop_on_deadlock;
    let thresholds = scenario.thresholds;
    let mut live = |l: &Live| {
        let samples = samples.lock().expect("samples lock");
        monitor.update(l, &samples);
        if stop_on_deadlock && !cell_stop.is_cancelled() {
            // The same engine as the final verdict; a stop needs the server's pool to show it.
            let now = verdict::judge(&Observed::live(l, &samples), &thresholds);
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
    let samples = sampler.finish().await;
    let run = run.map_err(|e| e.to_string())?;
    let mut report = LoadReport::new(plan, &run);
    // Stopping on a deadlock is the cell's own decision, not an interruption of the run.
    report.interrupted = ctx.stop.is_cancelled();
    Ok((report, samples, stopped.load(Ordering::SeqCst)))
}
