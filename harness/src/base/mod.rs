//! The base layer: formatting, expressions, parameters, this machine, secrets, the reaper.
//! It names nothing of poolstorm above it.

pub mod error;
pub mod expr;
pub mod human;
pub mod local;
pub mod param;
pub mod poll;
pub mod reaper;
pub mod redact;
