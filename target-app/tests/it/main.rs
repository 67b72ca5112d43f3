//! target-app's integration tests: the binary as a child process, real HTTP over loopback,
//! real SQLite files, and in the `interop` tier a real MariaDB and a real PostgreSQL server (see
//! `support::MYSQL_URL_VAR`, `support::POSTGRES_URL_VAR`).

mod support;

mod cli;
mod mode1;
mod mode2;
mod observe;
#[cfg(feature = "interop")]
mod postgres;
