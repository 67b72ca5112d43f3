//! The HTML report's charts, as inline SVG: a cell's timeline (completions by outcome, requests
//! and the pool, the blocking pool, on one time axis with the verdict's onset marked), the
//! cells' latency percentile curves overlaid (HdrHistogram style, log scales), and a heatmap of
//! verdicts over a two-parameter matrix with the predicted boundary drawn.

use super::svg::{Scale, Svg};
use crate::base::human::{latency, secs};
use crate::engine::metrics::{Family, Second};
use crate::observe::{Gauge, PoolSample};
use crate::results::scenario::CellReport;
use crate::verdict::Verdict;

/// The colour of an outcome family's series in the completions panel (stacked bottom to top
/// in [`Family::ALL`]'s order); `None` for requests cut off by the end of the run, which are
/// not drawn.
fn outcome_color(family: Family) -> Option<&'static str> {
    Some(match family {
        Family::Ok => "#2e9e44",
        Family::Http => "#e0a100",
        Family::PoolTimeout => "#d62728",
        Family::Timeout => "#9467bd",
        Family::Connect => "#7f7f7f",
        Family::Other => "#1f77b4",
        Family::Tls => "#8c564b",
        Family::H2 => "#e377c2",
        Family::Aborted => return None,
    })
}

/// The families a cell's completions panel shows: the first six always, TLS and HTTP/2
/// failures when the cell had any.
fn drawn_outcomes(timeline: &[Second]) -> Vec<(Family, &'static str)> {
    Family::ALL
        .iter()
        .filter(|&&f| {
            !matches!(f, Family::Tls | Family::H2) || timeline.iter().any(|s| s.finished[f] > 0)
        })
        .filter_map(|&f| Some((f, outcome_color(f)?)))
        .collect()
}

/// Colors for cells in overlaid charts.
const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2e9e44", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
];

pub fn verdict_color(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Healthy) => "#2e9e44",
        Some(Verdict::Degraded) => "#e0a100",
        Some(Verdict::Starved) => "#ff7f0e",
        Some(Verdict::Deadlocked) => "#d62728",
        Some(Verdict::DatabaseDown) => "#6a3d9a",
        Some(Verdict::DatabaseSlow) => "#9467bd",
        Some(Verdict::LockContention) => "#8c564b",
        Some(Verdict::TargetDied) => "#17becf",
        None => "#999999",
    }
}

fn seconds(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}s")
    } else {
        format!("{v:.1}s")
    }
}

fn count_label(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

/// A series of the line panels: name, color, dashed, points (seconds, value).
type Series<'a> = (String, &'a str, bool, Vec<(f64, f64)>);

