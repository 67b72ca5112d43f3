//! Report files: JSON round-trips and matches its schema, the CSV header is stable, and the
//! interval log decodes (in Rust, and with Java's HistogramLogProcessor) to the same counts.

use harness::engine::metrics::{Kind, OutcomeKey};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::engine::stub::Stub;
use harness::export::csv;
use harness::results::LoadReport;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

use crate::support::binary;

/// Runs the binary against the stub writing every file into `dir`.
async fn run_with_files(dir: &Path) -> (Stub, std::process::Output) {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let out = tokio::process::Command::new(binary())
        .args([
            "load",
            &stub.url(),
            "--users",
            "4",
            "--duration",
            "2500ms",
            "--progress",
            "none",
        ])
        .args([
            "--task",
            "GET /ok weight=2",
            "--task",
            "GET /status?code=500",
        ])
        .arg("--json")
        .arg(dir.join("r.json"))
        .arg("--csv")
        .arg(dir.join("r.csv"))
        .arg("--hlog")
        .arg(dir.join("r.hlog"))
        .output()
        .await
        .unwrap();
    (stub, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_agree_with_each_other_and_with_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let (stub, out) = run_with_files(dir.path()).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // JSON: reads back into the same report, and validates against the published schema.
    let report: LoadReport = LoadReport::read(&dir.path().join("r.json")).unwrap();
    let text = std::fs::read_to_string(dir.path().join("r.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        value,
        "round trip is lossless"
    );
    crate::support::assert_load_schema(&value);
    assert_eq!(report.requests.total, stub.requests());
    assert_eq!(
        report.outcome(Kind::Ok) + report.outcome(OutcomeKey::http(500)),
        report.requests.total
    );
    assert_eq!(
        report.timeline.iter().map(|s| s.completed).sum::<u64>(),
        report.requests.completed
    );

    // CSV: a stable header, one row per task and `all`.
    let csv_text = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    let lines: Vec<&str> = csv_text.lines().collect();
    assert_eq!(lines[0], csv::HEADER.join(","));
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with(&format!("all,,,{},", report.requests.total)));

    // hlog: untagged intervals add up to every finished request; tagged ones per task.
    let log = std::fs::read(dir.path().join("r.hlog")).unwrap();
    let mut deserializer = Deserializer::new();
    let (mut untagged, mut tagged) = (0u64, std::collections::BTreeMap::<String, u64>::new());
    for entry in IntervalLogIterator::new(&log) {
        if let LogEntry::Interval(interval) = entry.unwrap() {
            let bytes = STANDARD.decode(interval.encoded_histogram()).unwrap();
            let h: hdrhistogram::Histogram<u64> =
                deserializer.deserialize(&mut bytes.as_slice()).unwrap();
            match interval.tag() {
                None => untagged += h.len(),
                Some(tag) => *tagged.entry(tag.as_str().to_owned()).or_default() += h.len(),
            }
        }
    }
    assert_eq!(untagged, report.requests.completed);
    assert_eq!(tagged.get("GET_/ok"), Some(&report.tasks[0].requests));
    assert_eq!(
        tagged.get("GET_/status?code=500"),
        Some(&report.tasks[1].requests)
    );
}

#[cfg(feature = "interop")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_histogram_log_processor_reads_the_interval_log() {
    let jar = ["/usr/share/java/hdrhistogram.jar", "/usr/share/java/HdrHistogram.jar"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("HdrHistogram's Java tools are needed: apt-get install libhdrhistogram-java default-jre-headless");
    let dir = tempfile::tempdir().unwrap();
    let (_stub, out) = run_with_files(dir.path()).await;
    assert_eq!(out.status.code(), Some(0));
    let report: LoadReport = LoadReport::read(&dir.path().join("r.json")).unwrap();
    let processed = std::process::Command::new("java")
        .args(["-cp", jar, "org.HdrHistogram.HistogramLogProcessor", "-i"])
        .arg(dir.path().join("r.hlog"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .args(["-outputValueUnitRatio", "1000"])
        .output()
        .expect("java runs (apt-get install default-jre-headless)");
    assert!(
        processed.status.success(),
        "{}",
        String::from_utf8_lossy(&processed.stderr)
    );
    let hgrm = std::fs::read_to_string(dir.path().join("out.hgrm")).unwrap();
    // `#[Max     =        8.551, Total count    =       274993]`
    let footer = hgrm
        .lines()
        .find(|l| l.starts_with("#[Max"))
        .unwrap_or_else(|| panic!("no footer in:\n{hgrm}"));
    let value_after = |part: &str| {
        part.split('=')
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches(']')
            .trim()
            .to_owned()
    };
    let (max_part, count_part) = footer.split_once(',').unwrap();
    let total: u64 = value_after(count_part).parse().unwrap();
    let max_ms: f64 = value_after(max_part).parse().unwrap();
    assert_eq!(total, report.requests.completed);
    let ours = report.latency_us.max as f64 / 1000.0;
    assert!(
        (max_ms - ours).abs() <= ours * 0.002 + 0.01,
        "Java max {max_ms} ms, ours {ours} ms"
    );
}
