//! The router: mode 1 and mode 2 routes, observation routes, and the middleware that counts
//! requests per route and gives each request its connection scope.

mod mode1;
mod mode2;
mod observe;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};

use crate::db::ConnScope;
use crate::state::App;

/// Every route the service serves: its path and handlers, in one table.
fn table() -> [(&'static str, MethodRouter<Arc<App>>); 8] {
    [
        ("/mode1/dependency", get(mode1::dependency)),
        ("/mode1/async", get(mode1::async_handler)),
        ("/mode1/per-operation", get(mode1::per_operation)),
        ("/mode2/messages", post(mode2::create_message)),
        ("/mode2/messages/stats", get(mode2::stats)),
        ("/health", get(observe::health)),
        ("/metrics", get(observe::metrics)),
        ("/debug/pool", get(observe::debug_pool)),
    ]
}

/// Every route path, in the table's order (for the per-route counters).
pub fn paths() -> Vec<&'static str> {
    table().into_iter().map(|(path, _)| path).collect()
}

/// The service's router.
pub fn router(app: Arc<App>) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), track))
        .with_state(app)
}

/// Counts the request in flight overall and for its route, records its status, and hands the
/// handler a [`ConnScope`] that reports the connections it holds to the route.
async fn track(
    State(app): State<Arc<App>>,
    matched: MatchedPath,
    mut request: Request,
    next: Next,
) -> Response {
    let _in_flight = app.registry.in_flight.enter();
    let route = app.registry.route(matched.as_str()).cloned();
    let _route_in_flight = route.as_ref().map(|r| r.in_flight.enter());
    if let Some(route) = &route {
        request
            .extensions_mut()
            .insert(ConnScope::new(Arc::clone(&route.cm)));
    }
    let response = next.run(request).await;
    if let Some(route) = &route {
        route.record(response.status().as_u16());
    }
    response
}

/// Runs a request's work on its own task, so a client that goes away does not cancel it:
/// as in Starlette, the endpoint and its threadpool jobs carry on regardless.
async fn detached<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(err) => panic!("request task did not finish: {err}"),
    }
}
