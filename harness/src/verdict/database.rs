//! What the database did during a stretch of a cell, from poolstorm's own probe: whether it
//! was down, whether the app's sessions waited on locks or ran long, or whether it sat idle
//! (the signature of a pool deadlock), in words for the evidence.

use contract::Engine;

use crate::base::human::{self, count, ms_secs};
use crate::observe::database::{Blocker, DbReport, DbSample, Sessions};

/// Consecutive failed probes that make the database down (a second at 4 Hz), not a blip.
const DOWN_SAMPLES: usize = 4;

/// When the database went down for good or for long: the onset (seconds) and the reason.
pub(super) fn down(report: &DbReport) -> Option<(f64, String)> {
    let mut run: Vec<&DbSample> = Vec::new();
    for s in &report.samples {
        if s.up {
            if run.len() >= DOWN_SAMPLES {
                break;
            }
            run.clear();
        } else {
            run.push(s);
        }
    }
    let first = run.first().filter(|_| run.len() >= DOWN_SAMPLES)?;
    let last = run.last().expect("not empty");
    let until = if report.samples.last().is_some_and(|s| !s.up) {
        "to the end".to_owned()
    } else {
        format!("to {}", ms_secs(last.t_ms))
    };
    Some((
        first.t_ms as f64 / 1000.0,
        format!(
            "poolstorm's own connection to the database failed from {} {until} ({})",
            ms_secs(first.t_ms),
            first.error.as_deref().unwrap_or("no answer")
        ),
    ))
}

/// The probe's samples within `[from_ms, to_ms]`, and the engine whose words describe them.
pub(super) struct During<'a> {
    engine: Engine,
    samples: Vec<&'a DbSample>,
}

/// The probe's failures within `[from_ms, to_ms]`: how many, and the first reason.
pub(super) fn unanswered(report: &DbReport, from_ms: u64, to_ms: u64) -> Option<(usize, String)> {
    let failed: Vec<&DbSample> = report
        .samples
        .iter()
        .filter(|s| s.t_ms >= from_ms && s.t_ms <= to_ms && !s.up)
        .collect();
    let first = failed.first()?;
    Some((
        failed.len(),
        first
            .error
            .clone()
            .unwrap_or_else(|| "no answer".to_owned()),
    ))
}

impl<'a> During<'a> {
    pub(super) fn of(report: &'a DbReport, from_ms: u64, to_ms: u64) -> Option<Self> {
        let samples: Vec<&DbSample> = report
            .samples
            .iter()
            .filter(|s| s.t_ms >= from_ms && s.t_ms <= to_ms && s.up)
            .collect();
        Self::new(report, samples)
    }

    fn new(report: &DbReport, samples: Vec<&'a DbSample>) -> Option<Self> {
        (!samples.is_empty()).then_some(Self {
            engine: report.engine,
            samples,
        })
    }

    /// The samples nearest each of `times` (within a sampling period), for the database as it
    /// was at the moments the pool was full.
    pub(super) fn near(report: &'a DbReport, times: &[u64]) -> Option<Self> {
        let period = crate::observe::EVERY.as_millis() as u64;
        let mut samples: Vec<&DbSample> = times
            .iter()
            .filter_map(|t| {
                report
                    .samples
                    .iter()
                    .filter(|s| s.up && s.t_ms.abs_diff(*t) <= period)
                    .min_by_key(|s| s.t_ms.abs_diff(*t))
            })
            .collect();
        samples.dedup_by_key(|s| s.t_ms);
        Self::new(report, samples)
    }

    fn share(&self, pred: impl Fn(&DbSample) -> bool) -> f64 {
        self.samples.iter().filter(|s| pred(s)).count() as f64 / self.samples.len() as f64
    }

