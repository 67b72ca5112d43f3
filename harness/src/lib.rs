//! poolstorm: a locust-like load driver that floods target-app (or any HTTP service) and
//! measures what a starving connection pool does to it.
//!
//! Data flow: [`cli`] (flags) -> [`commands`] (validated [`load::LoadPlan`]) -> [`driver`]
//! (worker threads sending requests, recording locally) -> [`metrics`] (collector: timeline,
//! stalls, totals) -> [`verdict`] (the client's view and the server's pool from [`observe`])
//! -> [`report`] (terminal, JSON, CSV, interval log) -> [`gate`] (`--fail-if`) -> exit status.
//! `poolstorm run` wraps the same path in [`experiment`]: per [`scenario`] cell a database,
//! a target, the load, the verdict and the rules.

pub mod advise;
pub mod app;
pub mod cli;
pub mod commands;
pub mod dashboard;
pub mod database;
pub mod driver;
pub mod experiment;
pub mod expr;
pub mod fetch;
pub mod gate;
pub mod human;
pub mod load;
pub mod local;
pub mod merge;
pub mod metrics;
pub mod monitor;
pub mod observe;
pub mod param;
pub mod progress;
pub mod reaper;
pub mod redact;
pub mod report;
pub mod scenario;
pub mod service;
pub mod stub;
pub mod verdict;

use cli::{Cli, Command};
use commands::{Exit, UsageError};

/// Runs a parsed command line to its exit status, printing errors to stderr.
pub fn run(cli: &Cli) -> u8 {
    let threads = match &cli.command {
        Command::Reap => {
            reaper::reap(std::io::stdin().lock());
            return Exit::Done.code();
        }
        Command::Stub(args) => args.threads.max(1),
        Command::Load(_)
        | Command::Merge(_)
        | Command::Run(_)
        | Command::Advise(_)
        | Command::Validate(_)
        | Command::Report(_) => 2,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("poolstorm: cannot start the runtime: {err}");
            return Exit::NotRun.code();
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Load(args) => commands::load::execute(args).await,
            Command::Merge(args) => commands::merge::execute(args),
            Command::Run(args) => commands::scenarios::run(args).await,
            Command::Advise(args) => commands::advise::execute(args).await,
            Command::Validate(args) => commands::scenarios::validate(args),
            Command::Report(args) => commands::scenarios::report(args),
            Command::Stub(args) => commands::stub::execute(args).await,
            Command::Reap => unreachable!("reap runs without a runtime, above"),
        }
    });
    match result {
        Ok(exit) => exit.code(),
        Err(err) if err.is::<UsageError>() => {
            eprintln!("poolstorm: error: {}", redact::urls(&err.to_string()));
            Exit::Usage.code()
        }
        Err(err) => {
            let message = redact::urls(&format!("{err:#}"));
            eprintln!("poolstorm: the run could not be carried out: {message}");
            Exit::NotRun.code()
        }
    }
}
