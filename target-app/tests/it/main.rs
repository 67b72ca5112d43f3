//! target-app's integration tests: the binary as a child process, real HTTP over loopback,
//! real SQLite files and a real MariaDB server (see `support::MYSQL_URL_VAR`).

mod support;

mod cli;
mod mode1;
mod mode2;
mod observe;