/// One panel of lines with its legend; returns nothing, draws into `svg`.
fn line_panel(
    svg: &mut Svg,
    x: &Scale,
    top: f64,
    height: f64,
    right: f64,
    title: &str,
    series: &[Series<'_>],
) {
    let peak = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .fold(1.0f64, f64::max);
    let y = Scale::linear((0.0, peak), (top + height, top));
    svg.y_axis(&y, x.at(x_min(x)), right, &whole_ticks(&y), &count_label);
    svg.text((x.at(x_min(x)), top - 4.0), title, "start", "panel");
    for (i, (name, color, dashed, points)) in series.iter().enumerate() {
        let pts: Vec<(f64, f64)> = points.iter().map(|(t, v)| (x.at(*t), y.at(*v))).collect();
        if *dashed {
            svg.raw("<g stroke-dasharray=\"4 3\">");
            svg.polyline(&pts, color, 1.2, name);
            svg.raw("</g>");
        } else {
            svg.polyline(&pts, color, 1.8, name);
        }
        let ly = top + 10.0 + 14.0 * i as f64;
        svg.line(
            (right + 10.0, ly - 4.0),
            (right + 24.0, ly - 4.0),
            color,
            2.5,
            "legend",
        );
        svg.text((right + 28.0, ly), name, "start", "legend");
    }
}

fn x_min(_: &Scale) -> f64 {
    0.0
}

/// Ticks for counts: whole numbers only.
fn whole_ticks(scale: &Scale) -> Vec<f64> {
    scale
        .ticks(3)
        .into_iter()
        .filter(|t| t.fract() == 0.0)
        .collect()
}

/// The timeline of one cell.
pub fn timeline(cell: &CellReport) -> Option<String> {
    let load = cell.load.as_ref()?;
    let names = cell
        .pool_source
        .as_ref()
        .map(|s| s.names.clone())
        .unwrap_or_default();
    // The service's own metric names are longer than poolstorm's: the legend gets more room.
    let right_pad = if names.is_empty() { 170.0 } else { 250.0 };
    let (width, left, panel, gap) = (980.0, 48.0, 105.0, 30.0);
    let right = width - right_pad;
    let last_sample = cell
        .pool_samples
        .last()
        .map_or(0.0, |s| s.t_ms as f64 / 1000.0);
    let end = load
        .elapsed_s
        .max(last_sample)
        .max(load.timeline.len() as f64)
        .max(1.0);
    let x = Scale::linear((0.0, end), (left, right));
    let tops = [20.0, 20.0 + panel + gap, 20.0 + 2.0 * (panel + gap)];
    // Without a pool view (a plain load run, a command target without [pool]) the pool and
    // thread panels would be empty: in flight alone, two panels.
    let pooled = !cell.pool_samples.is_empty();
    let bottom = if pooled { tops[2] } else { tops[1] } + panel;
    let height = bottom + 34.0;
    let mut svg = Svg::new(
        "timeline",
        width,
        height,
        &format!("data-cell=\"{}\"", cell.index),
    );

    // Completions per second, stacked by outcome.
    let peak = load
        .timeline
        .iter()
        .map(|s| s.completed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let y = Scale::linear((0.0, peak), (tops[0] + panel, tops[0]));
    svg.y_axis(&y, left, right, &whole_ticks(&y), &count_label);
    svg.text(
        (left, tops[0] - 4.0),
        "completions per second by outcome",
        "start",
        "panel",
    );
    let outcomes = drawn_outcomes(&load.timeline);
    for s in &load.timeline {
        let (x0, x1) = (x.at(f64::from(s.t)), x.at(f64::from(s.t) + 1.0));
        let mut base = 0.0;
        for &(family, color) in &outcomes {
            let v = s.finished[family];
            if v == 0 {
                continue;
            }
            let (top, bottom) = (y.at(base + v as f64), y.at(base));
            let title = format!("{}: {v} in [{}s, {}s)", family.name(), s.t, s.t + 1);
            svg.rect(
                x0 + 0.5,
                top,
                (x1 - x0 - 1.0).max(1.0),
                bottom - top,
                color,
                &title,
            );
            base += v as f64;
        }
    }
    for (i, (family, color)) in outcomes.iter().enumerate() {
        let ly = tops[0] + 10.0 + 14.0 * i as f64;
        svg.rect(right + 10.0, ly - 9.0, 14.0, 9.0, color, "");
        svg.text((right + 28.0, ly), family.name(), "start", "legend");
    }

    let at = |t_ms: u64| t_ms as f64 / 1000.0;
    let samples = &cell.pool_samples;
    // A gauge the source does not report leaves a gap, not a zero.
    let series = |pick: &dyn Fn(&PoolSample) -> Option<u64>| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| Some((at(s.t_ms), pick(s)? as f64)))
            .collect()
    };
    let in_flight = load
        .timeline
        .iter()
        .map(|s| (f64::from(s.t) + 0.5, s.in_flight as f64))
        .collect();
    // Each line under the service's own metric name when it has one.
    let gauge = |g: Gauge| (g.named(&names), series(&|s| s.gauge(g)));
    let waiting = gauge(if samples.iter().any(|s| s.pool_waits.is_some()) {
        Gauge::Waits
    } else {
        Gauge::Waiting
    });
    let [in_use, max, busy, threads, queued] = [
        Gauge::InUse,
        Gauge::Max,
        Gauge::ThreadsBusy,
        Gauge::ThreadsMax,
        Gauge::ThreadsQueued,
    ]
    .map(gauge);
    if pooled {
        line_panel(
            &mut svg,
            &x,
            tops[1],
            panel,
            right,
            "requests in flight and the connection pool",
            &[
                ("in flight (client)".to_owned(), "#1f77b4", false, in_flight),
                (in_use.0, "#2e9e44", false, in_use.1),
                (max.0, "#2e9e44", true, max.1),
                (waiting.0, "#d62728", false, waiting.1),
            ],
        );
        let threads_title = if names.is_empty() {
            "the bounded blocking pool"
        } else {
            "request threads"
        };
        line_panel(
            &mut svg,
            &x,
            tops[2],
            panel,
            right,
            threads_title,
            &[
                (busy.0, "#ff7f0e", false, busy.1),
                (threads.0, "#ff7f0e", true, threads.1),
                (queued.0, "#8c564b", false, queued.1),
                (
                    "teardowns pending".to_owned(),
                    "#e377c2",
                    false,
                    series(&|s| s.teardown_pending),
                ),
            ],
        );
    } else {
        line_panel(
            &mut svg,
            &x,
            tops[1],
            panel,
            right,
            "requests in flight",
            &[("in flight (client)".to_owned(), "#1f77b4", false, in_flight)],
        );
    }
    svg.x_axis(&x, bottom, &x.ticks(10), &seconds);

    if let Some(j) = cell.judgement.as_ref().filter(|j| j.onset_s.is_some()) {
        let onset = j.onset_s.unwrap_or_default();
        let ox = x.at(onset);
        let color = verdict_color(Some(j.verdict));
        svg.raw("<g stroke-dasharray=\"6 4\">");
        svg.line((ox, tops[0] - 2.0), (ox, bottom), color, 2.0, "onset");
        svg.raw("</g>");
        svg.text(
            (ox + 4.0, tops[0] + 12.0),
            &format!("{} at {}", j.verdict, secs(onset)),
            "start",
            "onset-label",
        );
    }
    Some(svg.finish())
}