    /// The middle sample that `pred` holds for.
    fn typical(&self, pred: impl Fn(&DbSample) -> bool) -> Option<&'a DbSample> {
        let matching: Vec<&&DbSample> = self.samples.iter().filter(|s| pred(s)).collect();
        matching.get(matching.len() / 2).map(|s| **s)
    }

    /// What the engine calls a connection's server side: MySQL's sessions, PostgreSQL's
    /// backends.
    fn sessions_noun(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => "backends",
            _ => "sessions",
        }
    }

    /// The app's sessions waited on someone's lock in at least `share` of the samples.
    pub(super) fn lock_contention(&self, share: f64) -> Option<String> {
        let waits = |s: &DbSample| {
            s.sessions.as_ref().is_some_and(|x| x.lock_waits > 0)
                || s.write_lock_free == Some(false)
        };
        if self.share(waits) < share {
            return None;
        }
        let s = self.typical(waits)?;
        if s.write_lock_free == Some(false) {
            return Some(
                "the database's write lock is held by another connection in every try (SQLite: BEGIN IMMEDIATE is busy)"
                    .to_owned(),
            );
        }
        let sessions = s.sessions.as_ref()?;
        let holder = match &sessions.blocker {
            Some(b) if self.engine == Engine::Postgres => pg_holder(b),
            Some(b) => format!(
                "held by thread {} ({}, {} for {} s{})",
                b.thread,
                b.user,
                if b.command == "Sleep" {
                    "idle in its transaction".to_owned()
                } else {
                    format!("in `{}`", b.command)
                },
                b.time_s,
                if b.in_app {
                    ", one of the app's own sessions"
                } else {
                    ", not one of the app's sessions"
                }
            ),
            None => "held by a session poolstorm could not name".to_owned(),
        };
        let lock = match self.engine {
            Engine::Postgres => "a lock",
            _ => "a row lock",
        };
        Some(format!(
            "{} of the app's {} {} wait on {lock} {holder}",
            count(sessions.lock_waits),
            count(sessions.total),
            self.sessions_noun()
        ))
    }

    /// The database answered slowly, or the app's queries ran long, in at least half the
    /// samples.
    pub(super) fn slowness(&self, slow_ms: f64) -> Option<String> {
        let slow_us = slow_ms * 1000.0;
        let rtt_slow = |s: &DbSample| s.rtt_us.is_some_and(|r| r as f64 >= slow_us);
        let queries_slow = |s: &DbSample| {
            s.sessions
                .as_ref()
                .is_some_and(|x| x.running > 0 && x.longest_running_ms as f64 >= slow_ms)
        };
        if self.share(queries_slow) >= 0.5 {
            let s = self.typical(queries_slow)?;
            let x = s.sessions.as_ref()?;
            return Some(format!(
                "{} of the app's {} are running queries{}, the longest for {}; the database answers poolstorm in {}",
                count(x.running),
                self.sessions_noun(),
                if self.engine == Engine::Postgres {
                    " (active)"
                } else {
                    ""
                },
                ms_secs(x.longest_running_ms),
                rtt(s)
            ));
        }
        if self.share(rtt_slow) >= 0.5 {
            let s = self.typical(rtt_slow)?;
            return Some(format!(
                "the database answers poolstorm's SELECT 1 in {}",
                rtt(s)
            ));
        }
        None
    }

    /// The database sat idle under the app in at least `share` of the samples: none of the
    /// app's sessions ran a statement or waited on a lock (PostgreSQL: every idle backend
    /// waits on `ClientRead`, for its client; SQLite: its write lock was free). A view with
    /// neither sessions nor the write lock (a user without PROCESS) only knows that the
    /// database answered, and counts as idle.
    pub(super) fn idle(&self, share: f64) -> bool {
        self.share(|s| match (&s.sessions, s.write_lock_free) {
            (Some(x), _) => {
                x.running == 0 && x.lock_waits == 0 && x.client_read.is_none_or(|c| c == x.idle)
            }
            (None, Some(free)) => free,
            (None, None) => true,
        }) >= share
    }

    /// The database as it looked, in words: "17 of the app's sessions, all idle for 3.1 s
    /// (none inside a transaction), none running a query, none waiting on a lock; it answers
    /// poolstorm in 0.4 ms".
    pub(super) fn described(&self) -> String {
        let last = self.samples.last().expect("not empty");
        match &last.sessions {
            Some(x) if self.engine == Engine::Postgres => backends_words(x, last),
            Some(x) => sessions_words(x, last),
            None => match last.write_lock_free {
                Some(true) => format!(
                    "the database answers poolstorm in {} and its write lock is free",
                    rtt(last)
                ),
                Some(false) => format!(
                    "the database answers poolstorm in {} and its write lock is held",
                    rtt(last)
                ),
                None => format!("the database answers poolstorm in {}", rtt(last)),
            },
        }
    }
}

fn rtt(s: &DbSample) -> String {
    s.rtt_us.map_or("?".to_owned(), human::rtt)
}

