//! Shards: four `poolstorm load --shard` processes against the stub make the load of one, and
//! `poolstorm merge` adds them exactly: the server's count, an independent HdrHistogram's
//! percentiles of the four `.hlog` files, the server's own count per second. Mixed runs, a
//! shard twice, a missing shard and disagreeing settings are refused.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use harness::engine::stub::Stub;
use harness::results::LoadReport;

use crate::support::binary;

/// The whole run: 400 requests a second for 3 s over two tasks.
const LOAD: [&str; 10] = [
    "--rate",
    "400",
    "--duration",
    "3s",
    "--task",
    "GET /ok weight=3",
    "--task",
    "GET /delay?ms=3",
    "--progress",
    "none",
];

/// A whole second a little ahead, RFC 3339: every shard starts then.
fn start_at(ahead: Duration) -> String {
    let at = SystemTime::now() + ahead;
    humantime::format_rfc3339_seconds(at).to_string()
}

/// One shard's process: by `--shard` for most, by `JOB_COMPLETION_INDEX` and
/// `POOLSTORM_SHARDS` (as an Indexed Job's pod) for the last.
fn shard(url: &str, index: u32, count: u32, at: &str, dir: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(binary());
    cmd.arg("load").arg(url).args(LOAD);
    if index + 1 == count {
        cmd.env("JOB_COMPLETION_INDEX", index.to_string())
            .env("POOLSTORM_SHARDS", count.to_string());
    } else {
        cmd.arg("--shard").arg(format!("{index}/{count}"));
    }
    cmd.args(["--start-at", at])
        .arg("--json")
        .arg(dir.join(format!("shard-{index}.json")))
        .arg("--hlog")
        .arg(dir.join(format!("shard-{index}.hlog")));
    cmd
}

