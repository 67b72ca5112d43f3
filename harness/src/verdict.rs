//! Verdicts: what a cell's measurements say about its pool, judged from the client's view
//! (outcomes, stalls) and the server's own (`/debug/pool` samples taken 4 times a second).
//!
//! - `deadlocked`: a stall (no completions for the stall window while requests are in
//!   flight) during which the server showed its pool saturated with waiters, or its blocking
//!   pool full with jobs queued, in at least `deadlock_min_saturated_share` of the samples;
//! - `starved`: not deadlocked, and pool timeouts are at least
//!   `starved_min_pool_timeout_ratio` of the completed requests;
//! - `healthy`: no stall, and an error ratio of at most `healthy_max_error_ratio`;
//! - `degraded`: anything else (errors or timeouts above the threshold, or a stall the
//!   server's pool does not explain) while progress continues.

use serde::{Deserialize, Serialize};

use crate::report::LoadReport;
use crate::report::text::count;

/// The verdict on one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Healthy,
    Degraded,
    Starved,
    Deadlocked,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::Healthy,
        Verdict::Degraded,
        Verdict::Starved,
        Verdict::Deadlocked,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Degraded => "degraded",
            Verdict::Starved => "starved",
            Verdict::Deadlocked => "deadlocked",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown verdict `{s}`; verdicts are healthy, degraded, starved, deadlocked"
                )
            })
    }
}

/// The thresholds behind the verdicts (scenario section `[verdict]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub healthy_max_error_ratio: f64,
    pub starved_min_pool_timeout_ratio: f64,
    pub deadlock_min_saturated_share: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            healthy_max_error_ratio: 0.01,
            starved_min_pool_timeout_ratio: 0.5,
            deadlock_min_saturated_share: 0.75,
        }
    }
}

/// The server's pool state at one moment (from target-app's `/debug/pool`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSample {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    pub pool_max: u64,
    pub pool_in_use: u64,
    pub pool_waiting: u64,
    pub acquire_timeouts: u64,
    pub blocking_threads: u64,
    pub blocking_busy: u64,
    pub blocking_queued: u64,
    pub teardown_pending: u64,
    pub requests_in_flight: u64,
}

impl PoolSample {
    /// Every connection lent out and callers waiting for one.
    pub fn pool_saturated(&self) -> bool {
        self.pool_max > 0 && self.pool_in_use >= self.pool_max && self.pool_waiting > 0
    }

    /// Every blocking thread busy and jobs queued for one.
    pub fn blocking_saturated(&self) -> bool {
        self.blocking_threads > 0
            && self.blocking_busy >= self.blocking_threads
            && self.blocking_queued > 0
    }

    pub fn saturated(&self) -> bool {
        self.pool_saturated() || self.blocking_saturated()
    }

    /// The state in words: "8/8 blocking threads wait for a connection; 4/4 connections held
    /// by requests whose teardown is queued".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.blocking_saturated() && self.pool_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy and {} jobs queued while {} wait for a connection",
                self.blocking_busy, self.blocking_threads, self.blocking_queued, self.pool_waiting
            ));
        } else if self.blocking_saturated() {
            parts.push(format!(
                "{}/{} blocking threads busy, {} jobs queued",
                self.blocking_busy, self.blocking_threads, self.blocking_queued
            ));
        } else if self.pool_saturated() {
            parts.push(format!(
                "{} callers wait for a connection",
                self.pool_waiting
            ));
        }
        if self.teardown_pending > 0 {
            parts.push(format!(
                "{}/{} connections held by requests whose teardown is queued ({} pending)",
                self.pool_in_use.min(self.teardown_pending),
                self.pool_max,
                self.teardown_pending
            ));
        } else {
            parts.push(format!(
                "{}/{} connections in use",
                self.pool_in_use, self.pool_max
            ));
        }
        parts.join("; ")
    }
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

/// Fewest completions before the live view calls errors a trend.
const LIVE_MIN_COMPLETED: u64 = 20;

