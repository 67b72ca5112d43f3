//! poolstorm: a locust-like load driver that floods target-app (or any HTTP service) and
//! measures what a starving connection pool does to it.
//!
//! The crate is ten layers, one folder each, lowest first:
//!
//! | layer | what it holds |
//! | --- | --- |
//! | [`base`] | formatting, expressions, parameters, this machine, secrets, the reaper |
//! | [`engine`] | load plans, the driver, what it records, plain GETs, the stub |
//! | [`observe`] | the server's pool and the database, sampled beside the load |
//! | [`verdict`] | the judge: one verdict over the client's, the pool's and the database's view |
//! | [`results`] | the result documents (plain serde types), merged shards, `--fail-if` |
//! | [`export`] | every file written from a document: terminal, JSON, CSV, HTML, JUnit, ... |
//! | [`watch`] | what a run reports to while it goes: the `Monitor` trait, progress lines |
//! | [`run`] | scenarios, services and databases per cell, experiments, advice |
//! | [`ui`] | the terminal dashboard |
//! | [`cli`] | flags, and one module per subcommand |
//!
//! Data flow of `poolstorm load`: [`cli`] (flags) -> [`cli::commands`] (a validated
//! [`engine::load::LoadPlan`]) -> [`engine::driver`] (worker threads sending requests, recording
//! locally) -> [`engine::metrics`] (timeline, stalls, totals) -> [`verdict`] (with the server's
//! pool from [`observe`]) -> [`results::LoadReport`] -> [`results::gate`] (`--fail-if`) ->
//! [`export`] -> exit status. `poolstorm run` wraps the same path in [`run::experiment`]: per
//! [`run::scenario`] cell a database, a target, the load, the verdict and the rules.

// The modules in layers, one folder each, lowest first. A layer names its own modules and
// the layers below it, never one above: `scripts/module-cycles.py` (in `make lint` and CI)
// holds the table of which layer may name which, and fails on any other edge or a cycle.
pub mod base;
pub mod cli;
pub mod engine;
pub mod export;
pub mod observe;
pub mod results;
pub mod run;
pub mod ui;
pub mod verdict;
pub mod watch;

use base::redact;
use base::{error, reaper};
use cli::commands::{self, Exit, Failure};
use cli::{Cli, Command};

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
                    eprintln!("poolstorm: error: {}", redact::urls(&error::chain(err)));
                }
                Failure::NotRun(err) => {
                    let message = redact::urls(&error::chain(err.as_ref()));
                    eprintln!("poolstorm: the run could not be carried out: {message}");
                }
            }
            failure.exit().code()
        }
    }
}
