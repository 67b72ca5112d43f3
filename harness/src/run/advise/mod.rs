//! `poolstorm advise`: the smallest pool that never locks, measured. For every task, Cm (the
//! most connections one request holds at once) from the service's own count or by the
//! pool-of-N probe; the floor `Tn x (Cm - 1) + 1` (or what the scenario's rules predict); a
//! bisection over pool sizes under a worst-case load, each size run `repeat` times and
//! stopped at its first lock; then throughput and p99 at and above the minimum.
//!
//! Every run is a cell of a [`Session`], so each has its verdict, evidence and files in the
//! results folder like any `poolstorm run` cell.

mod cm;
mod search;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::base::param::ParamValue;
use crate::export::{self, ExportManager};
use crate::results::advice::{Advice, RuleFloor, SCHEMA};
use crate::run::experiment::{RunError, RunOptions, Session};
use crate::run::scenario::{Cell, Scenario};
use crate::verdict::Verdict;
use crate::watch::monitor::Monitor;

/// How `poolstorm advise` runs.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// Results go to `out/<scenario>/<timestamp>/`.
    pub out: PathBuf,
    /// Runs per pool size (a size locks when any run locks).
    pub repeat: u32,
    /// How long each run of the search and the curve lasts.
    pub duration: Duration,
    /// The parameter that sizes the pool.
    pub pool_param: String,
    /// The parameter that counts the threads holding connections (Tn).
    pub threads_param: String,
    /// Measure Cm by the probe even where the service counts it.
    pub probe_only: bool,
    /// `--set` as given, for the report.
    pub set: Vec<String>,
}

/// Why no advice could be given.
#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error("{0}")]
    Scenario(String),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Measure(String),
    #[error("interrupted")]
    Interrupted,
}

/// Work (ms) on the first connection before the second is needed, at least: every thread then
/// holds one when the first asks for another, the worst case the formula is about.
const WORST_CASE_WORK_MS: i64 = 200;

/// What every run of one advise shares.
struct Runner<'a> {
    options: &'a AdviseOptions,
    stop: &'a CancellationToken,
    monitor: &'a mut dyn Monitor,
    /// The scenario's first cell: every value the search does not set.
    base: BTreeMap<String, ParamValue>,
    next_index: usize,
}

impl Runner<'_> {
    /// The base values with `drop` left out and `set` over them.
    fn values(&self, set: &[(&str, ParamValue)], drop: &[&str]) -> BTreeMap<String, ParamValue> {
        let mut values = self.base.clone();
        for name in drop {
            values.remove(*name);
        }
        for (name, value) in set {
            values.insert((*name).to_owned(), value.clone());
        }
        values
    }

    /// The next cell to run: the base values with `set` over them, labelled by what `label`
    /// names of it.
    fn cell(&mut self, set: &[(&str, ParamValue)], drop: &[&str], label: &[&str]) -> Cell {
        self.next_index += 1;
        Cell {
            index: self.next_index,
            varying: set
                .iter()
                .filter(|(k, _)| label.contains(k))
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            values: self.values(set, drop),
        }
    }

    fn check_stop(&self) -> Result<(), AdviseError> {
        if self.stop.is_cancelled() {
            Err(AdviseError::Interrupted)
        } else {
            Ok(())
        }
    }
}

fn int(value: Option<&ParamValue>) -> Option<u64> {
    value
        .and_then(ParamValue::as_int)
        .and_then(|n| u64::try_from(n).ok())
}

/// Runs the advice for `scenario`; returns it with the results folder of the search.
pub async fn advise(
    scenario: &Scenario,
    options: &AdviseOptions,
    stop: &CancellationToken,
    monitor: &mut dyn Monitor,
) -> Result<(Advice, PathBuf), AdviseError> {
    let started = std::time::Instant::now();
    let Some(first) = scenario.cells.first() else {
        return Err(AdviseError::Scenario("the scenario has no cell".to_owned()));
    };
    if !scenario.target.is_started() {
        return Err(AdviseError::Scenario(
            "advise starts the service at each pool size: it needs a managed target-app or a command target, not an external URL".to_owned(),
        ));
    }
    for (flag, name) in [
        ("--pool-param", &options.pool_param),
        ("--threads-param", &options.threads_param),
    ] {
        if first.get(name).is_none() {
            return Err(AdviseError::Scenario(format!(
                "{flag} {name}: the scenario has no parameter or var `{name}`"
            )));
        }
    }
    let threads = int(first.get(&options.threads_param)).ok_or_else(|| {
        AdviseError::Scenario(format!(
            "--threads-param {}: `{}` is not a whole number",
            options.threads_param,
            first.get(&options.threads_param).expect("checked above")
        ))
    })?;
    let managed = scenario.target.is_target_app();
    let mut runner = Runner {
        options,
        stop,
        monitor,
        base: first.values.clone(),
        next_index: 0,
    };

    // Cm per task, each in a session of its own (the task alone).
    let mut tasks = Vec::new();
    for (i, task) in scenario.tasks.iter().enumerate() {
        let mut alone = scenario.clone();
        alone.tasks = vec![task.clone()];
        alone.name = format!("{}-cm{}", scenario.name, i + 1);
        let name = task
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {}", task.method, task.path));
        tasks.push(cm::measure(&mut runner, &alone, &name, managed, threads).await?);
    }
    let cm = tasks.iter().map(|t| t.cm).max().unwrap_or(1);
    let formula_floor = threads * (cm - 1) + 1;

    // The worst-case load: at least a user per thread, work on A before B (target-app).
    let users = int(first.get("users")).unwrap_or(10).max(threads);
    let mut worst: Vec<(&str, ParamValue)> = vec![
        ("users", ParamValue::Int(users as i64)),
        (
            "duration",
            ParamValue::Text(format!("{}ms", options.duration.as_millis())),
        ),
    ];
    if managed {
        let work = first
            .get("work_ms")
            .and_then(ParamValue::as_int)
            .unwrap_or(0);
        worst.push(("work_ms", ParamValue::Int(work.max(WORST_CASE_WORK_MS))));
    }
    let rule_floor = rule_floor(scenario, &runner, &worst, formula_floor.max(users));

    let mut search_scenario = scenario.clone();
    search_scenario.stall.stop_on_deadlock = true;
    let run_options = RunOptions {
        out: options.out.clone(),
        set: options.set.clone(),
        quick: false,
    };
    let mut session = Session::start(&search_scenario, &run_options).await?;
    let start_at = rule_floor.as_ref().map_or(formula_floor, |r| r.pool);
    let found = search::run(&mut runner, &mut session, &worst, start_at).await;
    let (trials, measured_minimum, curve) = match found {
        Ok(found) => found,
        Err(e) => {
            let _ = session.finish(Ok(()), 0, stop).await;
            return Err(e);
        }
    };
    let enough = search::enough(&curve, measured_minimum);
    let mut advice = Advice {
        schema: SCHEMA.to_owned(),
        scenario: scenario.name.clone(),
        pool_param: options.pool_param.clone(),
        threads_param: options.threads_param.clone(),
        threads,
        users,
        tasks,
        cm,
        formula_floor,
        rule_floor,
        repeat: options.repeat,
        trials,
        measured_minimum,
        curve,
        enough,
        summary: Vec::new(),
        elapsed_s: 0.0,
    };
    advice.summary = summary(&advice);
    advice.elapsed_s = started.elapsed().as_secs_f64();
    session.annotate(advice.clone())?;
    let cells = session.cells();
    let (_, dir) = session.finish(Ok(()), cells, stop).await?;
    let mut file = ExportManager::default();
    file.add(&export::ADVICE, dir.join(export::ADVICE.name))
        .and_then(|()| file.write(&advice))
        .map_err(RunError::from)?;
    Ok((advice, dir))
}

