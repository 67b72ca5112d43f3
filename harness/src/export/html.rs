//! `report.html`: one self-contained file per scenario run (no network: inline SVG, inline
//! styles, one small inline script): the comparison table, a heatmap of verdicts for a
//! two-parameter matrix with the rules' predicted boundary, the latency percentile curves of
//! every cell overlaid, a timeline per cell with its verdict's onset, and the scenario itself.
//! And the same kind of page for one `poolstorm load` report (`--html`), merged shards
//! included: the summary, the client's verdict, its timeline and percentiles, the shards.

use std::fmt::Write as _;

use super::charts::{self, verdict_color};
use super::comparison;
use super::markup::escape;
use crate::base::human::secs;
use crate::results::LoadReport;
use crate::results::scenario::{CellReport, ScenarioReport};

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px 32px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 20px 0 4px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600; font-size: 12px; vertical-align: middle; }
.meta { color: #555; } .evidence { color: #333; margin: 2px 0 6px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; } th, td { padding: 3px 9px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f6f6f6; } td:nth-child(2), th:nth-child(2), td:nth-child(3) { text-align: left; }
ul.rules { margin: 4px 0; padding-left: 20px; } .pass { color: #2e9e44; } .fail { color: #d62728; font-weight: 600; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
svg.chart { display: block; margin: 6px 0 10px; }
svg text { font: 11px system-ui, sans-serif; fill: #333; } svg text.panel, svg text.axis-label { font-weight: 600; }
svg text.onset-label { font-weight: 700; fill: #d62728; } svg text.cell-verdict { fill: #fff; font-weight: 700; font-size: 13px; }
svg text.cell-note { fill: #fff; } svg text.note { fill: #666; }
"#;

/// Counts the charts that rendered and records script errors, for readers and tests.
const SCRIPT: &str = r#"
window.addEventListener("error", function (e) { document.body.setAttribute("data-script-error", String(e.message)); });
window.addEventListener("load", function () {
  var charts = document.querySelectorAll("svg.chart");
  var drawn = 0;
  charts.forEach(function (svg) { var box = svg.getBBox(); if (box.width > 0 && box.height > 0 && svg.querySelector("rect, polyline")) { drawn++; } });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-charts-drawn", String(drawn));
});
"#;

fn badge(text: &str, color: &str) -> String {
    format!(
        "<span class=\"badge\" style=\"background:{color}\">{}</span>",
        escape(text)
    )
}

fn cell_section(out: &mut String, c: &CellReport) {
    let verdict = c.verdict();
    let onset = c
        .judgement
        .as_ref()
        .and_then(|j| j.onset_s)
        .map(|s| format!(" at {}", secs(s)))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<h3 id=\"cell-{}\">{}. {} {}{}</h3>",
        c.index,
        c.index,
        escape(&c.label),
        badge(
            verdict.map_or("error", |v| v.name()),
            verdict_color(verdict)
        ),
        escape(&onset)
    );
    if let Some(j) = &c.judgement {
        let _ = write!(out, "<p class=\"evidence\">{}</p>", escape(&j.evidence));
    }
    if let Some(e) = &c.error {
        let _ = write!(out, "<p class=\"fail\">did not run: {}</p>", escape(e));
    }
    if let Some(source) = &c.pool_source {
        let mut line = format!("pool read from {}", source.described());
        if let Some(names) = source.names_in_words() {
            line.push_str(&format!(": {names}"));
        }
        for gap in &source.gaps {
            let until = gap.to_s.map_or("the end".to_owned(), secs);
            line.push_str(&format!(
                "; no sample from {} to {until} ({})",
                secs(gap.from_s),
                gap.reason
            ));
        }
        let _ = write!(out, "<p class=\"meta\">{}</p>", escape(&line));
    }
    if let Some(db) = &c.database {
        let mut line = format!(
            "database watched from poolstorm's own connection ({}{}): {}",
            db.engine,
            db.version
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default(),
            db.summary()
        );
        for note in &db.notes {
            line.push_str(&format!("; {note}"));
        }
        let _ = write!(out, "<p class=\"meta\">{}</p>", escape(&line));
    }
    if let Some(chart) = charts::timeline(c) {
        out.push_str(&chart);
    }
    let mut items = Vec::new();
    if let Some(i) = &c.integrity {
        let class = if i.passed { "pass" } else { "fail" };
        items.push(format!(
            "<li class=\"{class}\">data integrity ({}): {}</li>",
            escape(&i.source),
            escape(&i.message)
        ));
    }
    for r in &c.rules {
        let class = if r.passed { "pass" } else { "fail" };
        items.push(format!(
            "<li class=\"{class}\">{}: {}</li>",
            escape(&r.rule),
            escape(&r.details)
        ));
    }
    if !c.app_flags.is_empty() {
        items.push(format!(
            "<li class=\"meta\">target-app {}</li>",
            escape(&c.app_flags.join(" "))
        ));
    }
    if !c.command.is_empty() {
        items.push(format!(
            "<li class=\"meta\">command {}</li>",
            escape(&c.command.join(" "))
        ));
    }
    let _ = write!(out, "<ul class=\"rules\">{}</ul>", items.join(""));
}

/// The page up to its body, titled.
fn head(title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>poolstorm: {}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
    out
}

/// Renders the page.
pub fn render(report: &ScenarioReport) -> String {
    let s = &report.scenario;
    let status = match (report.passed, report.complete) {
        (true, _) => badge("passed", "#2e9e44"),
        (false, true) => badge("failed", "#d62728"),
        (false, false) => badge("incomplete", "#999"),
    };
    let mut out = head(&s.name);
    let _ = write!(
        out,
        "<h1>{} {status}</h1><p>{}</p><p class=\"meta\">backend {} ({}), target {}, started {}{}</p>",
        escape(&s.name),
        escape(&s.described()),
        escape(&s.backend),
        escape(&s.database),
        escape(&s.target),
        escape(&report.started_at),
        if s.quick { ", quick" } else { "" }
    );

    out.push_str("<h2>Comparison</h2><table><tr>");
    for h in comparison::HEADERS {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>");
    for c in &report.cells {
        let row = comparison::row(c);
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            if i == 2 {
                let _ = write!(
                    out,
                    "<td style=\"color:{}\"><b>{}</b></td>",
                    verdict_color(c.verdict()),
                    escape(cell)
                );
            } else if i == 1 {
                let _ = write!(
                    out,
                    "<td><a href=\"#cell-{}\">{}</a></td>",
                    c.index,
                    escape(cell)
                );
            } else {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");

    if let Some(a) = &report.advice {
        out.push_str("<h2>Advice: the smallest pool that never locks</h2>");
        let _ = write!(out, "<ul class=\"rules\">");
        for line in &a.summary {
            let _ = write!(out, "<li>{}</li>", escape(line));
        }
        for t in &a.tasks {
            let _ = write!(
                out,
                "<li class=\"meta\">Cm {} for {} ({}: {})</li>",
                t.cm,
                escape(&t.task),
                escape(&t.source),
                escape(&t.evidence)
            );
        }
        out.push_str("</ul>");
        out.push_str(&charts::advice(a));
    }
    let prediction = report
        .predicted
        .as_ref()
        .map(|p| (p.locks.as_slice(), p.rule.as_str()));
    if let Some(map) = charts::heatmap(&report.cells, prediction) {
        out.push_str("<h2>Verdicts over the matrix</h2>");
        out.push_str(&map);
    }
    if let Some(curves) = charts::latency_curves(&report.cells) {
        out.push_str("<h2>Latency percentiles</h2>");
        out.push_str(&curves);
    }
    out.push_str("<h2>Cells</h2>");
    for c in &report.cells {
        cell_section(&mut out, c);
    }
    out.push_str("<h2>Scenario</h2>");
    let _ = write!(out, "<p class=\"meta\">{}", escape(&s.file));
    if !s.set.is_empty() {
        let _ = write!(out, ", --set {}", escape(&s.set.join(" --set ")));
    }
    let _ = write!(out, "</p><pre>{}</pre>", escape(&s.source));
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

/// The page of one load report: what the terminal summary says, the client's verdict with its
/// timeline and latency percentiles, and for a merged report the shards it was made from.
pub fn render_load(report: &LoadReport) -> String {
    let judgement = crate::verdict::judge(
        &report.observed(&[], None, None),
        &crate::verdict::Thresholds::default(),
    );
    let title = match &report.merged {
        Some(m) => format!("{} shards merged", m.shards.len()),
        None => "load".to_owned(),
    };
    let mut out = head(&report.target);
    let _ = write!(
        out,
        "<h1>{} {}</h1><p class=\"meta\">{}, started {}</p><p class=\"evidence\">{}</p>",
        escape(&report.target),
        badge(
            judgement.verdict.name(),
            verdict_color(Some(judgement.verdict))
        ),
        escape(&title),
        escape(&report.started_at),
        escape(&judgement.evidence)
    );
    let _ = write!(
        out,
        "<h2>Summary</h2><pre>{}</pre>",
        escape(&super::text::render(report))
    );
    if let Some(m) = &report.merged {
        let _ = write!(
            out,
            "<h2>Shards of run {}</h2><table><tr><th>shard</th><th>file</th><th>started</th><th>offset s</th><th>requests</th><th>elapsed s</th><th>address</th></tr>",
            escape(&m.run)
        );
        for s in &m.shards {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
                s.index,
                escape(&s.file),
                escape(&s.started_at),
                s.offset_s,
                s.requests,
                s.elapsed_s,
                escape(&s.address)
            );
        }
        out.push_str("</table>");
    }
    let cell = CellReport::of_load(&title, report.clone(), judgement);
    if let Some(timeline) = charts::timeline(&cell) {
        out.push_str("<h2>Timeline</h2>");
        out.push_str(&timeline);
    }
    if let Some(curves) = charts::latency_curves(std::slice::from_ref(&cell)) {
        out.push_str("<h2>Latency percentiles</h2>");
        out.push_str(&curves);
    }
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}
