//! The `[pool]` presets against what exporters write: Go's database/sql collector recorded
//! for real, target-app's live `/metrics`, and HikariCP's and pgbouncer_exporter's names as
//! their sources define them (no recording of those could be made here; the fixtures say so).

use std::collections::BTreeMap;
use std::time::Duration;

use harness::observe::metrics::{self, Gauge, Reading, read_text};

use crate::support::repo;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo().join("harness/tests/fixtures/metrics").join(name)).unwrap()
}

/// The preset's reading of `text`, with these labels picking series.
fn read(preset: &str, text: &str, labels: &[(&str, &str)]) -> Reading {
    let mut mapping = metrics::preset(preset).unwrap().mapping();
    mapping.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    read_text(text, &mapping).unwrap()
}

fn values(r: &Reading) -> BTreeMap<Gauge, u64> {
    r.values.clone()
}

#[test]
fn go_sql_reads_client_golang_1_14_dbstats_recorded_with_a_full_pool() {
    let r = read("go-sql", &fixture("go-sql.client_golang-1.14.0.prom"), &[]);
    assert_eq!(
        values(&r),
        BTreeMap::from([
            (Gauge::InUse, 2),
            (Gauge::Max, 2),
            (Gauge::Idle, 0),
            (Gauge::Open, 2),
            (Gauge::Waits, 3),
        ])
    );
    assert_eq!(r.names[&Gauge::Waits], "go_sql_wait_count_total");
    assert!(r.missing.is_empty(), "{:?}", r.missing);
}

#[test]
fn hikaricp_reads_micrometers_names_as_hikaricp_tomcat_and_micrometer_define_them() {
    let r = read(
        "hikaricp",
        &fixture("hikaricp.micrometer.from-source.prom"),
        &[],
    );
    assert_eq!(
        values(&r),
        BTreeMap::from([
            (Gauge::InUse, 10),
            (Gauge::Max, 10),
            (Gauge::Waiting, 16),
            (Gauge::Idle, 0),
            (Gauge::Open, 10),
            (Gauge::Timeouts, 3),
            (Gauge::ThreadsBusy, 16),
            (Gauge::ThreadsMax, 16),
            (Gauge::ThreadsQueued, 0),
        ])
    );
    assert_eq!(r.names[&Gauge::Waiting], "hikaricp_connections_pending");
    assert_eq!(
        r.names[&Gauge::ThreadsBusy],
        "tomcat_threads_busy_threads",
        "Tomcat's request threads before the executor's"
    );
}

#[test]
fn hikaricp_reads_its_own_prometheus_tracker_and_labels_pick_the_pool() {
    let text = fixture("hikaricp.prometheus-tracker.from-source.prom");
    let both = read("hikaricp", &text, &[]);
    assert!(!both.values.contains_key(&Gauge::InUse));
    assert!(
        both.missing
            .iter()
            .any(|m| m.contains("2 series of hikaricp_active_connections")),
        "{:?}",
        both.missing
    );
    let orders = read("hikaricp", &text, &[("pool", "orders")]);
    assert_eq!(
        values(&orders),
        BTreeMap::from([
            (Gauge::InUse, 10),
            (Gauge::Max, 10),
            (Gauge::Waiting, 6),
            (Gauge::Idle, 0),
            (Gauge::Open, 10),
            (Gauge::Timeouts, 2),
        ])
    );
    assert_eq!(orders.names[&Gauge::InUse], "hikaricp_active_connections");
}

#[test]
fn pgbouncer_reads_pgbouncer_exporters_pools_as_its_source_defines_them() {
    let text = fixture("pgbouncer.pgbouncer_exporter.from-source.prom");
    let shop = read("pgbouncer", &text, &[("database", "shop")]);
    assert_eq!(
        values(&shop),
        BTreeMap::from([
            (Gauge::InUse, 20),
            (Gauge::Max, 20),
            (Gauge::Waiting, 35),
            (Gauge::Idle, 0),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_app_reads_a_live_target_apps_metrics_like_its_debug_pool() {
    let dir = tempfile::tempdir().unwrap();
    let binary = std::path::Path::new(crate::support::binary()).with_file_name("target-app");
    let flags = ["--threads", "8", "--pool-max", "4", "--pool-min", "2"].map(str::to_owned);
    let app = harness::run::app::start(&binary, &flags, &dir.path().join("app.log"))
        .await
        .unwrap();
    let (status, body) =
        harness::engine::fetch::get(&app.url(), "/metrics", Duration::from_secs(5))
            .await
            .unwrap();
    let snapshot: contract::Snapshot =
        harness::engine::fetch::get_json(&app.url(), "/debug/pool", Duration::from_secs(5))
            .await
            .unwrap();
    app.stop().await;
    assert_eq!(status, 200);
    let r = read("target-app", &String::from_utf8_lossy(&body), &[]);
    assert!(r.missing.is_empty(), "{:?}", r.missing);
    assert_eq!(r.values[&Gauge::Max], u64::from(snapshot.pool.max));
    assert_eq!(r.values[&Gauge::ThreadsMax], 8);
    assert_eq!(r.values[&Gauge::InUse], 0);
    assert_eq!(r.values[&Gauge::Waiting], 0);
    assert_eq!(r.values[&Gauge::Open], u64::from(snapshot.pool.open));
}
