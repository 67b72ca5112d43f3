//! The observation routes from outside: health, the JSON pool snapshot and Prometheus text.

use std::time::Duration;

use crate::support::{Backend, Call, Load, RunningApp, num};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_pool_reports_configuration_and_every_gauge() {
    let db = Backend::Sqlite.fresh_db("obs_snapshot").await;
    let app = RunningApp::start(&db, "--threads 3 --pool-max 5 --acquire-timeout none").await;
    let s = app.snapshot().await;
    for path in [
        "pool.max",
        "pool.open",
        "pool.idle",
        "pool.in_use",
        "pool.waiting",
        "pool.acquire_timeouts",
        "blocking.threads",
        "blocking.busy",
        "blocking.queued",
        "requests.in_flight",
        "teardown.pending",
    ] {
        num(&s, path);
    }
    assert_eq!(num(&s, "pool.max"), 5);
    assert_eq!(num(&s, "blocking.threads"), 3);
    assert!(s["pool"]["acquire_timeout_ms"].is_null());
    assert_eq!(s["engine"], "sqlite");
    assert_eq!(
        num(&s, "requests.in_flight"),
        1,
        "the snapshot request itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_pool_gauges_and_requests_by_route_and_status() {
    let db = Backend::Sqlite.fresh_db("obs_metrics").await;
    let app = RunningApp::start(&db, "--pool-max 3").await;
    Load::once(
        &app,
        3,
        Call::get("/mode1/async?hold_ms=0"),
        Duration::from_secs(10),
    )
    .finish(Duration::from_secs(10))
    .await;
    let _ = app.get("/mode1/async?hold_ms=999999").await;
    let r = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    for needle in [
        "target_app_pool_max_connections 3\n",
        "target_app_pool_in_use_connections 0\n",
        "# TYPE target_app_pool_acquire_wait_seconds histogram",
        "target_app_pool_acquire_wait_seconds_count 3\n",
        "target_app_pool_acquire_timeouts_total 0\n",
        "target_app_requests_total{route=\"/mode1/async\",status=\"200\"} 3\n",
        "target_app_requests_total{route=\"/mode1/async\",status=\"400\"} 1\n",
        "target_app_route_max_connections_held{route=\"/mode1/async\"} 1\n",
        "target_app_blocking_threads 40\n",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_the_pool_is_deadlocked() {
    let db = Backend::Sqlite.fresh_db("obs_health").await;
    let app = RunningApp::start(&db, "--threads 2 --pool-max 1 --acquire-timeout none").await;
    let load = Load::once(
        &app,
        6,
        Call::get("/mode1/dependency?hold_ms=50"),
        Duration::from_secs(60),
    );
    crate::support::wait_for_snapshot(&app, Duration::from_secs(5), |s| {
        num(s, "blocking.queued") > 0
    })
    .await;
    assert_eq!(
        app.get("/health").await,
        (200, serde_json::json!({"status": "ok"}))
    );
    load.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_ms_outside_its_range_is_a_bad_request() {
    let db = Backend::Sqlite.fresh_db("obs_hold").await;
    let app = RunningApp::start(&db, "").await;
    for path in [
        "/mode1/dependency?hold_ms=60001",
        "/mode1/async?hold_ms=-1",
        "/mode1/per-operation?hold_ms=x",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["message"].as_str().unwrap().contains("hold_ms"),
            "{path}: {body}"
        );
    }
    let stderr = app.stop_and_read_stderr().await;
    assert!(
        !stderr.contains("panicked"),
        "a bad parameter must be a 400, not a panic: {stderr}"
    );
}
