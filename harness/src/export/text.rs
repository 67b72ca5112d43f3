//! The terminal summary printed at the end of a run.

use std::fmt::Write as _;

use crate::base::human::{count, latency};
use crate::engine::metrics::{Kind, Summary};
use crate::results::LoadReport;

fn latency_cells(s: &Summary) -> String {
    [s.p50, s.p90, s.p99, s.p999, s.max]
        .iter()
        .map(|v| format!("{:>9}", latency(*v)))
        .collect()
}

/// "via 127.0.0.1:8443, h2 (8 streams per connection), TLS verified; 4 connections: connect
/// p50 0.2ms, TLS handshake p50 1.9ms max 3.0ms; 2 GOAWAYs; refused: ...". When some could
/// not be opened: "1,243 connection attempts: 0 opened, 1,243 failed".
fn connections(r: &LoadReport) -> String {
    let c = &r.connections;
    let mut line = format!("via {}, {}", c.address, c.protocol);
    if c.streams > 1 {
        let _ = write!(line, " ({} streams per connection)", c.streams);
    }
    if c.tls != "none" {
        let _ = write!(line, ", TLS {}", c.tls);
        if c.client_certificate {
            line.push_str(" with a client certificate");
        }
    }
    let failed: u64 = c.refused.values().sum();
    match failed {
        0 => {
            let _ = write!(line, "; {} connections", count(c.opened));
        }
        _ => {
            let _ = write!(
                line,
                "; {} connection attempts: {} opened, {} failed",
                count(c.opened + failed),
                count(c.opened),
                count(failed)
            );
        }
    }
    if c.opened > 0 {
        let _ = write!(
            line,
            ": connect p50 {} max {}",
            latency(c.connect_us.p50),
            latency(c.connect_us.max)
        );
    }
    if let Some(tls) = c.tls_handshake_us.as_ref().filter(|_| c.opened > 0) {
        let _ = write!(
            line,
            ", TLS handshake p50 {} max {}",
            latency(tls.p50),
            latency(tls.max)
        );
    }
    if c.goaways > 0 {
        let _ = write!(line, "; {} GOAWAYs", count(c.goaways));
    }
    for (reason, n) in &c.refused {
        let _ = write!(line, "\n  refused    {} x {reason}", count(*n));
    }
    line
}

/// Renders the summary.
pub fn render(r: &LoadReport) -> String {
    let mut out = String::new();
    let model = match r.model.kind.as_str() {
        "open" => format!("open model, {} req/s", r.model.rate.unwrap_or_default()),
        _ => format!("closed model, {} users", r.model.users.unwrap_or_default()),
    };
    let interrupted = if r.interrupted { "  (interrupted)" } else { "" };
    let _ = writeln!(
        out,
        "\npoolstorm load {}  {model}  {:.1}s{interrupted}",
        r.target, r.elapsed_s
    );
    if let Some(shard) = &r.shard {
        let _ = writeln!(
            out,
            "  shard      {} of run {}: this share of the load above; merge the shards for the whole",
            shard.shard(),
            shard.run
        );
    }
    if let Some(merged) = &r.merged {
        let _ = writeln!(
            out,
            "  merged     {} shards of run {} (histograms added, timelines aligned by the second)",
            merged.shards.len(),
            merged.run
        );
    }
    let _ = writeln!(out, "  {}", connections(r));
    let _ = writeln!(
        out,
        "  requests   {} started, {} completed, {} dropped",
        count(r.requests.total),
        count(r.requests.completed),
        count(r.requests.dropped)
    );
    let outcomes: Vec<String> = r
        .outcomes
        .iter()
        .map(|(k, n)| format!("{k} {}", count(n)))
        .collect();
    let _ = writeln!(out, "  outcomes   {}", outcomes.join(" · "));
    let _ = writeln!(
        out,
        "  throughput {:.1} req/s (ok {:.1}/s), error ratio {:.4}",
        r.throughput_rps, r.ok_rps, r.error_ratio
    );
    let width = r
        .tasks
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let _ = writeln!(
        out,
        "\n  {:<width$} {:>10} {:>10} {:>9} {:>10} {:>9}{:>9}{:>9}{:>9}{:>9}",
        "task", "requests", "ok", "errors", "req/s", "p50", "p90", "p99", "p99.9", "max"
    );
    let rows = r.tasks.iter().map(|t| {
        (
            t.name.as_str(),
            t.requests,
            &t.outcomes,
            t.throughput_rps,
            &t.latency_us,
        )
    });
    let all = std::iter::once((
        "all",
        r.requests.total,
        &r.outcomes,
        r.throughput_rps,
        &r.latency_us,
    ));
    for (name, requests, outcomes, rps, lat) in rows.chain(
        if r.tasks.len() > 1 { Some(all) } else { None }
            .into_iter()
            .flatten(),
    ) {
        let ok = outcomes.get(Kind::Ok);
        let errors = outcomes.errors();
        let _ = writeln!(
            out,
            "  {name:<width$} {:>10} {:>10} {:>9} {:>10.1} {}",
            count(requests),
            count(ok),
            count(errors),
            rps,
            latency_cells(lat)
        );
    }
    if r.stalls.is_empty() {
        let _ = writeln!(out, "\n  stalls     none");
    }
    for s in &r.stalls {
        let ongoing = if s.ongoing {
            ", still stalled at the end"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "\n  STALL      at {:.1}s for {:.1}s with up to {} requests in flight{ongoing}",
            s.onset_s, s.length_s, s.in_flight_max
        );
    }
    for c in &r.checks {
        let verdict = if c.failed { "FAILED" } else { "passed" };
        let _ = writeln!(out, "  fail-if    {}: {verdict}", c.condition);
    }
    out
}
