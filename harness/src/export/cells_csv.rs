//! `report.csv` (written with the `csv` crate): one row per cell and task, with a
//! `param_<name>` column for every parameter.

use std::collections::BTreeSet;

use crate::engine::metrics::Kind;
use crate::results::scenario::ScenarioReport;

/// Columns after the parameters.
const TAIL: [&str; 16] = [
    "task",
    "requests",
    "ok",
    "errors",
    "pool_timeouts",
    "timeouts",
    "throughput_rps",
    "p50_us",
    "p99_us",
    "max_us",
    "peak_pool_in_use",
    "peak_pool_waiting",
    "peak_blocking_queued",
    "pool_source",
    "pool_metrics",
    "database",
];

/// Renders the rows.
pub fn render(report: &ScenarioReport) -> String {
    let params: BTreeSet<&str> = report
        .cells
        .iter()
        .flat_map(|c| c.params.keys().map(String::as_str))
        .collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = ["cell", "label", "verdict"]
        .into_iter()
        .map(str::to_owned)
        .chain(params.iter().map(|p| format!("param_{p}")))
        .chain(TAIL.map(str::to_owned));
    w.write_record(header).expect("writing to memory");
    for c in &report.cells {
        let verdict = c.verdict().map_or("error".to_owned(), |v| v.to_string());
        let head: Vec<String> = [c.index.to_string(), c.label.clone(), verdict]
            .into_iter()
            .chain(params.iter().map(|p| {
                c.params
                    .get(*p)
                    .map(ToString::to_string)
                    .unwrap_or_default()
            }))
            .collect();
        let source = c.pool_source.as_ref();
        let names = source.map_or_else(String::new, |s| {
            s.names
                .iter()
                .map(|(g, n)| format!("{g}={n}"))
                .collect::<Vec<_>>()
                .join(";")
        });
        let peaks = [
            c.peaks.pool_in_use.to_string(),
            c.peaks.pool_waiting.to_string(),
            c.peaks.blocking_queued.to_string(),
            source.map_or_else(String::new, |s| s.url.clone()),
            names,
            c.database
                .as_ref()
                .map_or_else(String::new, crate::observe::database::DbReport::summary),
        ];
        let Some(load) = &c.load else {
            let blank = std::iter::repeat_n(String::new(), TAIL.len() - peaks.len());
            let row = head.iter().cloned().chain(blank).chain(peaks);
            w.write_record(row).expect("writing to memory");
            continue;
        };
        for t in &load.tasks {
            let o = &t.outcomes;
            let numbers = [
                t.name.clone(),
                t.requests.to_string(),
                o.get(Kind::Ok).to_string(),
                o.errors().to_string(),
                o.get(Kind::PoolTimeout).to_string(),
                o.get(Kind::Timeout).to_string(),
                format!("{:.3}", t.throughput_rps),
                t.latency_us.p50.to_string(),
                t.latency_us.p99.to_string(),
                t.latency_us.max.to_string(),
            ];
            let row = head.iter().cloned().chain(numbers).chain(peaks.clone());
            w.write_record(row).expect("writing to memory");
        }
    }
    String::from_utf8(w.into_inner().expect("writing to memory")).expect("CSV of UTF-8 text")
}