/// The verdict the run so far points to, for the live view: the same definitions as
/// [`judge`], applied to the counts so far and the latest server sample.
pub fn provisional(
    live: &crate::metrics::Live,
    sample: Option<&PoolSample>,
    t: &Thresholds,
) -> Judgement {
    use crate::metrics::Kind;
    let elapsed = live.elapsed.as_secs_f64();
    if let Some(quiet) = live.stalled_for {
        let onset = elapsed - quiet.as_secs_f64();
        let quiet_words = format!(
            "no completions for {:.1} s with {} requests in flight",
            quiet.as_secs_f64(),
            live.in_flight
        );
        match sample {
            Some(s) if s.saturated() => {
                return Judgement {
                    verdict: Verdict::Deadlocked,
                    onset_s: Some(onset),
                    evidence: format!("{}; {quiet_words}", s.describe()),
                    sample: Some(*s),
                };
            }
            None => {
                return Judgement {
                    verdict: Verdict::Deadlocked,
                    onset_s: Some(onset),
                    evidence: format!("{quiet_words} (client-side stall only)"),
                    sample: None,
                };
            }
            Some(_) => {}
        }
    }
    let completed = live.completed() - live.count(Kind::Aborted);
    let ok = live.count(Kind::Ok);
    let pool_timeouts = live.count(Kind::PoolTimeout);
    let ratio = |n: u64| {
        if completed == 0 {
            0.0
        } else {
            n as f64 / completed as f64
        }
    };
    let verdict = if completed < LIVE_MIN_COMPLETED && live.stalled_for.is_none() {
        Verdict::Healthy
    } else if ratio(pool_timeouts) >= t.starved_min_pool_timeout_ratio {
        Verdict::Starved
    } else if live.stalled_for.is_some() || ratio(completed - ok) > t.healthy_max_error_ratio {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    };
    let evidence = format!(
        "{} of {} completed requests ok, {} pool timeouts; {:.0} req/s now",
        count(ok),
        count(completed),
        count(pool_timeouts),
        live.recent_rps
    );
    Judgement {
        verdict,
        onset_s: (verdict != Verdict::Healthy).then_some(elapsed),
        evidence,
        sample: sample.copied(),
    }
}

/// Judges one cell.
pub fn judge(report: &LoadReport, samples: &[PoolSample], t: &Thresholds) -> Judgement {
    for stall in &report.stalls {
        let (from, to) = (
            (stall.onset_s * 1000.0) as u64,
            ((stall.onset_s + stall.length_s) * 1000.0) as u64,
        );
        let during: Vec<&PoolSample> = samples
            .iter()
            .filter(|s| s.t_ms >= from && s.t_ms <= to)
            .collect();
        let quiet = format!(
            "no completions for {:.1} s from {:.1} s with {} requests in flight{}",
            stall.length_s,
            stall.onset_s,
            stall.in_flight_max,
            if stall.ongoing {
                " (still stuck at the end)"
            } else {
                ""
            }
        );
        if samples.is_empty() {
            return Judgement {
                verdict: Verdict::Deadlocked,
                onset_s: Some(stall.onset_s),
                evidence: format!("{quiet}; no server pool view (client-side stall only)"),
                sample: None,
            };
        }
        let saturated: Vec<&&PoolSample> = during.iter().filter(|s| s.saturated()).collect();
        let share = if during.is_empty() {
            0.0
        } else {
            saturated.len() as f64 / during.len() as f64
        };
        if !during.is_empty() && share >= t.deadlock_min_saturated_share {
            let sample = **saturated[saturated.len() / 2];
            return Judgement {
                verdict: Verdict::Deadlocked,
                onset_s: Some(stall.onset_s),
                evidence: format!("{quiet}; {}", sample.describe()),
                sample: Some(sample),
            };
        }
    }
    let completed = report.requests.completed;
    let pool_timeouts = report.outcome("pool_timeout");
    let ratio = |n: u64| {
        if completed == 0 {
            0.0
        } else {
            n as f64 / completed as f64
        }
    };
    let first_second = |pred: &dyn Fn(&crate::metrics::Second) -> bool| {
        report
            .timeline
            .iter()
            .find(|s| pred(s))
            .map(|s| f64::from(s.t))
    };
    if completed > 0 && ratio(pool_timeouts) >= t.starved_min_pool_timeout_ratio {
        return Judgement {
            verdict: Verdict::Starved,
            onset_s: first_second(&|s| s.pool_timeout > 0),
            evidence: format!(
                "pool timeouts are {:.0}% of completed requests ({} of {}); ok {:.1}/s",
                ratio(pool_timeouts) * 100.0,
                count(pool_timeouts),
                count(completed),
                report.ok_rps
            ),
            sample: None,
        };
    }
    let errors: Vec<String> = report
        .outcomes
        .iter()
        .filter(|(k, n)| *k != "ok" && *k != "aborted" && **n > 0)
        .map(|(k, n)| format!("{k} {}", count(*n)))
        .collect();
    if report.stalls.is_empty() && report.error_ratio <= t.healthy_max_error_ratio {
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
                report.error_ratio * 100.0,
                report.ok_rps,
                crate::report::text::latency(report.latency_us.p99)
            ),
            sample: None,
        };
    }
    let stall = report.stalls.first();
    let onset = stall
        .map(|s| s.onset_s)
        .or_else(|| first_second(&|s| s.completed > s.ok + s.aborted));
    let mut evidence = format!(
        "error ratio {:.2}% ({})",
        report.error_ratio * 100.0,
        errors.join(", ")
    );
    if let Some(s) = stall {
        evidence.push_str(&format!(
            "; a {:.1} s stall at {:.1} s that the server's pool does not explain",
            s.length_s, s.onset_s
        ));
    }
    Judgement {
        verdict: Verdict::Degraded,
        onset_s: onset,
        evidence,
        sample: None,
    }
}

#[cfg(test)]
mod tests;