/// Where a percentile sits on the x axis: its number of nines, `-log10(1 - p)`; max at 5.
const PERCENTILES: [(&str, f64); 6] = [
    ("50%", 0.301),
    ("90%", 1.0),
    ("99%", 2.0),
    ("99.9%", 3.0),
    ("99.99%", 4.0),
    ("max", 5.0),
];

/// Every cell's latency percentiles, one curve each.
pub fn latency_curves(cells: &[CellReport]) -> Option<String> {
    let curves: Vec<(&CellReport, [u64; 6])> = cells
        .iter()
        .filter_map(|c| {
            let l = c.load.as_ref()?.latency_us;
            (l.count > 0).then_some((c, [l.p50, l.p90, l.p99, l.p999, l.p9999, l.max]))
        })
        .collect();
    if curves.is_empty() {
        return None;
    }
    let (width, left, right, top, bottom) = (980.0, 64.0, 720.0, 16.0, 300.0);
    let low = curves
        .iter()
        .flat_map(|(_, v)| v.iter())
        .copied()
        .min()
        .unwrap_or(1)
        .max(1) as f64;
    let high = curves
        .iter()
        .flat_map(|(_, v)| v.iter())
        .copied()
        .max()
        .unwrap_or(1) as f64;
    let x = Scale::linear((0.0, 5.0), (left, right));
    let y = Scale::log((low / 1.5, high * 1.5), (bottom, top));
    let height = bottom + 40.0 + (curves.len().saturating_sub(18)) as f64 * 14.0;
    let mut svg = Svg::new("latency", width, height.max(bottom + 40.0), "");
    svg.y_axis(&y, left, right, &y.ticks(6), &|v| latency(v as u64));
    let axis_at = bottom;
    svg.line((left, axis_at), (right, axis_at), "#888", 1.0, "axis");
    for (label, pos) in PERCENTILES {
        svg.line(
            (x.at(pos), axis_at),
            (x.at(pos), axis_at + 4.0),
            "#888",
            1.0,
            "tick",
        );
        svg.text((x.at(pos), axis_at + 16.0), label, "middle", "tick");
    }
    svg.text(
        (left, axis_at + 32.0),
        "percentile (log scale of 1/(1 - p)); latency of every finished request",
        "start",
        "note",
    );
    for (i, (cell, values)) in curves.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = PERCENTILES
            .iter()
            .zip(values)
            .map(|((_, p), v)| (x.at(*p), y.at(*v as f64)))
            .collect();
        svg.polyline(&pts, color, 2.0, &format!("{}. {}", cell.index, cell.label));
        for ((label, _), (pt, v)) in PERCENTILES.iter().zip(pts.iter().zip(values)) {
            svg.circle(
                *pt,
                3.0,
                color,
                &format!("{}. {}: {label} = {}", cell.index, cell.label, latency(*v)),
            );
        }
        let ly = top + 10.0 + 14.0 * i as f64;
        svg.line(
            (right + 14.0, ly - 4.0),
            (right + 30.0, ly - 4.0),
            color,
            3.0,
            "legend",
        );
        svg.text(
            (right + 34.0, ly),
            &format!("{}. {}", cell.index, cell.label),
            "start",
            "legend",
        );
    }
    Some(svg.finish())
}

