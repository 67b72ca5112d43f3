//! One module per subcommand; each turns its flags into work and returns an [`Exit`].

pub mod load;
pub mod scenarios;
pub mod stub;

/// How the program ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything ran and every condition passed.
    Done,
    /// A `--fail-if` condition (or an expectation) held.
    Failed,
    /// Bad input: flags, files, URLs.
    Usage,
    /// SIGINT or SIGTERM ended the run early.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

/// Bad input, naming the flag (or file, or field) it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct UsageError {
    pub flag: String,
    pub message: String,
}

impl UsageError {
    pub fn new(flag: &str, message: impl Into<String>) -> Self {
        Self {
            flag: flag.to_owned(),
            message: message.into(),
        }
    }
}
