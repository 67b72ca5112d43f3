//! The comparison of a scenario's cells, one row each: the same columns in the terminal table
//! and in `report.md` (ready for a CI job summary), then the rules that failed.

use std::fmt::Write as _;

use crate::base::human::{count, latency, secs};
use crate::engine::metrics::Kind;
use crate::observe::database::DbReport;
use crate::results::scenario::{CellReport, ScenarioReport};

/// Column headers.
pub const HEADERS: [&str; 12] = [
    "#",
    "cell",
    "verdict",
    "ok/s",
    "p50",
    "p99",
    "max",
    "timeouts",
    "pool t/o",
    "pool in use (waiting)",
    "blocking busy (queued)",
    "database",
];

/// A latency, or `-` when nothing finished.
fn shown(count: u64, us: u64) -> String {
    if count == 0 {
        "-".to_owned()
    } else {
        latency(us)
    }
}

/// One cell's row.
pub fn row(c: &CellReport) -> [String; 12] {
    let verdict = match (&c.judgement, &c.error) {
        (Some(j), _) => format!(
            "{}{}",
            j.verdict,
            if c.stopped_on_deadlock {
                " (stopped)"
            } else {
                ""
            }
        ),
        (None, _) => "error".to_owned(),
    };
    let (ok_rps, p50, p99, max, timeouts, pool_timeouts) = match &c.load {
        Some(l) => (
            format!("{:.1}", l.ok_rps),
            shown(l.latency_us.count, l.latency_us.p50),
            shown(l.latency_us.count, l.latency_us.p99),
            shown(l.latency_us.count, l.latency_us.max),
            count(l.outcome(Kind::Timeout)),
            count(l.outcome(Kind::PoolTimeout)),
        ),
        None => Default::default(),
    };
    let p = &c.peaks;
    let (pool, blocking) = if c.pool_samples.is_empty() {
        ("-".to_owned(), "-".to_owned())
    } else {
        // A source without request threads (pgbouncer's console, most services' metrics).
        let threads = c.pool_samples.iter().any(|s| s.blocking_threads.is_some());
        (
            format!("{}/{} ({})", p.pool_in_use, p.pool_max, p.pool_waiting),
            if threads {
                format!(
                    "{}/{} ({})",
                    p.blocking_busy, p.blocking_threads, p.blocking_queued
                )
            } else {
                "-".to_owned()
            },
        )
    };
    [
        c.index.to_string(),
        c.label.clone(),
        verdict,
        ok_rps,
        p50,
        p99,
        max,
        timeouts,
        pool_timeouts,
        pool,
        blocking,
        c.database
            .as_ref()
            .map_or_else(|| "-".to_owned(), DbReport::summary),
    ]
}

/// `(cell, VERDICT at 1.2 s, evidence)` for every cell that has a verdict.
fn verdict_lines(report: &ScenarioReport) -> Vec<(usize, String, &str)> {
    report
        .cells
        .iter()
        .filter_map(|c| {
            let j = c.judgement.as_ref()?;
            let onset = j
                .onset_s
                .map(|s| format!(" at {}", secs(s)))
                .unwrap_or_default();
            Some((
                c.index,
                format!("{}{onset}", j.verdict.name().to_uppercase()),
                j.evidence.as_str(),
            ))
        })
        .collect()
}

fn failures(report: &ScenarioReport) -> Vec<String> {
    let mut out = Vec::new();
    for c in &report.cells {
        if let Some(e) = &c.error {
            // Its rules fail with it; saying so once is enough.
            out.push(format!("cell {} ({}): did not run: {e}", c.index, c.label));
            continue;
        }
        if let Some(i) = c.integrity.as_ref().filter(|i| !i.passed) {
            out.push(format!(
                "cell {} ({}): integrity: {}",
                c.index, c.label, i.message
            ));
        }
        for r in c.rules.iter().filter(|r| !r.passed) {
            out.push(format!(
                "cell {} ({}): {}: {}",
                c.index, c.label, r.rule, r.details
            ));
        }
    }
    out
}

/// "pool read from URL (preset P): in use NAME, max NAME, ..." when the cells' pool came from
/// a service's own metrics.
fn pool_line(report: &ScenarioReport) -> Option<String> {
    let source = report.cells.iter().find_map(|c| c.pool_source.as_ref())?;
    let names = source.names_in_words()?;
    Some(format!("pool read from {}: {names}", source.described()))
}

/// The terminal table, the verdict evidence and the failures.
pub fn terminal(report: &ScenarioReport) -> String {
    let rows: Vec<[String; 12]> = report.cells.iter().map(row).collect();
    let widths: Vec<usize> = (0..HEADERS.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([HEADERS[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 3 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        format!("  {}\n", parts.join("  "))
    };
    let mut out = format!(
        "\n{}: {}\n\n",
        report.scenario.name,
        report.scenario.described()
    );
    out.push_str(&line(&HEADERS.map(str::to_owned)));
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push('\n');
    for (index, verdict, evidence) in verdict_lines(report) {
        let _ = writeln!(out, "  {index}. {verdict}: {evidence}");
    }
    if let Some(line) = pool_line(report) {
        let _ = writeln!(out, "\n  {line}");
    }
    let failed = failures(report);
    if failed.is_empty() {
        let rules: usize = report.cells.iter().map(|c| c.rules.len()).sum();
        let _ = writeln!(out, "\n  all {rules} rule checks passed");
    } else {
        let _ = writeln!(out, "\n  FAILED:");
        for f in failed {
            let _ = writeln!(out, "  - {f}");
        }
    }
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// `report.md`.
pub fn markdown(report: &ScenarioReport) -> String {
    let s = &report.scenario;
    let status = match (report.passed, report.complete) {
        (true, _) => "passed",
        (false, true) => "FAILED",
        (false, false) => "incomplete",
    };
    let mut out = format!("## {} ({status})\n\n{}\n\n", s.name, s.described());
    let _ = writeln!(
        out,
        "Backend `{}`, target `{}`{}.\n",
        s.backend,
        s.target,
        if s.quick { ", quick" } else { "" }
    );
    out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(HEADERS.len())));
    for c in &report.cells {
        let cells: Vec<String> = row(c).iter().map(|c| md_escape(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
    for (index, verdict, evidence) in verdict_lines(report) {
        let _ = writeln!(out, "- **{index}. {verdict}**: {}", md_escape(evidence));
    }
    if let Some(line) = pool_line(report) {
        let _ = writeln!(out, "\n{}", md_escape(&line));
    }
    let failed = failures(report);
    if !failed.is_empty() {
        out.push_str("\n**Failed:**\n\n");
        for f in failed {
            let _ = writeln!(out, "- {}", md_escape(&f));
        }
    }
    out
}
