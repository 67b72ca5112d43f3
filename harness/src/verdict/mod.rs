//! Verdicts: what a cell's measurements say about its pool, judged from the client's view
//! (outcomes, stalls) and the server's own (pool samples taken 4 times a second). One engine,
//! [`judge`], serves the live view while a run goes and the final verdict after it.
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

use crate::human::{count, latency};
use crate::metrics::{Kind, Live, Stall};
use crate::observe::{GaugeNames, PoolSample, SourceReport};

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
    pub errors: Vec<(String, u64)>,
    /// The finished run's stalls, or the stall under way.
    pub stalls: Vec<Stall>,
    /// The server's pool samples, and what is known of their source (`None`: the target has
    /// no pool view).
    pub samples: &'a [PoolSample],
    pub source: Option<&'a SourceReport>,
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
            .into_iter()
            .filter(|k| !matches!(k, Kind::Ok | Kind::Aborted))
            .map(|k| (k.name().to_owned(), live.count(k)))
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

    fn ratio(&self, n: u64) -> f64 {
        if self.completed == 0 {
            0.0
        } else {
            n as f64 / self.completed as f64
        }
    }
}

/// The verdict on what was observed.
pub fn judge(o: &Observed<'_>, t: &Thresholds) -> Judgement {
    for stall in &o.stalls {
        if let Some(j) = deadlock(o, stall, t) {
            return j;
        }
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
            "; a {:.1} s stall at {:.1} s that the server's pool does not explain",
            s.length_s, s.onset_s
        ));
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

/// A deadlock during `stall`: the server's pool (or blocking pool) saturated in enough of the
/// samples taken during it, or any stall when there is no server view at all.
fn deadlock(o: &Observed<'_>, stall: &Stall, t: &Thresholds) -> Option<Judgement> {
    let (from, to) = (
        (stall.onset_s * 1000.0) as u64,
        ((stall.onset_s + stall.length_s) * 1000.0) as u64,
    );
    let quiet = format!(
        "no completions for {:.1} s from {:.1} s with {} requests in flight{}",
        stall.length_s,
        stall.onset_s,
        stall.in_flight_max,
        if stall.ongoing && o.finished {
            " (still stuck at the end)"
        } else {
            ""
        }
    );
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
    Some(Judgement {
        verdict: Verdict::Deadlocked,
        onset_s: Some(stall.onset_s),
        evidence: format!("{quiet}; {}", sample.describe(o.names())),
        sample: Some(sample),
    })
}

#[cfg(test)]
mod tests;
