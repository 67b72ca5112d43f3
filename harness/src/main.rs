//! The `poolstorm` binary.

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    ExitCode::from(harness::run(&harness::cli::Cli::parse()))
}
