//! What the service shows about itself: `/health`, the pool snapshot at `/debug/pool` (the
//! contract's [`Snapshot`]), and the same numbers in Prometheus text format at `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use contract::snapshot::{
    ConfigSnapshot, RequestsSnapshot, RouteSnapshot, Snapshot, TeardownSnapshot,
};

use crate::exposition;
use crate::state::App;

/// Reads every gauge now.
pub(super) fn take(app: &App) -> Snapshot {
    let c = &app.config;
    Snapshot {
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
                    cm: r.cm.load(Ordering::SeqCst),
                    requests: r.by_status(),
                };
                (path.to_owned(), route)
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
            query_delay_ms: c.query_delay_ms,
            cm: c.id_strategy.cm(),
            database: c
                .database_url
                .as_ref()
                .map(|u| u.redacted())
                .unwrap_or_default(),
        },
    }
}

/// `GET /health`: answers without touching the pool, so it stays up while the pool is stuck.
pub(super) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /debug/pool`.
pub(super) async fn debug_pool(State(app): State<Arc<App>>) -> Json<Snapshot> {
    Json(take(&app))
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub(super) async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let text = exposition::render(take(&app), app.db.acquire_wait());
    ([(header::CONTENT_TYPE, exposition::CONTENT_TYPE)], text)
}
