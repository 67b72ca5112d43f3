//! The search: pool sizes run under the worst-case load, each `repeat` times and stopped at its
//! first lock; from the predicted floor, doubling until a size holds, then the size just below
//! (where the prediction is right, that one locks and the search is over), then bisection down
//! to the smallest size that holds with the next smaller one seen to lock. Then the curve: the
//! scenario's own load at the minimum and a few sizes above it.

use std::collections::BTreeMap;

use super::{AdviseError, Runner};
use crate::base::param::ParamValue;
use crate::results::advice::{CurvePoint, Trial};
use crate::run::experiment::Session;
use crate::verdict::Verdict;

/// Beyond this the search gives up: a pool this large that still locks is not a sizing
/// question.
const LARGEST: u64 = 4096;
/// Throughput within this share of the best on the curve is "enough".
const ENOUGH_SHARE: f64 = 0.95;

/// What the search found: every trial, the measured minimum, and the curve.
pub(super) type Found = (Vec<Trial>, u64, Vec<CurvePoint>);

struct Search<'r, 'a, 's, 'x> {
    runner: &'r mut Runner<'a>,
    session: &'r mut Session<'s>,
    worst: &'x [(&'x str, ParamValue)],
    trials: Vec<Trial>,
    /// Sizes measured so far: whether they locked.
    known: BTreeMap<u64, bool>,
}

impl Search<'_, '_, '_, '_> {
    /// Runs `pool` up to `repeat` times; true at the first lock.
    async fn locks(&mut self, pool: u64) -> Result<bool, AdviseError> {
        if let Some(locked) = self.known.get(&pool) {
            return Ok(*locked);
        }
        let pool_param = self.runner.options.pool_param.clone();
        let mut locked = false;
        for run in 1..=self.runner.options.repeat {
            self.runner.check_stop()?;
            let mut set = self.worst.to_vec();
            set.push((pool_param.as_str(), ParamValue::Int(pool as i64)));
            let cell = self
                .runner
                .cell(&set, &["rate", "requests"], &[&pool_param]);
            let trial = trial(
                pool,
                run,
                self.session
                    .run_cell(&cell, self.runner.stop, &mut *self.runner.monitor)
                    .await?,
            )?;
            locked = trial.locked();
            self.trials.push(trial);
            if locked {
                break;
            }
        }
        self.known.insert(pool, locked);
        Ok(locked)
    }
}

/// A run as a trial; a run the pool does not explain (the database or the service failed, or
/// it did not run) stops the search: its answer would be about something else.
fn trial(
    pool: u64,
    run: u32,
    report: &crate::results::scenario::CellReport,
) -> Result<Trial, AdviseError> {
    let (Some(judgement), Some(load)) = (&report.judgement, &report.load) else {
        return Err(AdviseError::Measure(format!(
            "the run at pool {pool} did not run: {}",
            report.error.as_deref().unwrap_or("no reason given")
        )));
    };
    if matches!(
        judgement.verdict,
        Verdict::DatabaseDown
            | Verdict::DatabaseSlow
            | Verdict::LockContention
            | Verdict::TargetDied
    ) {
        return Err(AdviseError::Measure(format!(
            "the run at pool {pool} was {}: {}; the search stops, as its answer would not be about the pool",
            judgement.verdict, judgement.evidence
        )));
    }
    Ok(Trial {
        pool,
        run,
        verdict: judgement.verdict,
        onset_s: judgement.onset_s,
        evidence: judgement.evidence.clone(),
        ok_rps: load.ok_rps,
        p99_us: load.latency_us.p99,
    })
}

/// Searches from `start_at`, then runs the curve.
pub(super) async fn run(
    runner: &mut Runner<'_>,
    session: &mut Session<'_>,
    worst: &[(&str, ParamValue)],
    start_at: u64,
) -> Result<Found, AdviseError> {
    let mut search = Search {
        runner,
        session,
        worst,
        trials: Vec::new(),
        known: BTreeMap::new(),
    };
    let mut hi = start_at.max(1);
    while search.locks(hi).await? {
        hi *= 2;
        if hi > LARGEST {
            return Err(AdviseError::Measure(format!(
                "the pool still locks at {}; giving up",
                hi / 2
            )));
        }
    }
    // Where the prediction is right, the size just below it locks and the search is over.
    if hi > 1 {
        search.locks(hi - 1).await?;
    }
    let mut lo = search
        .known
        .iter()
        .filter(|(pool, locked)| **locked && **pool < hi)
        .map(|(pool, _)| *pool)
        .max()
        .unwrap_or(0);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if search.locks(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let minimum = hi;
    let mut sizes = vec![
        minimum,
        minimum + 1,
        minimum + 2,
        minimum + minimum / 2,
        minimum * 2,
    ];
    sizes.sort_unstable();
    sizes.dedup();
    let duration = ParamValue::Text(format!("{}ms", search.runner.options.duration.as_millis()));
    let pool_param = search.runner.options.pool_param.clone();
    let mut curve = Vec::new();
    for pool in sizes {
        search.runner.check_stop()?;
        let set = [
            (pool_param.as_str(), ParamValue::Int(pool as i64)),
            ("duration", duration.clone()),
        ];
        let cell = search
            .runner
            .cell(&set, &["rate", "requests"], &[&pool_param]);
        let report = search
            .session
            .run_cell(&cell, search.runner.stop, &mut *search.runner.monitor)
            .await?;
        let t = trial(pool, 1, report)?;
        curve.push(CurvePoint {
            pool,
            verdict: t.verdict,
            ok_rps: t.ok_rps,
            p99_us: t.p99_us,
        });
    }
    Ok((search.trials, minimum, curve))
}

/// The smallest size on the curve within [`ENOUGH_SHARE`] of its best throughput.
pub(super) fn enough(curve: &[CurvePoint], minimum: u64) -> u64 {
    let best = curve.iter().map(|p| p.ok_rps).fold(0.0, f64::max);
    curve
        .iter()
        .find(|p| p.ok_rps >= best * ENOUGH_SHARE)
        .map_or(minimum, |p| p.pool)
}
