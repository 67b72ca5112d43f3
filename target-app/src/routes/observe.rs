//! What the service shows about itself: `/health`, the JSON pool snapshot at `/debug/pool`,
//! and the same numbers in Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

use crate::blocking::PoolGauges;
use crate::config::{Engine, IdStrategy, Teardown};
use crate::db::PoolSnapshot;
use crate::metrics::Exposition;
use crate::state::App;

/// The JSON document served at `/debug/pool`.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub uptime_ms: u64,
    pub engine: Engine,
    pub pool: PoolSnapshot,
    /// The bounded blocking pool of `--threads` jobs.
    pub blocking: PoolGauges,
    pub teardown: TeardownSnapshot,
    pub requests: RequestsSnapshot,
    pub routes: BTreeMap<&'static str, RouteSnapshot>,
    pub config: ConfigSnapshot,
}

/// Mode 1's teardown jobs.
#[derive(Debug, Clone, Serialize)]
pub struct TeardownSnapshot {
    pub mode: Teardown,
    /// Teardown jobs submitted and not yet finished (each may hold a connection).
    pub pending: u64,
    /// Gauges of the separate teardown limiter (busy only with `--teardown separate`).
    pub separate: PoolGauges,
}

/// Requests overall.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsSnapshot {
    pub in_flight: u64,
}

/// One route.
#[derive(Debug, Clone, Serialize)]
pub struct RouteSnapshot {
    pub in_flight: u64,
    /// Most connections one request of this route held at once so far (observed Cm).
    pub max_connections_held: u32,
    /// Finished requests by HTTP status.
    pub requests: BTreeMap<u16, u64>,
}

/// The settings that shape the experiment.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigSnapshot {
    pub threads: u32,
    pub pool_max: u32,
    pub pool_min: u32,
    pub acquire_timeout_ms: Option<u64>,
    pub teardown: Teardown,
    pub hold_ms: u64,
    pub id_strategy: IdStrategy,
    pub id_block: u32,
    pub work_ms: u64,
    /// Cm of the configured id strategy, for the pool-sizing formula Tn x (Cm - 1) + 1.
    pub id_strategy_connections: u32,
    pub database: String,
}

impl Snapshot {
    /// Reads every gauge now.
    pub fn take(app: &App) -> Self {
        let c = &app.config;
        Self {
            uptime_ms: u64::try_from(app.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            engine: app.db.engine(),
            pool: app.db.snapshot(),
            blocking: app.workers.gauges(),
            teardown: TeardownSnapshot {
                mode: c.teardown,
                pending: app.teardown_pending.get(),
                separate: app.teardown_pool.gauges(),
            },
            requests: RequestsSnapshot {
                in_flight: app.registry.in_flight.get(),
            },
            routes: app
                .registry
                .routes()
                .map(|(path, r)| {
                    let route = RouteSnapshot {
                        in_flight: r.in_flight.get(),
                        max_connections_held: r.max_connections_held.load(Ordering::SeqCst),
                        requests: r.by_status(),
                    };
                    (path, route)
                })
                .collect(),
            config: ConfigSnapshot {
                threads: c.threads,
                pool_max: c.pool_max,
                pool_min: c.pool_min,
                acquire_timeout_ms: c.acquire_timeout.as_millis(),
                teardown: c.teardown,
                hold_ms: c.hold_ms,
                id_strategy: c.id_strategy,
                id_block: c.id_block,
                work_ms: c.work_ms,
                id_strategy_connections: c.id_strategy.connections_per_request(),
                database: c
                    .database_url
                    .as_ref()
                    .map(|u| u.redacted())
                    .unwrap_or_default(),
            },
        }
    }
}

/// `GET /health`: answers without touching the pool, so it stays up while the pool is stuck.
pub(super) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /debug/pool`.
pub(super) async fn debug_pool(State(app): State<Arc<App>>) -> Json<Snapshot> {
    Json(Snapshot::take(&app))
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub(super) async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let s = Snapshot::take(&app);
    let mut e = Exposition::default();
    e.scalar(
        "gauge",
        "target_app_pool_max_connections",
        "Most connections the pool opens.",
        s.pool.max,
    )
    .scalar(
        "gauge",
        "target_app_pool_open_connections",
        "Connections open now.",
        s.pool.open,
    )
    .scalar(
        "gauge",
        "target_app_pool_idle_connections",
        "Open connections not lent out.",
        s.pool.idle,
    )
    .scalar(
        "gauge",
        "target_app_pool_in_use_connections",
        "Connections lent out now.",
        s.pool.in_use,
    )
    .scalar(
        "gauge",
        "target_app_pool_waiting",
        "Callers waiting for a connection.",
        s.pool.waiting,
    )
    .scalar(
        "counter",
        "target_app_pool_acquire_timeouts_total",
        "Acquires that gave up after the acquire timeout.",
        s.pool.acquire_timeouts,
    )
    .histogram(
        "target_app_pool_acquire_wait_seconds",
        "Time spent waiting for a pooled connection.",
        app.db.acquire_wait(),
    )
    .scalar(
        "gauge",
        "target_app_blocking_threads",
        "Size of the bounded blocking pool.",
        s.config.threads,
    )
    .scalar(
        "gauge",
        "target_app_blocking_busy",
        "Blocking jobs running.",
        s.blocking.busy,
    )
    .scalar(
        "gauge",
        "target_app_blocking_queued",
        "Blocking jobs waiting for a thread.",
        s.blocking.queued,
    )
    .scalar(
        "gauge",
        "target_app_teardown_pending",
        "Mode-1 teardown jobs not finished.",
        s.teardown.pending,
    )
    .scalar(
        "gauge",
        "target_app_requests_in_flight",
        "HTTP requests being served.",
        s.requests.in_flight,
    )
    .family(
        "counter",
        "target_app_requests_total",
        "Finished HTTP requests by route and status.",
        s.routes.iter().flat_map(|(path, r)| {
            r.requests
                .iter()
                .map(move |(status, n)| (format!("route=\"{path}\",status=\"{status}\""), *n))
        }),
    )
    .family(
        "gauge",
        "target_app_route_max_connections_held",
        "Most connections one request of the route held at once (observed Cm).",
        s.routes.iter().map(|(path, r)| {
            (
                format!("route=\"{path}\""),
                u64::from(r.max_connections_held),
            )
        }),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        e.finish(),
    )
}
