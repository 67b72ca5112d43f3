//! The watch layer: what a run reports to while it goes, the [`monitor::Monitor`] trait and
//! plain progress lines.

pub mod monitor;
pub mod progress;
