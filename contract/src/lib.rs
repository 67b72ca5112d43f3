//! The contract between target-app and poolstorm, defined once and used by both programs:
//! the `/debug/pool` document ([`snapshot`]), `/mode2/messages/stats` ([`stats`]), the JSON
//! error bodies and their stable codes
//! ([`error`]), target-app's settings with their ranges and defaults ([`app`]), and the
//! names of its Prometheus metrics ([`metrics`]).
//!
//! Both sides (de)serialize these types with serde, so a field renamed on one side is a
//! compile error on the other, not a silent zero in a verdict.

pub mod app;
pub mod error;
pub mod metrics;
pub mod snapshot;
pub mod stats;

pub use app::{Engine, IdStrategy, Teardown};
pub use error::{ErrorBody, ErrorCode};
pub use snapshot::Snapshot;
pub use stats::MessageStats;