/// A two-parameter matrix as a grid of verdicts. `predicted[i]`: whether the scenario's rules
/// expect cell `i` to lock (deadlocked or starved); the boundary is drawn where that changes.
pub fn heatmap(cells: &[CellReport], predicted: Option<(&[bool], &str)>) -> Option<String> {
    let first = cells.first()?;
    if first.varying.len() != 2 || cells.iter().any(|c| c.varying.len() != 2) {
        return None;
    }
    let keys: Vec<&String> = first.varying.keys().collect();
    let (row_key, col_key) = (keys[0].as_str(), keys[1].as_str());
    let mut rows: Vec<String> = Vec::new();
    let mut cols: Vec<String> = Vec::new();
    for c in cells {
        let (r, k) = (
            c.varying.get(row_key)?.to_string(),
            c.varying.get(col_key)?.to_string(),
        );
        if !rows.contains(&r) {
            rows.push(r);
        }
        if !cols.contains(&k) {
            cols.push(k);
        }
    }
    let (cell_w, cell_h, left, top) = (110.0, 54.0, 120.0, 34.0);
    let width = (left + cell_w * cols.len() as f64 + 160.0).max(760.0);
    let height = top + cell_h * rows.len() as f64 + 74.0;
    let mut svg = Svg::new("heatmap", width, height, "");
    svg.text(
        (left + cell_w * cols.len() as f64 / 2.0, 16.0),
        col_key,
        "middle",
        "axis-label",
    );
    svg.text(
        (12.0, top + cell_h * rows.len() as f64 / 2.0),
        row_key,
        "start",
        "axis-label",
    );
    let mut grid: Vec<Vec<Option<usize>>> = vec![vec![None; cols.len()]; rows.len()];
    for (i, c) in cells.iter().enumerate() {
        let r = rows
            .iter()
            .position(|v| *v == c.varying[row_key].to_string())?;
        let k = cols
            .iter()
            .position(|v| *v == c.varying[col_key].to_string())?;
        grid[r][k] = Some(i);
        let (x, y) = (left + cell_w * k as f64, top + cell_h * r as f64);
        let verdict = c.verdict();
        let title = format!(
            "{}. {}: {}",
            c.index,
            c.label,
            c.judgement
                .as_ref()
                .map_or("did not run", |j| j.evidence.as_str())
        );
        svg.rect(
            x + 1.0,
            y + 1.0,
            cell_w - 2.0,
            cell_h - 2.0,
            verdict_color(verdict),
            &title,
        );
        svg.text(
            (x + cell_w / 2.0, y + cell_h / 2.0 - 2.0),
            verdict.map_or("error", |v| v.name()),
            "middle",
            "cell-verdict",
        );
        let ok = c
            .load
            .as_ref()
            .map_or(String::new(), |l| format!("{:.0} ok/s", l.ok_rps));
        svg.text(
            (x + cell_w / 2.0, y + cell_h / 2.0 + 14.0),
            &ok,
            "middle",
            "cell-note",
        );
    }
    for (i, v) in cols.iter().enumerate() {
        svg.text(
            (left + cell_w * (i as f64 + 0.5), top - 6.0),
            v,
            "middle",
            "tick",
        );
    }
    for (i, v) in rows.iter().enumerate() {
        svg.text(
            (left - 8.0, top + cell_h * (i as f64 + 0.5) + 4.0),
            v,
            "end",
            "tick",
        );
    }
    if let Some((flags, rule)) = predicted {
        let bad = |r: usize, k: usize| grid[r][k].map(|i| flags.get(i).copied().unwrap_or(false));
        for r in 0..rows.len() {
            for k in 0..cols.len() {
                let (x, y) = (left + cell_w * k as f64, top + cell_h * r as f64);
                if k + 1 < cols.len()
                    && bad(r, k).is_some()
                    && bad(r, k + 1).is_some()
                    && bad(r, k) != bad(r, k + 1)
                {
                    svg.line(
                        (x + cell_w, y - 3.0),
                        (x + cell_w, y + cell_h + 3.0),
                        "#111",
                        4.0,
                        "boundary",
                    );
                }
                if r + 1 < rows.len()
                    && bad(r, k).is_some()
                    && bad(r + 1, k).is_some()
                    && bad(r, k) != bad(r + 1, k)
                {
                    svg.line(
                        (x - 3.0, y + cell_h),
                        (x + cell_w + 3.0, y + cell_h),
                        "#111",
                        4.0,
                        "boundary",
                    );
                }
            }
        }
        let ly = top + cell_h * rows.len() as f64 + 28.0;
        svg.line(
            (left, ly - 4.0),
            (left + 24.0, ly - 4.0),
            "#111",
            4.0,
            "legend",
        );
        svg.text(
            (left + 30.0, ly),
            &format!("predicted boundary: the rule expects a lock where {rule}"),
            "start",
            "legend",
        );
    }
    let lx = left + cell_w * cols.len() as f64 + 24.0;
    for (i, v) in Verdict::ALL.iter().enumerate() {
        let ly = top + 14.0 + 18.0 * i as f64;
        svg.rect(lx, ly - 11.0, 14.0, 14.0, verdict_color(Some(*v)), "");
        svg.text((lx + 20.0, ly), v.name(), "start", "legend");
    }
    Some(svg.finish())
}

