//! Verdicts: what a cell's measurements say about its pool, judged from the client's view
//! (outcomes, stalls) and the server's own (pool samples taken 4 times a second). One engine,
//! [`judge`], serves the live view while a run goes and the final verdict after it.
//!
//! - `target_died`: the service poolstorm started exited during the cell;
//! - `database_down`: poolstorm's own connection to the database failed a second or more in a
//!   row;
//! - `lock_contention`: during a stall, the app's sessions waited on row locks (SQLite: the
//!   write lock was held) in at least `deadlock_min_saturated_share` of the database samples;
//! - `database_slow`: during a stall, or while the pool was full with callers waiting for at
//!   least half the run, the app's statements ran, or the database answered poolstorm, for
//!   `database_slow_ms` or longer in at least half the samples;
//! - `deadlocked`: a stall (no completions for the stall window while requests are in
//!   flight) during which the server showed its pool saturated with waiters, or its blocking
//!   pool full with jobs queued, in at least `deadlock_min_saturated_share` of the samples,
//!   and the database, where poolstorm watches it, answered and sat idle under the app;
//! - `starved`: not deadlocked, and pool timeouts are at least
//!   `starved_min_pool_timeout_ratio` of the completed requests;
//! - `healthy`: no stall, and an error ratio of at most `healthy_max_error_ratio`;
//! - `degraded`: anything else (errors or timeouts above the threshold, or a stall the
//!   server's pool does not explain) while progress continues.

use serde::{Deserialize, Serialize};

use crate::base::human::{count, latency, secs};
use crate::engine::metrics::{Kind, Live, OutcomeKey, Stall};
use crate::observe::database::DbReport;
use crate::observe::{GaugeNames, PoolSample, SourceReport};

/// The verdict on one cell. Its names (reports, rules, `--fail-if`) and its list come from
/// this one definition.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Starved,
    Deadlocked,
    /// The database stopped answering poolstorm's own connection.
    DatabaseDown,
    /// The database answers slowly, or the app's queries run long, while the pool is full.
    DatabaseSlow,
    /// The app's sessions wait on row locks (SQLite: the write lock) someone else holds.
    LockContention,
    /// The service poolstorm started exited during the cell.
    TargetDied,
}

impl Verdict {
    pub const ALL: &'static [Verdict] = <Verdict as strum::VariantArray>::VARIANTS;

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Parses a verdict's name; an unknown one is refused with the list of names.
    pub fn parse(s: &str) -> Result<Self, UnknownVerdict> {
        s.parse().map_err(|_| UnknownVerdict(s.to_owned()))
    }
}

/// A name that is no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown verdict `{0}`; verdicts are {names}",
    names = Verdict::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
)]
pub struct UnknownVerdict(pub String);

/// The thresholds behind the verdicts (scenario section `[verdict]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub healthy_max_error_ratio: f64,
    pub starved_min_pool_timeout_ratio: f64,
    pub deadlock_min_saturated_share: f64,
    /// A probe round trip, or a running query of the app, at least this long is slow (ms).
    #[serde(default = "default_slow_ms")]
    pub database_slow_ms: f64,
}

fn default_slow_ms() -> f64 {
    1000.0
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            healthy_max_error_ratio: 0.01,
            starved_min_pool_timeout_ratio: 0.5,
            deadlock_min_saturated_share: 0.75,
            database_slow_ms: default_slow_ms(),
        }
    }
}

/// The service poolstorm started exited during the cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Death {
    /// Seconds from the start of the load.
    pub at_s: f64,
    /// "exit status 1", "signal 9 (SIGKILL)".
    pub status: String,
    /// The last lines of its log.
    pub log: String,
}

/// A verdict with when it set in and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    /// Seconds from the start of the load; `None` for healthy.
    pub onset_s: Option<f64>,
    /// The reason in words.
    pub evidence: String,
    /// The server sample the verdict rests on (deadlocked only).
    pub sample: Option<PoolSample>,
}

/// Fewest completions before a run under way calls errors a trend.
const LIVE_MIN_COMPLETED: u64 = 20;

