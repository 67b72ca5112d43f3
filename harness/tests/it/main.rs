//! poolstorm's integration tests: the driver in-process and the binary as a child process,
//! against the programmable stub on port 0 over real loopback HTTP.

mod support;

mod advise;
mod cli;
mod commands;
mod containers;
mod dashboard;
mod docs;
mod faults;
mod files;
mod html;
mod k8s;
mod nginx;
mod outcomes;
mod pacing;
mod presets;
mod scenarios;
mod secrets;
mod shards;
mod tls;
