//! One module per subcommand; each turns its flags into work and returns an [`Exit`]. Also
//! where the live view is chosen: the dashboard on a terminal, progress lines otherwise.

pub mod advise;
pub mod load;
pub mod merge;
pub mod outputs;
pub mod scenarios;
pub mod stub;

use std::io::IsTerminal as _;

use crate::ui::dashboard::Dashboard;
use crate::watch::monitor::{Lines, Monitor};
use crate::watch::progress::ProgressMode;

/// How the program ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything ran and every condition passed.
    Done,
    /// A `--fail-if` condition held, or a scenario rule failed.
    Failed,
    /// Bad input: flags, files, URLs.
    Usage,
    /// The run could not be carried out: an I/O error, a thread that would not start, a
    /// database backend or target that never came up.
    NotRun,
    /// SIGINT or SIGTERM ended the run early.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::NotRun => 3,
            Exit::Interrupted => 130,
        }
    }
}

/// Why a command stopped short; its kind is the exit status: bad input (2), or a run that could
/// not be carried out (3). Each keeps its cause for the message.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    NotRun(#[from] anyhow::Error),
}

impl Failure {
    /// A run that could not be carried out, for any error.
    pub fn not_run(error: impl Into<anyhow::Error>) -> Self {
        Failure::NotRun(error.into())
    }

    /// How the program ends.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) => Exit::Usage,
            Failure::NotRun(_) => Exit::NotRun,
        }
    }
}

/// What a subcommand returns.
pub type Outcome = Result<Exit, Failure>;

/// Bad input, naming the flag (or file, or field) it came from, and keeping the error beneath
/// it when there is one.
#[derive(Debug, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct UsageError {
    pub flag: String,
    pub message: String,
    #[source]
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl UsageError {
    pub fn new(flag: &str, message: impl Into<String>) -> Self {
        Self {
            flag: flag.to_owned(),
            message: message.into(),
            cause: None,
        }
    }

    /// `flag` is bad because of `cause`, whose words are the message.
    pub fn because(flag: &str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::with(flag, cause.to_string(), cause)
    }

    /// `flag` is bad, in `message`'s words, because of `cause`.
    pub fn with(
        flag: &str,
        message: String,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            flag: flag.to_owned(),
            message,
            cause: Some(Box::new(cause)),
        }
    }
}

/// The dashboard on a terminal (unless `no_tui`), progress lines otherwise.
pub fn monitor(mode: ProgressMode, no_tui: bool) -> Box<dyn Monitor> {
    let terminal = std::io::stderr().is_terminal();
    if !no_tui && mode == ProgressMode::Auto && terminal {
        match Dashboard::new() {
            Ok(dashboard) => return Box::new(dashboard),
            Err(err) => eprintln!("poolstorm: no dashboard ({err}); plain progress instead"),
        }
    }
    Box::new(Lines::new(mode))
}
