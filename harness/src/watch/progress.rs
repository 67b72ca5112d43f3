//! Live progress on stderr: one redrawn line on a terminal, a plain line a second otherwise
//! (CI logs), or nothing.

use std::io::{IsTerminal as _, Write as _};
use std::time::Duration;

use crate::base::human::{count, short};
use crate::engine::metrics::{Kind, Live};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A redrawn line on a terminal, plain lines otherwise.
    Auto,
    /// A line redrawn in place.
    Line,
    /// A new line every second.
    Plain,
    /// Nothing.
    None,
}

/// Draws progress.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    total: Option<Duration>,
    next_plain: Duration,
    drawn: bool,
    label: String,
}

impl Progress {
    /// `total` is the planned duration, shown as `elapsed/total`.
    pub fn new(mode: ProgressMode, total: Option<Duration>) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Line,
            ProgressMode::Auto => ProgressMode::Plain,
            other => other,
        };
        Self {
            mode,
            total,
            next_plain: Duration::from_secs(1),
            drawn: false,
            label: String::new(),
        }
    }

    /// Puts `label` (a scenario cell, say) in front of every line.
    pub fn with_label(mut self, label: String) -> Self {
        self.label = label;
        self
    }

    /// The progress text for a moment of the run.
    pub fn line(&self, live: &Live) -> String {
        let elapsed = match self.total {
            Some(total) => format!("{}/{}", short(live.elapsed), short(total)),
            None => short(live.elapsed),
        };
        let ok = live.count(Kind::Ok);
        let timeouts = live.count(Kind::Timeout);
        let errors = live.completed() - ok - live.count(Kind::Aborted) - timeouts;
        let mut text = format!(
            "{}{elapsed:>13}  {:>9.0} req/s  ok {}  errors {}  timeouts {}  in flight {}",
            self.label,
            live.recent_rps,
            count(ok),
            count(errors),
            count(timeouts),
            count(live.in_flight)
        );
        if live.dropped > 0 {
            text.push_str(&format!("  dropped {}", count(live.dropped)));
        }
        if let Some(quiet) = live.stalled_for {
            text.push_str(&format!(
                "  STALLED for {} with {} in flight",
                short(quiet),
                live.in_flight
            ));
        }
        text
    }

    /// Shows the run so far.
    pub fn update(&mut self, live: &Live) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            ProgressMode::Line => {
                let _ = write!(err, "\r\x1b[2K{}", self.line(live));
                let _ = err.flush();
                self.drawn = true;
            }
            ProgressMode::Plain if live.elapsed >= self.next_plain => {
                let _ = writeln!(err, "{}", self.line(live));
                self.next_plain = live.elapsed + Duration::from_secs(1);
            }
            _ => {}
        }
    }

    /// Ends the redrawn line.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}
