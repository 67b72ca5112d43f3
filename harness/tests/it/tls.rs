//! HTTPS and HTTP/2 against real servers over loopback: the stub serving TLS (rustls) with
//! certificates each test makes (rcgen), HTTP/2 by ALPN and h2c, and Debian's nginx as an
//! independent HTTP/2 implementation. Each certificate failure is its own outcome, mutual
//! TLS works, a GOAWAY and a stream reset are counted, the same workload gives the same
//! results on HTTP/1.1 and HTTP/2, and host names are resolved once and reported.

use std::path::{Path, PathBuf};

use harness::engine::metrics::{Kind, OutcomeKey};
use harness::engine::stub::{Options, Stub, tls_config};
use harness::results::LoadReport;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, date_time_ymd};

use crate::support::{binary, load_argv, load_with};

/// A CA and certificates it signs, written as PEM files into a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "poolstorm test CA");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.pem()).unwrap();
        Self {
            dir,
            ca: Issuer::new(params, key),
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A certificate for `names`, valid from `from` to `to` (years), signed by the CA (or by
    /// itself when `self_signed`): its cert and key files.
    fn issue(
        &self,
        name: &str,
        names: &[&str],
        years: (i32, i32),
        self_signed: bool,
    ) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.not_before = date_time_ymd(years.0, 1, 1);
        params.not_after = date_time_ymd(years.1, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = if self_signed {
            params.self_signed(&key).unwrap()
        } else {
            params.signed_by(&key, &self.ca).unwrap()
        };
        let (c, k) = (
            self.dir.path().join(format!("{name}.pem")),
            self.dir.path().join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A certificate for localhost and 127.0.0.1, valid now.
    fn server(&self) -> (PathBuf, PathBuf) {
        self.issue(
            "server",
            &["localhost", "127.0.0.1", "::1"],
            (2020, 2100),
            false,
        )
    }
}

/// A TLS stub with `cert` and `key`, requiring a client certificate signed by `client_ca`.
async fn tls_stub(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Stub {
    let options = Options {
        tls: Some(tls_config(cert, key, client_ca).unwrap()),
        h2c: false,
    };
    Stub::start_with("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

/// An h2c stub (HTTP/2 with prior knowledge over plain TCP).
async fn h2c_stub() -> Stub {
    let options = Options {
        tls: None,
        h2c: true,
    };
    Stub::start_with("127.0.0.1:0".parse().unwrap(), options)
        .await
        .unwrap()
}

/// `poolstorm load ARGV...` in-process.
async fn load(argv: &[&str]) -> LoadReport {
    load_with(&load_argv(argv), Default::default()).await.0
}

/// Five requests, one user, trusting `cacert`.
async fn five_with_cacert(url: &str, cacert: &Path) -> LoadReport {
    load(&[
        url,
        "--users",
        "1",
        "--requests",
        "5",
        "--cacert",
        path(cacert),
    ])
    .await
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_verified_with_a_private_ca_reuses_connections_and_times_the_handshakes() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let stub = tls_stub(&cert, &key, None).await;
    let url = format!("{}/ok", stub.url());
    let r = load(&[
        &url,
        "--users",
        "4",
        "--workers",
        "2",
        "--requests",
        "400",
        "--cacert",
        path(&pki.ca()),
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 400, "{:?}", r.outcomes);
    let c = &r.connections;
    assert_eq!(c.protocol, "http/1.1");
    assert_eq!(c.tls, "verified with cacert");
    assert_eq!(c.opened, 4, "one kept-alive connection per user");
    let handshakes = c.tls_handshake_us.unwrap();
    assert_eq!(handshakes.count, 4, "a handshake per new connection");
    assert!(handshakes.min > 0 && c.connect_us.count == 4, "{c:?}");
    assert_eq!(c.address, stub.addr().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_certificate_failure_is_its_own_outcome_with_its_reason() {
    let pki = Pki::new();
    let ca = pki.ca();
    let cases = [
        // Signed by a CA the system does not know (no --cacert).
        (
            pki.server(),
            false,
            OutcomeKey::of(Kind::CertUnknownIssuer),
            "unknownissuer",
        ),
        // Expired years ago.
        (
            pki.issue("expired", &["127.0.0.1"], (2015, 2016), false),
            true,
            OutcomeKey::of(Kind::CertExpired),
            "expired",
        ),
        // For another name than the one asked for.
        (
            pki.issue("other", &["other.example"], (2020, 2100), false),
            true,
            OutcomeKey::of(Kind::CertWrongName),
            "not valid for name",
        ),
    ];
    for ((cert, key), with_ca, outcome, reason) in cases {
        let stub = tls_stub(&cert, &key, None).await;
        let url = format!("{}/ok", stub.url());
        let mut argv = vec![url.as_str(), "--users", "1", "--requests", "5"];
        if with_ca {
            argv.extend(["--cacert", path(&ca)]);
        }
        let r = load(&argv).await;
        assert_eq!(r.outcome(outcome), 5, "{outcome}: {:?}", r.outcomes);
        assert_eq!(r.outcome(Kind::Ok), 0);
        assert!(
            r.connections
                .refused
                .keys()
                .any(|k| k.to_lowercase().contains(reason)),
            "{outcome}: {:?}",
            r.connections.refused
        );
        assert_eq!(stub.requests(), 0, "no request reached the server");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_accepts_a_self_signed_certificate_and_says_so() {
    let pki = Pki::new();
    let (cert, key) = pki.issue("self", &["127.0.0.1"], (2020, 2100), true);
    let stub = tls_stub(&cert, &key, None).await;
    let url = format!("{}/ok", stub.url());
    let r = load(&[&url, "--users", "2", "--requests", "20", "--insecure"]).await;
    assert_eq!(r.outcome(Kind::Ok), 20);
    assert_eq!(r.connections.tls, "NOT VERIFIED (insecure)");
    let text = harness::export::text::render(&r);
    assert!(text.contains("TLS NOT VERIFIED (insecure)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let (client_cert, client_key) = pki.issue("client", &["poolstorm-client"], (2020, 2100), false);
    let stub = tls_stub(&cert, &key, Some(&pki.ca())).await;
    let url = format!("{}/ok", stub.url());
    let ca = pki.ca();
    let without = load(&[
        &url,
        "--users",
        "1",
        "--requests",
        "3",
        "--cacert",
        path(&ca),
    ])
    .await;
    assert_eq!(without.outcome(Kind::Ok), 0);
    assert_eq!(without.outcome(Kind::Tls), 3, "{:?}", without.outcomes);
    let with = load(&[
        &url,
        "--users",
        "2",
        "--requests",
        "30",
        "--cacert",
        path(&ca),
        "--cert",
        path(&client_cert),
        "--key",
        path(&client_key),
    ])
    .await;
    assert_eq!(with.outcome(Kind::Ok), 30, "{:?}", with.outcomes);
    assert!(with.connections.client_certificate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_over_tls_shares_connections_by_streams_and_h2c_needs_no_tls() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let stub = tls_stub(&cert, &key, None).await;
    let url = format!("{}/delay?ms=5", stub.url());
    let ca = pki.ca();
    let r = load(&[
        &url,
        "--http2",
        "--streams",
        "4",
        "--users",
        "8",
        "--workers",
        "1",
        "--requests",
        "200",
        "--cacert",
        path(&ca),
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 200, "{:?}", r.outcomes);
    assert_eq!(
        (r.connections.protocol.as_str(), r.connections.streams),
        ("h2", 4)
    );
    assert_eq!(r.connections.opened, 2, "8 users, 4 streams per connection");

    let h2c = h2c_stub().await;
    let url = format!("{}/ok", h2c.url());
    let r = load(&[
        &url,
        "--h2c",
        "--streams",
        "8",
        "--users",
        "8",
        "--workers",
        "1",
        "--requests",
        "100",
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 100, "{:?}", r.outcomes);
    assert_eq!(
        (r.connections.protocol.as_str(), r.connections.opened),
        ("h2c", 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_is_counted_and_a_stream_reset_is_its_own_outcome() {
    let stub = h2c_stub().await;
    // Every answer on /goaway ends its connection with GOAWAY: the next request dials again.
    let url = format!("{}/goaway", stub.url());
    let r = load(&[&url, "--h2c", "--users", "1", "--requests", "20"]).await;
    assert_eq!(r.outcome(Kind::Ok), 20, "{:?}", r.outcomes);
    // A request sent before the GOAWAY arrives may be answered on the old connection, so
    // not every answer costs a connection; most do, and none fails.
    let c = &r.connections;
    assert!(c.goaways >= 10 && c.opened >= c.goaways, "{c:?}");
    let url = format!("{}/reset", stub.url());
    let r = load(&[&url, "--h2c", "--users", "1", "--requests", "10"]).await;
    assert_eq!(r.outcome(Kind::StreamReset), 10, "{:?}", r.outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_workload_gives_the_same_results_on_http1_and_http2() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let stub = tls_stub(&cert, &key, None).await;
    let ca = pki.ca();
    let run = |extra: &'static [&'static str]| {
        let url = stub.url();
        let ca = ca.clone();
        async move {
            let mut argv = vec![
                url.as_str(),
                "--users",
                "1",
                "--requests",
                "300",
                "--seed",
                "7",
                "--cacert",
                path(&ca),
                "--task",
                "GET /ok weight=5",
                "--task",
                "GET /pool-timeout weight=2",
                "--task",
                "GET /status?code=500 weight=1",
                "--task",
                "POST /ok body=hello",
            ];
            argv.extend(extra);
            load(&argv).await
        }
    };
    let h1 = run(&[]).await;
    let h2 = run(&["--http2"]).await;
    assert_eq!(h2.connections.protocol, "h2");
    assert_eq!(h1.outcomes, h2.outcomes);
    assert_eq!(h1.status_codes, h2.status_codes);
    assert_eq!(h1.outcome(Kind::PoolTimeout), h2.outcome(Kind::PoolTimeout));
    assert!(h1.outcome(Kind::PoolTimeout) > 0 && h1.outcome(OutcomeKey::http(500)) > 0);
    let per_second = |r: &LoadReport| r.timeline.iter().map(|s| s.completed).sum::<u64>();
    assert_eq!(per_second(&h1), 300);
    assert_eq!(per_second(&h2), 300);
    for (a, b) in h1.tasks.iter().zip(&h2.tasks) {
        assert_eq!((&a.name, &a.outcomes), (&b.name, &b.outcomes));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_names_are_resolved_once_and_reported_and_ipv6_literals_work() {
    let pki = Pki::new();
    let (cert, key) = pki.server();
    let stub = tls_stub(&cert, &key, None).await;
    let url = format!("https://localhost:{}/ok", stub.addr().port());
    let ca = pki.ca();
    let r = five_with_cacert(&url, &ca).await;
    assert_eq!(r.outcome(Kind::Ok), 5, "{:?}", r.outcomes);
    assert_eq!(r.connections.address, stub.addr().to_string());

    let v6 = Stub::start("[::1]:0".parse().unwrap()).await.unwrap();
    let url = format!("http://[::1]:{}/ok", v6.addr().port());
    let r = load(&[&url, "--users", "1", "--requests", "5"]).await;
    assert_eq!(r.outcome(Kind::Ok), 5);
    assert_eq!(r.connections.address, format!("[::1]:{}", v6.addr().port()));
}

#[tokio::test]
async fn protocol_and_tls_mistakes_exit_2_naming_the_flag() {
    let cases: [(&[&str], &str); 5] = [
        (&["http://127.0.0.1:1/", "--http2"], "--http2"),
        (&["https://127.0.0.1:1/", "--h2c"], "--h2c"),
        (&["http://127.0.0.1:1/", "--streams", "4"], "--streams"),
        (
            &["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"],
            "--cacert",
        ),
        (&["http://127.0.0.1:1/", "--insecure"], "--insecure"),
    ];
    for (argv, flag) in cases {
        let out = tokio::process::Command::new(binary())
            .arg("load")
            .args(argv)
            .args(["--duration", "1s", "--progress", "none"])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{argv:?}: {stderr}");
        assert!(stderr.contains(flag), "{argv:?} names {flag}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_model_over_http2_paces_and_counts_as_over_http1() {
    let stub = h2c_stub().await;
    let url = format!("{}/ok", stub.url());
    let r = load(&[
        &url,
        "--h2c",
        "--streams",
        "8",
        "--rate",
        "200",
        "--max-in-flight",
        "16",
        "--duration",
        "2s",
    ])
    .await;
    assert_eq!(r.model.kind, "open");
    assert!(
        (380..=420).contains(&r.requests.total),
        "200/s for 2 s: {}",
        r.requests.total
    );
    assert_eq!(r.outcome(Kind::Ok), r.requests.completed);
    assert_eq!(r.requests.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_drives_a_command_target_that_serves_http2_over_tls() {
    let pki = Pki::new();
    pki.server();
    let dir = pki.dir.path();
    // The certificate files sit beside the scenario: relative paths are the scenario's.
    let text = format!(
        r#"
name = "tls_target"
[target]
kind = "command"
command = ["{}", "stub", "--listen", "127.0.0.1:{{port}}", "--tls-cert", "server.pem", "--tls-key", "server.key"]
url = "https://127.0.0.1:{{port}}"
ready = "/ok"
ready_timeout = "10s"
[load]
users = 8
duration = "2s"
http2 = true
streams = 4
cacert = "ca.pem"
[[tasks]]
path = "/ok"
[[expect]]
verdict = "healthy"
max_error_ratio = 0.0
"#,
        binary()
    );
    let file = dir.join("tls.toml");
    std::fs::write(&file, text).unwrap();
    let out = dir.join("results");
    let output = crate::support::run(&[&file], "sqlite", &out).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let report = harness::results::scenario::ScenarioReport::read(
        &crate::support::latest_results(&out, "tls_target").join("report.json"),
    )
    .unwrap();
    let load = report.cells[0].load.as_ref().unwrap();
    assert_eq!(load.connections.protocol, "h2");
    assert_eq!(load.connections.tls, "verified with cacert");
    assert!(load.outcome(Kind::Ok) > 100, "{:?}", load.outcomes);
}

/// A self-signed certificate that says `CA:TRUE`, as `openssl req -x509` makes it.
fn self_signed_ca(dir: &Path, name: &str, names: &[&str]) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_true_certificate_given_to_cacert_is_pinned_with_its_name_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed_ca(dir.path(), "localhost", &["localhost", "127.0.0.1"]);
    let stub = tls_stub(&cert, &key, None).await;
    let url = format!("{}/ok", stub.url());
    let r = load(&[
        &url,
        "--users",
        "2",
        "--requests",
        "20",
        "--cacert",
        path(&cert),
    ])
    .await;
    assert_eq!(r.outcome(Kind::Ok), 20, "{:?}", r.connections.refused);

    // Pinned, but for another name: refused as a wrong name.
    let (other, other_key) = self_signed_ca(dir.path(), "other", &["other.example"]);
    let stub = tls_stub(&other, &other_key, None).await;
    let url = format!("{}/ok", stub.url());
    let r = five_with_cacert(&url, &other).await;
    assert_eq!(r.outcome(Kind::CertWrongName), 5, "{:?}", r.outcomes);
    assert_eq!(stub.requests(), 0);

    // Not the one --cacert names: refused, in plain words, and the summary counts the tries.
    let r = five_with_cacert(&url, &cert).await;
    assert_eq!(r.outcome(Kind::CertUnknownIssuer), 5, "{:?}", r.outcomes);
    assert!(
        r.connections.refused.keys().any(|k| k.starts_with(
            "the server's certificate is a CA certificate (CA:TRUE) that is not one of --cacert's"
        )),
        "{:?}",
        r.connections.refused
    );
    let text = harness::export::text::render(&r);
    assert!(
        text.contains("5 connection attempts: 0 opened, 5 failed"),
        "{text}"
    );
    assert!(
        !text.contains("connect p50"),
        "no connection, no setup time: {text}"
    );
}
