//! Why a cell could not be run, or a command target's program is not there: each keeps the
//! error it came from, and the cell's report says it in words (`base::error::chain`).

use crate::engine::driver::{DriverError, Panicked};
use crate::engine::load::{SettingsError, TargetError, TaskError};
use crate::run::app::AppError;
use crate::run::database::DatabaseError;
use crate::run::service::StartError;

/// Why a cell did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum CellError {
    #[error("a target poolstorm starts needs a database backend")]
    NoBackend,
    #[error("target-app was not found")]
    NoBinary,
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error("no free port: {0}")]
    Port(#[source] std::io::Error),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// A command target's `url`, rendered for the cell, is not a URL.
    #[error("target.url: {0}")]
    CommandUrl(#[source] TargetError),
    /// The URL the load is sent to.
    #[error(transparent)]
    Url(TargetError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error(transparent)]
    Panicked(#[from] Panicked),
}

/// Why a command target's program cannot be started, with how to make it when the scenario
/// says (`target.setup`).
#[derive(Debug, thiserror::Error)]
#[error("the command target's program {problem}{}", .setup.as_ref().map(|s| format!("; make it with `{s}` (target.setup)")).unwrap_or_default())]
pub struct MissingProgram {
    pub problem: Problem,
    pub setup: Option<String>,
}

/// What is wrong with the program.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{0} does not exist")]
    Missing(String),
    #[error("`{0}` is not on PATH")]
    NotOnPath(String),
    #[error("{0} is not an executable file")]
    NotExecutable(String),
    #[error("{path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