/// `poolstorm advise`: every trial as a dot at its pool size (red: it locked), the curve's
/// throughput as a line, and the formula's floor and the measured minimum as vertical lines.
pub fn advice(a: &crate::results::advice::Advice) -> String {
    let (width, left, right, top, bottom) = (980.0, 64.0, 900.0, 16.0, 280.0);
    let largest = a
        .trials
        .iter()
        .map(|t| t.pool)
        .chain(a.curve.iter().map(|p| p.pool))
        .chain([a.formula_floor, a.measured_minimum])
        .max()
        .unwrap_or(1);
    let best = a
        .trials
        .iter()
        .map(|t| t.ok_rps)
        .chain(a.curve.iter().map(|p| p.ok_rps))
        .fold(1.0, f64::max);
    let x = Scale::linear((0.0, largest as f64 + 1.0), (left, right));
    let y = Scale::linear((0.0, best * 1.1), (bottom, top));
    let mut svg = Svg::new("advice", width, bottom + 44.0, "");
    svg.y_axis(&y, left, right, &y.ticks(5), &|v| format!("{v:.0}"));
    svg.x_axis(&x, bottom, &x.ticks(10), &|v| format!("{v:.0}"));
    svg.text(
        (left, bottom + 34.0),
        &format!(
            "{} (x) and ok responses per second (y): dots are the search's runs, red where the pool locked; the line is the curve under the scenario's own load",
            a.pool_param
        ),
        "start",
        "note",
    );
    for (pool, color, label) in [
        (
            a.formula_floor,
            "#888",
            format!("floor {}", a.formula_floor),
        ),
        (
            a.measured_minimum,
            "#2e9e44",
            format!("measured {}", a.measured_minimum),
        ),
    ] {
        svg.line(
            (x.at(pool as f64), top),
            (x.at(pool as f64), bottom),
            color,
            2.0,
            &label,
        );
        svg.text(
            (x.at(pool as f64) + 4.0, top + 12.0),
            &label,
            "start",
            "legend",
        );
    }
    for t in &a.trials {
        let color = if t.locked() { "#d62728" } else { "#2e9e44" };
        svg.circle(
            (x.at(t.pool as f64), y.at(t.ok_rps)),
            4.0,
            color,
            &format!(
                "{} = {}, run {}: {} ({:.1} ok/s)",
                a.pool_param,
                t.pool,
                t.run,
                t.verdict.name(),
                t.ok_rps
            ),
        );
    }
    let pts: Vec<(f64, f64)> = a
        .curve
        .iter()
        .map(|p| (x.at(p.pool as f64), y.at(p.ok_rps)))
        .collect();
    svg.polyline(&pts, "#1f77b4", 2.0, "throughput above the minimum");
    for (p, pt) in a.curve.iter().zip(&pts) {
        svg.circle(
            *pt,
            3.0,
            "#1f77b4",
            &format!(
                "{} = {}: {:.1} ok/s, p99 {}",
                a.pool_param,
                p.pool,
                p.ok_rps,
                latency(p.p99_us)
            ),
        );
    }
    svg.finish()
}
