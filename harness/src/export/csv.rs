//! The CSV report (written with the `csv` crate): one row per task and a last row `all`,
//! latencies in microseconds.

use std::io;

use crate::engine::metrics::{Kind, Outcomes, Summary};
use crate::results::LoadReport;

/// The header row.
pub const HEADER: [&str; 18] = [
    "task",
    "method",
    "path",
    "requests",
    "ok",
    "errors",
    "pool_timeouts",
    "timeouts",
    "connect_errors",
    "throughput_rps",
    "ok_rps",
    "mean_us",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "p9999_us",
    "max_us",
];

/// One row: a task, or `all`.
struct Row<'a> {
    task: &'a str,
    method: &'a str,
    path: &'a str,
    requests: u64,
    outcomes: &'a Outcomes,
    rps: f64,
    ok_rps: f64,
    latency: Summary,
}

impl Row<'_> {
    fn fields(&self) -> [String; 18] {
        let o = self.outcomes;
        let l = self.latency;
        [
            self.task.to_owned(),
            self.method.to_owned(),
            self.path.to_owned(),
            self.requests.to_string(),
            o.get(Kind::Ok).to_string(),
            o.errors().to_string(),
            o.get(Kind::PoolTimeout).to_string(),
            o.get(Kind::Timeout).to_string(),
            o.get(Kind::Connect).to_string(),
            format!("{:.3}", self.rps),
            format!("{:.3}", self.ok_rps),
            l.mean.to_string(),
            l.p50.to_string(),
            l.p90.to_string(),
            l.p99.to_string(),
            l.p999.to_string(),
            l.p9999.to_string(),
            l.max.to_string(),
        ]
    }
}

/// The CSV rows of `report`.
pub fn render(report: &LoadReport) -> io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADER)?;
    let elapsed = report.elapsed_s.max(1e-9);
    for t in &report.tasks {
        let row = Row {
            task: &t.name,
            method: &t.method,
            path: &t.path,
            requests: t.requests,
            outcomes: &t.outcomes,
            rps: t.throughput_rps,
            ok_rps: t.outcomes.get(Kind::Ok) as f64 / elapsed,
            latency: t.latency_us,
        };
        w.write_record(row.fields())?;
    }
    let all = Row {
        task: "all",
        method: "",
        path: "",
        requests: report.requests.total,
        outcomes: &report.outcomes,
        rps: report.throughput_rps,
        ok_rps: report.ok_rps,
        latency: report.latency_us,
    };
    w.write_record(all.fields())?;
    w.into_inner().map_err(|e| e.into_error())
}
