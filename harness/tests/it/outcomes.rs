//! Outcomes are counted apart and exactly: ok, HTTP statuses, pool timeouts, timeouts,
//! connection errors; weighted tasks share the requests.

use harness::engine::metrics::{Kind, OutcomeKey};
use std::time::Duration;

use harness::engine::stub::Stub;

use tokio_util::sync::CancellationToken;

use crate::support::{load, load_argv, load_with};

async fn stub() -> Stub {
    Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_kind_is_counted_exactly() {
    let stub = stub().await;
    let url = stub.url();
    let cases = [
        ("/ok", 120, "ok"),
        ("/status?code=500", 50, "http_500"),
        ("/status?code=404", 30, "http_404"),
        ("/pool-timeout", 40, "pool_timeout"),
    ];
    for (path, n, outcome) in cases {
        let (r, _) = load(&format!("{url}{path} --users 8 --requests {n}")).await;
        assert_eq!(r.requests.total, n, "{path}: {:?}", r.outcomes);
        let key: OutcomeKey = outcome.parse().unwrap();
        assert_eq!(r.outcome(key), n, "{path}: {:?}", r.outcomes);
        assert_eq!(
            r.outcomes.iter().map(|(_, n)| n).sum::<u64>(),
            n,
            "{path}: nothing else: {:?}",
            r.outcomes
        );
    }
    assert_eq!(
        stub.requests(),
        240,
        "every request reached the server once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_an_answer_count_as_timeouts() {
    let stub = stub().await;
    let (r, took) = load(&format!(
        "{}/hang --users 4 --requests 8 --timeout 300ms",
        stub.url()
    ))
    .await;
    assert_eq!(r.outcome(Kind::Timeout), 8, "{:?}", r.outcomes);
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_secs(3),
        "took {took:?}"
    );
    assert!(
        r.latency_us.min >= 300_000,
        "a timeout's latency is its full wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_connect_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let (r, _) = load(&format!("http://{addr}/ --users 2 --requests 10")).await;
    assert_eq!(r.outcome(Kind::Connect), 10, "{:?}", r.outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_tasks_share_the_requests_by_weight() {
    let stub = stub().await;
    let url = stub.url();
    let args = load_argv(&[
        &url,
        "--users",
        "4",
        "--requests",
        "4000",
        "--seed",
        "11",
        "--task",
        "GET /ok weight=3",
        "--task",
        "GET /status?code=503 weight=1 name=failing",
    ]);
    let (r, _) = load_with(&args, CancellationToken::new()).await;
    assert_eq!(r.tasks.len(), 2);
    assert_eq!(r.tasks[0].requests + r.tasks[1].requests, 4000);
    assert_eq!(r.tasks[1].name, "failing");
    assert_eq!(
        r.tasks[1].outcomes.get(OutcomeKey::http(503)),
        r.tasks[1].requests
    );
    let share = r.tasks[0].requests as f64 / 4000.0;
    assert!(
        (share - 0.75).abs() < 0.03,
        "share of the weight-3 task: {share}"
    );
    assert_eq!(r.outcome(OutcomeKey::http(503)) + r.outcome(Kind::Ok), 4000);
}
