//! What watches a run while it goes: the [`Monitor`] trait that `poolstorm load` and
//! `poolstorm run` hand every update to, and its plain form, progress lines ([`Lines`]). The
//! terminal dashboard is the other implementation.

use std::time::Duration;

use crate::engine::metrics::Live;
use crate::observe::PoolState;
use crate::observe::database::DbReport;
use crate::verdict::{Judgement, Thresholds};
use crate::watch::progress::{Progress, ProgressMode};

/// Receives a run's life: each part (a scenario cell, or the one load) starting, live updates
/// about four times a second, and each part's verdict.
pub trait Monitor: Send {
    /// A part begins: `title` names it, `total` is its planned duration.
    fn start(&mut self, title: &str, total: Option<Duration>, thresholds: Thresholds);
    /// The run so far, with the server's pool so far (`None` without a pool view) and
    /// poolstorm's own view of the database (`None` when it does not watch one).
    fn update(&mut self, live: &Live, pool: Option<&PoolState>, database: Option<&DbReport>);
    /// The part's final verdict.
    fn verdict(&mut self, judgement: &Judgement);
    /// How long the caller should leave the verdict on screen before the next part.
    fn linger(&self) -> Duration {
        Duration::ZERO
    }
    /// The run is over: leave the terminal as it was.
    fn finish(&mut self);
    /// Whether it owns the screen (then other output waits for [`Monitor::finish`]).
    fn owns_screen(&self) -> bool {
        false
    }
}

/// Progress lines ([`Progress`]) per part, and the verdict as a line.
#[derive(Debug)]
pub struct Lines {
    mode: ProgressMode,
    progress: Option<Progress>,
}

impl Lines {
    pub fn new(mode: ProgressMode) -> Self {
        Self {
            mode,
            progress: None,
        }
    }
}

impl Monitor for Lines {
    fn start(&mut self, title: &str, total: Option<Duration>, _: Thresholds) {
        let label = if title.is_empty() {
            String::new()
        } else {
            format!("{title} ")
        };
        self.progress = Some(Progress::new(self.mode, total).with_label(label));
    }

    fn update(&mut self, live: &Live, _: Option<&PoolState>, _: Option<&DbReport>) {
        if let Some(p) = &mut self.progress {
            p.update(live);
        }
    }

    fn verdict(&mut self, _: &Judgement) {
        if let Some(p) = &mut self.progress {
            p.finish();
        }
    }

    fn finish(&mut self) {
        if let Some(p) = &mut self.progress {
            p.finish();
        }
    }
}
