//! The CSV report: one row per task and a last row `all`, latencies in microseconds.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};

use super::{LoadReport, TaskReport, errors};
use crate::metrics::Summary;

/// The header row.
pub const HEADER: &str = "task,method,path,requests,ok,errors,pool_timeouts,timeouts,connect_errors,\
throughput_rps,ok_rps,mean_us,p50_us,p90_us,p99_us,p999_us,p9999_us,max_us";

/// Quotes a field when it needs it (RFC 4180).
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

struct Row<'a> {
    task: &'a str,
    method: &'a str,
    path: &'a str,
    requests: u64,
    outcome: &'a dyn Fn(&str) -> u64,
    errors: u64,
    rps: f64,
    ok_rps: f64,
    latency: Summary,
}

fn write_row(out: &mut impl io::Write, r: &Row<'_>) -> io::Result<()> {
    let l = r.latency;
    writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{:.3},{:.3},{},{},{},{},{},{},{}",
        field(r.task),
        field(r.method),
        field(r.path),
        r.requests,
        (r.outcome)("ok"),
        r.errors,
        (r.outcome)("pool_timeout"),
        (r.outcome)("timeout"),
        (r.outcome)("connect"),
        r.rps,
        r.ok_rps,
        l.mean,
        l.p50,
        l.p90,
        l.p99,
        l.p999,
        l.p9999,
        l.max
    )
}

/// Writes the CSV rows of `report`.
pub fn write(report: &LoadReport, out: File) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    writeln!(out, "{HEADER}")?;
    let elapsed = report.elapsed_s.max(1e-9);
    for t in &report.tasks {
        let TaskReport {
            name,
            method,
            path,
            requests,
            outcomes,
            throughput_rps,
            latency_us,
            ..
        } = t;
        let outcome = |k: &str| outcomes.get(k).copied().unwrap_or_default();
        let ok_rps = outcome("ok") as f64 / elapsed;
        let row = Row {
            task: name,
            method,
            path,
            requests: *requests,
            outcome: &outcome,
            errors: errors(outcomes),
            rps: *throughput_rps,
            ok_rps,
            latency: *latency_us,
        };
        write_row(&mut out, &row)?;
    }
    let outcome = |k: &str| report.outcome(k);
    let row = Row {
        task: "all",
        method: "",
        path: "",
        requests: report.requests.total,
        outcome: &outcome,
        errors: errors(&report.outcomes),
        rps: report.throughput_rps,
        ok_rps: report.ok_rps,
        latency: report.latency_us,
    };
    write_row(&mut out, &row)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(field("GET /a"), "GET /a");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
