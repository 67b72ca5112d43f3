//! Mode 1 on both engines: the shared-teardown deadlock, its timeout form, and the three fixes.

use std::time::Duration;

use crate::support::{Backend, Call, Load, RunningApp, num, wait_for_snapshot, wait_until};

const DEPENDENCY: &str = "/mode1/dependency";
const SECONDS: fn(u64) -> Duration = Duration::from_secs;

/// threads 8, pool 4: fastapi#3205's reproduction (pool 4, wait forever), with 8 threads.
fn mode1_flags(acquire_timeout: &str, teardown: &str) -> String {
    format!(
        "--threads 8 --pool-max 4 --hold-ms 1000 --acquire-timeout {acquire_timeout} --teardown {teardown}"
    )
}

/// Every thread busy, waiters on both pools, and every connection parked in a teardown that
/// is queued behind them: nothing can move any more.
fn is_stuck(s: &serde_json::Value) -> bool {
    num(s, "pool.in_use") == num(s, "pool.max")
        && num(s, "pool.waiting") > 0
        && num(s, "blocking.busy") == num(s, "blocking.threads")
        && num(s, "blocking.queued") > 0
        && num(s, "teardown.pending") >= num(s, "pool.max")
}

async fn shared_teardown_deadlocks_with_every_thread_waiting_for_a_connection(backend: Backend) {
    let db = backend.fresh_db("m1_deadlock").await;
    let app = RunningApp::start(&db, &mode1_flags("none", "shared")).await;
    let load = Load::once(&app, 32, Call::get(DEPENDENCY), SECONDS(60));

    let stuck = wait_for_snapshot(&app, SECONDS(5), is_stuck).await;
    // Answers the handlers sent before parking their connections may still be on the wire:
    // wait until the clients have every answer the server counted as sent.
    let answered = stuck["routes"][DEPENDENCY]["requests"]["200"]
        .as_u64()
        .unwrap_or(0);
    let before = wait_until(SECONDS(5), async || {
        let done = load.tally().completed();
        if done >= answered {
            Ok(done)
        } else {
            Err(format!("{done} of {answered} answers arrived"))
        }
    })
    .await;
    let window_end = tokio::time::Instant::now() + SECONDS(3);
    while tokio::time::Instant::now() < window_end {
        let s = app.snapshot().await;
        assert!(is_stuck(&s), "the pool came unstuck: {s:#}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let tally = load.abort();
    assert_eq!(
        tally.completed(),
        before,
        "a request completed inside the 3 s window: {tally:?}"
    );
    assert!(
        tally.completed() <= 4,
        "only the first pool-full can answer: {tally:?}"
    );
    assert_eq!(num(&stuck, "pool.in_use"), 4);
    assert_eq!(num(&stuck, "blocking.busy"), 8);
    assert_eq!(num(&stuck, "pool.acquire_timeouts"), 0);
}

async fn a_finite_acquire_timeout_turns_the_deadlock_into_pool_timeouts(backend: Backend) {
    let db = backend.fresh_db("m1_timeout").await;
    let app = RunningApp::start(&db, &mode1_flags("1", "shared")).await;
    let tally = Load::once(&app, 32, Call::get(DEPENDENCY), SECONDS(60))
        .finish(SECONDS(60))
        .await;
    assert_eq!(tally.completed(), 32, "{tally:?}");
    assert!(tally.status(503) > 0, "expected 503s: {tally:?}");
    assert_eq!(tally.status(503), tally.error("pool_timeout"), "{tally:?}");
    assert_eq!(tally.status(200) + tally.status(503), 32, "{tally:?}");
    assert!(num(&app.snapshot().await, "pool.acquire_timeouts") >= tally.status(503));
}

async fn every_request_succeeds(backend: Backend, db_name: &str, teardown: &str, path: &str) {
    let db = backend.fresh_db(db_name).await;
    let app = RunningApp::start(&db, &mode1_flags("none", teardown)).await;
    let call = Call::get(&format!("{path}?hold_ms=200"));
    let tally = Load::once(&app, 32, call, SECONDS(30))
        .finish(SECONDS(40))
        .await;
    assert_eq!(tally.status(200), 32, "{tally:?}");
    let s = app.snapshot().await;
    assert_eq!(num(&s, "pool.acquire_timeouts"), 0);
    assert_eq!(num(&s, &format!("routes.{path}.max_connections_held")), 1);
}

async fn separate_teardown_limiter_serves_every_request(backend: Backend) {
    every_request_succeeds(backend, "m1_separate", "separate", DEPENDENCY).await;
}

async fn inline_teardown_serves_every_request(backend: Backend) {
    every_request_succeeds(backend, "m1_inline", "inline", DEPENDENCY).await;
}

async fn async_handler_serves_every_request(backend: Backend) {
    every_request_succeeds(backend, "m1_async", "shared", "/mode1/async").await;
}

async fn session_per_operation_serves_every_request(backend: Backend) {
    every_request_succeeds(backend, "m1_per_op", "shared", "/mode1/per-operation").await;
}

crate::on_every_engine!(
    shared_teardown_deadlocks_with_every_thread_waiting_for_a_connection,
    a_finite_acquire_timeout_turns_the_deadlock_into_pool_timeouts,
    separate_teardown_limiter_serves_every_request,
    inline_teardown_serves_every_request,
    async_handler_serves_every_request,
    session_per_operation_serves_every_request,
);