/// The pool size the scenario's rules predict as the smallest that never locks: every size
/// from it up to `cap` has a rule expecting `healthy` and none expecting a lock. `None` when
/// the rules do not decide (no rule mentions the pool, or they leave sizes open).
fn rule_floor(
    scenario: &Scenario,
    runner: &Runner<'_>,
    worst: &[(&str, ParamValue)],
    cap: u64,
) -> Option<RuleFloor> {
    let pool_param = runner.options.pool_param.clone();
    let predict = |pool: u64, runner: &Runner<'_>| -> (Option<bool>, Vec<String>) {
        let mut set = worst.to_vec();
        set.push((pool_param.as_str(), ParamValue::Int(pool as i64)));
        let cell = Cell {
            index: 0,
            varying: indexmap::IndexMap::new(),
            values: runner.values(&set, &[]),
        };
        let mut healthy = Vec::new();
        let mut lock = false;
        for rule in &scenario.rules {
            let Some(when) = &rule.when else { continue };
            if !when.source().contains(&pool_param) {
                continue;
            }
            if !matches!(when.holds(&|name| scenario.lookup(&cell, name)), Ok(true)) {
                continue;
            }
            if rule.verdicts.contains(&Verdict::Healthy) {
                healthy.push(rule.name.clone());
            } else if !rule.verdicts.is_empty()
                && rule
                    .verdicts
                    .iter()
                    .all(|v| matches!(v, Verdict::Deadlocked | Verdict::Starved))
            {
                lock = true;
            }
        }
        match (lock, healthy.is_empty()) {
            (true, _) => (Some(false), Vec::new()),
            (false, false) => (Some(true), healthy),
            (false, true) => (None, Vec::new()),
        }
    };
    let mut floor: Option<RuleFloor> = None;
    for pool in (1..=cap.max(2) * 2).rev() {
        match predict(pool, runner) {
            (Some(true), rules) => floor = Some(RuleFloor { pool, rules }),
            (Some(false), _) => return floor,
            (None, _) => return None,
        }
    }
    floor
}

/// The findings in words.
fn summary(a: &Advice) -> Vec<String> {
    let mut out = vec![format!(
        "floor: {} x ({} - 1) + 1 = {} (Tn = {}, Cm = {})",
        a.threads, a.cm, a.formula_floor, a.threads, a.cm
    )];
    if let Some(r) = &a.rule_floor {
        out.push(format!(
            "the scenario's rules predict {} ({})",
            r.pool,
            r.rules.join("; ")
        ));
    }
    let below = a
        .trials
        .iter()
        .rev()
        .find(|t| t.pool + 1 == a.measured_minimum && t.locked());
    let mut measured = format!(
        "measured minimum: {} = {} (no lock in {} runs)",
        a.pool_param, a.measured_minimum, a.repeat
    );
    if let Some(t) = below {
        measured.push_str(&format!(
            "; {} locked: {} at {}",
            t.pool,
            t.verdict.name(),
            crate::base::human::secs(t.onset_s.unwrap_or_default())
        ));
    }
    out.push(measured);
    let predicted = a.rule_floor.as_ref().map_or(a.formula_floor, |r| r.pool);
    if a.measured_minimum != predicted {
        out.push(format!(
            "the measured minimum differs from the predicted {predicted}: see the runs at {} and {} above",
            a.measured_minimum.saturating_sub(1).max(1),
            a.measured_minimum
        ));
    } else {
        out.push(format!(
            "the measured minimum is the predicted floor, {predicted}"
        ));
    }
    out.push(format!(
        "throughput stops paying at {} = {}: larger pools on the curve are within 5 % of the best",
        a.pool_param, a.enough
    ));
    out
}
