//! poolstorm's integration tests: the driver in-process and the binary as a child process,
//! against the programmable stub on port 0 over real loopback HTTP.
//!
//! Two tiers. Plain `cargo test` runs what needs only Rust: the stub, SQLite, target-app and
//! poolstorm as child processes. The feature `interop` (`make test` turns it on, after
//! `scripts/test-deps.sh` has installed what it needs) adds the tests that need outside parts:
//! a MariaDB server, a Docker engine, Java's HdrHistogram tools, Chromium, nginx, tmux and
//! Python virtual environments. Those fail, naming what is missing; none is skipped.

mod support;

mod advise;
mod cli;
mod commands;
#[cfg(feature = "interop")]
mod containers;
#[cfg(feature = "interop")]
mod dashboard;
mod docs;
mod faults;
mod files;
mod golden;
#[cfg(feature = "interop")]
mod html;
#[cfg(feature = "interop")]
mod k8s;
#[cfg(feature = "interop")]
mod nginx;
mod outcomes;
mod pacing;
mod presets;
mod scenarios;
#[cfg(feature = "interop")]
mod secrets;
mod shards;
mod tls;
