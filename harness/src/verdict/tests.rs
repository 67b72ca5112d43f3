use std::collections::BTreeMap;

use super::*;
use crate::metrics::{Second, Stall, Summary};
use crate::report::{LoadReport, ModelReport, Requests, Settings};

/// A report with these outcomes, one timeline row per second, and these stalls.
fn report(outcomes: &[(&str, u64)], seconds: u32, stalls: Vec<Stall>) -> LoadReport {
    let outcomes: BTreeMap<String, u64> = outcomes
        .iter()
        .map(|(k, n)| ((*k).to_owned(), *n))
        .collect();
    let completed: u64 = outcomes
        .iter()
        .filter(|(k, _)| *k != "aborted")
        .map(|(_, n)| n)
        .sum();
    let ok = outcomes.get("ok").copied().unwrap_or_default();
    let per = |n: u64| n / u64::from(seconds.max(1));
    LoadReport {
        schema: crate::report::SCHEMA.to_owned(),
        target: "http://127.0.0.1:1/".to_owned(),
        started_at: String::new(),
        elapsed_s: f64::from(seconds),
        interrupted: false,
        model: ModelReport {
            kind: "closed".into(),
            users: Some(32),
            spawn_rate: None,
            wait_min_s: None,
            wait_max_s: None,
            rate: None,
            max_in_flight: None,
        },
        settings: Settings {
            duration_s: None,
            requests: None,
            timeout_s: 60.0,
            workers: 2,
            stall_window_s: 3.0,
            seed: 1,
        },
        requests: Requests {
            total: completed,
            completed,
            dropped: 0,
        },
        status_codes: BTreeMap::new(),
        throughput_rps: completed as f64 / f64::from(seconds),
        ok_rps: ok as f64 / f64::from(seconds),
        error_ratio: if completed == 0 {
            0.0
        } else {
            (completed - ok) as f64 / completed as f64
        },
        latency_us: Summary::default(),
        ok_latency_us: Summary::default(),
        tasks: Vec::new(),
        timeline: (0..seconds)
            .map(|t| Second {
                t,
                ok: per(ok),
                pool_timeout: if t >= 2 {
                    per(outcomes.get("pool_timeout").copied().unwrap_or_default())
                } else {
                    0
                },
                completed: per(completed),
                ..Second::default()
            })
            .collect(),
        stalls,
        checks: Vec::new(),
        outcomes,
    }
}

fn stall(onset_s: f64, length_s: f64) -> Stall {
    Stall {
        onset_s,
        length_s,
        in_flight_max: 32,
        ongoing: true,
    }
}

/// Mode 1 stuck: 8/8 threads busy, 24 queued, 4/4 connections held by pending teardowns.
fn stuck(t_ms: u64) -> PoolSample {
    PoolSample {
        t_ms,
        pool_max: 4,
        pool_in_use: 4,
        pool_waiting: 8,
        blocking_threads: 8,
        blocking_busy: 8,
        blocking_queued: 24,
        teardown_pending: 4,
        requests_in_flight: 28,
        ..PoolSample::default()
    }
}

fn idle(t_ms: u64) -> PoolSample {
    PoolSample {
        t_ms,
        pool_max: 4,
        blocking_threads: 8,
        ..PoolSample::default()
    }
}

#[test]
fn a_stall_with_the_pool_saturated_is_a_deadlock_with_onset_and_evidence() {
    let r = report(&[("ok", 4)], 6, vec![stall(1.0, 5.0)]);
    let samples: Vec<_> = (0..24)
        .map(|i| if i < 4 { idle(i * 250) } else { stuck(i * 250) })
        .collect();
    let j = judge(&r, &samples, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert_eq!(j.onset_s, Some(1.0));
    assert!(
        j.evidence
            .contains("no completions for 5.0 s from 1.0 s with 32 requests in flight"),
        "{}",
        j.evidence
    );
    assert!(
        j.evidence
            .contains("8/8 blocking threads busy and 24 jobs queued while 8 wait for a connection"),
        "{}",
        j.evidence
    );
    assert!(
        j.evidence
            .contains("4/4 connections held by requests whose teardown is queued"),
        "{}",
        j.evidence
    );
    assert_eq!(j.sample.map(|s| s.pool_in_use), Some(4));
}

#[test]
fn a_stall_the_pool_does_not_explain_is_degraded() {
    let r = report(&[("ok", 100)], 6, vec![stall(1.0, 4.0)]);
    let samples: Vec<_> = (0..24).map(|i| idle(i * 250)).collect();
    let j = judge(&r, &samples, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Degraded);
    assert!(j.evidence.contains("does not explain"), "{}", j.evidence);
}

#[test]
fn without_a_server_view_a_stall_is_a_client_side_deadlock() {
    let r = report(&[("ok", 3)], 6, vec![stall(2.0, 4.0)]);
    let j = judge(&r, &[], &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert!(j.evidence.contains("client-side stall only"));
}

#[test]
fn pool_timeouts_dominating_is_starvation_from_the_first_one() {
    let r = report(&[("ok", 40), ("pool_timeout", 60)], 5, Vec::new());
    let j = judge(&r, &[], &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Starved);
    assert_eq!(j.onset_s, Some(2.0));
    assert!(
        j.evidence.contains("60% of completed requests"),
        "{}",
        j.evidence
    );
}

#[test]
fn errors_under_the_threshold_are_healthy_and_over_it_degraded() {
    let t = Thresholds::default();
    assert_eq!(
        judge(
            &report(&[("ok", 995), ("http_500", 5)], 5, Vec::new()),
            &[],
            &t
        )
        .verdict,
        Verdict::Healthy
    );
    let j = judge(
        &report(
            &[("ok", 900), ("http_500", 60), ("pool_timeout", 40)],
            5,
            Vec::new(),
        ),
        &[],
        &t,
    );
    assert_eq!(j.verdict, Verdict::Degraded);
    assert!(j.evidence.contains("http_500 60"), "{}", j.evidence);
}

#[test]
fn verdict_names_round_trip_and_unknown_ones_are_refused() {
    for v in Verdict::ALL {
        assert_eq!(v.name().parse::<Verdict>(), Ok(v));
    }
    assert!(
        "stuck"
            .parse::<Verdict>()
            .unwrap_err()
            .contains("healthy, degraded, starved, deadlocked")
    );
}
