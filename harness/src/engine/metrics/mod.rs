//! Measuring: outcomes, latency histograms, worker-local recording, the collector that merges
//! it, stall detection, and what a finished run hands back ([`RunOutput`]).

mod collector;
mod histogram;
mod outcome;
mod recorder;
mod run;
mod stall;

pub use collector::{Collected, Collector, IntervalSink, Live, RECENT_SECONDS, Second};
pub use histogram::{HistogramError, Latency, SIGFIGS, Summary};
pub use outcome::{Families, Family, Kind, Outcome, OutcomeKey, Outcomes, StatusCounts};
pub use recorder::{
    ConnectionTotals, KindCounts, Recorder, Report, TICK, TICKS_PER_SECOND, TaskTotals, TickCounts,
};
pub use run::{Panicked, RunOutput, WorkerPanic};
pub use stall::{Stall, find_stalls};
