//! `poolstorm load`: flags become a validated plan, output files are opened before any load
//! is sent, the run goes with live progress and Ctrl-C handling, then the reports are written
//! and the exit status decided.

use std::fs::File;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{Exit, UsageError};
use crate::cli::LoadArgs;
use crate::driver::{self, DriverError, Sinks};
use crate::expr::Expr;
use crate::gate;
use crate::load::{self, LoadPlan, SettingsError, Target, TaskSpec, task};
use crate::metrics::IntervalSink;
use crate::report::hlog::HlogWriter;
use crate::report::{LoadReport, csv, json, text};
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
    let named = |e: SettingsError| UsageError::new(e.setting.flag, e.message);
    let values = args.settings.values().map_err(named)?;
    load::resolve(&|name| values.get(name).cloned(), target, tasks).map_err(named)
}

/// Output files, created before the run so a bad path fails first.
struct Outputs {
    json: Option<File>,
    csv: Option<File>,
    hlog: Option<Box<dyn IntervalSink>>,
}

fn create(flag: &str, path: &Option<PathBuf>) -> Result<Option<File>, UsageError> {
    path.as_ref()
        .map(|p| {
            File::create(p)
                .map_err(|e| UsageError::new(flag, format!("cannot create {}: {e}", p.display())))
        })
        .transpose()
}

impl Outputs {
    fn open(args: &LoadArgs) -> Result<Self, UsageError> {
        let hlog = args
            .hlog
            .as_ref()
            .map(|p| {
                HlogWriter::create(p)
                    .map(|h| Box::new(h) as Box<dyn IntervalSink>)
                    .map_err(|e| {
                        UsageError::new("--hlog", format!("cannot create {}: {e}", p.display()))
                    })
            })
            .transpose()?;
        Ok(Self {
            json: create("--json", &args.json)?,
            csv: create("--csv", &args.csv)?,
            hlog,
        })
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
pub async fn execute(args: &LoadArgs) -> anyhow::Result<Exit> {
    let plan = plan(args)?;
    let conditions: Vec<Expr> = args
        .fail_if
        .iter()
        .map(|c| gate::parse(c).map_err(|e| UsageError::new("--fail-if", format!("`{c}`: {e}"))))
        .collect::<Result<_, _>>()?;
    let mut outputs = Outputs::open(args)?;

    let stop = CancellationToken::new();
    cancel_on_signal(&stop);
    let mut monitor = super::monitor(args.progress, args.no_tui);
    let thresholds = Thresholds::default();
    monitor.start(
        &crate::redact::urls(&plan.target.url),
        plan.duration,
        thresholds,
    );
    let mut live = |l: &crate::metrics::Live| monitor.update(l, None, None);
    let sinks = Sinks {
        live: &mut live,
        intervals: outputs.hlog.take(),
    };
    let run = match driver::run(&plan, sinks, stop).await {
        Ok(run) => run,
        Err(e) => {
            monitor.finish();
            return Err(match e {
                // What the URL or a task says is bad input; the rest is this machine's trouble.
                DriverError::Target(_) | DriverError::Prepare(_) => {
                    UsageError::new("URL", e.to_string()).into()
                }
                DriverError::Tls(tls) => {
                    let flag = crate::load::settings::find(tls.setting)
                        .map_or_else(|| "URL".to_owned(), |s| s.flag.to_owned());
                    UsageError::new(&flag, tls.reason).into()
                }
                DriverError::Thread(_) | DriverError::Intervals(_) => e.into(),
            });
        }
    };

    let mut report = LoadReport::new(&plan, &run);
    monitor.verdict(&verdict::judge(
        &report.observed(&[], None, None),
        &thresholds,
    ));
    tokio::time::sleep(monitor.linger()).await;
    monitor.finish();
    report.checks = gate::check(&report, &conditions)?;
    if let Some(file) = outputs.json.take() {
        json::write(&report, file)?;
    }
    if let Some(file) = outputs.csv.take() {
        csv::write(&report, file)?;
    }
    print!("{}", text::render(&report));
    Ok(if run.interrupted {
        Exit::Interrupted
    } else if report.checks.iter().any(|c| c.failed) {
        Exit::Failed
    } else {
        Exit::Done
    })
}
