//! What `poolstorm advise` found: Cm per task, the formula's floor (and the scenario's rules'),
//! every trial of the search, the measured smallest pool that never locked, and the
//! throughput curve above it; `advice.json` (docs/advice.md) and its terminal table.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::base::human::{latency, secs};
use crate::verdict::Verdict;

/// Identifies the JSON layout; bumped when a field changes meaning.
pub const SCHEMA: &str = "poolstorm.advice/v1";

/// Cm of one task: the most connections one of its requests held at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskCm {
    pub task: String,
    pub cm: u64,
    /// `metrics` (the service's own count, target-app's `max_connections_held`) or `probe`
    /// (one request at a time on a pool of N, N = 1, 2, ...: a request that cannot finish
    /// means Cm > N).
    pub source: String,
    /// What was seen, in words.
    pub evidence: String,
}

/// The floor a scenario's own rules predict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFloor {
    pub pool: u64,
    /// The rules that predict it.
    pub rules: Vec<String>,
}

/// One run of the search at one pool size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub pool: u64,
    /// 1-based repetition at this size.
    pub run: u32,
    pub verdict: Verdict,
    pub onset_s: Option<f64>,
    pub evidence: String,
    pub ok_rps: f64,
    pub p99_us: u64,
}

impl Trial {
    /// The pool locked: a deadlock, or starvation by pool timeouts.
    pub fn locked(&self) -> bool {
        matches!(self.verdict, Verdict::Deadlocked | Verdict::Starved)
    }
}

/// Throughput and latency at one pool size, under the scenario's own load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub pool: u64,
    pub verdict: Verdict,
    pub ok_rps: f64,
    pub p99_us: u64,
}

/// `advice.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    pub schema: String,
    pub scenario: String,
    /// The parameter that sizes the pool (`pool_max`), and the one that counts the threads
    /// that each hold a connection (`threads`).
    pub pool_param: String,
    pub threads_param: String,
    /// Tn.
    pub threads: u64,
    /// Users of the search's worst-case load.
    pub users: u64,
    pub tasks: Vec<TaskCm>,
    /// The largest Cm of any task.
    pub cm: u64,
    /// `Tn x (Cm - 1) + 1`.
    pub formula_floor: u64,
    /// What the scenario's `when` rules predict, when they decide it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_floor: Option<RuleFloor>,
    /// Runs per pool size in the search.
    pub repeat: u32,
    /// Every run of the search, in order.
    pub trials: Vec<Trial>,
    /// The smallest pool with no lock in any run, where the next smaller locked.
    pub measured_minimum: u64,
    /// Throughput at and above the minimum.
    pub curve: Vec<CurvePoint>,
    /// Where adding connections stops paying: the smallest size within 5 % of the best
    /// throughput on the curve.
    pub enough: u64,
    /// The findings in words.
    pub summary: Vec<String>,
    pub elapsed_s: f64,
}

/// p99, or `-` when nothing finished ok.
fn p99(ok_rps: f64, us: u64) -> String {
    if ok_rps > 0.0 {
        latency(us)
    } else {
        "-".to_owned()
    }
}

/// The terminal table.
pub fn terminal(a: &Advice) -> String {
    let mut out = format!(
        "\npoolstorm advise {}: Tn ({}) = {}, worst-case load {} users\n\n",
        a.scenario, a.threads_param, a.threads, a.users
    );
    let width = a
        .tasks
        .iter()
        .map(|t| t.task.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(out, "  {:<width$}  Cm  from", "task");
    for t in &a.tasks {
        let _ = writeln!(out, "  {:<width$}  {:>2}  {}", t.task, t.cm, t.evidence);
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  {:>6}  {:<22}  {:>9}  {:>9}  evidence",
        a.pool_param, "runs", "ok/s", "p99"
    );
    let mut pools: Vec<u64> = a.trials.iter().map(|t| t.pool).collect();
    pools.sort_unstable();
    pools.dedup();
    for pool in pools {
        let runs: Vec<&Trial> = a.trials.iter().filter(|t| t.pool == pool).collect();
        let verdicts: Vec<&str> = runs.iter().map(|t| t.verdict.name()).collect();
        let last = runs.last().expect("a trial per listed pool");
        let shown = runs.iter().find(|t| t.locked()).unwrap_or(last);
        let _ = writeln!(
            out,
            "  {pool:>6}  {:<22}  {:>9.1}  {:>9}  {}",
            verdicts.join(" "),
            shown.ok_rps,
            p99(shown.ok_rps, shown.p99_us),
            if shown.locked() {
                format!(
                    "{} at {}: {}",
                    shown.verdict.name().to_uppercase(),
                    secs(shown.onset_s.unwrap_or_default()),
                    shown.evidence
                )
            } else {
                String::new()
            }
        );
    }
    out.push('\n');
    let _ = writeln!(out, "  curve (the scenario's own load):");
    for p in &a.curve {
        let _ = writeln!(
            out,
            "  {:>6}  {:<22}  {:>9.1}  {:>9}",
            p.pool,
            p.verdict.name(),
            p.ok_rps,
            p99(p.ok_rps, p.p99_us)
        );
    }
    out.push('\n');
    for line in &a.summary {
        let _ = writeln!(out, "  {line}");
    }
    out
}
