//! `report.csv`: one row per cell and task, with a `param_<name>` column for every parameter.

use std::collections::BTreeSet;

use super::csv::field;
use super::scenario::ScenarioReport;

/// Renders the rows.
pub fn render(report: &ScenarioReport) -> String {
    let params: BTreeSet<&str> = report
        .cells
        .iter()
        .flat_map(|c| c.params.keys().map(String::as_str))
        .collect();
    let mut out = String::from("cell,label,verdict");
    for p in &params {
        out.push_str(&format!(",param_{p}"));
    }
    out.push_str(
        ",task,requests,ok,errors,pool_timeouts,timeouts,throughput_rps,p50_us,p99_us,max_us,\
         peak_pool_in_use,peak_pool_waiting,peak_blocking_queued\n",
    );
    for c in &report.cells {
        let verdict = c.verdict().map_or("error".to_owned(), |v| v.to_string());
        let head = {
            let mut h = format!("{},{},{verdict}", c.index, field(&c.label));
            for p in &params {
                h.push(',');
                h.push_str(&field(
                    &c.params
                        .get(*p)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ));
            }
            h
        };
        let tail = format!(
            ",{},{},{}",
            c.peaks.pool_in_use, c.peaks.pool_waiting, c.peaks.blocking_queued
        );
        let Some(load) = &c.load else {
            out.push_str(&format!("{head},,,,,,,,,,{tail}\n"));
            continue;
        };
        for t in &load.tasks {
            let outcome = |k: &str| t.outcomes.get(k).copied().unwrap_or_default();
            out.push_str(&format!(
                "{head},{},{},{},{},{},{},{:.3},{},{},{}{tail}\n",
                field(&t.name),
                t.requests,
                outcome("ok"),
                super::errors(&t.outcomes),
                outcome("pool_timeout"),
                outcome("timeout"),
                t.throughput_rps,
                t.latency_us.p50,
                t.latency_us.p99,
                t.latency_us.max
            ));
        }
    }
    out
}
