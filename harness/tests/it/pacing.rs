//! Pacing and time: the open model keeps its rate and measures from the intended start
//! (coordinated omission shows), stalls are found with their onset, and a run never outlives
//! its duration plus one timeout, whatever the target does.

use harness::engine::metrics::Kind;
use std::time::Duration;

use harness::engine::stub::{Stub, blackhole};

use crate::support::load;

async fn stub() -> Stub {
    Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_achieves_its_rate_within_two_percent() {
    let stub = stub().await;
    let (r, _) = load(&format!("{}/ok --rate 200 --duration 5s", stub.url())).await;
    let achieved = r.requests.total as f64 / 5.0;
    assert!(
        (achieved - 200.0).abs() <= 4.0,
        "achieved {achieved} req/s for a target of 200"
    );
    assert_eq!(r.requests.dropped, 0);
    for second in &r.timeline[..5] {
        assert!(
            (190..=210).contains(&second.started),
            "second {}: {} started",
            second.t,
            second.started
        );
    }
}

/// A 1 s server stall: the open model keeps sending on schedule, so the requests sent during
/// the stall wait and its p99 shows the stall; a closed model sends nothing while its users
/// wait, so only one sample per user is slow and its p99 hides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_open_model_p99_but_not_closed_model_p99() {
    // At 100 req/s the 150th request comes 1.5 s into the 4 s run.
    let stub = stub().await;
    stub.stall_after(150, Duration::from_secs(1));
    let (open, _) = load(&format!("{}/ok --rate 100 --duration 4s", stub.url())).await;

    // Four users reach their 500th request within the first second of the 4 s run.
    let stub = self::stub().await;
    stub.stall_after(500, Duration::from_secs(1));
    let (closed, _) = load(&format!("{}/ok --users 4 --duration 4s", stub.url())).await;
    assert!(stub.stall_began_at().is_some(), "the stall came mid-run");

    assert!(
        open.latency_us.p99 >= 800_000,
        "open p99 {}µs",
        open.latency_us.p99
    );
    assert!(
        open.latency_us.p90 >= 500_000,
        "open p90 {}µs",
        open.latency_us.p90
    );
    assert!(
        closed.latency_us.p99 < 100_000,
        "closed p99 {}µs",
        closed.latency_us.p99
    );
    assert!(
        closed.latency_us.max >= 900_000,
        "the closed model saw the stall only in its max"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_is_reported_with_its_onset_and_length() {
    let stub = stub().await;
    // 8 users on /delay?ms=2 make at most 4,000 requests a second, and at least 1,000 even
    // in a debug build: the 800th comes between 0.2 s and 0.8 s, so the 3.5 s stall ends
    // well before the 6 s run does.
    stub.stall_after(800, Duration::from_millis(3500));
    let (r, _) = load(&format!(
        "{}/delay?ms=2 --users 8 --duration 6s --stall-window 3s",
        stub.url()
    ))
    .await;
    let began = stub
        .stall_began_at()
        .expect("the stall began")
        .duration_since(stub.first_request_at().unwrap())
        .as_secs_f64();
    assert_eq!(r.stalls.len(), 1, "{:?}", r.stalls);
    let s = &r.stalls[0];
    assert!(
        (s.onset_s - began).abs() <= 0.3,
        "onset {} for a stall the server began {began:.2} s in",
        s.onset_s
    );
    assert!((s.length_s - 3.5).abs() <= 0.3, "length {}", s.length_s);
    assert_eq!(s.in_flight_max, 8);
    assert!(!s.ongoing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_target_ends_on_time_with_every_request_counted() {
    let (addr, _hole) = blackhole().await.unwrap();
    let (r, took) = load(&format!(
        "http://{addr}/ --users 16 --duration 1s --timeout 1s"
    ))
    .await;
    assert!(
        took < Duration::from_millis(2600),
        "took {took:?} for 1 s + 1 s timeout"
    );
    assert_eq!(r.outcome(Kind::Timeout), 16, "{:?}", r.outcomes);
    assert_eq!(r.requests.total, 16);
    assert_eq!(
        r.stalls.len(),
        0,
        "one second of silence is under the 3 s window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_dies_mid_run_is_counted_and_the_run_ends_on_time() {
    let stub = stub().await;
    stub.kill_after(200);
    let (r, took) = load(&format!(
        "{}/delay?ms=5 --users 8 --duration 2s --timeout 2s",
        stub.url()
    ))
    .await;
    assert!(took < Duration::from_millis(4500), "took {took:?}");
    assert!(r.outcome(Kind::Ok) > 0);
    assert!(r.outcome(Kind::Connect) > 0, "{:?}", r.outcomes);
    assert_eq!(
        r.requests.total, r.requests.completed,
        "nothing left uncounted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_run_aborts_requests_in_flight_and_keeps_the_rest() {
    let stub = stub().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let args = crate::support::load_args(&format!(
        "{}/delay?ms=400 --users 6 --duration 30s",
        stub.url()
    ));
    let run = {
        let stop = stop.clone();
        tokio::spawn(async move { crate::support::load_with(&args, stop).await })
    };
    // Two rounds have started: the first six answered, the second six are in flight.
    tokio::time::timeout(Duration::from_secs(20), stub.requests_reached(12))
        .await
        .expect("the load reaches the stub");
    stop.cancel();
    let (r, took) = run.await.unwrap();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(r.interrupted);
    assert_eq!(r.outcome(Kind::Aborted), 6, "{:?}", r.outcomes);
    assert!(r.outcome(Kind::Ok) >= 6, "{:?}", r.outcomes);
    assert_eq!(
        r.requests.total,
        r.outcome(Kind::Ok) + r.outcome(Kind::Aborted)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_rate_and_think_time_pace_a_closed_model() {
    let stub = stub().await;
    // 4 users, one a second; each waits 500 ms between requests: user k sends about
    // (3 - k) / 0.5 requests in 3 s.
    let (r, _) = load(&format!(
        "{}/ok --users 4 --spawn-rate 1 --wait 500ms --duration 3s",
        stub.url()
    ))
    .await;
    assert!(
        (10..=14).contains(&r.requests.total),
        "{} requests",
        r.requests.total
    );
}