/// A PostgreSQL lock holder: "held by pid 4242 (application_name `psql`, user postgres, idle
/// in transaction, its transaction open 9 s, not one of the app's backends)".
fn pg_holder(b: &Blocker) -> String {
    format!(
        "held by pid {} (application_name `{}`, user {}, {}, its transaction open {} s, {})",
        b.thread,
        b.application.as_deref().unwrap_or_default(),
        b.user,
        b.command,
        b.time_s,
        if b.in_app {
            "one of the app's own backends"
        } else {
            "not one of the app's backends"
        }
    )
}

/// The app's backends in PostgreSQL's words: "PostgreSQL shows 10 of the app's backends idle
/// in transaction (ClientRead) for 2.7 s; none active; none waiting on a lock; it answers
/// poolstorm in 0.4 ms".
fn backends_words(x: &Sessions, s: &DbSample) -> String {
    let plain = x.idle - x.idle_in_transaction;
    let idle = match (x.idle_in_transaction, plain) {
        (0, 0) => "none idle".to_owned(),
        (n, 0) if n == x.total => format!("{} idle in transaction", count(n)),
        (0, n) if n == x.total => format!("{} idle", count(n)),
        (t, 0) => format!("{t} idle in transaction"),
        (0, p) => format!("{p} idle"),
        (t, p) => format!("{t} idle in transaction and {p} idle"),
    };
    let waiting = match x.client_read {
        Some(c) if c == x.idle && c > 0 => " (ClientRead)".to_owned(),
        Some(c) if c > 0 => format!(" ({c} waiting on ClientRead)"),
        _ => String::new(),
    };
    let idle_for = x
        .idle_for_ms
        .filter(|_| x.idle > 0)
        .map(|ms| format!(" for {}", ms_secs(ms)))
        .unwrap_or_default();
    let active = match x.running {
        0 => "none active".to_owned(),
        n => format!(
            "{} active (longest {})",
            count(n),
            ms_secs(x.longest_running_ms)
        ),
    };
    let waits = match x.lock_waits {
        0 => "none waiting on a lock".to_owned(),
        n => format!("{} waiting on a lock", count(n)),
    };
    format!(
        "PostgreSQL shows {} of the app's backends: {idle}{waiting}{idle_for}; {active}; {waits}; it answers poolstorm in {}",
        count(x.total),
        rtt(s)
    )
}

