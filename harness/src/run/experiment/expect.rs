//! Checks a cell against the scenario's rules: for every rule whose `when` holds, each limit
//! it sets (verdict, p99, timeout ratio, error ratio, ok/s) must be met.

use crate::engine::metrics::Kind;
use crate::results::LoadReport;
use crate::results::scenario::{CellReport, Prediction, RuleResult};
use crate::run::scenario::{Cell, Rule, Scenario};
use crate::verdict::{Judgement, Verdict};

/// Where the scenario's rules expect a lock: the first rule with a `when` whose verdicts are
/// all `deadlocked` or `starved`, held against every cell run so far.
pub(super) fn predicted(scenario: &Scenario, cells: &[CellReport]) -> Option<Prediction> {
    let locking = |vs: &[Verdict]| {
        !vs.is_empty()
            && vs
                .iter()
                .all(|v| matches!(v, Verdict::Deadlocked | Verdict::Starved))
    };
    let rule = scenario
        .rules
        .iter()
        .find(|r| locking(&r.verdicts) && r.when.is_some())?;
    let when = rule.when.as_ref()?;
    let locks = cells
        .iter()
        .map(|c| {
            let cell = Cell {
                index: c.index,
                varying: c.varying.clone(),
                values: c.params.clone(),
            };
            when.holds(&|name| scenario.lookup(&cell, name))
                .unwrap_or(false)
        })
        .collect();
    Some(Prediction {
        rule: when.source().to_owned(),
        locks,
    })
}

/// What the rule found, or why it failed.
fn check(rule: &Rule, report: &LoadReport, judgement: &Judgement) -> RuleResult {
    let mut failed = Vec::new();
    let mut seen = vec![format!("verdict {}", judgement.verdict)];
    if !rule.verdicts.is_empty() && !rule.verdicts.contains(&judgement.verdict) {
        let allowed: Vec<&str> = rule.verdicts.iter().map(|v| v.name()).collect();
        failed.push(format!(
            "verdict {}, expected {}",
            judgement.verdict,
            allowed.join(" or ")
        ));
    }
    let completed = report.requests.completed.max(1) as f64;
    let p99_ms = report.latency_us.p99 as f64 / 1000.0;
    let timeout_ratio = report.outcome(Kind::Timeout) as f64 / completed;
    let limits: [(Option<f64>, f64, &str, bool); 4] = [
        (rule.max_p99_ms, p99_ms, "p99_ms", true),
        (rule.max_timeout_ratio, timeout_ratio, "timeout_ratio", true),
        (
            rule.max_error_ratio,
            report.error_ratio,
            "error_ratio",
            true,
        ),
        (rule.min_ok_rps, report.ok_rps, "ok_rps", false),
    ];
    for (limit, value, name, is_max) in limits {
        let Some(limit) = limit else { continue };
        seen.push(format!("{name} {value:.3}"));
        let broken = if is_max { value > limit } else { value < limit };
        if broken {
            let op = if is_max {
                "above the maximum"
            } else {
                "below the minimum"
            };
            failed.push(format!("{name} {value:.3} {op} {limit}"));
        }
    }
    let passed = failed.is_empty();
    RuleResult {
        rule: rule.name.clone(),
        passed,
        details: if passed {
            seen.join(", ")
        } else {
            failed.join("; ")
        },
    }
}

/// Every rule that applies to `cell`, checked. A cell that could not run fails them all.
pub(super) fn evaluate(
    scenario: &Scenario,
    cell: &Cell,
    outcome: Result<(&LoadReport, &Judgement), &str>,
) -> Vec<RuleResult> {
    let mut results = Vec::new();
    for rule in &scenario.rules {
        let applies = match &rule.when {
            None => Ok(true),
            Some(when) => when.holds(&|name| scenario.lookup(cell, name)),
        };
        match (applies, &outcome) {
            (Ok(false), _) => {}
            (Err(e), _) => results.push(RuleResult {
                rule: rule.name.clone(),
                passed: false,
                details: format!("when: {e}"),
            }),
            (Ok(true), Err(error)) => {
                results.push(RuleResult {
                    rule: rule.name.clone(),
                    passed: false,
                    details: format!("cell did not run: {error}"),
                });
            }
            (Ok(true), Ok((report, judgement))) => results.push(check(rule, report, judgement)),
        }
    }
    results
}
