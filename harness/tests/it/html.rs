//! `report.html` from a real run, checked as a file (self-contained, every chart there) and as
//! a page rendered by headless Chromium (every chart drawn, no script errors, a screenshot).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::binary;

/// A 2 x 2 matrix: one deadlocked cell and three healthy ones (pool + threads > users).
const MATRIX: &str = r#"
name = "htmlcheck"
description = "a small matrix for the HTML report"
[app]
acquire_timeout = "none"
hold_ms = 50
[load]
users = 6
duration = "3s"
[[tasks]]
path = "/mode1/dependency"
[matrix]
threads = [2, 4]
pool_max = [2, 8]
[stall]
window = "2s"
stop_on_deadlock = true
[[expect]]
when = "pool_max + threads <= users"
verdict = "deadlocked"
[[expect]]
when = "pool_max + threads > users"
verdict = "healthy"
"#;

fn chromium() -> PathBuf {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(move |d| d.join(name))
                .collect::<Vec<_>>()
        })
        .find(|p| p.is_file())
        .expect("the HTML report test renders in headless Chromium: apt-get install chromium")
}

/// Chromium with the flags a closed network needs, a fresh profile, and `extra`.
fn headless(page: &Path, profile: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_html_report_of_a_real_run_renders_every_chart_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, MATRIX).unwrap();
    let out = dir.path().join("results");
    let run = tokio::process::Command::new(binary())
        .arg("run")
        .arg(&file)
        .args(["--db", "sqlite", "--no-tui", "--progress", "none", "--out"])
        .arg(&out)
        .output()
        .await
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let results = std::fs::read_dir(out.join("htmlcheck"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let page = results.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();

    // Self-contained: nothing fetched from anywhere.
    for outside in ["src=\"http", "href=\"http", "url(", "<link", "import "] {
        assert!(
            !html.contains(outside),
            "report.html refers outside itself: {outside}"
        );
    }
    assert_eq!(
        html.matches("<svg class=\"chart timeline\"").count(),
        4,
        "one timeline per cell"
    );
    assert_eq!(html.matches("<svg class=\"chart heatmap\"").count(), 1);
    assert_eq!(html.matches("<svg class=\"chart latency\"").count(), 1);
    assert!(
        html.matches("class=\"onset\"").count() >= 1,
        "the deadlock's onset is marked"
    );
    assert!(
        html.matches("class=\"boundary\"").count() >= 2,
        "the predicted boundary is drawn"
    );
    assert!(
        html.contains("pool_max + threads &lt;= users"),
        "the boundary names its rule"
    );
    assert!(
        html.contains("name = &quot;htmlcheck&quot;"),
        "the scenario is included"
    );

    // `poolstorm report --html` writes the same page from report.json.
    let again = dir.path().join("again.html");
    let status = Command::new(binary())
        .args(["report", "--html", "--out"])
        .arg(&again)
        .arg(results.join("report.json"))
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&again).unwrap(), html);

    // Rendered: the page's own script counts the charts that have a size and shapes.
    let dom = headless(&page, &dir.path().join("profile-dom"), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_default();
    assert!(body.contains("data-charts=\"6\""), "body: {body}");
    assert!(
        body.contains("data-charts-drawn=\"6\""),
        "every chart drew: {body}"
    );
    assert!(!body.contains("data-script-error"), "script error: {body}");

    let shot = dir.path().join("report.png");
    let screenshot = headless(
        &page,
        &dir.path().join("profile-shot"),
        &[
            "--window-size=1100,1800",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(
        shot.is_file(),
        "{}",
        String::from_utf8_lossy(&screenshot.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (width, height) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1100, 1800));
    assert!(
        png.len() > 50_000,
        "a page of charts, not a blank one: {} bytes",
        png.len()
    );
}
