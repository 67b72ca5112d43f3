//! The engine layer: load plans ([`load`]), the driver that sends them ([`driver`]), what it
//! records ([`metrics`]), the harness's own plain GETs ([`fetch`]) and the stub it is tested
//! and benchmarked against ([`stub`]).

pub mod driver;
pub mod fetch;
pub mod load;
pub mod metrics;
pub mod stub;
