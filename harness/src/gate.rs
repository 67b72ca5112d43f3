//! `--fail-if` conditions: expressions over a run's results that fail it (exit 1) when they
//! hold, e.g. `error_ratio > 0.01`, `p99_ms > 500`, `stalled`.

use crate::expr::{Expr, ExprError, Value};
use crate::metrics::OutcomeKey;
use crate::report::{Check, LoadReport};

/// Names a `--fail-if` condition may use.
pub const NAMES: &[&str] = &[
    "requests",
    "completed",
    "ok",
    "errors",
    "error_ratio",
    "timeouts",
    "timeout_ratio",
    "pool_timeouts",
    "pool_timeout_ratio",
    "connect_errors",
    "dropped",
    "rps",
    "ok_rps",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "stalls",
    "stalled",
];

/// Parses a condition and checks its names.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let expr = Expr::parse(text)?;
    expr.check_names(NAMES)?;
    Ok(expr)
}

/// The value of a name for a finished run.
pub fn value(report: &LoadReport, name: &str) -> Option<Value> {
    let completed = report.requests.completed as f64;
    let ratio = |n: u64| {
        if completed == 0.0 {
            0.0
        } else {
            n as f64 / completed
        }
    };
    let ms = |us: u64| us as f64 / 1000.0;
    let l = &report.latency_us;
    let errors = report.requests.completed - report.outcome(OutcomeKey::Ok);
    let n = match name {
        "requests" => report.requests.total as f64,
        "completed" => completed,
        "ok" => report.outcome(OutcomeKey::Ok) as f64,
        "errors" => errors as f64,
        "error_ratio" => report.error_ratio,
        "timeouts" => report.outcome(OutcomeKey::Timeout) as f64,
        "timeout_ratio" => ratio(report.outcome(OutcomeKey::Timeout)),
        "pool_timeouts" => report.outcome(OutcomeKey::PoolTimeout) as f64,
        "pool_timeout_ratio" => ratio(report.outcome(OutcomeKey::PoolTimeout)),
        "connect_errors" => report.outcome(OutcomeKey::Connect) as f64,
        "dropped" => report.requests.dropped as f64,
        "rps" => report.throughput_rps,
        "ok_rps" => report.ok_rps,
        "mean_ms" => ms(l.mean),
        "p50_ms" => ms(l.p50),
        "p90_ms" => ms(l.p90),
        "p99_ms" => ms(l.p99),
        "p999_ms" => ms(l.p999),
        "max_ms" => ms(l.max),
        "stalls" => report.stalls.len() as f64,
        "stalled" => return Some(Value::Bool(!report.stalls.is_empty())),
        _ => return None,
    };
    Some(Value::Num(n))
}

/// Evaluates every condition against the report.
pub fn check(report: &LoadReport, conditions: &[Expr]) -> Result<Vec<Check>, ExprError> {
    conditions
        .iter()
        .map(|c| {
            let failed = c.holds(&|name| value(report, name))?;
            Ok(Check {
                condition: c.source().to_owned(),
                failed,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_with_unknown_names_are_refused() {
        assert!(parse("p99_ms > 500 || stalled").is_ok());
        let err = parse("p99 > 500").unwrap_err();
        assert!(err.message.contains("unknown name `p99`"), "{err}");
    }
}