/// What a verdict is judged from: the client's view (counts, stalls, when errors began) and
/// the server's (its pool samples). A finished run's report and a run under way both give
/// one, so the live view and the final verdict are the same rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<'a> {
    /// Seconds the load has run.
    pub elapsed_s: f64,
    /// The run is over (a run under way needs a few completions before errors are a trend).
    pub finished: bool,
    /// Requests finished with any outcome but `aborted`.
    pub completed: u64,
    pub ok: u64,
    pub pool_timeouts: u64,
    /// Completed requests that were not ok, by outcome, for the evidence.
    pub errors: Vec<(OutcomeKey, u64)>,
    /// The finished run's stalls, or the stall under way.
    pub stalls: Vec<Stall>,
    /// The server's pool samples, and what is known of their source (`None`: the target has
    /// no pool view).
    pub samples: &'a [PoolSample],
    pub source: Option<&'a SourceReport>,
    /// poolstorm's own view of the database (`None`: not watched).
    pub database: Option<&'a DbReport>,
    /// The service poolstorm started, when it died during the cell.
    pub death: Option<Death>,
    /// When the first pool timeout came, in seconds from the start.
    pub first_pool_timeout_s: Option<f64>,
    /// When the first completion that was not ok came.
    pub first_error_s: Option<f64>,
    pub ok_rps: f64,
    pub p99_us: u64,
}

