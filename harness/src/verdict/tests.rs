use std::time::Duration;

use super::*;
use crate::observe::database::{Blocker, DbReport, DbSample, Sessions};
use crate::observe::{Gap, Gauge};

/// A finished run with these counts and stalls, and no server view.
fn finished(ok: u64, errors: &[(&str, u64)], stalls: Vec<Stall>) -> Observed<'static> {
    let failed: u64 = errors.iter().map(|(_, n)| n).sum();
    let pool_timeouts = errors
        .iter()
        .filter(|(k, _)| *k == "pool_timeout")
        .map(|(_, n)| n)
        .sum();
    Observed {
        elapsed_s: 5.0,
        finished: true,
        completed: ok + failed,
        ok,
        pool_timeouts,
        errors: errors
            .iter()
            .map(|(k, n)| (k.parse().expect("an outcome name"), *n))
            .collect(),
        stalls,
        samples: &[],
        source: None,
        database: None,
        death: None,
        first_pool_timeout_s: (pool_timeouts > 0).then_some(2.0),
        first_error_s: (failed > 0).then_some(1.0),
        ok_rps: ok as f64 / 5.0,
        p99_us: 1500,
    }
}

/// target-app's `/debug/pool` as the source: no names of its own.
fn debug_pool() -> SourceReport {
    SourceReport {
        url: "http://127.0.0.1:1/debug/pool".to_owned(),
        ..SourceReport::default()
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
        pool_max: Some(4),
        pool_in_use: Some(4),
        pool_waiting: Some(8),
        blocking_threads: Some(8),
        blocking_busy: Some(8),
        blocking_queued: Some(24),
        teardown_pending: Some(4),
        requests_in_flight: Some(28),
        ..PoolSample::default()
    }
}

fn idle(t_ms: u64) -> PoolSample {
    PoolSample {
        t_ms,
        pool_max: Some(4),
        pool_in_use: Some(0),
        pool_waiting: Some(0),
        blocking_threads: Some(8),
        blocking_busy: Some(0),
        blocking_queued: Some(0),
        ..PoolSample::default()
    }
}

