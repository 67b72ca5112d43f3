//! The document target-app serves at `GET /debug/pool`: its pool, its bounded blocking pool,
//! mode 1's teardowns, requests in flight, per-route counts and the settings that shape the
//! experiment. target-app fills it in; poolstorm samples it four times a second.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::app::{Engine, IdStrategy, Teardown};

/// `GET /debug/pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub uptime_ms: u64,
    pub engine: Engine,
    pub pool: PoolSnapshot,
    /// The bounded blocking pool of `--threads` jobs.
    pub blocking: Gauges,
    pub teardown: TeardownSnapshot,
    pub requests: RequestsSnapshot,
    pub routes: BTreeMap<String, RouteSnapshot>,
    pub config: ConfigSnapshot,
}

/// The connection pool now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSnapshot {
    pub max: u32,
    pub min: u32,
    /// Connections open now, in use or idle.
    pub open: u32,
    pub idle: u32,
    pub in_use: u32,
    /// Callers waiting for a connection now.
    pub waiting: u64,
    pub acquire_timeouts: u64,
    /// `null` when acquiring waits forever.
    pub acquire_timeout_ms: Option<u64>,
}

/// A bounded pool of jobs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gauges {
    /// Jobs allowed to run at once (`null` when unbounded).
    pub threads: Option<u64>,
    /// Jobs running now (each holds a permit and a thread).
    pub busy: u64,
    /// Jobs waiting for a permit.
    pub queued: u64,
}

/// Mode 1's teardown jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownSnapshot {
    pub mode: Teardown,
    /// Teardown jobs submitted and not yet finished (each may hold a connection).
    pub pending: u64,
    /// The separate teardown limiter (busy only with `--teardown separate`).
    pub separate: Gauges,
}

/// Requests overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestsSnapshot {
    pub in_flight: u64,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSnapshot {
    pub in_flight: u64,
    /// Cm observed: the most connections one request of this route held at once so far
    /// (named on the wire, and in the `target_app_route_max_connections_held` gauge, for
    /// what it counts).
    #[serde(rename = "max_connections_held")]
    pub cm: u32,
    /// Finished requests by HTTP status.
    pub requests: BTreeMap<u16, u64>,
}

/// The settings that shape the experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSnapshot {
    pub threads: u32,
    pub pool_max: u32,
    pub pool_min: u32,
    /// `null` when acquiring waits forever.
    pub acquire_timeout_ms: Option<u64>,
    pub teardown: Teardown,
    pub hold_ms: u64,
    pub id_strategy: IdStrategy,
    pub id_block: u32,
    pub work_ms: u64,
    /// The server-side sleep every checkout runs first (fault injection); 0 is none.
    #[serde(default)]
    pub query_delay_ms: u64,
    /// Cm of the configured id strategy, for the pool-sizing formula Tn x (Cm - 1) + 1.
    #[serde(rename = "id_strategy_connections")]
    pub cm: u32,
    /// The database URL with any password replaced by `***`.
    pub database: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_through_json_with_status_keys_as_strings() {
        let snapshot = Snapshot {
            uptime_ms: 4143,
            engine: Engine::Sqlite,
            pool: PoolSnapshot {
                max: 4,
                min: 0,
                open: 4,
                idle: 0,
                in_use: 4,
                waiting: 8,
                acquire_timeouts: 0,
                acquire_timeout_ms: None,
            },
            blocking: Gauges {
                threads: Some(8),
                busy: 8,
                queued: 24,
            },
            teardown: TeardownSnapshot {
                mode: Teardown::Shared,
                pending: 4,
                separate: Gauges {
                    threads: None,
                    busy: 0,
                    queued: 0,
                },
            },
            requests: RequestsSnapshot { in_flight: 29 },
            routes: BTreeMap::from([(
                "/mode1/dependency".to_owned(),
                RouteSnapshot {
                    in_flight: 28,
                    cm: 1,
                    requests: BTreeMap::from([(200, 4)]),
                },
            )]),
            config: ConfigSnapshot {
                threads: 8,
                pool_max: 4,
                pool_min: 0,
                acquire_timeout_ms: None,
                teardown: Teardown::Shared,
                hold_ms: 1000,
                id_strategy: IdStrategy::Table,
                id_block: 1000,
                work_ms: 0,
                query_delay_ms: 0,
                cm: 2,
                database: "sqlite:///tmp/x.db".to_owned(),
            },
        };
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["routes"]["/mode1/dependency"]["requests"]["200"], 4);
        assert_eq!(json["teardown"]["mode"], "shared");
        assert_eq!(json["pool"]["acquire_timeout_ms"], serde_json::Value::Null);
        let back: Snapshot = serde_json::from_value(json).unwrap();
        assert_eq!(back, snapshot);
    }
}
