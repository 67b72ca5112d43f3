//! What watches a run while it goes: plain progress lines, or the live terminal dashboard.
//! `poolstorm load` and `poolstorm run` hand every update to one [`Monitor`], chosen once.

use std::io::IsTerminal as _;
use std::time::Duration;

use crate::metrics::Live;
use crate::progress::{Progress, ProgressMode};
use crate::verdict::{Judgement, PoolSample, Thresholds};

/// Receives a run's life: each part (a scenario cell, or the one load) starting, live updates
/// about four times a second, and each part's verdict.
pub trait Monitor: Send {
    /// A part begins: `title` names it, `total` is its planned duration.
    fn start(&mut self, title: &str, total: Option<Duration>, thresholds: Thresholds);
    /// The run so far, with the server's latest pool sample when there is one.
    fn update(&mut self, live: &Live, sample: Option<&PoolSample>);
    /// The part's final verdict.
    fn verdict(&mut self, judgement: &Judgement);
    /// The run is over: leave the terminal as it was.
    fn finish(&mut self);
    /// Whether it owns the screen (then other output waits for [`Monitor::finish`]).
    fn owns_screen(&self) -> bool {
        false
    }
}

/// The dashboard on a terminal (unless `no_tui`), progress lines otherwise.
pub fn choose(mode: ProgressMode, no_tui: bool) -> Box<dyn Monitor> {
    let terminal = std::io::stderr().is_terminal();
    if !no_tui && mode == ProgressMode::Auto && terminal {
        match crate::dashboard::Dashboard::new() {
            Ok(dashboard) => return Box::new(dashboard),
            Err(err) => eprintln!("poolstorm: no dashboard ({err}); plain progress instead"),
        }
    }
    Box::new(Lines {
        mode,
        progress: None,
    })
}

/// Progress lines ([`Progress`]) per part, and the verdict as a line.
struct Lines {
    mode: ProgressMode,
    progress: Option<Progress>,
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

    fn update(&mut self, live: &Live, _: Option<&PoolSample>) {
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