fn sessions_words(x: &Sessions, s: &DbSample) -> String {
    let idle = if x.idle == x.total && x.total > 0 {
        format!(
            "all idle{}",
            x.idle_for_ms
                .map(|ms| format!(" for {}", ms_secs(ms)))
                .unwrap_or_default()
        )
    } else {
        format!("{} idle", count(x.idle))
    };
    let in_trx = match x.idle_in_transaction {
        0 => " (none inside a transaction InnoDB lists)".to_owned(),
        n => format!(" ({} inside an open transaction)", count(n)),
    };
    let running = match x.running {
        0 => "none running a query".to_owned(),
        n => format!("{} running a query", count(n)),
    };
    let waits = match x.lock_waits {
        0 => "none waiting on a lock".to_owned(),
        n => format!("{} waiting on a lock", count(n)),
    };
    format!(
        "the database holds {} of the app's sessions, {idle}{in_trx}, {running}, {waits}; it answers poolstorm in {}",
        count(x.total),
        rtt(s)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(t_ms: u64, sessions: Sessions) -> DbSample {
        DbSample {
            t_ms,
            up: true,
            rtt_us: Some(400),
            sessions: Some(sessions),
            ..DbSample::default()
        }
    }

    fn down_at(t_ms: u64) -> DbSample {
        DbSample {
            t_ms,
            up: false,
            error: Some("Connection refused (os error 111)".to_owned()),
            ..DbSample::default()
        }
    }

    #[test]
    fn a_second_of_failed_probes_is_down_and_a_blip_is_not() {
        let idle = Sessions::default();
        let mut report = DbReport {
            samples: vec![up(0, idle.clone()), down_at(250), up(500, idle)],
            ..DbReport::default()
        };
        assert_eq!(down(&report), None, "one failed probe is a blip");
        report.samples.extend((3..10).map(|i| down_at(i * 250)));
        let (onset, words) = down(&report).unwrap();
        assert_eq!(onset, 0.75);
        assert!(
            words.contains("from 0.8 s to the end (Connection refused"),
            "{words}"
        );
    }

    #[test]
    fn idle_sessions_read_as_the_signature_of_a_pool_deadlock() {
        let report = DbReport {
            samples: (0..8)
                .map(|i| {
                    up(
                        i * 250,
                        Sessions {
                            total: 10,
                            idle: 10,
                            idle_for_ms: Some(3100),
                            ..Sessions::default()
                        },
                    )
                })
                .collect(),
            ..DbReport::default()
        };
        let d = During::of(&report, 0, 2000).unwrap();
        assert_eq!(d.lock_contention(0.75), None);
        assert_eq!(d.slowness(1000.0), None);
        assert_eq!(
            d.described(),
            "the database holds 10 of the app's sessions, all idle for 3.1 s (none inside a transaction InnoDB lists), none running a query, none waiting on a lock; it answers poolstorm in 0.4 ms"
        );
    }

    #[test]
    fn lock_waits_name_their_holder_and_long_queries_are_slow() {
        let waiting = Sessions {
            total: 17,
            idle: 1,
            running: 16,
            longest_running_ms: 4000,
            lock_waits: 16,
            blocker: Some(crate::observe::database::Blocker {
                thread: 42,
                user: "root".to_owned(),
                command: "Sleep".to_owned(),
                time_s: 9,
                in_app: false,
                waiters: 16,
                application: None,
            }),
            ..Sessions::default()
        };
        let report = DbReport {
            samples: (0..8).map(|i| up(i * 250, waiting.clone())).collect(),
            ..DbReport::default()
        };
        let d = During::of(&report, 0, 2000).unwrap();
        assert_eq!(
            d.lock_contention(0.75).unwrap(),
            "16 of the app's 17 sessions wait on a row lock held by thread 42 (root, idle in its transaction for 9 s, not one of the app's sessions)"
        );
        let slow = Sessions {
            lock_waits: 0,
            blocker: None,
            ..waiting
        };
        let report = DbReport {
            samples: (0..8).map(|i| up(i * 250, slow.clone())).collect(),
            ..DbReport::default()
        };
        let d = During::of(&report, 0, 2000).unwrap();
        assert!(
            d.slowness(1000.0)
                .unwrap()
                .starts_with("16 of the app's sessions are running queries, the longest for 4.0 s")
        );
    }

    fn postgres(samples: Vec<DbSample>) -> DbReport {
        DbReport {
            engine: Engine::Postgres,
            samples,
            ..DbReport::default()
        }
    }

    #[test]
    fn on_postgres_a_locked_pool_reads_as_backends_idle_in_transaction_waiting_on_their_client() {
        let locked = Sessions {
            total: 10,
            idle: 10,
            idle_in_transaction: 10,
            client_read: Some(10),
            idle_for_ms: Some(2700),
            ..Sessions::default()
        };
        let report = postgres((0..8).map(|i| up(i * 250, locked.clone())).collect());
        let d = During::of(&report, 0, 2000).unwrap();
        assert!(d.idle(0.75));
        assert_eq!(
            d.described(),
            "PostgreSQL shows 10 of the app's backends: 10 idle in transaction (ClientRead) for 2.7 s; none active; none waiting on a lock; it answers poolstorm in 0.4 ms"
        );
        // Idle backends that wait on something other than their client are not a pool that
        // holds them.
        let other = Sessions {
            client_read: Some(4),
            ..locked
        };
        let report = postgres((0..8).map(|i| up(i * 250, other.clone())).collect());
        assert!(!During::of(&report, 0, 2000).unwrap().idle(0.75));
    }

    #[test]
    fn on_postgres_lock_waits_name_the_holders_pid_application_state_and_transaction_age() {
        let waiting = Sessions {
            total: 6,
            idle: 1,
            running: 5,
            lock_waits: 5,
            longest_running_ms: 3000,
            client_read: Some(1),
            blocker: Some(Blocker {
                thread: 4242,
                user: "postgres".to_owned(),
                command: "idle in transaction".to_owned(),
                time_s: 9,
                in_app: false,
                waiters: 5,
                application: Some("poolstorm-fault".to_owned()),
            }),
            ..Sessions::default()
        };
        let report = postgres((0..8).map(|i| up(i * 250, waiting.clone())).collect());
        let d = During::of(&report, 0, 2000).unwrap();
        assert_eq!(
            d.lock_contention(0.75).unwrap(),
            "5 of the app's 6 backends wait on a lock held by pid 4242 (application_name `poolstorm-fault`, user postgres, idle in transaction, its transaction open 9 s, not one of the app's backends)"
        );
        assert!(!d.idle(0.5));
    }
}