async fn merge(args: &[&str], inputs: &[PathBuf]) -> Output {
    tokio::process::Command::new(binary())
        .arg("merge")
        .args(inputs)
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The union's percentiles by HdrHistogram's rule (the value of the bucket where the count
/// reaches ceil(q x total)), from the Python package's buckets.
#[cfg(feature = "interop")]
fn percentiles_of(union: &serde_json::Value) -> Vec<u64> {
    let total = union["count"].as_u64().unwrap();
    let buckets: Vec<(u64, u64)> = union["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b[0].as_u64().unwrap(), b[1].as_u64().unwrap()))
        .collect();
    [0.5, 0.9, 0.99, 0.999, 0.9999]
        .iter()
        .map(|q| {
            let want = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            buckets
                .iter()
                .find(|(_, n)| {
                    seen += n;
                    seen >= want
                })
                .map(|(v, _)| *v)
                .unwrap()
        })
        .collect()
}

/// The union of the files' untagged intervals, by the PyPI `hdrhistogram` package
/// (harness/tests/fixtures/hlog_union.py).
#[cfg(feature = "interop")]
fn hlog_union(files: &[PathBuf]) -> serde_json::Value {
    let python = crate::support::repo().join("tools/.venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test-deps.sh (scripts/venv.sh tools)",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(crate::support::repo().join("harness/tests/fixtures/hlog_union.py"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[cfg(feature = "interop")]
fn ours(s: &harness::engine::metrics::Summary) -> Vec<u64> {
    vec![s.p50, s.p90, s.p99, s.p999, s.p9999]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_merge_to_the_servers_count_and_an_independent_histograms_percentiles() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    stub.record_arrivals();
    let dir = tempfile::tempdir().unwrap();
    let at = start_at(Duration::from_secs(2));
    let children = (0..4)
        .map(|i| shard(&stub.url(), i, 4, &at, dir.path()))
        .collect();
    for (i, out) in all(children).await.into_iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("shard      {i}/4 of run {at}")),
            "{}",
            text(&out)
        );
    }
    let hlog = std::fs::read_to_string(dir.path().join("shard-1.hlog")).unwrap();
    assert!(
        hlog.contains(&format!("#[Shard 1/4 of run {at}")),
        "the .hlog is tagged"
    );
    let shard0 = LoadReport::read(&dir.path().join("shard-0.json")).unwrap();
    assert_eq!(shard0.model.rate, Some(100.0), "a quarter of the rate");

    let merged_json = dir.path().join("merged.json");
    let out = merge(
        &[
            "--json",
            merged_json.to_str().unwrap(),
            "--csv",
            dir.path().join("merged.csv").to_str().unwrap(),
            "--html",
            dir.path().join("merged.html").to_str().unwrap(),
            "--hlog",
            dir.path().join("merged.hlog").to_str().unwrap(),
            "--fail-if",
            "requests < 1000",
        ],
        &[dir.path().to_owned()],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged: LoadReport = LoadReport::read(&merged_json).unwrap();
    for file in [merged_json.clone(), dir.path().join("shard-0.json")] {
        let value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        crate::support::assert_load_schema(&value);
    }
    let html = std::fs::read_to_string(dir.path().join("merged.html")).unwrap();
    assert!(
        html.contains("Shards of run") && html.contains("<svg"),
        "the HTML report"
    );
    let csv = std::fs::read_to_string(dir.path().join("merged.csv")).unwrap();
    assert!(
        csv.lines()
            .last()
            .unwrap()
            .starts_with(&format!("all,,,{},", merged.requests.total)),
        "{csv}"
    );
    let m = merged.merged.as_ref().unwrap();
    assert_eq!(m.shards.len(), 4);
    assert_eq!(merged.model.rate, Some(400.0), "the whole run's load");

    // Every request the server saw, exactly.
    assert_eq!(merged.requests.total, stub.requests());
    assert_eq!(merged.requests.completed, merged.requests.total);
    let per_shard: u64 = m.shards.iter().map(|s| s.requests).sum();
    assert_eq!(per_shard, merged.requests.total);

    // Percentiles: the merged histograms against the union of the four .hlog files, added by
    // the `hdrhistogram` package from PyPI (in the tier with Python, `make test`).
    #[cfg(feature = "interop")]
    {
        let hlogs: Vec<PathBuf> = (0..4)
            .map(|i| dir.path().join(format!("shard-{i}.hlog")))
            .collect();
        let union = hlog_union(&hlogs);
        assert_eq!(union["count"].as_u64(), Some(merged.latency_us.count));
        assert_eq!(percentiles_of(&union), ours(&merged.latency_us));
        // The merged interval log, read by the same package, holds the same union.
        let again = hlog_union(&[dir.path().join("merged.hlog")]);
        assert_eq!(
            again["buckets"], union["buckets"],
            "merged.hlog is the shards' union"
        );
    }

    // The timeline against the server's own clock: arrivals in each second of the merged
    // run. A request started in a shard's second t is counted in the merged second t; the
    // shards started within `spread` of the earliest, so only requests that close to a
    // second's edge (plus loopback transit) can fall on the other side of it.
    let t0 = humantime::parse_rfc3339_weak(&merged.started_at).unwrap();
    let starts: Vec<SystemTime> = m
        .shards
        .iter()
        .map(|s| humantime::parse_rfc3339_weak(&s.started_at).unwrap())
        .collect();
    let spread = starts
        .iter()
        .map(|s| s.duration_since(t0).unwrap())
        .max()
        .unwrap();
    let arrivals = stub.arrivals();
    assert_eq!(arrivals.len() as u64, merged.requests.total);
    let edge = 400.0 * (spread.as_secs_f64() + 0.002) * 2.0 + 2.0;
    for second in &merged.timeline {
        let from = t0 + Duration::from_secs(u64::from(second.t));
        let to = from + Duration::from_secs(1);
        let served = arrivals.iter().filter(|a| **a >= from && **a < to).count() as f64;
        assert!(
            (served - second.started as f64).abs() <= edge,
            "second {}: the server saw {served}, the merged timeline says {} (shards {spread:?} apart)",
            second.t,
            second.started
        );
    }
    assert_eq!(
        merged.timeline.iter().map(|s| s.started).sum::<u64>(),
        merged.requests.total
    );

    // --fail-if is judged on the merged whole, with the exit codes of one run.
    // (The folder now holds merged.json too, which a folder's listing skips.)
    let out = merge(&["--fail-if", "requests >= 1000"], &[dir.path().to_owned()]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // One process with the whole load sends what the four did together.
    let stub_one = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let out = tokio::process::Command::new(binary())
        .arg("load")
        .arg(stub_one.url())
        .args(LOAD)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let one = stub_one.requests() as i64;
    let four = merged.requests.total as i64;
    assert!(
        (one - four).abs() <= 4,
        "one process {one}, four shards {four}"
    );
}

/// Waits for every child, in order.
async fn all(children: Vec<tokio::process::Command>) -> Vec<Output> {
    let handles: Vec<_> = children
        .into_iter()
        .map(|mut c| tokio::spawn(async move { c.output().await.unwrap() }))
        .collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// The two shards of run `run` with `load` flags, one after the other, by `--run-id` (no
/// --start-at), written to `dir/{name}-{i}.json`.
async fn two_shards(url: &str, run: &str, load: &[&str], dir: &Path, name: &str) -> [PathBuf; 2] {
    let mut files = Vec::new();
    for i in 0..2 {
        let file = dir.join(format!("{name}-{i}.json"));
        let out = tokio::process::Command::new(binary())
            .arg("load")
            .arg(url)
            .args(load)
            .args([
                "--progress",
                "none",
                "--shard",
                &format!("{i}/2"),
                "--run-id",
                run,
            ])
            .arg("--json")
            .arg(&file)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        files.push(file);
    }
    [files[0].clone(), files[1].clone()]
}

/// Two shards of a small run: `users` users, 40 requests in all.
async fn small_run(url: &str, run: &str, users: &str, dir: &Path) -> [PathBuf; 2] {
    let load = ["--users", users, "--requests", "40"];
    two_shards(url, run, &load, dir, &format!("{run}-{users}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_twice_mixed_runs_a_missing_shard_and_other_settings_are_refused() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("{}/ok", stub.url());
    let dir = tempfile::tempdir().unwrap();
    let [a0, a1] = small_run(&url, "a", "2", dir.path()).await;
    let [b0, b1] = small_run(&url, "b", "2", dir.path()).await;
    let [_, a1_other] = small_run(&url, "a", "4", dir.path()).await;

    let out = merge(&[], &[a0.clone(), a1.clone()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("requests   40 started"),
        "{}",
        text(&out)
    );

    // A shard whose index is past its count, as a hand-edited or mislabelled file says.
    let stray = dir.path().join("stray.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a1).unwrap()).unwrap();
    doc["shard"]["index"] = 7.into();
    std::fs::write(&stray, doc.to_string()).unwrap();

    // What is refused, why, and the file the message names.
    let refusals: [(&[PathBuf], &str, Option<&PathBuf>); 5] = [
        (
            &[a0.clone(), stray.clone()],
            "says it is shard index 7 of 2: out of range (indexes run from 0 to 1)",
            Some(&stray),
        ),
        (
            &[a0.clone(), a0.clone(), a1.clone()],
            "shard 0/2 is given twice",
            Some(&a0),
        ),
        (
            &[a0.clone(), b1.clone()],
            "disagree on the run (mixing runs)",
            Some(&b1),
        ),
        (
            std::slice::from_ref(&b0),
            "shard 1 of 2 missing: run b has 1 of its 2",
            None,
        ),
        (
            &[a0.clone(), a1_other.clone()],
            "disagree on the load",
            Some(&a1_other),
        ),
    ];
    for (inputs, why, names) in refusals {
        let out = merge(&[], inputs).await;
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{inputs:?}: {said}");
        assert!(said.contains(why), "{inputs:?}: {said}");
        if let Some(file) = names {
            assert!(
                said.contains(&file.display().to_string()),
                "names {file:?}: {said}"
            );
        }
    }

    // A whole run's report is not a shard; --shard without a run identity is refused.
    let whole = dir.path().join("whole.json");
    let out = tokio::process::Command::new(binary())
        .arg("load")
        .arg(&url)
        .args(["--requests", "5", "--progress", "none", "--json"])
        .arg(&whole)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = merge(&[], &[a0.clone(), whole.clone()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("whole.json: is not a shard's report"),
        "{}",
        text(&out)
    );
    let out = tokio::process::Command::new(binary())
        .arg("load")
        .arg(&url)
        .args(["--requests", "5", "--shard", "0/2", "--progress", "none"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("--shard: needs --start-at TIME or --run-id ID"),
        "{}",
        text(&out)
    );
}

/// Shards that did not start together (no --start-at, one after the other) are placed on the
/// merged timeline by their start, to the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_started_apart_are_placed_by_their_start_second() {
    let stub = Stub::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/ok", stub.url());
    let load = ["--rate", "100", "--duration", "2s"];
    let files = two_shards(&url, "apart", &load, dir.path(), "apart").await;
    let merged_json = dir.path().join("merged.json");
    let out = merge(&["--json", merged_json.to_str().unwrap()], &files).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let merged = LoadReport::read(&merged_json).unwrap();
    let shards: Vec<LoadReport> = files.iter().map(|f| LoadReport::read(f).unwrap()).collect();
    let offsets: Vec<u32> = merged
        .merged
        .as_ref()
        .unwrap()
        .shards
        .iter()
        .map(|s| s.offset_s)
        .collect();
    assert_eq!(offsets[0], 0);
    assert!(
        offsets[1] >= 2,
        "the second shard started after the first ended: {offsets:?}"
    );
    for second in &merged.timeline {
        let expected: u64 = shards
            .iter()
            .zip(&offsets)
            .filter_map(|(s, &off)| {
                let local = second.t.checked_sub(off)?;
                s.timeline.get(local as usize).map(|x| x.started)
            })
            .sum();
        assert_eq!(second.started, expected, "second {}", second.t);
    }
    assert_eq!(merged.requests.total, stub.requests());
    assert!(merged.elapsed_s >= f64::from(offsets[1]) + 2.0);
}