#[test]
fn a_stall_with_the_pool_saturated_is_a_deadlock_with_onset_and_evidence() {
    let samples: Vec<_> = (0..24)
        .map(|i| if i < 4 { idle(i * 250) } else { stuck(i * 250) })
        .collect();
    let source = debug_pool();
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(4, &[], vec![stall(1.0, 5.0)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert_eq!(j.onset_s, Some(1.0));
    assert!(
        j.evidence.contains(
            "no completions for 5.0 s from 1.0 s with 32 requests in flight (still stuck at the end)"
        ),
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
    assert_eq!(j.sample.and_then(|s| s.pool_in_use), Some(4));
}

#[test]
fn a_stall_the_pool_does_not_explain_is_degraded() {
    let samples: Vec<_> = (0..24).map(|i| idle(i * 250)).collect();
    let source = debug_pool();
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(100, &[], vec![stall(1.0, 4.0)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Degraded);
    assert!(j.evidence.contains("does not explain"), "{}", j.evidence);
    assert_eq!(j.onset_s, Some(1.0));
}

#[test]
fn saturation_in_too_few_of_the_stalls_samples_is_no_deadlock() {
    // 12 samples during the stall, 8 saturated: 67 %, under the 75 % default.
    let samples: Vec<_> = (4..16)
        .map(|i| if i < 8 { idle(i * 250) } else { stuck(i * 250) })
        .collect();
    let source = debug_pool();
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(100, &[], vec![stall(1.0, 2.75)])
    };
    assert_eq!(judge(&o, &Thresholds::default()).verdict, Verdict::Degraded);
    let lenient = Thresholds {
        deadlock_min_saturated_share: 0.6,
        ..Thresholds::default()
    };
    assert_eq!(judge(&o, &lenient).verdict, Verdict::Deadlocked);
}

#[test]
fn without_a_server_view_a_stall_is_a_client_side_deadlock() {
    let j = judge(
        &finished(3, &[], vec![stall(2.0, 4.0)]),
        &Thresholds::default(),
    );
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert!(j.evidence.contains("client-side stall only"));
}

#[test]
fn pool_timeouts_dominating_is_starvation_from_the_first_one() {
    let j = judge(
        &finished(40, &[("pool_timeout", 60)], Vec::new()),
        &Thresholds::default(),
    );
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
    let j = judge(&finished(995, &[("http_500", 5)], Vec::new()), &t);
    assert_eq!(j.verdict, Verdict::Healthy);
    assert!(j.evidence.contains("(http_500 5)"), "{}", j.evidence);
    let j = judge(
        &finished(900, &[("http_500", 60), ("pool_timeout", 40)], Vec::new()),
        &t,
    );
    assert_eq!(j.verdict, Verdict::Degraded);
    assert!(j.evidence.contains("http_500 60"), "{}", j.evidence);
    assert_eq!(j.onset_s, Some(1.0));
}

fn live(ok: u64, pool_timeouts: u64, aborted: u64, stalled_for: Option<Duration>) -> Live {
    let mut finished = crate::engine::metrics::KindCounts::default();
    finished[Kind::Ok.index()] = ok;
    finished[Kind::PoolTimeout.index()] = pool_timeouts;
    finished[Kind::Aborted.index()] = aborted;
    Live {
        elapsed: Duration::from_secs(6),
        finished,
        in_flight: 32,
        stalled_for,
        first_pool_timeout: (pool_timeouts > 0).then_some(Duration::from_millis(1500)),
        ..Live::default()
    }
}

#[test]
fn a_run_under_way_is_not_judged_on_a_handful_of_requests() {
    let l = live(3, 5, 0, None);
    let j = judge(&Observed::live(&l, &[], None), &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Healthy);
    assert!(j.evidence.contains("too few to judge"), "{}", j.evidence);
}

#[test]
fn a_stall_under_way_with_the_pool_saturated_is_a_deadlock_from_its_onset() {
    let samples: Vec<_> = (0..24)
        .map(|i| if i < 8 { idle(i * 250) } else { stuck(i * 250) })
        .collect();
    let l = live(4, 0, 0, Some(Duration::from_secs(4)));
    let source = debug_pool();
    let o = Observed::live(&l, &samples, Some(&source));
    assert_eq!(o.stalls.len(), 1);
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert_eq!(j.onset_s, Some(2.0));
    assert!(
        j.evidence
            .starts_with("no completions for 4.0 s from 2.0 s with 32 requests in flight; "),
        "a run under way is not 'stuck at the end': {}",
        j.evidence
    );
}

#[test]
fn live_counts_leave_aborted_requests_out_and_starve_like_the_final_verdict() {
    let l = live(40, 60, 7, None);
    let o = Observed::live(&l, &[], None);
    assert_eq!((o.completed, o.pool_timeouts), (100, 60));
    assert_eq!(o.errors, vec![(OutcomeKey::of(Kind::PoolTimeout), 60)]);
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Starved);
    assert_eq!(j.onset_s, Some(1.5));
}

#[test]
fn verdict_names_round_trip_and_unknown_ones_are_refused() {
    for &v in Verdict::ALL {
        assert_eq!(Verdict::parse(v.name()), Ok(v));
        assert_eq!(v.to_string(), v.name());
        assert_eq!(
            serde_json::to_value(v).unwrap(),
            v.name(),
            "JSON says the same name"
        );
    }
    assert!(
        Verdict::parse("stuck")
            .unwrap_err()
            .to_string()
            .contains("healthy, degraded, starved, deadlocked, database_down")
    );
}

/// HikariCP through Micrometer, as the hikaricp preset reads it.
fn hikari(t_ms: u64, active: u64, pending: u64) -> PoolSample {
    PoolSample {
        t_ms,
        pool_max: Some(10),
        pool_in_use: Some(active),
        pool_waiting: Some(pending),
        blocking_threads: Some(16),
        blocking_busy: Some(16),
        blocking_queued: Some(0),
        ..PoolSample::default()
    }
}

fn hikari_source() -> SourceReport {
    SourceReport {
        url: "http://127.0.0.1:9/actuator/prometheus".to_owned(),
        preset: Some("hikaricp".to_owned()),
        names: [
            (Gauge::InUse, "hikaricp_connections_active"),
            (Gauge::Max, "hikaricp_connections_max"),
            (Gauge::Waiting, "hikaricp_connections_pending"),
            (Gauge::ThreadsBusy, "tomcat_threads_busy_threads"),
            (Gauge::ThreadsMax, "tomcat_threads_config_max_threads"),
        ]
        .into_iter()
        .map(|(g, n)| (g, n.to_owned()))
        .collect(),
        ..SourceReport::default()
    }
}

#[test]
fn a_services_own_metrics_are_quoted_under_their_names() {
    let samples: Vec<_> = (0..24).map(|i| hikari(i * 250, 10, 16)).collect();
    let source = hikari_source();
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(40, &[], vec![stall(0.4, 3.1)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    for needle in [
        "10/10 connections in use (hikaricp_connections_active of hikaricp_connections_max)",
        "16 callers wait for a connection (hikaricp_connections_pending)",
        "16/16 request threads busy (tomcat_threads_busy_threads of tomcat_threads_config_max_threads)",
        "no completions for 3.1 s from 0.4 s",
    ] {
        assert!(
            j.evidence.contains(needle),
            "missing {needle:?}: {}",
            j.evidence
        );
    }
}

#[test]
fn metrics_that_stop_answering_are_evidence_not_a_deadlock() {
    // Samples until 1.0 s, then the metrics endpoint hangs for the rest of the run.
    let samples: Vec<_> = (0..4).map(|i| hikari(i * 250, 3, 0)).collect();
    let mut source = hikari_source();
    source.gaps.push(Gap {
        from_s: 1.0,
        to_s: None,
        reason: "no answer within 1s".to_owned(),
    });
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(40, &[], vec![stall(1.2, 3.0)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Degraded);
    assert!(
        j.evidence.contains(
            "pool metrics (http://127.0.0.1:9/actuator/prometheus) stopped answering at 1.0 s: no answer within 1s"
        ),
        "{}",
        j.evidence
    );
}

#[test]
fn a_go_pool_without_a_waiting_gauge_counts_waits_begun() {
    let samples: Vec<_> = (0..24)
        .map(|i| PoolSample {
            t_ms: i * 250,
            pool_max: Some(10),
            pool_in_use: Some(10),
            pool_waits: Some(57),
            ..PoolSample::default()
        })
        .collect();
    let source = SourceReport {
        names: [
            (Gauge::InUse, "go_sql_in_use_connections"),
            (Gauge::Max, "go_sql_max_open_connections"),
            (Gauge::Waits, "go_sql_wait_count_total"),
        ]
        .into_iter()
        .map(|(g, n)| (g, n.to_owned()))
        .collect(),
        ..SourceReport::default()
    };
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        ..finished(40, &[], vec![stall(0.5, 4.0)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::Deadlocked);
    assert!(
        j.evidence
            .contains("57 waits for a connection began during the run (go_sql_wait_count_total)"),
        "{}",
        j.evidence
    );
}

/// The database every 250 ms from 0 to 6 s, each sample from `at`.
fn database(at: impl Fn(u64) -> DbSample) -> DbReport {
    DbReport {
        engine: contract::Engine::Mysql,
        samples: (0..24).map(|i| at(i * 250)).collect(),
        ..DbReport::default()
    }
}

fn answering(t_ms: u64, sessions: Sessions) -> DbSample {
    DbSample {
        t_ms,
        up: true,
        rtt_us: Some(400),
        sessions: Some(sessions),
        ..DbSample::default()
    }
}

/// Mode 1 stuck from 1 s on, as the pool shows it.
fn stuck_from_1s() -> Vec<PoolSample> {
    (0..24)
        .map(|i| if i < 4 { idle(i * 250) } else { stuck(i * 250) })
        .collect()
}

/// The verdict on a pool stuck from 1 s on (a 5 s stall, 20 server errors) over `db`.
fn stuck_over(db: &DbReport) -> Judgement {
    let samples = stuck_from_1s();
    let source = debug_pool();
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        database: Some(db),
        ..finished(4, &[("http_500", 20)], vec![stall(1.0, 5.0)])
    };
    judge(&o, &Thresholds::default())
}

/// The app's sessions as in `sessions`, in every sample.
fn always(sessions: Sessions) -> DbReport {
    database(move |t| answering(t, sessions.clone()))
}

#[test]
fn a_saturated_pool_over_an_idle_database_is_a_deadlock_with_both_sides_in_the_evidence() {
    let j = stuck_over(&always(Sessions {
        total: 4,
        idle: 4,
        idle_for_ms: Some(3100),
        ..Sessions::default()
    }));
    assert_eq!(j.verdict, Verdict::Deadlocked, "{}", j.evidence);
    for words in [
        "4/4 connections held",
        "all idle for 3.1 s",
        "none waiting on a lock",
        "it answers poolstorm in 0.4 ms",
    ] {
        assert!(j.evidence.contains(words), "{words}: {}", j.evidence);
    }
}

#[test]
fn a_database_that_stops_answering_is_down_never_a_deadlock() {
    let j = stuck_over(&database(|t| {
        if t < 1000 {
            answering(t, Sessions::default())
        } else {
            DbSample {
                t_ms: t,
                error: Some("Connection refused (os error 111)".to_owned()),
                ..DbSample::default()
            }
        }
    }));
    assert_eq!(j.verdict, Verdict::DatabaseDown, "{}", j.evidence);
    assert_eq!(j.onset_s, Some(1.0));
    assert!(
        j.evidence.starts_with("database down at 1.0 s") && j.evidence.contains("refused"),
        "{}",
        j.evidence
    );
}

#[test]
fn sessions_waiting_on_someone_elses_row_lock_are_lock_contention() {
    let j = stuck_over(&always(Sessions {
        total: 5,
        idle: 1,
        running: 4,
        longest_running_ms: 3000,
        lock_waits: 4,
        blocker: Some(Blocker {
            thread: 42,
            user: "root".to_owned(),
            command: "Sleep".to_owned(),
            time_s: 9,
            in_app: false,
            waiters: 4,
            application: None,
        }),
        ..Sessions::default()
    }));
    assert_eq!(j.verdict, Verdict::LockContention, "{}", j.evidence);
    assert!(
        j.evidence
            .contains("4 of the app's 5 sessions wait on a row lock held by thread 42"),
        "{}",
        j.evidence
    );
}

#[test]
fn long_running_queries_under_a_full_pool_are_a_slow_database() {
    let running = |longest_running_ms| {
        always(Sessions {
            total: 4,
            running: 4,
            longest_running_ms,
            ..Sessions::default()
        })
    };
    let j = stuck_over(&running(2500));
    assert_eq!(j.verdict, Verdict::DatabaseSlow, "{}", j.evidence);
    assert!(
        j.evidence.contains("the longest for 2.5 s") && j.evidence.contains("4/4 connections"),
        "{}",
        j.evidence
    );
    // Queries that run, but not for long, are neither slow nor the idle of a deadlock.
    let j = stuck_over(&running(20));
    assert_eq!(j.verdict, Verdict::Degraded, "{}", j.evidence);
    assert!(j.evidence.contains("4 running a query"), "{}", j.evidence);
}

#[test]
fn a_target_that_died_is_named_with_its_signal_and_log_before_any_stall() {
    let samples = stuck_from_1s();
    let o = Observed {
        samples: &samples,
        death: Some(Death {
            at_s: 2.5,
            status: "signal 9 (SIGKILL)".to_owned(),
            log: "listening on 127.0.0.1:4000".to_owned(),
        }),
        ..finished(4, &[("connect", 30)], vec![stall(2.5, 3.0)])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::TargetDied);
    assert_eq!(j.onset_s, Some(2.5));
    assert!(
        j.evidence.contains("signal 9 (SIGKILL)") && j.evidence.contains("listening on"),
        "{}",
        j.evidence
    );
}

#[test]
fn a_full_pool_over_slow_queries_is_a_slow_database_even_without_a_stall() {
    let samples: Vec<_> = (0..24).map(|i| stuck(i * 250)).collect();
    let source = debug_pool();
    let slow = |longest_running_ms| {
        database(move |t| {
            answering(
                t,
                Sessions {
                    total: 4,
                    running: 4,
                    longest_running_ms,
                    ..Sessions::default()
                },
            )
        })
    };
    let db = slow(1800);
    let o = Observed {
        samples: &samples,
        source: Some(&source),
        database: Some(&db),
        ..finished(40, &[("pool_timeout", 60)], vec![])
    };
    let j = judge(&o, &Thresholds::default());
    assert_eq!(j.verdict, Verdict::DatabaseSlow, "{}", j.evidence);
    assert!(
        j.evidence
            .contains("the pool was full in 100% of the samples"),
        "{}",
        j.evidence
    );
    // The same pool over fast queries is the pool's own starvation.
    let fast = slow(5);
    let o = Observed {
        database: Some(&fast),
        ..o
    };
    assert_eq!(judge(&o, &Thresholds::default()).verdict, Verdict::Starved);
}