impl<'a> Observed<'a> {
    /// A run under way, from the live view and the pool so far.
    pub fn live(live: &Live, samples: &'a [PoolSample], source: Option<&'a SourceReport>) -> Self {
        let elapsed_s = live.elapsed.as_secs_f64();
        let errors = Kind::ALL
            .iter()
            .copied()
            .filter(|k| !matches!(k, Kind::Ok | Kind::Aborted))
            .map(|k| (OutcomeKey::of(k), live.count(k)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let stalls = live
            .stalled_for
            .map(|quiet| Stall {
                onset_s: elapsed_s - quiet.as_secs_f64(),
                length_s: quiet.as_secs_f64(),
                in_flight_max: live.in_flight,
                ongoing: true,
            })
            .into_iter()
            .collect();
        Self {
            elapsed_s,
            finished: false,
            completed: live.completed() - live.count(Kind::Aborted),
            ok: live.count(Kind::Ok),
            pool_timeouts: live.count(Kind::PoolTimeout),
            errors,
            stalls,
            samples,
            source,
            database: None,
            death: None,
            first_pool_timeout_s: live.first_pool_timeout.map(|d| d.as_secs_f64()),
            first_error_s: live.first_error.map(|d| d.as_secs_f64()),
            ok_rps: live.count(Kind::Ok) as f64 / elapsed_s.max(1e-9),
            p99_us: live.latency_us.p99,
        }
    }

    /// The service's names for the gauges (none for target-app's `/debug/pool`).
    fn names(&self) -> &GaugeNames {
        static NONE: GaugeNames = GaugeNames::new();
        self.source.map_or(&NONE, |s| &s.names)
    }

    /// "40 of 100 completed requests ok, 60 errors".
    fn tally(&self) -> String {
        format!(
            "{} of {} completed requests ok, {} failed",
            count(self.ok),
            count(self.completed),
            count(self.completed - self.ok)
        )
    }

    fn ratio(&self, n: u64) -> f64 {
        if self.completed == 0 {
            0.0
        } else {
            n as f64 / self.completed as f64
        }
    }
}

/// The verdict on what was observed. Causes outside the pool come first: a service that
/// died, a database that went down; then each stall is read with the database beside the
/// pool (someone else's lock, a slow database, or an idle database under a full pool: a pool
/// deadlock); then starvation, health or degradation.
pub fn judge(o: &Observed<'_>, t: &Thresholds) -> Judgement {
    if let Some(death) = &o.death {
        return Judgement {
            verdict: Verdict::TargetDied,
            onset_s: Some(death.at_s),
            evidence: format!(
                "the target died at {} with {}; its log ends:\n{}",
                secs(death.at_s),
                death.status,
                death.log
            ),
            sample: None,
        };
    }
    if let Some((onset_s, why)) = o.database.and_then(database::down) {
        return Judgement {
            verdict: Verdict::DatabaseDown,
            onset_s: Some(onset_s),
            evidence: format!("database down at {}: {why}; {}", secs(onset_s), o.tally()),
            sample: None,
        };
    }
    for stall in &o.stalls {
        if let Some(j) = database_cause(o, stall, t).or_else(|| deadlock(o, stall, t)) {
            return j;
        }
    }
    if let Some(j) = slow_under_a_full_pool(o, t) {
        return j;
    }
    let error_ratio = o.ratio(o.completed - o.ok);
    if !o.finished && o.completed < LIVE_MIN_COMPLETED && o.stalls.is_empty() {
        return Judgement {
            verdict: Verdict::Healthy,
            onset_s: None,
            evidence: format!("{} completed so far, too few to judge", count(o.completed)),
            sample: None,
        };
    }
    if o.completed > 0 && o.ratio(o.pool_timeouts) >= t.starved_min_pool_timeout_ratio {
        return Judgement {
            verdict: Verdict::Starved,
            onset_s: o.first_pool_timeout_s,
            evidence: format!(
                "pool timeouts are {:.0}% of completed requests ({} of {}); ok {:.1}/s",
                o.ratio(o.pool_timeouts) * 100.0,
                count(o.pool_timeouts),
                count(o.completed),
                o.ok_rps
            ),
            sample: None,
        };
    }
    let errors: Vec<String> = o
        .errors
        .iter()
        .map(|(name, n)| format!("{name} {}", count(*n)))
        .collect();
    if o.stalls.is_empty() && error_ratio <= t.healthy_max_error_ratio {
        let note = if errors.is_empty() {
            String::new()
        } else {
            format!(" ({})", errors.join(", "))
        };
        return Judgement {
            verdict: Verdict::Healthy,
            onset_s: None,
            evidence: format!(
                "error ratio {:.2}%{note}, no stalls; ok {:.1}/s, p99 {}",
                error_ratio * 100.0,
                o.ok_rps,
                latency(o.p99_us)
            ),
            sample: None,
        };
    }
    let stall = o.stalls.first();
    let mut evidence = format!(
        "error ratio {:.2}% ({})",
        error_ratio * 100.0,
        errors.join(", ")
    );
    if let Some(s) = stall {
        evidence.push_str(&format!(
            "; a {} stall at {} that the server's pool does not explain",
            secs(s.length_s),
            secs(s.onset_s)
        ));
    }
    if let (Some(s), Some(d)) = (stall, o.database) {
        let (from, to) = window(s);
        if let Some((n, why)) = database::unanswered(d, from, to) {
            evidence.push_str(&format!(
                "; poolstorm's probe of the database failed {n} times during it ({why})"
            ));
        } else if let Some(during) = database::During::of(d, from, to) {
            evidence.push_str(&format!("; {}", during.described()));
        }
    }
    if let Some(silence) = o.source.and_then(SourceReport::silence) {
        evidence.push_str(&format!("; {silence}"));
    }
    Judgement {
        verdict: Verdict::Degraded,
        onset_s: stall.map(|s| s.onset_s).or(o.first_error_s),
        evidence,
        sample: None,
    }
}

/// The stretch of a stall in milliseconds.
fn window(stall: &Stall) -> (u64, u64) {
    (
        (stall.onset_s * 1000.0) as u64,
        ((stall.onset_s + stall.length_s) * 1000.0) as u64,
    )
}

/// A stall the database explains: the app's sessions wait on someone's lock, or the
/// database (or the app's queries in it) is slow.
fn database_cause(o: &Observed<'_>, stall: &Stall, t: &Thresholds) -> Option<Judgement> {
    let (from, to) = window(stall);
    let during = database::During::of(o.database?, from, to)?;
    let quiet = quiet_words(o, stall);
    if let Some(locks) = during.lock_contention(t.deadlock_min_saturated_share) {
        return Some(Judgement {
            verdict: Verdict::LockContention,
            onset_s: Some(stall.onset_s),
            evidence: format!("{quiet}; {locks}"),
            sample: None,
        });
    }
    let slow = during.slowness(t.database_slow_ms)?;
    let pool = pool_during(o, from, to)
        .map(|s| format!("; {}", s.describe(o.names())))
        .unwrap_or_default();
    Some(Judgement {
        verdict: Verdict::DatabaseSlow,
        onset_s: Some(stall.onset_s),
        evidence: format!("{quiet}; {slow}{pool}"),
        sample: None,
    })
}

/// Share of the pool samples that must be saturated before a slow database is the cause of a
/// run that kept going.
const SLOW_MIN_SATURATED_SHARE: f64 = 0.5;

/// No stall, but the pool was full with callers waiting for most of the run while the
/// database, at those moments, was slow: the database is the bottleneck, not the pool size.
fn slow_under_a_full_pool(o: &Observed<'_>, t: &Thresholds) -> Option<Judgement> {
    let database = o.database?;
    let full: Vec<&PoolSample> = o.samples.iter().filter(|s| s.saturated()).collect();
    if o.samples.is_empty()
        || (full.len() as f64 / o.samples.len() as f64) < SLOW_MIN_SATURATED_SHARE
    {
        return None;
    }
    let times: Vec<u64> = full.iter().map(|s| s.t_ms).collect();
    let slow = database::During::near(database, &times)?.slowness(t.database_slow_ms)?;
    let first = full[0];
    Some(Judgement {
        verdict: Verdict::DatabaseSlow,
        onset_s: Some(first.t_ms as f64 / 1000.0),
        evidence: format!(
            "the pool was full in {:.0}% of the samples ({}); {slow}; {}",
            full.len() as f64 / o.samples.len() as f64 * 100.0,
            full[full.len() / 2].describe(o.names()),
            o.tally()
        ),
        sample: None,
    })
}

/// A saturated pool sample from within `[from, to]`, if any.
fn pool_during<'a>(o: &Observed<'a>, from: u64, to: u64) -> Option<&'a PoolSample> {
    let saturated: Vec<&PoolSample> = o
        .samples
        .iter()
        .filter(|s| s.t_ms >= from && s.t_ms <= to && s.saturated())
        .collect();
    saturated.get(saturated.len() / 2).copied()
}

