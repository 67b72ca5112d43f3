//! `--fail-if` conditions: expressions over a run's results that fail it (exit 1) when they
//! hold, e.g. `error_ratio > 0.01`, `p99_ms > 500`, `stalled`.

use crate::base::expr::{Expr, ExprError, Value};
use crate::engine::metrics::Kind;
use crate::results::{Check, LoadReport};

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
    let errors = report.requests.completed - report.outcome(Kind::Ok);
    let n = match name {
        "requests" => report.requests.total as f64,
        "completed" => completed,
        "ok" => report.outcome(Kind::Ok) as f64,
        "errors" => errors as f64,
        "error_ratio" => report.error_ratio,
        "timeouts" => report.outcome(Kind::Timeout) as f64,
        "timeout_ratio" => ratio(report.outcome(Kind::Timeout)),
        "pool_timeouts" => report.outcome(Kind::PoolTimeout) as f64,
        "pool_timeout_ratio" => ratio(report.outcome(Kind::PoolTimeout)),
        "connect_errors" => report.outcome(Kind::Connect) as f64,
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

#[cfg(test)]
mod properties {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    fn condition() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            prop::sample::select(NAMES.to_vec()).prop_map(str::to_owned),
            "[0-9]{1,6}(\\.[0-9]{0,3})?",
            prop::sample::select(vec![
                "<", "<=", ">", ">=", "==", "!=", "&&", "||", "!", "+", "-", "*", "/", "%", "(",
                ")", "and", "or", "not", "\"", "'", "true", "false",
            ])
            .prop_map(str::to_owned),
            "[ -~é]{1,3}",
        ];
        prop_oneof![
            3 => prop::collection::vec(token, 0..24).prop_map(|t| t.join(" ")),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn any_condition_parses_or_fails_at_a_column_within_it(text in condition()) {
            let started = Instant::now();
            let parsed = parse(&text);
            prop_assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
            match parsed {
                Ok(expr) => {
                    // A parsed condition evaluates against a report without panicking.
                    let report: LoadReport = serde_json::from_value(serde_json::json!({
                        "schema": "poolstorm.load/v1", "target": "http://127.0.0.1:1/",
                        "started_at": "", "elapsed_s": 1.0, "interrupted": false,
                        "model": {"kind": "closed", "users": 1, "spawn_rate": null,
                                  "wait_min_s": 0.0, "wait_max_s": 0.0, "rate": null, "max_in_flight": null},
                        "settings": {"duration_s": 1.0, "requests": null, "timeout_s": 1.0,
                                     "workers": 1, "stall_window_s": 3.0, "seed": 1},
                        "requests": {"total": 0, "completed": 0, "dropped": 0},
                        "outcomes": {"ok": 0}, "status_codes": {}, "throughput_rps": 0.0,
                        "ok_rps": 0.0, "error_ratio": 0.0,
                        "latency_us": summary(), "ok_latency_us": summary(),
                        "tasks": [], "timeline": [], "stalls": [], "checks": []
                    })).unwrap();
                    let _ = check(&report, &[expr]);
                }
                Err(e) => {
                    let chars = text.chars().count();
                    prop_assert!(e.column >= 1 && e.column <= chars + 1,
                        "column {} of a {chars}-character condition: {}", e.column, e.message);
                }
            }
        }
    }

    fn summary() -> serde_json::Value {
        serde_json::json!({"count": 0, "min": 0, "mean": 0, "p50": 0, "p90": 0, "p99": 0,
                           "p999": 0, "p9999": 0, "max": 0})
    }
}
