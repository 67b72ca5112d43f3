//! `poolstorm load`: flags become a validated plan, output files are opened before any load
//! is sent, the run goes with live progress and Ctrl-C handling, then the reports are written
//! and the exit status decided.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{Exit, UsageError};
use crate::cli::LoadArgs;
use crate::driver::{self, Sinks};
use crate::duration::parse_duration;
use crate::expr::Expr;
use crate::gate;
use crate::load::{LoadPlan, Model, Target, TaskSpec, task};
use crate::progress::Progress;
use crate::report::hlog::HlogWriter;
use crate::report::{LoadReport, csv, json, text};

const DEFAULT_USERS: u32 = 10;
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

fn duration_flag(flag: &str, text: &str) -> Result<Duration, UsageError> {
    parse_duration(text).map_err(|m| UsageError::new(flag, m))
}

fn positive(flag: &str, d: Duration) -> Result<Duration, UsageError> {
    if d.is_zero() {
        Err(UsageError::new(flag, "must be more than 0"))
    } else {
        Ok(d)
    }
}

/// `MIN..MAX` or a single value.
fn parse_wait(text: &str) -> Result<(Duration, Duration), UsageError> {
    let (min, max) = text.split_once("..").unwrap_or((text, text));
    let (min, max) = (duration_flag("--wait", min)?, duration_flag("--wait", max)?);
    if min > max {
        return Err(UsageError::new(
            "--wait",
            format!("MIN ({min:?}) is more than MAX ({max:?})"),
        ));
    }
    Ok((min, max))
}

fn model(args: &LoadArgs) -> Result<Model, UsageError> {
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(UsageError::new(
                "--rate",
                "must be a positive number of requests per second",
            ));
        }
        if args.max_in_flight == 0 {
            return Err(UsageError::new("--max-in-flight", "must be at least 1"));
        }
        return Ok(Model::Open {
            rate,
            max_in_flight: args.max_in_flight,
        });
    }
    let users = args.users.unwrap_or(DEFAULT_USERS);
    if users == 0 {
        return Err(UsageError::new("--users", "must be at least 1"));
    }
    if let Some(r) = args.spawn_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(UsageError::new(
            "--spawn-rate",
            format!("must be a positive number of users per second, got {r}"),
        ));
    }
    let wait = args
        .wait
        .as_deref()
        .map(parse_wait)
        .transpose()?
        .unwrap_or_default();
    Ok(Model::Closed {
        users,
        spawn_rate: args.spawn_rate,
        wait,
    })
}

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
    let model = model(args)?;
    let requests = match args.requests {
        Some(0) => return Err(UsageError::new("--requests", "must be at least 1")),
        other => other,
    };
    let duration = match &args.duration {
        Some(text) => Some(positive("--duration", duration_flag("--duration", text)?)?),
        None if requests.is_none() => Some(DEFAULT_DURATION),
        None => None,
    };
    let timeout = positive("--timeout", duration_flag("--timeout", &args.timeout)?)?;
    let stall_window = positive(
        "--stall-window",
        duration_flag("--stall-window", &args.stall_window)?,
    )?;
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let mut workers = args.workers.unwrap_or(cpus);
    if !(1..=256).contains(&workers) {
        return Err(UsageError::new("--workers", "must be from 1 to 256"));
    }
    if let Model::Closed { users, .. } = model {
        workers = workers.min(users as usize);
    }
    Ok(LoadPlan {
        target,
        tasks,
        model,
        duration,
        requests,
        timeout,
        workers,
        stall_window,
        seed: args.seed.unwrap_or_else(|| fastrand::u64(..)),
    })
}

/// Output files, created before the run so a bad path fails first.
struct Outputs {
    json: Option<File>,
    csv: Option<File>,
    hlog: Option<HlogWriter>,
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
                HlogWriter::create(p).map_err(|e| {
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
    let mut progress = Progress::new(args.progress, plan.duration);
    let mut live = |l: &crate::metrics::Live| progress.update(l);
    let sinks = Sinks {
        live: &mut live,
        hlog: outputs.hlog.take(),
    };
    let run = driver::run(&plan, sinks, stop)
        .await
        .map_err(|e| UsageError::new("URL", e.to_string()))?;
    progress.finish();

    let mut report = LoadReport::new(&plan, &run);
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
