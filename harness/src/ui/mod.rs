//! The ui layer: the terminal dashboard, one [`crate::watch::monitor::Monitor`].

pub mod dashboard;
