//! target-app: an axum service that reproduces two real connection-pool deadlocks against real
//! databases, and shows its own pool state while it happens.
//!
//! Data flow: [`config`] (flags) -> [`server`] (database, bind, signals) -> [`routes`]
//! (mode 1, mode 2, observation) -> [`blocking`] (the bounded pool the handlers run on) and
//! [`db`] (the sqlx pool, counted) -> [`error`] (stable JSON error codes).

pub mod blocking;
pub mod config;
pub mod db;
pub mod error;
pub mod exposition;
pub mod ids;
pub mod metrics;
pub mod routes;
pub mod server;
pub mod state;

pub use config::Config;
pub use server::serve;
