//! poolstorm: a locust-like load driver that floods target-app (or any HTTP service) and
//! measures what a starving connection pool does to it.
//!
//! Data flow: [`cli`] (flags) -> [`commands`] (validated [`load::LoadPlan`]) -> [`driver`]
//! (worker threads sending requests, recording locally) -> [`metrics`] (collector: timeline,
//! stalls, totals) -> [`verdict`] (the client's view and the server's pool from [`observe`])
//! -> [`report`] (terminal, JSON, CSV, interval log) -> [`gate`] (`--fail-if`) -> exit status.
//! `poolstorm run` wraps the same path in [`experiment`]: per [`scenario`] cell a database,
//! a target, the load, the verdict and the rules.

// The modules in layers, lowest first. A module names modules of its own layer and of the
// layers below it, never one above: `scripts/module-cycles.py` (in `make lint` and CI) reads
// these lines and fails on an edge that points up, or on a cycle.

// layer: base (formatting, expressions, parameters, this machine, secrets)
pub mod expr;
pub mod human;
pub mod local;
pub mod param;
pub mod reaper;
pub mod redact;

// layer: engine (load plans, the driver, what it records, the stub it is tested against)
pub mod driver;
pub mod fetch;
pub mod load;
pub mod metrics;
pub mod stub;

// layer: observe (the server's pool and the database, sampled beside the load)
pub mod observe;

// layer: judge (one verdict engine over the client's, the pool's and the database's view)
pub mod verdict;

// layer: report (the result documents, `--fail-if`, merged shards, every renderer)
pub mod gate;
pub mod merge;
pub mod report;

// layer: watch (what a run reports to while it goes: the Monitor trait, progress lines)
pub mod monitor;
pub mod progress;

// layer: run (scenarios, services and databases per cell, experiments, advice)
pub mod advise;
pub mod app;
pub mod database;
pub mod experiment;
pub mod scenario;
pub mod service;

// layer: ui (the terminal dashboard)
pub mod dashboard;

// layer: cli (flags and one module per subcommand)
pub mod cli;
pub mod commands;

use cli::{Cli, Command};
use commands::{Exit, Failure};

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
        Err(failure) => {
            match &failure {
                Failure::Usage(err) => {
                    eprintln!("poolstorm: error: {}", redact::urls(&err.to_string()));
                }
                Failure::NotRun(err) => {
                    let message = redact::urls(&format!("{err:#}"));
                    eprintln!("poolstorm: the run could not be carried out: {message}");
                }
            }
            failure.exit().code()
        }
    }
}