/// "no completions for 3.1 s from 0.4 s with 32 requests in flight".
fn quiet_words(o: &Observed<'_>, stall: &Stall) -> String {
    format!(
        "no completions for {} from {} with {} requests in flight{}",
        secs(stall.length_s),
        secs(stall.onset_s),
        stall.in_flight_max,
        if stall.ongoing && o.finished {
            " (still stuck at the end)"
        } else {
            ""
        }
    )
}

/// A deadlock during `stall`: the server's pool (or blocking pool) saturated in enough of the
/// samples taken during it while the database, where watched, sat idle; or any stall when
/// there is no server view at all.
fn deadlock(o: &Observed<'_>, stall: &Stall, t: &Thresholds) -> Option<Judgement> {
    let (from, to) = window(stall);
    let quiet = quiet_words(o, stall);
    if o.samples.is_empty() {
        let why = o
            .source
            .and_then(|s| {
                Some(format!(
                    ": {} gave no sample ({})",
                    s.url,
                    s.gaps.first()?.reason
                ))
            })
            .unwrap_or_default();
        return Some(Judgement {
            verdict: Verdict::Deadlocked,
            onset_s: Some(stall.onset_s),
            evidence: format!("{quiet}; no server pool view{why} (client-side stall only)"),
            sample: None,
        });
    }
    let during: Vec<&PoolSample> = o
        .samples
        .iter()
        .filter(|s| s.t_ms >= from && s.t_ms <= to)
        .collect();
    let saturated: Vec<&&PoolSample> = during.iter().filter(|s| s.saturated()).collect();
    if during.is_empty()
        || (saturated.len() as f64 / during.len() as f64) < t.deadlock_min_saturated_share
    {
        return None;
    }
    let sample = **saturated[saturated.len() / 2];
    // Where poolstorm watches the database, a pool deadlock also needs it idle under the
    // app: answering, and none of the app's sessions running a statement or waiting on a lock.
    let database = match o.database {
        None => String::new(),
        Some(d) => {
            if database::unanswered(d, from, to).is_some() {
                return None;
            }
            match database::During::of(d, from, to) {
                Some(during) if during.idle(t.deadlock_min_saturated_share) => {
                    format!("; {}", during.described())
                }
                Some(_) => return None,
                None => String::new(),
            }
        }
    };
    Some(Judgement {
        verdict: Verdict::Deadlocked,
        onset_s: Some(stall.onset_s),
        evidence: format!("{quiet}; {}{database}", sample.describe(o.names())),
        sample: Some(sample),
    })
}

mod database;

#[cfg(test)]
mod tests;
