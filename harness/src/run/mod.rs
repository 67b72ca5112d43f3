//! The run layer: scenarios and their cells, the database and the service each cell gets,
//! experiments over a matrix, and advice.

pub mod advise;
pub mod app;
pub mod database;
pub mod experiment;
pub mod scenario;
pub mod service;
