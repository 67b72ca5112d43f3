//! `poolstorm run` and `poolstorm validate`: scenario files loaded and checked first (all
//! errors at once, exit 2), then run one after another.

use super::{Exit, Failure, Outcome, UsageError, load::cancel_on_signal};
use crate::cli::{ReportArgs, RunArgs, ScenarioArgs, ValidateArgs};
use crate::export::{comparison, html};
use crate::results::scenario::ScenarioReport;
use crate::run::experiment::{self, RunOptions};
use crate::run::scenario::{self, Backend, Overrides, Scenario};

fn overrides(args: &ScenarioArgs) -> Result<Overrides, UsageError> {
    let mut set = Vec::new();
    for pair in &args.set {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| UsageError::new("--set", format!("`{pair}`: expected KEY=VALUE")))?;
        set.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    let db = args
        .db
        .as_deref()
        .map(Backend::parse)
        .transpose()
        .map_err(|m| UsageError::because("--db", m))?;
    Ok(Overrides {
        set,
        quick: args.quick,
        db,
    })
}

/// Loads every file; all their errors in one message.
pub(super) fn load_all(args: &ScenarioArgs) -> Result<Vec<Scenario>, UsageError> {
    let overrides = overrides(args)?;
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    for file in &args.files {
        match scenario::load(file, &overrides) {
            Ok(s) => loaded.push(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        let each = Each(errors);
        Err(UsageError::with("scenario", format!("\n  {each}"), each))
    }
}

/// Every scenario file's error, a line each.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
struct Each(Vec<scenario::ScenarioError>);

/// Runs `poolstorm validate`.
pub fn validate(args: &ValidateArgs) -> Outcome {
    for s in load_all(&args.scenarios)? {
        println!(
            "ok: {} ({}: {} cells, {} rules)",
            s.path.display(),
            s.name,
            s.cells.len(),
            s.rules.len()
        );
    }
    Ok(Exit::Done)
}

/// Runs `poolstorm run`.
pub async fn run(args: &RunArgs) -> Outcome {
    let scenarios = load_all(&args.scenarios)?;
    let stop = tokio_util::sync::CancellationToken::new();
    cancel_on_signal(&stop);
    let options = RunOptions {
        out: args.output.out.clone(),
        set: args.scenarios.set.clone(),
        quick: args.scenarios.quick,
    };
    let mut monitor = super::monitor(args.output.progress, args.output.no_tui);
    let mut failed = false;
    let mut not_run = false;
    let mut held_back = String::new();
    for scenario in &scenarios {
        if stop.is_cancelled() {
            break;
        }
        match experiment::run_scenario(scenario, &options, &stop, monitor.as_mut()).await {
            Ok((report, dir)) => {
                let table = format!(
                    "{}\n{}\n",
                    comparison::terminal(&report),
                    experiment::results_lines(&dir, &[])
                );
                if monitor.owns_screen() {
                    held_back.push_str(&table);
                } else {
                    print!("{table}");
                }
                failed |= !report.passed;
                not_run |= report.cells.iter().any(|c| c.error.is_some());
            }
            Err(e) => {
                monitor.finish();
                print!("{held_back}");
                // A backend that never came up, or results that cannot be written: the run could
                // not be carried out (exit 3), naming the scenario.
                return Err(Failure::not_run(
                    anyhow::Error::new(e).context(scenario.path.display().to_string()),
                ));
            }
        }
    }
    monitor.finish();
    print!("{held_back}");
    Ok(if stop.is_cancelled() {
        Exit::Interrupted
    } else if not_run {
        // A cell whose target never came up (or whose load could not be carried out) says
        // nothing about its configuration.
        Exit::NotRun
    } else if failed {
        Exit::Failed
    } else {
        Exit::Done
    })
}

/// Runs `poolstorm report`.
pub fn report(args: &ReportArgs) -> Outcome {
    let file = args.file.display().to_string();
    let report =
        ScenarioReport::read(&args.file).map_err(|e| UsageError::new(&file, e.to_string()))?;
    if !args.html {
        print!("{}", comparison::terminal(&report));
        return Ok(Exit::Done);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.file.with_file_name("report.html"));
    std::fs::write(&out, html::render(&report))
        .map_err(|e| UsageError::new("--out", format!("{}: {e}", out.display())))?;
    println!("{}", out.display());
    Ok(Exit::Done)
}
